//! The field's PRM formats: how a (question, steps) pair becomes a PRM's tokens, at which
//! token each step's score is read, and how the head's outputs there become a score in
//! (0, 1). Selected in the preset (`[import] prm_format`) and kept beside the PRM's weights
//! as `prm_format.json`; a checkpoint without one is in ttc's format.
//!
//! | format | model | text | score |
//! |---|---|---|---|
//! | `ttc` | one-label score head | the checkpoint's prompt, steps joined by `"\n\n"` | sigmoid at each step's last token |
//! | `math-shepherd` | causal LM | `"{question} {step} ки\n{step} ки"` | P(`+`) against `-` at each `ки` |
//! | `rlhflow` | causal LM, chat | turns user: question + step / assistant: `+` | P(`+`) against `-` where each `+` is predicted |
//! | `qwen2.5-math-prm` | two-class head | assistant turn: each step followed by `<extra_0>` | class 1's softmax at each `<extra_0>` |
//!
//! Each format reproduces its model card's reading (tests/fixtures/make_prm_fixtures.py).

use std::path::Path;

use serde::{Deserialize, Serialize};
use ttc_engine::Engine;
use ttc_model::decoder::Decoder;
use ttc_task::tokenizer::{ChatPrompt, Encoded, PromptTemplate, encode_with_offsets_special};

use crate::{Error, Result};

/// The file naming a PRM checkpoint's format.
pub const FORMAT_FILE: &str = "prm_format.json";

/// Math-Shepherd's step tag and its good / bad tokens.
pub const SHEPHERD_TAG: &str = "ки";
/// Qwen2.5-Math-PRM's step separator.
const QWEN_SEP: &str = "<extra_0>";
/// Qwen2.5-Math-PRM's system message (its model card's).
pub const QWEN_PRM_SYSTEM: &str =
    "Please reason step by step, and put your final answer within \\boxed{}.";

/// A PRM's input and output convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PrmFormat {
    /// ttc's own: a one-label score head, sigmoid at each step's last token.
    #[default]
    #[serde(rename = "ttc")]
    Ttc,
    /// Math-Shepherd (peiyi9979/math-shepherd-mistral-7b-prm).
    #[serde(rename = "math-shepherd")]
    MathShepherd,
    /// RLHFlow (RLHFlow/Llama3.1-8B-PRM-*-Data).
    #[serde(rename = "rlhflow")]
    Rlhflow,
    /// Qwen2.5-Math-PRM (Qwen/Qwen2.5-Math-PRM-7B, -72B).
    #[serde(rename = "qwen2.5-math-prm")]
    QwenMathPrm,
    /// ttc's likelihood PRM (`ttc_train::likelihood_prm`): the causal LM's calibrated
    /// likelihood of each prefix, read by [`crate::likelihood_scorer`] /
    /// [`crate::likelihood_verifier`], not at step tags.
    #[serde(rename = "likelihood")]
    Likelihood,
}

/// A likelihood PRM's reading: `sigmoid(slope · mean log p + intercept)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub slope: f32,
    pub intercept: f32,
}

impl Calibration {
    /// A step's score from `exp(mean log p)` of its prefix.
    pub fn apply(&self, geometric_mean: f32) -> f32 {
        let z = self.slope as f64 * (geometric_mean as f64).ln() + self.intercept as f64;
        (1.0 / (1.0 + (-z).exp())) as f32
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatFile {
    format: PrmFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    calibration: Option<Calibration>,
}

impl PrmFormat {
    pub const NAMES: [&'static str; 5] = [
        "ttc",
        "math-shepherd",
        "rlhflow",
        "qwen2.5-math-prm",
        "likelihood",
    ];

    /// The format called `name` (one of [`PrmFormat::NAMES`]).
    pub fn parse(name: &str) -> Result<PrmFormat> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
            Error::Input(format!(
                "unknown PRM format {name:?} (known: {})",
                PrmFormat::NAMES.join(", ")
            ))
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            PrmFormat::Ttc => "ttc",
            PrmFormat::MathShepherd => "math-shepherd",
            PrmFormat::Rlhflow => "rlhflow",
            PrmFormat::QwenMathPrm => "qwen2.5-math-prm",
            PrmFormat::Likelihood => "likelihood",
        }
    }

    /// The prompt format the checkpoint is saved with when the preset gives none: the
    /// question then a space for Math-Shepherd; `None` for the rest (ttc's default prompt,
    /// or the chat template of the PRM's tokenizer).
    pub fn default_prompt(self) -> Option<PromptTemplate> {
        match self {
            PrmFormat::MathShepherd => Some(PromptTemplate::Format("{problem} ".into())),
            _ => None,
        }
    }

