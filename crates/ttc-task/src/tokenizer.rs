//! The arith tokenizer: a small byte-level BPE trained with the `tokenizers` crate, digits
//! split one per token (so the model sees place value, not memorised number chunks), and
//! the special tokens every later stage needs. Saved as a standard `tokenizer.json`, so HF
//! tooling loads it too.

use std::path::Path;

use serde::{Deserialize, Serialize};
pub use tokenizers::Tokenizer;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper};

use crate::chat_template::{ChatOptions, ChatTemplate};
use crate::{Error, Result};

/// Padding (id 0).
pub const PAD: &str = "<|pad|>";
/// End of sequence (id 1): closes every solution.
pub const EOS: &str = "<|eos|>";
/// Beginning of sequence (id 2).
pub const BOS: &str = "<|bos|>";
/// Opens one previous attempt in a revision prompt (DESIGN §7).
pub const ATTEMPT: &str = "<|attempt|>";
/// Closes one previous attempt.
pub const END_ATTEMPT: &str = "<|end_attempt|>";
/// Marks where the revised solution starts.
pub const REVISE: &str = "<|revise|>";

/// All special tokens, in id order.
pub const SPECIAL_TOKENS: [&str; 6] = [PAD, EOS, BOS, ATTEMPT, END_ATTEMPT, REVISE];

/// Tokenizer training knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// Target vocabulary size, special tokens and the 256 byte symbols included.
    #[serde(default = "default_vocab")]
    pub vocab_size: usize,
    /// A merge must occur this often in the corpus.
    #[serde(default = "default_min_frequency")]
    pub min_frequency: u64,
}

fn default_vocab() -> usize {
    384
}
fn default_min_frequency() -> u64 {
    2
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            vocab_size: default_vocab(),
            min_frequency: default_min_frequency(),
        }
    }
}

/// Train on `texts`. Deterministic for the same corpus and config.
pub fn train_tokenizer<I, S>(cfg: &TokenizerConfig, texts: I) -> Result<Tokenizer>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    let min_vocab = SPECIAL_TOKENS.len() + 256;
    if cfg.vocab_size < min_vocab {
        return Err(Error::Config(format!(
            "tokenizer.vocab_size: must be >= {min_vocab} (256 bytes + special tokens)"
        )));
    }
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(cfg.vocab_size)
        .min_frequency(cfg.min_frequency)
        .show_progress(false)
        .special_tokens(
            SPECIAL_TOKENS
                .iter()
                .map(|t| AddedToken::from(*t, true))
                .collect(),
        )
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(PreTokenizerWrapper::Sequence(Sequence::new(vec![
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
        PreTokenizerWrapper::Digits(Digits::new(true)),
    ]))));
    tok.with_decoder(Some(ByteLevel::new(false, true, true)));
    tok.train(&mut trainer, texts)
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    Ok(tok)
}

/// Load a `tokenizer.json`, checking that it has ttc's special tokens.
pub fn load_tokenizer(path: &std::path::Path) -> Result<Tokenizer> {
    let tok = Tokenizer::from_file(path)
        .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
    for sp in [PAD, EOS] {
        if tok.token_to_id(sp).is_none() {
            return Err(Error::Tokenizer(format!(
                "{}: special token {sp} is missing (not a ttc tokenizer?)",
                path.display()
            )));
        }
    }
    Ok(tok)
}

/// Encode then decode; true when the text comes back byte for byte.
/// Token ids of a text and each token's byte span `(start, end)` in it.
pub type Encoded = (Vec<u32>, Vec<(usize, usize)>);

/// Ids of `text` (no special tokens added) and each token's byte span in it.
pub fn encode_with_offsets(tok: &Tokenizer, text: &str) -> Result<Encoded> {
    encode_with_offsets_special(tok, text, false)
}

/// [`encode_with_offsets`], with the tokenizer's special tokens added when `add_special`
/// (transformers' `tokenizer(text)`; an added BOS spans no bytes: `(0, 0)`).
pub fn encode_with_offsets_special(
    tok: &Tokenizer,
    text: &str,
    add_special: bool,
) -> Result<Encoded> {
    let e = tok
        .encode(text, add_special)
        .map_err(|e| Error::Config(format!("tokenizer: {e}")))?;
    Ok((e.get_ids().to_vec(), e.get_offsets().to_vec()))
}

pub fn round_trips(tok: &Tokenizer, text: &str) -> bool {
    tok.encode(text, false)
        .ok()
        .and_then(|e| tok.decode(e.get_ids(), false).ok())
        .is_some_and(|d| d == text)
}

