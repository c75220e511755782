//! Monte Carlo step labels (DESIGN §5; Snell et al. App. D, Math-Shepherd).
//!
//! For each sampled solution with a parsable answer and each step prefix, roll out
//! `rollouts_per_step` continuations to the end with the policy: soft label = fraction
//! whose final answer is right, hard label = any right. The last step needs no rollout:
//! its prefix is the whole solution, labelled by its own correctness.
//!
//! Prefix sharing: a question's prompt is prefilled once; each sample extends a fork of
//! it one step at a time, and every rollout forks the sample's cache at its step boundary,
//! so each token of the prefix tree is computed once (the ratio is in [`LabelStats`]).

use serde::{Deserialize, Serialize};
use ttc_core::seed::derive_seed;
use ttc_engine::{Engine, Sequence};
use ttc_task::Problem;
use ttc_task::grader::{extract_answer, is_equivalent};

use ttc_data::rows::{LabelRow, SampleRow};
use ttc_data::steps::layout;
use ttc_task::steps::join_steps;

use crate::Result;
use crate::sampling::SampleConfig;
use crate::tokenizer_error;

/// Token accounting of a labelling run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelStats {
    /// Tokens of the prefix tree: prompts once, each sample's rolled-from steps, rollouts.
    pub unique_tokens: u64,
    /// Tokens the model actually ran.
    pub computed_tokens: u64,
    pub rollouts: u64,
    pub samples_labelled: u64,
    pub samples_dropped: u64,
}

impl LabelStats {
    pub fn add(&mut self, o: &LabelStats) {
        self.unique_tokens += o.unique_tokens;
        self.computed_tokens += o.computed_tokens;
        self.rollouts += o.rollouts;
        self.samples_labelled += o.samples_labelled;
        self.samples_dropped += o.samples_dropped;
    }
}

/// Soft and hard label of a set of rollout outcomes.
pub fn soft_hard(outcomes: &[bool]) -> (f32, bool) {
    let k = outcomes.iter().filter(|&&o| o).count();
    (k as f32 / outcomes.len().max(1) as f32, k > 0)
}

/// Label every step of `samples[i]` (the samples of `problems[i]`).
pub fn label_questions(
    engine: &Engine,
    problems: &[Problem],
    samples: &[Vec<SampleRow>],
    cfg: &SampleConfig,
) -> Result<(Vec<LabelRow>, LabelStats)> {
    let before = engine.counts().computed();
    let mut stats = LabelStats::default();
    let encode = |s: &str| -> ttc_data::Result<ttc_data::steps::Encoded> {
        engine.encode_with_offsets(s).map_err(tokenizer_error)
    };
    let prompts = problems
        .iter()
        .map(|p| Ok(engine.encode_prompt(&p.problem)?))
        .collect::<Result<Vec<_>>>()?;
    stats.unique_tokens += prompts.iter().map(|p| p.len() as u64).sum::<u64>();
    let mut base = engine.prefill(&prompts)?;
    // Usable samples: (question, sample row, layout, its growing sequence).
    struct Live<'a> {
        q: usize,
        row: &'a SampleRow,
        tokens: Vec<u32>,
        next: Vec<usize>,
    }
    let mut live: Vec<Live> = Vec::new();
    let mut seqs: Vec<Sequence> = Vec::new();
    for (q, rows) in samples.iter().enumerate() {
        for row in rows {
            if row.answer.is_none() || row.steps.is_empty() {
                stats.samples_dropped += 1;
                continue;
            }
            let l = layout(&encode, &prompts[q], &row.steps, false)?;
            live.push(Live {
                q,
                row,
                tokens: l.tokens,
                next: l.step_starts_next,
            });
            seqs.push(base[q].fork());
        }
    }
    drop(base);
    stats.samples_labelled = live.len() as u64;
    // Walk the steps: extend every sample by step k, fork the rollouts from there.
    let r = cfg.n;
    let mut rollouts: Vec<Sequence> = Vec::new();
    let mut seeds: Vec<u64> = Vec::new();
    let mut origin: Vec<(usize, usize)> = Vec::new(); // (live index, step)
    let max_steps = live.iter().map(|l| l.row.steps.len()).max().unwrap_or(0);
    for k in 0..max_steps.saturating_sub(1) {
        let items: Vec<(usize, &[u32])> = live
            .iter()
            .enumerate()
            .filter(|(_, l)| k + 1 < l.row.steps.len())
            .map(|(i, l)| {
                let from = if k == 0 {
                    prompts[l.q].len()
                } else {
                    l.next[k - 1]
                };
                (i, &l.tokens[from..l.next[k]])
            })
            .collect();
        stats.unique_tokens += items.iter().map(|(_, t)| t.len() as u64).sum::<u64>();
        engine.extend(&mut seqs, &items)?;
        for &(i, _) in &items {
            let l = &live[i];
            for j in 0..r {
                rollouts.push(seqs[i].fork());
                let b = ((l.row.sample_id as u64) << 32) | (k * r + j) as u64;
                seeds.push(derive_seed(cfg.seed, l.row.question_index as u64, b));
                origin.push((i, k));
            }
        }
    }
    drop(seqs);
    stats.rollouts = rollouts.len() as u64;
    let gens = engine.decode(rollouts, &cfg.params(), &seeds)?;
    // outcomes[i][k]: rollout results of live sample i from step k.
    let mut outcomes: Vec<Vec<Vec<bool>>> = live
        .iter()
        .map(|l| vec![Vec::new(); l.row.steps.len()])
        .collect();
    for ((_, g), &(i, k)) in gens.into_iter().zip(&origin) {
        let l = &live[i];
        crate::require_finite(&g, || {
            format!(
                "rollout from step {k} of question {} sample {}",
                l.row.question_id, l.row.sample_id
            )
        })?;
        stats.unique_tokens += g.generated_tokens as u64;
        let text = format!(
            "{}{}{}",
            join_steps(&l.row.steps[..=k]),
            ttc_task::STEP_DELIMITER,
            g.text
        );
        let p = &problems[l.q];
        let ok = extract_answer(&text).is_some_and(|a| is_equivalent(&a, &p.answer));
        outcomes[i][k].push(ok);
    }
    let mut rows = Vec::new();
    for (l, outs) in live.iter().zip(outcomes) {
        let n = l.row.steps.len();
        for (k, o) in outs.iter().enumerate() {
            let (soft, hard) = if k + 1 == n {
                (l.row.correct as u8 as f32, l.row.correct)
            } else {
                soft_hard(o)
            };
            rows.push(LabelRow {
                question_id: l.row.question_id.clone(),
                question_index: l.row.question_index,
                sample_id: l.row.sample_id,
                step_index: k as u32,
                n_steps: n as u32,
                prefix_tokens: if k + 1 == n {
                    l.tokens.len() as u32
                } else {
                    l.next[k] as u32
                },
                soft,
                hard,
                rollouts: o.len() as u32,
                correct_rollouts: o.iter().filter(|&&x| x).count() as u32,
                verdict: l.row.step_verdicts.get(k).cloned(),
            });
        }
    }
    stats.computed_tokens = engine.counts().computed() - before;
    Ok((rows, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_and_hard_labels_of_known_rollouts() {
        assert_eq!(soft_hard(&[true, false, false, true]), (0.5, true));
        assert_eq!(soft_hard(&[false; 16]), (0.0, false));
        assert_eq!(soft_hard(&[true; 3]), (1.0, true));
        let mut v = vec![false; 16];
        v[7] = true;
        assert_eq!(soft_hard(&v), (1.0 / 16.0, true));
    }
}
