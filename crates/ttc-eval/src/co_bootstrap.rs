//! A bootstrap interval on compute-optimal's efficiency (the paper's "4× fewer generations"):
//! questions resampled with replacement, and on each resample the whole estimate redone —
//! the two-fold CV choice per bin, the question-weighted compute-optimal curve, the
//! baseline's curve, and the smallest budget N' at which compute-optimal reaches the
//! baseline at N. The 2.5% and 97.5% quantiles of N/N' are the interval.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};

use crate::cv::{Cell, CoRow, compute_optimal, efficiency};

/// Resamples of the efficiency bootstrap (each reruns the CV selection).
pub const RESAMPLES: usize = 400;

/// Compute-optimal accuracy per budget over all bins, each bin weighted by its questions.
pub fn co_curve(co: &[CoRow]) -> Vec<(u32, f64)> {
    let mut overall: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
    for r in co {
        let e = overall.entry(r.budget).or_default();
        e.0 += r.accuracy * r.questions as f64;
        e.1 += r.questions;
    }
    overall
        .into_iter()
        .map(|(n, (s, q))| (n, s / q.max(1) as f64))
        .collect()
}

/// Per baseline budget N, the bootstrap 95% interval of N/N' (`resamples` resamples,
/// `seed`); a resample where compute-optimal never reaches the baseline counts as 0.
/// `is_baseline` picks the baseline's cells (e.g. weighted best-of-N at each budget).
pub fn efficiency_interval(
    cells: &[Cell],
    is_baseline: impl Fn(&Cell) -> bool,
    cv_seed: u64,
    seed: u64,
    resamples: usize,
) -> BTreeMap<u32, (f64, f64)> {
    let mut by_q: BTreeMap<&str, Vec<&Cell>> = BTreeMap::new();
    for c in cells {
        by_q.entry(c.question.as_str()).or_default().push(c);
    }
    let qs: Vec<&Vec<&Cell>> = by_q.values().collect();
    if qs.is_empty() || resamples == 0 {
        return BTreeMap::new();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut ratios: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    let mut drawn: Vec<Cell> = Vec::new();
    for _ in 0..resamples {
        drawn.clear();
        for k in 0..qs.len() {
            // A question drawn twice counts twice: each draw gets its own name.
            for c in qs[rng.random_range(0..qs.len())] {
                drawn.push(Cell {
                    question: format!("{}#{k}", c.question),
                    ..(*c).clone()
                });
            }
        }
        let curve = co_curve(&compute_optimal(&drawn, cv_seed));
        let mut base: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
        for c in drawn.iter().filter(|c| is_baseline(c)) {
            let e = base.entry(c.budget).or_default();
            e.0 += c.accuracy;
            e.1 += 1;
        }
        let base: Vec<(u32, f64)> = base
            .into_iter()
            .map(|(n, (s, q))| (n, s / q as f64))
            .collect();
        for (n, _, r) in efficiency(&curve, &base) {
            ratios.entry(n).or_default().push(r.unwrap_or(0.0));
        }
    }
    ratios
        .into_iter()
        .map(|(n, mut v)| {
            v.sort_by(f64::total_cmp);
            let at = |p: f64| v[((p * v.len() as f64) as usize).min(v.len() - 1)];
            (n, (at(0.025), at(0.975)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(q: usize, bin: u8, m: &str, n: u32, a: f64) -> Cell {
        Cell {
            question: format!("q{q}"),
            bin,
            method: m.into(),
            budget: n,
            accuracy: a,
        }
    }

    #[test]
    fn a_method_four_times_as_efficient_has_an_interval_around_four() {
        // "fast" at N reaches what "base" reaches only at 4N, on every question: efficiency
        // 4 at N = 4 and 16 whatever the resample; at N = 1 (base 0%) it is 1.
        let mut cells = Vec::new();
        for q in 0..40 {
            for (i, n) in [1u32, 2, 4, 8, 16].into_iter().enumerate() {
                let right = |lvl: usize| f64::from(u8::from(q % 5 < lvl));
                cells.push(cell(q, 1, "base", n, right(i)));
                cells.push(cell(q, 1, "fast", n, right((i + 2).min(4))));
            }
        }
        let iv = efficiency_interval(&cells, |c| c.method == "base", 3, 9, 50);
        assert_eq!(iv[&4], (4.0, 4.0));
        assert_eq!(iv[&16], (4.0, 4.0));
        assert_eq!(iv[&1], (1.0, 1.0));
        // Seeded: the same call, the same interval.
        assert_eq!(
            iv,
            efficiency_interval(&cells, |c| c.method == "base", 3, 9, 50)
        );
    }

    #[test]
    fn a_noisy_tie_has_an_interval_that_spans_one() {
        // Two methods right on different questions equally often: the ratio at N = 2 is
        // sometimes 2 (a lucky draw), sometimes below 1, never decided.
        let mut cells = Vec::new();
        for q in 0..60 {
            for n in [1u32, 2] {
                let a = f64::from(u8::from((q + n as usize).is_multiple_of(2)));
                cells.push(cell(q, 1, "base", n, a));
                cells.push(cell(q, 1, "other", n, 1.0 - a));
            }
        }
        let (lo, hi) = efficiency_interval(&cells, |c| c.method == "base", 1, 2, 200)[&2];
        assert!(lo < 1.0 && hi >= 1.0, "{lo} {hi}");
    }
}