/// The prompt every ttc-trained policy sees for a problem; the solution follows it directly.
pub fn prompt_text(problem: &str) -> String {
    format!("Problem: {problem}\nSolution:\n")
}

/// A checkpoint's prompt format, kept beside its weights as `prompt_template.txt` (a format
/// string) or `chat_prompt.json` (its tokenizer's chat template); neither means
/// [`prompt_text`].
pub const PROMPT_FILE: &str = "prompt_template.txt";
/// The chat form of a checkpoint's prompt: the template, its special tokens and options.
pub const CHAT_PROMPT_FILE: &str = "chat_prompt.json";

/// How a problem becomes the prompt text a model continues: a format string whose one
/// `{problem}` is replaced by the problem, or a chat template rendered with the problem as
/// the user's turn.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptTemplate {
    Format(String),
    Chat(Box<ChatPrompt>),
}

/// A chat template and the options it is rendered with.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPrompt {
    pub template: ChatTemplate,
    pub options: ChatOptions,
}

/// `chat_prompt.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatPromptFile {
    template: String,
    specials: std::collections::BTreeMap<String, String>,
    #[serde(flatten)]
    options: ChatOptions,
}

impl Default for PromptTemplate {
    fn default() -> Self {
        PromptTemplate::Format(prompt_text("{problem}"))
    }
}

impl PromptTemplate {
    /// A format string with exactly one `{problem}`.
    pub fn parse(template: &str) -> Result<PromptTemplate> {
        match template.matches("{problem}").count() {
            1 => Ok(PromptTemplate::Format(template.to_string())),
            n => Err(Error::Config(format!(
                "prompt template: needs exactly one {{problem}} placeholder, found {n}"
            ))),
        }
    }

    /// The chat template of checkpoint `dir` (wherever transformers keeps it:
    /// `chat_template.jinja`, `chat_template.json` or `tokenizer_config.json`) with
    /// `options`; checked by rendering a probe problem.
    pub fn chat(dir: &Path, options: ChatOptions) -> Result<PromptTemplate> {
        let template = ChatTemplate::from_checkpoint(dir)?.ok_or_else(|| {
            Error::Config(format!(
                "{}: no chat template (no chat_template.jinja, chat_template.json or chat_template in tokenizer_config.json); give a prompt format string instead",
                dir.display()
            ))
        })?;
        let t = PromptTemplate::Chat(Box::new(ChatPrompt { template, options }));
        t.render("What is 1 + 1?")
            .map_err(|e| Error::Config(format!("{}: {e}", dir.display())))?;
        Ok(t)
    }

    /// The checkpoint's prompt: `dir/chat_prompt.json`, `dir/prompt_template.txt`, or the
    /// default when it has neither.
    pub fn load(dir: &Path) -> Result<PromptTemplate> {
        let chat = dir.join(CHAT_PROMPT_FILE);
        if chat.exists() {
            let text = std::fs::read_to_string(&chat)
                .map_err(|e| Error::Config(format!("{}: {e}", chat.display())))?;
            let f: ChatPromptFile = serde_json::from_str(&text)
                .map_err(|e| Error::Config(format!("{}: {e}", chat.display())))?;
            let template = ChatTemplate::new(&f.template, f.specials)
                .map_err(|e| Error::Config(format!("{}: {e}", chat.display())))?;
            return Ok(PromptTemplate::Chat(Box::new(ChatPrompt {
                template,
                options: f.options,
            })));
        }
        let path = dir.join(PROMPT_FILE);
        match std::fs::read_to_string(&path) {
            Ok(t) => PromptTemplate::parse(&t)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PromptTemplate::default()),
            Err(e) => Err(Error::Config(format!("{}: {e}", path.display()))),
        }
    }

    /// Write this prompt into checkpoint `dir` (the file [`PromptTemplate::load`] reads).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let (name, bytes) = match self {
            PromptTemplate::Format(f) => (PROMPT_FILE, f.as_bytes().to_vec()),
            PromptTemplate::Chat(c) => {
                let f = ChatPromptFile {
                    template: c.template.source().to_string(),
                    specials: c.template.specials().clone(),
                    options: c.options.clone(),
                };
                (
                    CHAT_PROMPT_FILE,
                    serde_json::to_vec_pretty(&f).expect("json"),
                )
            }
        };
        ttc_core::atomic::write_atomic(&dir.join(name), &bytes)
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// The file name [`PromptTemplate::save`] writes.
    pub fn file_name(&self) -> &'static str {
        match self {
            PromptTemplate::Format(_) => PROMPT_FILE,
            PromptTemplate::Chat(_) => CHAT_PROMPT_FILE,
        }
    }

    /// The prompt text of `problem`.
    pub fn render(&self, problem: &str) -> Result<String> {
        match self {
            PromptTemplate::Format(f) => Ok(f.replacen("{problem}", problem, 1)),
            PromptTemplate::Chat(c) => c.template.render(problem, &c.options),
        }
    }

    /// Whether a rendered prompt is encoded with the tokenizer's special tokens: yes for a
    /// format string (transformers' `tokenizer(text)`: Llama-3's BOS), no for a chat
    /// template, which writes its own.
    pub fn adds_special_tokens(&self) -> bool {
        matches!(self, PromptTemplate::Format(_))
    }

    /// The ids of a rendered prompt text.
    pub fn encode_text(&self, tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
        tok.encode(text, self.adds_special_tokens())
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// The prompt ids of `problem`.
    pub fn encode(&self, tok: &Tokenizer, problem: &str) -> Result<Vec<u32>> {
        self.encode_text(tok, &self.render(problem)?)
    }
}

