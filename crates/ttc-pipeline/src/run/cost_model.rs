//! A stage's wall before it ever ran (DESIGN §1, time ahead): its work in FLOPs (tokens ×
//! FLOPs per token: 2 × parameters to run a model over a token, 6 × to train on it) divided by
//! this machine's speed at that kind of work. The speed comes from the run's finished stages
//! of the same kind (their declared work over their recorded walls), or else from a short
//! probe of the policy's shape on this machine.
//!
//! Tokens come from a [`DataShape`]: the mean prompt and reference-solution lengths in the
//! policy's tokens and the split sizes — known once the data and tokenizer stages have run
//! (seconds). Generated lengths are taken as the reference solutions' (the policy imitates
//! them). An estimate, and said to be one.

use std::collections::BTreeMap;

/// What a stage's compute is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WorkKind {
    /// Forward and backward over training tokens.
    Train,
    /// Token-by-token decoding.
    Generate,
    /// Forward passes over whole sequences (scoring).
    Score,
}

impl WorkKind {
    pub const ALL: [WorkKind; 3] = [WorkKind::Train, WorkKind::Generate, WorkKind::Score];

    /// FLOPs per token per parameter.
    pub fn flops_per_param(self) -> f64 {
        match self {
            WorkKind::Train => 6.0,
            WorkKind::Generate | WorkKind::Score => 2.0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WorkKind::Train => "train",
            WorkKind::Generate => "generate",
            WorkKind::Score => "score",
        }
    }
}

/// A stage's declared compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    pub kind: WorkKind,
    pub tokens: f64,
    pub params: f64,
}

impl Work {
    pub fn flops(&self) -> f64 {
        self.kind.flops_per_param() * self.params * self.tokens
    }
}

/// The run's data as the cost model sees it (means over the split's reference solutions, in
/// the policy's tokens).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataShape {
    /// Questions per split (`train`, `val`, `test`).
    pub rows: BTreeMap<String, usize>,
    /// Tokens of a question's prompt.
    pub prompt_tokens: f64,
    /// Tokens of a reference solution, EOS included: the length a sample is taken to have.
    pub solution_tokens: f64,
    /// Steps of a reference solution.
    pub steps: f64,
    /// Parameters of the policy (and of the models fine-tuned from it).
    pub policy_params: f64,
    /// Parameters of `[policy_large]`, when the preset has one.
    pub large_params: Option<f64>,
}

impl DataShape {
    /// Questions in `split` (0 when unknown).
    pub fn rows(&self, split: &str) -> usize {
        self.rows.get(split).copied().unwrap_or(0)
    }

    /// A policy-sized model over `tokens` of `kind`.
    pub fn policy_work(&self, kind: WorkKind, tokens: f64) -> Work {
        Work {
            kind,
            tokens,
            params: self.policy_params,
        }
    }

    /// The policy (or, `large`, `[policy_large]`, when there is one) over `tokens` of `kind`.
    pub fn lm_work(&self, large: bool, kind: WorkKind, tokens: f64) -> Option<Work> {
        let params = if large {
            self.large_params?
        } else {
            self.policy_params
        };
        Some(Work {
            kind,
            tokens,
            params,
        })
    }

    /// Tokens of `sequences` sampled solutions (prompts prefilled once per question are left
    /// out: decoding dominates).
    pub fn generated(&self, sequences: f64) -> f64 {
        sequences * self.solution_tokens
    }

    /// Tokens of `sequences` whole prompt + solution sequences.
    pub fn whole(&self, sequences: f64) -> f64 {
        sequences * (self.prompt_tokens + self.solution_tokens)
    }
}

