//! Compute-optimal selection (Snell et al. §3): per difficulty bin and budget, pick the
//! method (strategy + hyper-parameters) that does best on one half of the bin's questions
//! and score it on the other half; swap the halves; the bin's compute-optimal accuracy is
//! the question-weighted mean of the two held-out scores (two-fold cross-validation).
//!
//! Rules: the halves alternate over the bin's questions ordered by a seeded hash of their
//! id (balanced, deterministic); a method competes in a half only if it has a result for
//! every question of that half; equal accuracies go to the method whose name sorts first.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use ttc_core::seed::derive_seed;

/// Accuracy of one method on one question at one budget (a mean over seeds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub question: String,
    pub bin: u8,
    pub method: String,
    pub budget: u32,
    pub accuracy: f64,
}

/// Compute-optimal accuracy of one bin at one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoRow {
    pub bin: u8,
    pub budget: u32,
    /// Held-out accuracy (both folds, question-weighted).
    pub accuracy: f64,
    /// Method chosen on fold 0 (scored on fold 1) and on fold 1 (scored on fold 0).
    pub chosen: [String; 2],
    pub questions: usize,
}

/// Method → question → accuracy.
type ByMethod<'a> = BTreeMap<&'a str, BTreeMap<&'a str, f64>>;

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Fold (0 or 1) of each question of one bin.
pub fn folds(questions: &BTreeSet<&str>, seed: u64) -> BTreeMap<String, usize> {
    let mut v: Vec<(u64, &str)> = questions
        .iter()
        .map(|q| (derive_seed(seed, fnv(q), 0), *q))
        .collect();
    v.sort_unstable();
    v.into_iter()
        .enumerate()
        .map(|(i, (_, q))| (q.to_string(), i % 2))
        .collect()
}

/// Mean accuracy per method over `qs`, for methods covering all of them.
fn method_means(by_method: &ByMethod, qs: &[&str]) -> BTreeMap<String, f64> {
    by_method
        .iter()
        .filter(|(_, acc)| qs.iter().all(|q| acc.contains_key(q)))
        .map(|(m, acc)| {
            let s: f64 = qs.iter().map(|q| acc[q]).sum();
            (m.to_string(), s / qs.len().max(1) as f64)
        })
        .collect()
}

fn best(means: &BTreeMap<String, f64>) -> Option<(&String, f64)> {
    // BTreeMap order = name order; strict `>` keeps the first name on ties.
    let mut b: Option<(&String, f64)> = None;
    for (m, &a) in means {
        if b.is_none_or(|(_, ba)| a > ba) {
            b = Some((m, a));
        }
    }
    b
}

/// Two-fold CV compute-optimal accuracy for every (bin, budget) in `cells`.
pub fn compute_optimal(cells: &[Cell], seed: u64) -> Vec<CoRow> {
    // (bin, budget) → method → question → accuracy
    let mut grid: BTreeMap<(u8, u32), ByMethod> = BTreeMap::new();
    for c in cells {
        grid.entry((c.bin, c.budget))
            .or_default()
            .entry(c.method.as_str())
            .or_default()
            .insert(c.question.as_str(), c.accuracy);
    }
    let mut out = Vec::new();
    for ((bin, budget), by_method) in &grid {
        let qs: BTreeSet<&str> = by_method.values().flat_map(|m| m.keys().copied()).collect();
        let f = folds(&qs, seed ^ u64::from(*bin));
        let half = |k: usize| -> Vec<&str> { qs.iter().copied().filter(|q| f[*q] == k).collect() };
        let (h0, h1) = (half(0), half(1));
        let mut total = 0.0;
        let mut n = 0usize;
        let mut chosen = [String::new(), String::new()];
        for (k, (fit, score)) in [(&h0, &h1), (&h1, &h0)].into_iter().enumerate() {
            if score.is_empty() {
                continue;
            }
            let fit_on = if fit.is_empty() { score } else { fit };
            let means = method_means(by_method, fit_on);
            let Some((m, _)) = best(&means) else {
                continue;
            };
            let acc = &by_method[m.as_str()];
            if score.iter().all(|q| acc.contains_key(q)) {
                total += score.iter().map(|q| acc[q]).sum::<f64>();
                n += score.len();
                chosen[k] = m.clone();
            }
        }
        if n > 0 {
            out.push(CoRow {
                bin: *bin,
                budget: *budget,
                accuracy: total / n as f64,
                chosen,
                questions: n,
            });
        }
    }
    out
}