    /// Whether the format renders the PRM's chat template (then the checkpoint's prompt
    /// must be a chat prompt).
    pub fn needs_chat(self) -> bool {
        matches!(self, PrmFormat::Rlhflow | PrmFormat::QwenMathPrm)
    }

    /// The format a checkpoint directory names (`prm_format.json`), ttc's when none.
    pub fn load(dir: &Path) -> Result<PrmFormat> {
        Ok(Self::load_file(dir)?.0)
    }

    /// The format and, for a likelihood PRM, its calibration (an error naming the file when
    /// a likelihood PRM has none).
    pub fn load_file(dir: &Path) -> Result<(PrmFormat, Option<Calibration>)> {
        let path = dir.join(FORMAT_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let f = serde_json::from_str::<FormatFile>(&text)
                    .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
                if (f.format == PrmFormat::Likelihood) != f.calibration.is_some() {
                    return Err(Error::Input(format!(
                        "{}: a calibration goes with format \"likelihood\" and only with it",
                        path.display()
                    )));
                }
                Ok((f.format, f.calibration))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((PrmFormat::Ttc, None)),
            Err(e) => Err(Error::Input(format!("{}: {e}", path.display()))),
        }
    }

    /// Write `prm_format.json` into `dir` (atomically); ttc's format writes none.
    pub fn save(self, dir: &Path) -> Result<()> {
        Self::write(dir, self, None)
    }

    /// Write a likelihood PRM's `prm_format.json` with its calibration.
    pub fn save_likelihood(dir: &Path, calibration: Calibration) -> Result<()> {
        Self::write(dir, PrmFormat::Likelihood, Some(calibration))
    }

    fn write(dir: &Path, format: PrmFormat, calibration: Option<Calibration>) -> Result<()> {
        let path = dir.join(FORMAT_FILE);
        if format == PrmFormat::Ttc {
            let _ = std::fs::remove_file(&path);
            return Ok(());
        }
        if format == PrmFormat::Likelihood && calibration.is_none() {
            return Err(Error::Input(
                "a likelihood PRM's format file needs its calibration".into(),
            ));
        }
        let text = serde_json::to_string_pretty(&FormatFile {
            format,
            calibration,
        })
        .map_err(|e| Error::Input(e.to_string()))?;
        ttc_core::atomic::write_atomic(&path, text.as_bytes())
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())))
    }
}

/// A PRM's tokens for one (question, steps) pair and where each step's score is read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadLayout {
    pub tokens: Vec<u32>,
    /// Leading tokens that depend on the question alone (shared by its samples).
    pub shared: usize,
    /// Per step, the index of the token whose head outputs give its score.
    pub reads: Vec<usize>,
}

/// A format bound to a model and tokenizer: the token ids it reads, checked once.
#[derive(Debug, Clone)]
pub struct PrmReader {
    pub format: PrmFormat,
    /// Good / bad token ids (causal-LM formats).
    good_bad: Option<(u32, u32)>,
    /// The token each step's score sits on (step tag or separator).
    tag: Option<u32>,
}

fn one_token(engine: &Engine, text: &str, what: &str) -> Result<u32> {
    let ids = engine.encode(text)?;
    match ids.as_slice() {
        [id] => Ok(*id),
        _ => Err(Error::Input(format!(
            "{what} {text:?} is {} tokens in this PRM's tokenizer (the format needs one)",
            ids.len()
        ))),
    }
}

