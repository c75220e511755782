//! A PRM / ORM as a step scorer over the fast CPU path: sigmoid of the score head at each
//! step's last token (DESIGN §4), for batches of (prompt, steps).

use std::collections::HashMap;

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
        let prompt = self.engine.prompt().render(problem).map_err(prompt_error)?;
        self.layout_prompt(&prompt, steps)
    }

    /// Token layout of a full prompt text + steps.
    pub fn layout_prompt(&self, prompt: &str, steps: &[String]) -> Result<StepLayout> {
        let encode = |s: &str| -> ttc_data::Result<ttc_data::steps::Encoded> {
            self.engine.encode_with_offsets(s).map_err(tokenizer_error)
        };
        let prompt = self
            .engine
            .encode_prompt_text(prompt)
            .map_err(tokenizer_error)?;
        Ok(layout(&encode, &prompt, steps, false)?)
    }

    /// Per-step scores in (0, 1) of each (problem text, steps) item. Items with no steps
    /// get no scores. Every sequence is computed once, batched up to `max_rows` rows.
    pub fn score(&self, items: &[(&str, &[String])]) -> Result<Vec<Vec<f32>>> {
        let prompts: Vec<String> = items
            .iter()
            .map(|(p, _)| self.engine.prompt().render(p).map_err(prompt_error))
            .collect::<std::result::Result<_, _>>()?;
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
        // Items of one prompt (a question's N samples) share its cache: the prompt is
        // computed once and forked, each item runs only its steps. (The outputs are the
        // same bits as computing each item whole: rows do not depend on their batch.)
        let mut prompt_slot: HashMap<&str, usize> = HashMap::new();
        let mut prompt_tokens: Vec<&[u32]> = Vec::new();
        let mut shared: Vec<Option<usize>> = vec![None; items.len()];
        for (i, l) in layouts.iter().enumerate() {
            let Some(l) = l else { continue };
            let n = l.tokens.len().min(max_pos);
            if l.prompt_len == 0 || l.prompt_len >= n || l.step_ends[0] < l.prompt_len {
                continue;
            }
            let slot = *prompt_slot.entry(items[i].0).or_insert_with(|| {
                prompt_tokens.push(&l.tokens[..l.prompt_len]);
                prompt_tokens.len() - 1
            });
            shared[i] = Some(slot);
        }
        let mut prompt_caches = Vec::with_capacity(prompt_tokens.len());
        let mut k = 0;
        while k < prompt_tokens.len() {
            // Prompts in one forward up to max_rows rows (at least one).
            let mut end = k + 1;
            let mut rows_in = prompt_tokens[k].len();
            while end < prompt_tokens.len() && rows_in + prompt_tokens[end].len() <= self.max_rows {
                rows_in += prompt_tokens[end].len();
                end += 1;
            }
            let chunk = &prompt_tokens[k..end];
            let mut caches: Vec<_> = chunk.iter().map(|_| model.new_cache()).collect();
            let rows: Vec<Row> = chunk
                .iter()
                .enumerate()
                .flat_map(|(seq, t)| {
                    t.iter()
                        .enumerate()
                        .map(move |(pos, &token)| Row { seq, token, pos })
                })
                .collect();
            model.forward(&mut caches, &rows, &[])?;
            prompt_caches.extend(caches);
            k = end;
        }
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
                let (start, cache) = match shared[i] {
                    Some(p) => (l.prompt_len, prompt_caches[p].fork()),
                    None => (0, model.new_cache()),
                };
                if !rows.is_empty() && rows.len() + n - start > self.max_rows {
                    break;
                }
                let slot = caches.len();
                let base = rows.len();
                for (pos, &token) in l.tokens[..n].iter().enumerate().skip(start) {
                    rows.push(Row {
                        seq: slot,
                        token,
                        pos,
                    });
                }
                for &e in &l.step_ends {
                    // A step past the context limit gets the last position's score.
                    out_rows.push(base + e.min(n - 1) - start);
                    owners.push(i);
                }
                caches.push(cache);
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

fn prompt_error(e: ttc_task::Error) -> ttc_data::Error {
    ttc_data::Error::Input(format!("prompt: {e}"))
}