/// The text a tokenizer is trained on for one problem row: prompt + reference solution.
pub fn corpus_text(problem: &crate::Problem) -> String {
    format!("{}{}", prompt_text(&problem.problem), problem.solution)
}

/// The `tokenizer` stage: train on the train split of `data_dir`, check that every training
/// row round-trips, save `tokenizer.json` and `manifest.json` into `out_dir`.
pub fn build_tokenizer(
    cfg: &TokenizerConfig,
    data_dir: &std::path::Path,
    out_dir: &std::path::Path,
) -> Result<ttc_core::manifest::Manifest> {
    let start = std::time::Instant::now();
    let train_path = data_dir.join(crate::dataset::split_file("train"));
    let rows = crate::math500::load_problems(&train_path)?;
    let texts: Vec<String> = rows.iter().map(corpus_text).collect();
    let tok = train_tokenizer(cfg, texts.iter())?;
    if let Some((i, _)) = texts
        .iter()
        .enumerate()
        .find(|(_, t)| !round_trips(&tok, t))
    {
        return Err(Error::Tokenizer(format!(
            "{}:{}: row does not survive encode/decode",
            train_path.display(),
            i + 1
        )));
    }
    let json = tok
        .to_string(true)
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    ttc_core::atomic::write_atomic(&out_dir.join("tokenizer.json"), json.as_bytes())?;
    let mut m = ttc_core::manifest::Manifest::new("tokenizer", cfg, 0);
    m.counts
        .insert("vocab_size".into(), tok.get_vocab_size(true) as u64);
    m.counts.insert("rows".into(), texts.len() as u64);
    let tokens: usize = texts
        .iter()
        .map(|t| tok.encode(t.as_str(), false).map(|e| e.len()).unwrap_or(0))
        .sum();
    m.counts.insert("train_tokens".into(), tokens as u64);
    m.wall_time_s = start.elapsed().as_secs_f64();
    m.save(out_dir)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arith::{ArithConfig, generate};

    #[test]
    fn trains_round_trips_and_splits_digits() {
        let s = generate(&ArithConfig::tiny()).unwrap();
        let texts: Vec<String> = s.train.iter().map(corpus_text).collect();
        let tok = train_tokenizer(&TokenizerConfig::default(), texts.iter()).unwrap();
        for t in &texts {
            assert!(round_trips(&tok, t), "{t:?}");
        }
        for (i, sp) in SPECIAL_TOKENS.iter().enumerate() {
            assert_eq!(tok.token_to_id(sp), Some(i as u32));
        }
        let enc = tok.encode("b = 12345 mod 7", false).unwrap();
        let digits: Vec<&String> = enc
            .get_tokens()
            .iter()
            .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
            .collect();
        assert_eq!(digits.len(), 6, "{:?}", enc.get_tokens());
        assert!(digits.iter().all(|t| t.chars().count() == 1));
        // The step delimiter and specials survive.
        assert!(round_trips(&tok, "a\n\nb<|eos|>"));
        let again = train_tokenizer(&TokenizerConfig::default(), texts.iter()).unwrap();
        assert_eq!(
            tok.to_string(false).unwrap(),
            again.to_string(false).unwrap()
        );
    }
}
