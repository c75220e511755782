//! Compute-optimal results as tables (DESIGN §9): one row per (bin, budget), and one per
//! budget comparing the question-weighted accuracy over bins with a baseline's.

use std::collections::{BTreeMap, HashMap};

use ttc_data::rows::{
    BinRow, ComputeOptimalRow, EfficiencyRow, RatioRow, SplitAccuracyRow, SweepRow,
};

use crate::co_bootstrap::{RESAMPLES, co_curve, efficiency_interval};
use crate::cv::{Cell, CoRow, compute_optimal, efficiency};
use crate::stats::wilson95;

/// Wilson 95% interval over `q` questions of mean accuracy `acc` (a question's accuracy can
/// be a mean over subsampled seeds; its count of right answers is rounded).
fn interval(acc: f64, q: u64) -> (f64, f64) {
    wilson95((acc * q as f64).round() as u64, q)
}

/// The per-bin rows and the efficiency rows of a compute-optimal result `co` on `bins`
/// (`oracle` or `predicted`), against `baseline` (N, accuracy): for each budget the smallest
/// budget N' at which compute-optimal reaches the baseline at N, and N/N' with its
/// bootstrap interval from `ratio_interval` (N → (lo, hi)).
pub fn co_tables(
    bins: &str,
    co: &[CoRow],
    baseline: &[(u32, f64)],
    ratio_interval: &BTreeMap<u32, (f64, f64)>,
) -> (Vec<ComputeOptimalRow>, Vec<EfficiencyRow>) {
    let mut per_bin = Vec::with_capacity(co.len());
    let mut overall: BTreeMap<u32, u64> = BTreeMap::new();
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
        *overall.entry(r.budget).or_default() += q;
    }
    let curve = co_curve(co);
    let mut eff = Vec::new();
    for ((n, matching_n, ratio), (_, co_acc)) in
        efficiency(&curve, baseline).into_iter().zip(&curve)
    {
        let q = overall.get(&n).copied().unwrap_or(0);
        let iv = ratio_interval.get(&n);
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
            efficiency_lo95: iv.map(|x| x.0),
            efficiency_hi95: iv.map(|x| x.1),
        });
    }
    (per_bin, eff)
}

/// Compute-optimal selection over the sweep (DESIGN §9): each question's accuracy per
/// (method, budget) averaged over seeds, on the questions every method covers, two-fold CV
/// per oracle and predicted bin, against weighted best-of-N.
pub struct SweepCo {
    pub per_bin: Vec<ComputeOptimalRow>,
    pub efficiency: Vec<EfficiencyRow>,
    /// Methods compared and the questions every one covers.
    pub methods: usize,
    pub questions: usize,
}

pub fn sweep_co_tables(rows: &[SweepRow], bins: &[BinRow], cv_seed: u64) -> SweepCo {
    // Mean over seeds per (question, method, N).
    let mut mean: BTreeMap<(String, String, u32), (f64, u32)> = BTreeMap::new();
    for r in rows {
        let e = mean
            .entry((r.question_id.clone(), r.strategy.clone(), r.n))
            .or_default();
        e.0 += f64::from(u8::from(r.correct));
        e.1 += 1;
    }
    // One question set for every method and budget: the questions every method covers
    // (searches may run on fewer questions than the test samples).
    let mut covered: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (q, m, _) in mean.keys() {
        covered.entry(m.clone()).or_default().insert(q.clone());
    }
    let common: std::collections::BTreeSet<String> = covered
        .values()
        .fold(None::<std::collections::BTreeSet<String>>, |acc, qs| {
            Some(acc.map_or_else(|| qs.clone(), |a| a.intersection(qs).cloned().collect()))
        })
        .unwrap_or_default();
    mean.retain(|(q, _, _), _| common.contains(q));
    let mut per_bin: Vec<ComputeOptimalRow> = Vec::new();
    let mut eff: Vec<EfficiencyRow> = Vec::new();
    for (kind, bin_of) in [
        (
            "oracle",
            bins.iter()
                .map(|b| (b.question_id.clone(), b.oracle_bin))
                .collect::<HashMap<_, _>>(),
        ),
        (
            "predicted",
            bins.iter()
                .map(|b| (b.question_id.clone(), b.predicted_bin))
                .collect(),
        ),
    ] {
        let cells: Vec<Cell> = mean
            .iter()
            .filter_map(|((q, m, n), (s, c))| {
                bin_of.get(q).map(|&bin| Cell {
                    question: q.clone(),
                    bin,
                    method: m.clone(),
                    budget: *n,
                    accuracy: s / f64::from(*c),
                })
            })
            .collect();
        let co = compute_optimal(&cells, cv_seed);
        let iv = efficiency_interval(
            &cells,
            |c| c.method == "weighted-bon",
            cv_seed,
            cv_seed ^ 0xB007,
            RESAMPLES,
        );
        let mut bon: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
        for ((_, m, n), (s, c)) in &mean {
            if m == "weighted-bon" {
                let e = bon.entry(*n).or_default();
                e.0 += s / f64::from(*c);
                e.1 += 1;
            }
        }
        let bon: Vec<(u32, f64)> = bon.iter().map(|(&n, &(s, q))| (n, s / q as f64)).collect();
        let (p, e) = co_tables(kind, &co, &bon, &iv);
        per_bin.extend(p);
        eff.extend(e);
    }
    SweepCo {
        per_bin,
        efficiency: eff,
        methods: covered.len(),
        questions: common.len(),
    }
}