impl PrmReader {
    /// Check that `engine`'s model and prompt fit `format` and find its token ids.
    pub fn new(format: PrmFormat, engine: &Engine) -> Result<PrmReader> {
        let model: &dyn Decoder = engine.model;
        let outputs = model.head_outputs();
        let need = |want: usize, what: &str| {
            if outputs == want {
                Ok(())
            } else {
                Err(Error::Input(format!(
                    "a {} PRM needs {what}; this model has {outputs} outputs per token",
                    format.name()
                )))
            }
        };
        if format.needs_chat() && !matches!(engine.prompt(), PromptTemplate::Chat(_)) {
            return Err(Error::Input(format!(
                "a {} PRM renders its tokenizer's chat template; the checkpoint has a format-string prompt (its tokenizer_config.json needs a chat_template)",
                format.name()
            )));
        }
        let mut r = PrmReader {
            format,
            good_bad: None,
            tag: None,
        };
        match format {
            PrmFormat::Ttc => need(
                1,
                "a one-label score head (…ForTokenClassification; a causal-LM PRM such as Math-Shepherd or RLHFlow needs its prm_format)",
            )?,
            PrmFormat::MathShepherd | PrmFormat::Rlhflow => {
                need(model.config().vocab_size, "a causal-LM head")?;
                // Math-Shepherd: encode("+ -")[1:]; RLHFlow: encode("+")[-1], encode("-")[-1].
                let (good, bad) = if format == PrmFormat::MathShepherd {
                    let ids = engine.encode("+ -")?;
                    match ids.as_slice() {
                        [g, b] => (*g, *b),
                        _ => {
                            return Err(Error::Input(format!(
                                "\"+ -\" is {} tokens in this PRM's tokenizer (Math-Shepherd reads two)",
                                ids.len()
                            )));
                        }
                    }
                } else {
                    (
                        one_token(engine, "+", "the good token")?,
                        one_token(engine, "-", "the bad token")?,
                    )
                };
                r.good_bad = Some((good, bad));
                if format == PrmFormat::MathShepherd {
                    r.tag = Some(one_token(engine, SHEPHERD_TAG, "the step tag")?);
                }
            }
            PrmFormat::Likelihood => {
                return Err(Error::Input(
                    "a likelihood PRM is read by the likelihood scorer, not at step tags".into(),
                ));
            }
            PrmFormat::QwenMathPrm => {
                need(2, "a two-class head (Qwen2ForProcessRewardModel)")?;
                r.tag = Some(one_token(engine, QWEN_SEP, "the step separator")?);
            }
        }
        Ok(r)
    }

    /// A reader that lays steps out in `format` but reads no head (a likelihood PRM, whose
    /// scores come from [`crate::likelihood_scorer`]).
    pub(crate) fn layout_only(format: PrmFormat) -> PrmReader {
        PrmReader {
            format,
            good_bad: None,
            tag: None,
        }
    }

    /// The good and bad token ids a causal-LM format reads (`None` for a head format).
    pub fn good_bad(&self) -> Option<(u32, u32)> {
        self.good_bad
    }

    /// A step's score from the head's outputs at its read position.
    pub fn score(&self, outputs: &[f32]) -> f32 {
        let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
        match (self.format, self.good_bad) {
            // softmax([good, bad])[0]
            (_, Some((g, b))) => sigmoid(outputs[g as usize] - outputs[b as usize]),
            (PrmFormat::QwenMathPrm, _) => sigmoid(outputs[1] - outputs[0]),
            _ => sigmoid(outputs[0]),
        }
    }

    /// The scores of a forward's output rows (`width` head outputs each); `Err(row)` names
    /// the first row whose score is not finite (corrupt weights or inputs).
    pub fn scores(&self, outputs: &[f32], width: usize) -> std::result::Result<Vec<f32>, usize> {
        outputs
            .chunks_exact(width)
            .enumerate()
            .map(|(r, o)| Some(self.score(o)).filter(|s| s.is_finite()).ok_or(r))
            .collect()
    }

    /// The layout of `question` + `steps` in this format (`engine` holds the PRM's
    /// tokenizer and prompt).
    pub fn layout(&self, engine: &Engine, question: &str, steps: &[String]) -> Result<ReadLayout> {
        if let Some(i) = steps.iter().position(|s| s.is_empty()) {
            return Err(Error::Input(format!("step {i} is empty")));
        }
        match self.format {
            PrmFormat::Ttc | PrmFormat::Likelihood => {
                let prompt = render(engine.prompt(), question)?;
                ttc_layout(engine, &prompt, steps)
            }
            PrmFormat::MathShepherd => {
                let prompt = render(engine.prompt(), question)?;
                let mut text = prompt.clone();
                let mut ends = Vec::with_capacity(steps.len());
                for (i, s) in steps.iter().enumerate() {
                    if i > 0 {
                        text.push('\n');
                    }
                    text.push_str(s);
                    text.push(' ');
                    text.push_str(SHEPHERD_TAG);
                    ends.push(text.len());
                }
                let add = matches!(engine.prompt(), PromptTemplate::Format(_));
                self.read_at(engine, &text, add, prompt.len(), &ends, 0)
            }
            PrmFormat::Rlhflow => {
                let chat = chat_of(engine)?;
                let mut turns: Vec<(&str, String)> = Vec::with_capacity(2 * steps.len());
                let mut prefixes = Vec::with_capacity(steps.len());
                for (j, s) in steps.iter().enumerate() {
                    let text = if j == 0 {
                        format!("{question} {s}")
                    } else {
                        s.clone()
                    };
                    turns.push(("user", text));
                    turns.push(("assistant", "+".to_string()));
                    prefixes.push(render_turns(chat, &turns)?);
                }
                let full = prefixes.last().cloned().unwrap_or_default();
                let mut ends = Vec::with_capacity(steps.len());
                for p in &prefixes {
                    // The "+" the step's turn ends with; its score is where it is predicted.
                    match p.rfind('+') {
                        Some(plus) if full.starts_with(p.as_str()) => ends.push(plus + 1),
                        _ => {
                            return Err(Error::Input(
                                "the PRM's chat template renders a conversation differently as it grows (RLHFlow scores each step on a prefix of the conversation)"
                                    .into(),
                            ));
                        }
                    }
                }
                let shared = full.find(question).unwrap_or(0);
                self.read_at(engine, &full, false, shared, &ends, 1)
            }
            PrmFormat::QwenMathPrm => {
                let chat = chat_of(engine)?;
                let mut content = steps.join(QWEN_SEP);
                content.push_str(QWEN_SEP);
                let user = ("user", question.to_string());
                let turns = [user, ("assistant", content.clone())];
                let full = render_turns(chat, &turns)?;
                let start = full.rfind(&content).ok_or_else(|| {
                    Error::Input(
                        "the PRM's chat template does not write the assistant's turn verbatim"
                            .into(),
                    )
                })?;
                let mut ends = Vec::with_capacity(steps.len());
                let mut at = start;
                for s in steps {
                    at += s.len() + QWEN_SEP.len();
                    ends.push(at);
                }
                let shared = full.find(question).unwrap_or(0);
                // The model card encodes the rendered text with tokenizer.encode (specials on).
                self.read_at(engine, &full, true, shared, &ends, 0)
            }
        }
    }

