//! Compute-optimal results as tables (DESIGN §9): one row per (bin, budget), and one per
//! budget comparing the question-weighted accuracy over bins with a baseline's.

use std::collections::BTreeMap;

use ttc_data::rows::{ComputeOptimalRow, EfficiencyRow};

use crate::cv::{CoRow, efficiency};
use crate::stats::wilson95;

/// Wilson 95% interval over `q` questions of mean accuracy `acc` (a question's accuracy can
/// be a mean over subsampled seeds; its count of right answers is rounded).
fn interval(acc: f64, q: u64) -> (f64, f64) {
    wilson95((acc * q as f64).round() as u64, q)
}

/// The per-bin rows and the efficiency rows of a compute-optimal result `co` on `bins`
/// (`oracle` or `predicted`), against `baseline` (N, accuracy): for each budget the smallest
/// budget N' at which compute-optimal reaches the baseline at N, and N/N'.
pub fn co_tables(
    bins: &str,
    co: &[CoRow],
    baseline: &[(u32, f64)],
) -> (Vec<ComputeOptimalRow>, Vec<EfficiencyRow>) {
    let mut per_bin = Vec::with_capacity(co.len());
    let mut overall: BTreeMap<u32, (f64, u64)> = BTreeMap::new();
    for r in co {
        let q = r.questions as u64;
        let (lo95, hi95) = interval(r.accuracy, q);
        per_bin.push(ComputeOptimalRow {
            bins: bins.to_string(),
            bin: r.bin,
            budget: r.budget,
            accuracy: r.accuracy,
            questions: q,
            chosen_fold0: r.chosen[0].clone(),
            chosen_fold1: r.chosen[1].clone(),
            lo95,
            hi95,
        });
        let e = overall.entry(r.budget).or_default();
        e.0 += r.accuracy * q as f64;
        e.1 += q;
    }
    let curve: Vec<(u32, f64)> = overall
        .iter()
        .map(|(&n, &(s, q))| (n, s / q.max(1) as f64))
        .collect();
    let mut eff = Vec::new();
    for ((n, matching_n, ratio), (_, co_acc)) in
        efficiency(&curve, baseline).into_iter().zip(&curve)
    {
        let q = overall.get(&n).map_or(0, |x| x.1);
        let (co_lo95, co_hi95) = interval(*co_acc, q);
        eff.push(EfficiencyRow {
            bins: bins.to_string(),
            n,
            baseline: baseline.iter().find(|x| x.0 == n).map(|x| x.1),
            compute_optimal: *co_acc,
            matching_n,
            efficiency: ratio,
            questions: q,
            co_lo95,
            co_hi95,
        });
    }
    (per_bin, eff)
}
