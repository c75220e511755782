//! Answer selection over a PRM's scores of N samples (DESIGN §8): majority, best-of-N and
//! weighted best-of-N accuracy at N, against pass@N, over disjoint N-subsets of each
//! question's samples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ttc_data::rows::ScoredSample;
use ttc_search::select::{best_of_n, majority, weighted_best_of_n};

/// Accuracy of each selection rule at N.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionRow {
    pub n: usize,
    pub subsets: usize,
    pub majority: f64,
    pub best_of_n: f64,
    pub weighted_best_of_n: f64,
    pub pass_at_n: f64,
}

/// Accuracy of each selection rule at N, over disjoint N-subsets of every question's
/// samples (in sample order).
pub fn selection_table(scored: &[ScoredSample], ns: &[usize]) -> Vec<SelectionRow> {
    let mut by_q: BTreeMap<u32, Vec<&ScoredSample>> = BTreeMap::new();
    for s in scored {
        by_q.entry(s.question_index).or_default().push(s);
    }
    let mut rows = Vec::new();
    for &n in ns {
        let (mut tot, mut acc) = (0usize, [0usize; 4]);
        for ss in by_q.values() {
            for sub in ss.chunks_exact(n) {
                let answers: Vec<Option<&str>> = sub.iter().map(|s| s.answer.as_deref()).collect();
                let last: Vec<f32> = sub
                    .iter()
                    .map(|s| s.step_scores.last().copied().unwrap_or(0.0))
                    .collect();
                let pick = |i: Option<usize>| i.is_some_and(|i| sub[i].correct) as usize;
                acc[0] += pick(majority(&answers));
                acc[1] += pick(best_of_n(&answers, &last));
                acc[2] += pick(weighted_best_of_n(&answers, &last));
                acc[3] += sub.iter().any(|s| s.correct) as usize;
                tot += 1;
            }
        }
        let r = |k: usize| acc[k] as f64 / tot.max(1) as f64;
        rows.push(SelectionRow {
            n,
            subsets: tot,
            majority: r(0),
            best_of_n: r(1),
            weighted_best_of_n: r(2),
            pass_at_n: r(3),
        });
    }
    rows
}