/// Efficiency of a curve against a baseline over the same budgets: for each budget N of
/// the baseline, the smallest budget N' at which `curve` reaches the baseline's accuracy at
/// N, as (N, N', N / N'); `None` for N' when the curve never gets there.
pub fn efficiency(
    curve: &[(u32, f64)],
    baseline: &[(u32, f64)],
) -> Vec<(u32, Option<u32>, Option<f64>)> {
    let mut c = curve.to_vec();
    c.sort_by_key(|x| x.0);
    baseline
        .iter()
        .map(|&(n, target)| {
            let np = c.iter().find(|&&(_, a)| a >= target - 1e-12).map(|x| x.0);
            (n, np, np.map(|np| f64::from(n) / f64::from(np)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(q: &str, bin: u8, m: &str, n: u32, a: f64) -> Cell {
        Cell {
            question: q.into(),
            bin,
            method: m.into(),
            budget: n,
            accuracy: a,
        }
    }

    #[test]
    fn folds_are_balanced_and_deterministic() {
        let qs: BTreeSet<&str> = ["a", "b", "c", "d", "e"].into_iter().collect();
        let f = folds(&qs, 7);
        let zeros = f.values().filter(|&&k| k == 0).count();
        assert_eq!(zeros, 3);
        assert_eq!(f, folds(&qs, 7));
    }

    #[test]
    fn cv_picks_on_one_half_and_scores_on_the_other() {
        // Bin 1, budget 4, four questions. "beam" is best on every question but q3, where
        // only "bon" is right; which half q3 falls in decides what is picked there.
        let mut cells = Vec::new();
        for q in ["q1", "q2", "q3", "q4"] {
            cells.push(cell(q, 1, "beam", 4, if q == "q3" { 0.0 } else { 1.0 }));
            cells.push(cell(q, 1, "bon", 4, if q == "q3" { 1.0 } else { 0.5 }));
        }
        let rows = compute_optimal(&cells, 1);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        let qs: BTreeSet<&str> = ["q1", "q2", "q3", "q4"].into_iter().collect();
        let f = folds(&qs, 1 ^ 1);
        // Recompute by hand from the folds.
        let half = |k| -> Vec<&str> { qs.iter().copied().filter(|q| f[*q] == k).collect() };
        let acc = |m: &str, q: &str| match (m, q) {
            ("beam", "q3") => 0.0,
            ("beam", _) => 1.0,
            ("bon", "q3") => 1.0,
            _ => 0.5,
        };
        let mut total = 0.0;
        for (fit, score) in [(half(0), half(1)), (half(1), half(0))] {
            let mean = |m: &str| fit.iter().map(|q| acc(m, q)).sum::<f64>() / fit.len() as f64;
            let m = if mean("bon") > mean("beam") {
                "bon"
            } else {
                "beam"
            };
            total += score.iter().map(|q| acc(m, q)).sum::<f64>();
        }
        assert!((r.accuracy - total / 4.0).abs() < 1e-12, "{r:?}");
        assert_eq!(r.questions, 4);
        // Never better than the oracle choice per question, never worse than the worst.
        assert!(r.accuracy <= 1.0 && r.accuracy >= 0.375);
    }

    #[test]
    fn ties_go_to_the_first_name_and_incomplete_methods_sit_out() {
        let mut cells = vec![];
        for q in ["a", "b", "c", "d"] {
            cells.push(cell(q, 2, "zeta", 8, 0.5));
            cells.push(cell(q, 2, "alpha", 8, 0.5));
        }
        // "omega" is perfect but covers one question only.
        cells.push(cell("a", 2, "omega", 8, 1.0));
        let r = &compute_optimal(&cells, 3)[0];
        assert_eq!(r.chosen, ["alpha".to_string(), "alpha".to_string()]);
        assert_eq!(r.accuracy, 0.5);
    }

    #[test]
    fn efficiency_finds_the_smallest_budget_that_matches() {
        let bon = [(1, 0.2), (4, 0.3), (16, 0.4), (64, 0.45)];
        let co = [(1, 0.25), (4, 0.4), (16, 0.5), (64, 0.5)];
        let e = efficiency(&co, &bon);
        assert_eq!(e[0], (1, Some(1), Some(1.0)));
        assert_eq!(e[2], (16, Some(4), Some(4.0)));
        assert_eq!(e[3], (64, Some(16), Some(4.0)));
        let never = efficiency(&[(1, 0.1)], &bon);
        assert_eq!(never[1], (4, None, None));
    }
}