    /// Encode `text`, find the token holding each end byte (checking it is the format's tag
    /// when it has one) and read `back` tokens before it.
    fn read_at(
        &self,
        engine: &Engine,
        text: &str,
        add_special: bool,
        shared_bytes: usize,
        ends: &[usize],
        back: usize,
    ) -> Result<ReadLayout> {
        let (tokens, offsets): Encoded =
            encode_with_offsets_special(engine.tokenizer(), text, add_special)
                .map_err(|e| Error::Input(format!("tokenizer: {e}")))?;
        let mut reads = Vec::with_capacity(ends.len());
        for (i, &end) in ends.iter().enumerate() {
            let at = offsets.partition_point(|&(s, _)| s < end);
            let Some(holder) = at.checked_sub(1).filter(|&h| h >= back) else {
                return Err(Error::Input(format!("step {i}: no token holds its end")));
            };
            let expected = self
                .tag
                .or(self.good_bad.filter(|_| back > 0).map(|(g, _)| g));
            if let Some(want) = expected
                && (tokens[holder] != want || offsets[holder].1 != end)
            {
                return Err(Error::Input(format!(
                    "step {i}: the {} PRM's marker token merged with the text around it (token {} at the step's end, expected {want})",
                    self.format.name(),
                    tokens[holder]
                )));
            }
            reads.push(holder - back);
        }
        let shared = offsets.partition_point(|&(_, e)| e <= shared_bytes);
        Ok(ReadLayout {
            tokens,
            shared: shared.min(reads.first().copied().unwrap_or(0)),
            reads,
        })
    }
}

pub(crate) fn render(prompt: &PromptTemplate, question: &str) -> Result<String> {
    prompt
        .render(question)
        .map_err(|e| Error::Input(format!("prompt: {e}")))
}

fn chat_of<'e>(engine: &'e Engine) -> Result<&'e ChatPrompt> {
    match engine.prompt() {
        PromptTemplate::Chat(c) => Ok(c),
        PromptTemplate::Format(_) => Err(Error::Input(
            "this PRM format needs the checkpoint's chat template".into(),
        )),
    }
}

fn render_turns(chat: &ChatPrompt, turns: &[(&str, String)]) -> Result<String> {
    let t: Vec<(&str, &str)> = turns.iter().map(|(r, c)| (*r, c.as_str())).collect();
    chat.template
        .render_messages(&t, false, &chat.options)
        .map_err(|e| Error::Input(format!("chat template: {e}")))
}

/// ttc's layout: the prompt's tokens, then the steps as one text ([`ttc_data::steps::layout`]).
pub fn ttc_layout(engine: &Engine, prompt: &str, steps: &[String]) -> Result<ReadLayout> {
    let encode = |s: &str| -> ttc_data::Result<ttc_data::steps::Encoded> {
        engine
            .encode_with_offsets(s)
            .map_err(crate::tokenizer_error)
    };
    let prompt = engine.encode_prompt_text(prompt)?;
    let l = ttc_data::steps::layout(&encode, &prompt, steps, false)?;
    Ok(ReadLayout {
        shared: l.prompt_len.min(l.step_ends.first().copied().unwrap_or(0)),
        tokens: l.tokens,
        reads: l.step_ends,
    })
}
