//! A PRM / ORM as a step scorer over the fast CPU path, for batches of (prompt, steps):
//! each step's score read as the PRM's format says ([`crate::prm_format`]; ttc's own: the
//! sigmoid of the score head at the step's last token, DESIGN §4).

use ttc_engine::Engine;
use ttc_model::decoder::Decoder;
use ttc_task::tokenizer::PromptTemplate;

use crate::likelihood_scorer::LikelihoodScorer;
use crate::prm_format::{Calibration, PrmFormat, PrmReader, ReadLayout, ttc_layout};
use crate::{Error, Result};

/// Scores steps with a PRM / ORM.
pub struct StepScorer<'m> {
    pub engine: Engine<'m>,
    /// Rows per forward call (bounds activation memory).
    pub max_rows: usize,
    reader: PrmReader,
    /// A likelihood PRM: its scorer and reading (`reader` then only lays steps out).
    likelihood: Option<(LikelihoodScorer<'m>, Calibration)>,
}

/// A model usable as a step scorer: one label per token (ttc's PRM / ORM format).
pub(crate) fn require_score_head(model: &dyn Decoder) -> std::result::Result<(), String> {
    if model.head_outputs() != 1 {
        return Err(format!(
            "a step scorer needs a one-label score head; this model has {} outputs (is it a policy?)",
            model.head_outputs()
        ));
    }
    Ok(())
}

impl<'m> StepScorer<'m> {
    /// A scorer in ttc's format and default prompt.
    pub fn new(model: &'m dyn Decoder, tok: &'m ttc_task::tokenizer::Tokenizer) -> Result<Self> {
        require_score_head(model).map_err(Error::Input)?;
        StepScorer::with_format(model, tok, PromptTemplate::default(), PrmFormat::Ttc)
    }

    /// A scorer reading `format` with the checkpoint's prompt.
    pub fn with_format(
        model: &'m dyn Decoder,
        tok: &'m ttc_task::tokenizer::Tokenizer,
        prompt: PromptTemplate,
        format: PrmFormat,
    ) -> Result<Self> {
        let engine = Engine::new(model, tok)?.with_prompt(prompt);
        let reader = PrmReader::new(format, &engine)?;
        Ok(StepScorer {
            engine,
            max_rows: 8192,
            reader,
            likelihood: None,
        })
    }

    /// A scorer for the PRM checkpoint in `dir` (`model`, `tok` loaded from it): its prompt
    /// and format, a likelihood PRM with its calibration.
    pub fn for_checkpoint(
        model: &'m dyn Decoder,
        tok: &'m ttc_task::tokenizer::Tokenizer,
        dir: &std::path::Path,
    ) -> Result<Self> {
        let prompt = PromptTemplate::load(dir)
            .map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
        let (format, calibration) = PrmFormat::load_file(dir)?;
        match (format, calibration) {
            (PrmFormat::Likelihood, Some(c)) => {
                let scorer = LikelihoodScorer::new(model, tok, prompt.clone())
                    .map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
                Ok(StepScorer {
                    engine: Engine::new(model, tok)?.with_prompt(prompt),
                    max_rows: 8192,
                    reader: PrmReader::layout_only(PrmFormat::Likelihood),
                    likelihood: Some((scorer, c)),
                })
            }
            _ => StepScorer::with_format(model, tok, prompt, format),
        }
    }

    /// How it reads a step (its format and token ids).
    pub fn reader(&self) -> &PrmReader {
        &self.reader
    }

    /// Score in `prompt`'s format (the checkpoint's [`PromptTemplate`]).
    pub fn with_prompt(mut self, prompt: PromptTemplate) -> Self {
        self.engine = self.engine.with_prompt(prompt);
        self
    }

    /// Token layout of a question's steps in the PRM's format.
    pub fn layout(&self, problem: &str, steps: &[String]) -> Result<ReadLayout> {
        self.reader.layout(&self.engine, problem, steps)
    }

    /// Token layout of steps after a full prompt text, as [`StepScorer::score_prompts`]
    /// reads them (its length: whether the row fits the model's context).
    pub fn prompt_layout(&self, prompt: &str, steps: &[String]) -> Result<ReadLayout> {
        ttc_layout(&self.engine, prompt, steps)
    }

    /// Per-step scores in (0, 1) of each (problem text, steps) item. Items with no steps
    /// get no scores. Every sequence is computed once, batched up to `max_rows` rows.
    pub fn score(&self, items: &[(&str, &[String])]) -> Result<Vec<Vec<f32>>> {
        if let Some((scorer, c)) = &self.likelihood {
            let mut out = scorer.score(items)?;
            for x in out.iter_mut().flatten() {
                *x = c.apply(*x);
            }
            return Ok(out);
        }
        let layouts = items
            .iter()
            .map(|(p, s)| (!s.is_empty()).then(|| self.layout(p, s)).transpose())
            .collect::<Result<Vec<_>>>()?;
        self.score_layouts(&layouts)
    }

    /// [`StepScorer::score`] with full prompt texts (e.g. a revision prompt holding the
    /// previous attempts, for an outcome model that sees them); ttc's format only.
    pub fn score_prompts(&self, items: &[(&str, &[String])]) -> Result<Vec<Vec<f32>>> {
        if self.reader.format != PrmFormat::Ttc {
            return Err(Error::Input(format!(
                "a {} PRM scores questions, not full prompt texts",
                self.reader.format.name()
            )));
        }
        let layouts = items
            .iter()
            .map(|(p, s)| {
                (!s.is_empty())
                    .then(|| ttc_layout(&self.engine, p, s))
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        self.score_layouts(&layouts)
    }

    fn score_layouts(&self, layouts: &[Option<ReadLayout>]) -> Result<Vec<Vec<f32>>> {
        let model = self.engine.model;
        let outputs =
            crate::layout_forward::forward_layouts(model, layouts, self.max_rows, &|l| {
                l.reads.clone()
            })?;
        outputs
            .iter()
            .enumerate()
            .map(|(item, o)| {
                self.reader
                    .scores(o, model.head_outputs())
                    .map_err(|_| {
                        Error::Input(format!(
                            "item {item}: the model's score is not finite (NaN or inf); its weights or inputs are corrupt"
                        ))
                    })
            })
            .collect()
    }
}