/// The sequential:parallel splits as compute-optimal "methods" (Snell et al. §6.2): per
/// oracle and predicted bin, two-fold CV choice of the split at each budget and its
/// efficiency against parallel sampling (1:N); plus every split's accuracy per bin.
pub fn ratio_co_tables(
    rows: &[RatioRow],
    bins: &[BinRow],
    cv_seed: u64,
) -> (
    Vec<ComputeOptimalRow>,
    Vec<EfficiencyRow>,
    Vec<SplitAccuracyRow>,
) {
    let (mut per_bin, mut eff, mut splits) = (Vec::new(), Vec::new(), Vec::new());
    for kind in ["oracle", "predicted"] {
        let bin_of: HashMap<&str, u8> = bins
            .iter()
            .map(|b| {
                let bin = if kind == "oracle" {
                    b.oracle_bin
                } else {
                    b.predicted_bin
                };
                (b.question_id.as_str(), bin)
            })
            .collect();
        let cells: Vec<Cell> = rows
            .iter()
            .filter_map(|r| {
                bin_of.get(r.question_id.as_str()).map(|&bin| Cell {
                    question: r.question_id.clone(),
                    bin,
                    method: r.method(),
                    budget: r.n,
                    accuracy: f64::from(u8::from(r.correct)),
                })
            })
            .collect();
        // Accuracy of every split per bin: what the compute-optimal choice picks among.
        let mut by_split: BTreeMap<(u8, u32, String), (f64, usize)> = BTreeMap::new();
        for c in &cells {
            let e = by_split
                .entry((c.bin, c.budget, c.method.clone()))
                .or_default();
            e.0 += c.accuracy;
            e.1 += 1;
        }
        for ((bin, n, m), (sum, q)) in &by_split {
            splits.push(SplitAccuracyRow {
                bins: kind.to_string(),
                bin: *bin,
                n: *n,
                split: m.clone(),
                accuracy: sum / *q as f64,
                questions: *q as u64,
            });
        }
        let co = compute_optimal(&cells, cv_seed);
        let iv = efficiency_interval(
            &cells,
            |c| c.method == format!("1:{}", c.budget),
            cv_seed,
            cv_seed ^ 0xB007,
            RESAMPLES,
        );
        let mut par: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
        for c in cells
            .iter()
            .filter(|c| c.method == format!("1:{}", c.budget))
        {
            let e = par.entry(c.budget).or_default();
            e.0 += c.accuracy;
            e.1 += 1;
        }
        let par: Vec<(u32, f64)> = par.iter().map(|(&n, &(s, q))| (n, s / q as f64)).collect();
        let (p, e) = co_tables(kind, &co, &par, &iv);
        per_bin.extend(p);
        eff.extend(e);
    }
    (per_bin, eff, splits)
}
