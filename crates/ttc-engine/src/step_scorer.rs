//! A PRM / ORM as a step scorer over the fast CPU path, for batches of (prompt, steps):
//! each step's score read as the PRM's format says ([`crate::prm_format`]; ttc's own: the
//! sigmoid of the score head at the step's last token, DESIGN §4).

use std::collections::HashMap;

use ttc_model::cpu::Row;
use ttc_model::decoder::Decoder;
use ttc_model::generate::Engine;
use ttc_task::tokenizer::PromptTemplate;

use crate::prm_format::{PrmFormat, PrmReader, ReadLayout, ttc_layout};
use crate::{Error, Result};

/// Scores steps with a PRM / ORM.
pub struct StepScorer<'m> {
    pub engine: Engine<'m>,
    /// Rows per forward call (bounds activation memory).
    pub max_rows: usize,
    reader: PrmReader,
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
        })
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

    /// Per-step scores in (0, 1) of each (problem text, steps) item. Items with no steps
    /// get no scores. Every sequence is computed once, batched up to `max_rows` rows.
    pub fn score(&self, items: &[(&str, &[String])]) -> Result<Vec<Vec<f32>>> {
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
        let max_pos = model.max_positions();
        // Items of one prompt (a question's N samples) share its cache: the prompt is
        // computed once and forked, each item runs only its steps. (The outputs are the
        // same bits as computing each item whole: rows do not depend on their batch.)
        let mut prompt_slot: HashMap<&[u32], usize> = HashMap::new();
        let mut prompt_tokens: Vec<&[u32]> = Vec::new();
        let mut shared: Vec<Option<usize>> = vec![None; layouts.len()];
        for (i, l) in layouts.iter().enumerate() {
            let Some(l) = l else { continue };
            let n = l.tokens.len().min(max_pos);
            if l.shared == 0 || l.shared >= n {
                continue;
            }
            let slot = *prompt_slot.entry(&l.tokens[..l.shared]).or_insert_with(|| {
                prompt_tokens.push(&l.tokens[..l.shared]);
                prompt_tokens.len() - 1
            });
            shared[i] = Some(slot);
        }
        let mut prompt_caches = crate::prefill::prefill(model, &prompt_tokens, self.max_rows)?;
        let mut out = vec![Vec::new(); layouts.len()];
        let mut i = 0;
        while i < layouts.len() {
            let mut rows = Vec::new();
            let mut out_rows = Vec::new();
            let mut owners = Vec::new();
            let mut caches = Vec::new();
            while i < layouts.len() {
                let Some(l) = &layouts[i] else {
                    i += 1;
                    continue;
                };
                let n = l.tokens.len().min(max_pos);
                let (start, cache) = match shared[i] {
                    Some(p) => (l.shared, prompt_caches[p].fork()),
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
                for &e in &l.reads {
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
            let outputs = model.forward(&mut caches, &rows, &out_rows)?;
            let scores = self
                .reader
                .scores(&outputs, model.head_outputs())
                .map_err(|r| {
                    Error::Input(format!(
                        "item {}: the model's score is not finite (NaN or inf); its weights or inputs are corrupt",
                        owners[r]
                    ))
                })?;
            for (s, &o) in scores.into_iter().zip(&owners) {
                out[o].push(s);
            }
        }
        Ok(out)
    }
}
