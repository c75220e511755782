//! The policy's own likelihood as a step scorer — a verifier that trains nothing, beside
//! the PRM: each step scores the geometric-mean probability the policy gives the solution's
//! tokens up to that step's end, `exp(mean log p)`. Cumulative, as a PRM's step score judges
//! its whole prefix, so the last step's score is the whole solution's. It measures how much
//! of right versus wrong the policy already knows (the "self-certainty" family of selection
//! baselines) — what a PRM fine-tuned from the policy could at least keep.

use ttc_engine::Engine;
use ttc_model::decoder::Decoder;
use ttc_task::tokenizer::{PromptTemplate, Tokenizer};

use crate::prm_format::{ReadLayout, render, ttc_layout};
use crate::{Error, Result};

/// Scores steps by the policy's likelihood of them.
pub struct LikelihoodScorer<'m> {
    engine: Engine<'m>,
    /// Rows per forward call (bounds activation memory: each row returns its logits).
    pub max_rows: usize,
}

impl<'m> LikelihoodScorer<'m> {
    /// A scorer over a causal LM (`model` with its tokenizer) in the policy's `prompt`.
    pub fn new(model: &'m dyn Decoder, tok: &'m Tokenizer, prompt: PromptTemplate) -> Result<Self> {
        require_logits(model)?;
        Ok(LikelihoodScorer {
            engine: Engine::new(model, tok)?.with_prompt(prompt),
            max_rows: rows_for_vocab(model.head_outputs()),
        })
    }

    /// Per-step scores in (0, 1] of each (problem text, steps) item; items with no steps get
    /// none. A step past the model's context gets the score of the tokens inside it.
    pub fn score(&self, items: &[(&str, &[String])]) -> Result<Vec<Vec<f32>>> {
        let max_pos = self.engine.model.max_positions();
        let layouts = items
            .iter()
            .map(|(p, s)| {
                if s.is_empty() {
                    return Ok(None);
                }
                let prompt = render(self.engine.prompt(), p)?;
                let mut l = ttc_layout(&self.engine, &prompt, s)?;
                // The logits that predict the first solution token sit on the prompt's
                // last token: share one token less so that position is computed per item.
                l.shared = l.shared.saturating_sub(1);
                Ok(Some(l))
            })
            .collect::<Result<Vec<_>>>()?;
        // The logits at position p predict token p + 1: every position from the first
        // solution token's predictor up to the last step's end (inside the context).
        let predictors = |l: &ReadLayout| -> std::ops::Range<usize> {
            let first = if l.shared == 0 { 0 } else { l.shared };
            let last = l.reads.last().copied().unwrap_or(0).min(max_pos - 1);
            first..last.max(first)
        };
        let model = self.engine.model;
        let outputs =
            crate::layout_forward::forward_layouts(model, &layouts, self.max_rows, &|l| {
                predictors(l).collect()
            })?;
        let vocab = model.head_outputs();
        layouts
            .iter()
            .zip(&outputs)
            .enumerate()
            .map(|(item, (l, o))| {
                let Some(l) = l else { return Ok(Vec::new()) };
                let range = predictors(l);
                let mut log_probs = Vec::with_capacity(range.len());
                for (k, logits) in o.chunks_exact(vocab).enumerate() {
                    let next = l.tokens[range.start + k + 1] as usize;
                    let lp = log_softmax_at(logits, next);
                    if !lp.is_finite() {
                        return Err(Error::Input(format!(
                            "item {item}: the policy's logits are not finite (NaN or inf); its weights or inputs are corrupt"
                        )));
                    }
                    log_probs.push(lp);
                }
                Ok(step_scores(&log_probs, range.start + 1, &l.reads))
            })
            .collect()
    }
}

/// The likelihood reads a causal LM's logits: a model on a server returns none, and a
/// score-head model has no vocabulary.
pub(crate) fn require_logits(model: &dyn Decoder) -> Result<()> {
    if model.remote().is_some() {
        return Err(Error::Input(
            "the policy's likelihood needs its logits; a model on a server returns none".into(),
        ));
    }
    if model.head_outputs() < 2 {
        return Err(Error::Input(format!(
            "the policy's likelihood needs a causal LM; this model has a {}-label score head",
            model.head_outputs()
        )));
    }
    Ok(())
}

/// Logits come back for every row: at most 64M floats a forward (256 MiB) — 4 096 rows of
/// ttc's 320-token vocabulary, 441 of Qwen2's 152k — and at least 64 rows.
pub(crate) fn rows_for_vocab(vocab: usize) -> usize {
    ((64usize << 20) / vocab.max(1)).clamp(64, 4096)
}

/// `log softmax(logits)[index]`, in f64.
pub(crate) fn log_softmax_at(logits: &[f32], index: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&x| (x as f64 - max).exp()).sum();
    logits[index] as f64 - max - sum.ln()
}

/// Per step ending at token `reads[k]`: `exp(mean log p)` of tokens `first..=reads[k]`,
/// where `log_probs[j]` is token `first + j`'s (steps past the scored tokens take what
/// was scored).
pub(crate) fn step_scores(log_probs: &[f64], first: usize, reads: &[usize]) -> Vec<f32> {
    let mut prefix = Vec::with_capacity(log_probs.len() + 1);
    prefix.push(0.0);
    for lp in log_probs {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + lp);
    }
    reads
        .iter()
        .map(|&e| {
            let n = (e + 1).saturating_sub(first).min(log_probs.len());
            if n == 0 {
                return 1.0;
            }
            (prefix[n] / n as f64).exp() as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_scores_the_geometric_mean_of_its_prefix() {
        let lp = [0.5f64.ln(), 0.25f64.ln(), 1.0f64.ln(), 0.125f64.ln()];
        // Tokens 10..=13; steps end at 11 and 13.
        let s = step_scores(&lp, 10, &[11, 13]);
        assert!((s[0] - (0.5f32 * 0.25).sqrt()).abs() < 1e-6, "{s:?}");
        assert!(
            (s[1] - (0.5f32 * 0.25 * 0.125).powf(0.25)).abs() < 1e-6,
            "{s:?}"
        );
        // A step past what was scored takes the scored prefix.
        assert_eq!(step_scores(&lp, 10, &[20])[0], s[1]);
    }

    #[test]
    fn a_forward_returns_at_most_64m_logits() {
        assert_eq!(rows_for_vocab(320), 4096);
        assert_eq!(rows_for_vocab(151_936), 441);
        assert_eq!(rows_for_vocab(10_000_000), 64);
    }

    #[test]
    fn log_softmax_matches_its_definition() {
        let l = [1.0f32, 2.0, 3.0];
        let z: f64 = l.iter().map(|&x| (x as f64).exp()).sum();
        assert!((log_softmax_at(&l, 1) - (2.0 - z.ln())).abs() < 1e-12);
    }
}
