//! A PRM / ORM as a step scorer over the fast CPU path: sigmoid of the score head at each
//! step's last token (DESIGN §4), for batches of (prompt, steps).

use ttc_model::cpu::Row;
use ttc_model::decoder::Decoder;
use ttc_model::generate::Engine;
use ttc_task::tokenizer::PromptTemplate;

use ttc_data::steps::{StepLayout, layout};

use crate::{Result, tokenizer_error};

/// Scores steps with a score-head model.
pub struct StepScorer<'m> {
    pub engine: Engine<'m>,
    /// Rows per forward call (bounds activation memory).
    pub max_rows: usize,
}

/// A score head's logit as a step score in (0, 1) (both scoring paths read it this way).
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
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
    pub fn new(model: &'m dyn Decoder, tok: &'m ttc_task::tokenizer::Tokenizer) -> Result<Self> {
        require_score_head(model).map_err(crate::Error::Input)?;
        Ok(StepScorer {
            engine: Engine::new(model, tok)?,
            max_rows: 8192,
        })
    }

    /// Score in `prompt`'s format (the checkpoint's [`PromptTemplate`]).
    pub fn with_prompt(mut self, prompt: PromptTemplate) -> Self {
        self.engine = self.engine.with_prompt(prompt);
        self
    }

    /// Token layout of a question's prompt + steps.
    pub fn layout(&self, problem: &str, steps: &[String]) -> Result<StepLayout> {
        self.layout_prompt(&self.engine.prompt().render(problem), steps)
    }

    /// Token layout of a full prompt text + steps.
    pub fn layout_prompt(&self, prompt: &str, steps: &[String]) -> Result<StepLayout> {
        let encode = |s: &str| -> ttc_data::Result<Vec<u32>> {
            self.engine.encode(s).map_err(tokenizer_error)
        };
        let prompt = encode(prompt)?;
        Ok(layout(&encode, &prompt, steps, false)?)
    }

    /// Per-step scores in (0, 1) of each (problem text, steps) item. Items with no steps
    /// get no scores. Every sequence is computed once, batched up to `max_rows` rows.
    pub fn score(&self, items: &[(&str, &[String])]) -> Result<Vec<Vec<f32>>> {
        let prompts: Vec<String> = items
            .iter()
            .map(|(p, _)| self.engine.prompt().render(p))
            .collect();
        let with: Vec<(&str, &[String])> = prompts
            .iter()
            .zip(items)
            .map(|(p, (_, s))| (p.as_str(), *s))
            .collect();
        self.score_prompts(&with)
    }

    /// [`StepScorer::score`] with full prompt texts (e.g. a revision prompt holding the
    /// previous attempts, for an outcome model that sees them).
    pub fn score_prompts(&self, items: &[(&str, &[String])]) -> Result<Vec<Vec<f32>>> {
        let layouts = items
            .iter()
            .map(|(p, s)| {
                if s.is_empty() {
                    Ok(None)
                } else {
                    self.layout_prompt(p, s).map(Some)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let model = self.engine.model;
        let max_pos = model.max_positions();
        let mut out = vec![Vec::new(); items.len()];
        let mut i = 0;
        while i < items.len() {
            let mut rows = Vec::new();
            let mut out_rows = Vec::new();
            let mut owners = Vec::new();
            let mut caches = Vec::new();
            while i < items.len() {
                let Some(l) = &layouts[i] else {
                    i += 1;
                    continue;
                };
                let n = l.tokens.len().min(max_pos);
                if !rows.is_empty() && rows.len() + n > self.max_rows {
                    break;
                }
                let slot = caches.len();
                let base = rows.len();
                for (pos, &token) in l.tokens[..n].iter().enumerate() {
                    rows.push(Row {
                        seq: slot,
                        token,
                        pos,
                    });
                }
                for &e in &l.step_ends {
                    // A step past the context limit gets the last position's score.
                    out_rows.push(base + e.min(n - 1));
                    owners.push(i);
                }
                caches.push(model.new_cache());
                i += 1;
            }
            if rows.is_empty() {
                continue;
            }
            let scores = model.forward(&mut caches, &rows, &out_rows)?;
            for (s, &o) in scores.iter().zip(&owners) {
                if !s.is_finite() {
                    return Err(crate::Error::Input(format!(
                        "item {o}: the model's score is not finite (NaN or inf); its weights or inputs are corrupt"
                    )));
                }
                out[o].push(sigmoid(*s));
            }
        }
        Ok(out)
    }
}