/// FLOPs per second per kind from the stages with both a declared work and a wall: the
/// kind's total FLOPs over its total wall. `skip` leaves one stage out (leave-one-out).
pub fn kind_speeds(
    works: &[Option<Work>],
    walls: &[Option<f64>],
    skip: Option<usize>,
) -> BTreeMap<WorkKind, f64> {
    let mut sums: BTreeMap<WorkKind, (f64, f64)> = BTreeMap::new();
    for (i, (w, t)) in works.iter().zip(walls).enumerate() {
        if Some(i) == skip {
            continue;
        }
        if let (Some(w), Some(t)) = (w, t)
            && *t > 0.0
            && w.flops() > 0.0
        {
            let e = sums.entry(w.kind).or_default();
            e.0 += w.flops();
            e.1 += t;
        }
    }
    sums.into_iter().map(|(k, (f, t))| (k, f / t)).collect()
}

/// Where an estimate's speed came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeedSource {
    /// The run's finished stages of the same kind.
    Run,
    /// The probe of this machine.
    Probe,
}

/// Each stage's wall by the cost model, for the stages without one (`walls[i]` is `None`)
/// that declare a work: its FLOPs over the run's speed at its kind, else the probe's.
pub fn cost_estimates(
    works: &[Option<Work>],
    walls: &[Option<f64>],
    probe: &BTreeMap<WorkKind, f64>,
) -> Vec<Option<(f64, SpeedSource)>> {
    let run = kind_speeds(works, walls, None);
    works
        .iter()
        .zip(walls)
        .map(|(w, t)| {
            let w = w.as_ref().filter(|_| t.is_none())?;
            let (speed, src) = match run.get(&w.kind) {
                Some(s) => (*s, SpeedSource::Run),
                None => (*probe.get(&w.kind)?, SpeedSource::Probe),
            };
            (speed > 0.0).then(|| (w.flops() / speed, src))
        })
        .collect()
}

/// The model checked against the walls it has: each stage with a work and a wall,
/// predicted from the other stages of its kind. (index, predicted, recorded).
pub fn leave_one_out(works: &[Option<Work>], walls: &[Option<f64>]) -> Vec<(usize, f64, f64)> {
    (0..works.len())
        .filter_map(|i| {
            let (w, t) = (works[i]?, walls[i]?);
            let speed = *kind_speeds(works, walls, Some(i)).get(&w.kind)?;
            Some((i, w.flops() / speed, t))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(kind: WorkKind, tokens: f64) -> Option<Work> {
        Some(Work {
            kind,
            tokens,
            params: 1e6,
        })
    }

    #[test]
    fn a_stage_is_timed_at_its_kinds_speed_else_the_probes() {
        // Generation ran at 2e6 tokens × 2e6 FLOPs / 100 s = 4e10 FLOP/s.
        let works = [
            work(WorkKind::Generate, 2e6),
            work(WorkKind::Generate, 1e6),
            work(WorkKind::Train, 1e5),
            None,
        ];
        let walls = [Some(100.0), None, None, None];
        let probe = BTreeMap::from([(WorkKind::Train, 6e9), (WorkKind::Generate, 1.0)]);
        let est = cost_estimates(&works, &walls, &probe);
        assert_eq!(est[0], None);
        assert_eq!(est[1], Some((50.0, SpeedSource::Run)));
        // 1e5 tokens × 6e6 FLOPs / 6e9 FLOP/s.
        assert_eq!(est[2], Some((100.0, SpeedSource::Probe)));
        assert_eq!(est[3], None);
        // No probe of a kind and no run of it: no estimate.
        let none = cost_estimates(&works, &walls, &BTreeMap::new());
        assert_eq!(none[2], None);
    }

    #[test]
    fn leave_one_out_predicts_each_stage_from_the_others() {
        let works = [
            work(WorkKind::Generate, 1e6),
            work(WorkKind::Generate, 3e6),
            work(WorkKind::Score, 1e6),
        ];
        let walls = [Some(10.0), Some(60.0), Some(5.0)];
        let l = leave_one_out(&works, &walls);
        // Stage 0 at stage 1's speed (3e6 tokens in 60 s): 20 s; stage 1 at stage 0's: 30 s;
        // the only scoring stage has no other to learn from.
        assert_eq!(l, vec![(0, 20.0, 10.0), (1, 30.0, 60.0)]);
    }
}
