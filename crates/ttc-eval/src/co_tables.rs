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
/// (`oracle` or `predicted`) over one `verifier`'s methods, against `baseline` (N,
/// accuracy): for each budget the smallest budget N' at which compute-optimal reaches the
/// baseline at N, and N/N' with its bootstrap interval from `ratio_interval` (N → (lo, hi)).
pub fn co_tables(
    (bins, verifier, against): (&str, &str, &str),
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
            verifier: verifier.to_string(),
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
            verifier: verifier.to_string(),
            against: against.to_string(),
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
/// per oracle and predicted bin — within each verifier's pool of methods, against weighted
/// best-of-N under that verifier (the paper's comparison: one PRM for every method).
pub struct SweepCo {
    pub per_bin: Vec<ComputeOptimalRow>,
    pub efficiency: Vec<EfficiencyRow>,
    /// Methods compared and the questions every one covers.
    pub methods: usize,
    pub questions: usize,
}

/// The verifier a sweep strategy selects with: `likelihood` for a name ending in
/// `likelihood_suffix`, else `prm`. Majority uses none and joins every pool.
fn pools_of(method: &str, likelihood_suffix: &str) -> &'static [&'static str] {
    if method == "majority" {
        &["prm", "likelihood"]
    } else if method.ends_with(likelihood_suffix) {
        &["likelihood"]
    } else {
        &["prm"]
    }
}

/// The compute-optimal tables of the sweep's `rows` on `bins`, one pool per verifier whose
/// weighted best-of-N (`weighted-bon`, `weighted-bon<likelihood_suffix>`) the sweep has; its
/// efficiency against that weighted best-of-N and against the same verifier's vanilla
/// best-of-N (`against`).
pub fn sweep_co_tables(
    rows: &[SweepRow],
    bins: &[BinRow],
    cv_seed: u64,
    likelihood_suffix: &str,
) -> SweepCo {
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
    for verifier in ["prm", "likelihood"] {
        let suffix = if verifier == "prm" {
            ""
        } else {
            likelihood_suffix
        };
        // The paper's baseline first (its per-bin rows are the pool's), then vanilla
        // best-of-N, which a verifier that ranks well but weighs flatly can make stronger.
        // No weighted best-of-N, no pool for this verifier.
        let weighted = format!("weighted-bon{suffix}");
        if !covered.contains_key(&weighted) {
            continue;
        }
        let vanilla = format!("bon{suffix}");
        let baselines: Vec<String> = std::iter::once(weighted)
            .chain(covered.contains_key(&vanilla).then_some(vanilla))
            .collect();
        let pool: BTreeMap<&(String, String, u32), &(f64, u32)> = mean
            .iter()
            .filter(|((_, m, _), _)| pools_of(m, likelihood_suffix).contains(&verifier))
            .collect();
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
            let cells: Vec<Cell> = pool
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
            for (i, baseline) in baselines.iter().enumerate() {
                let iv = efficiency_interval(
                    &cells,
                    |c| c.method == *baseline,
                    cv_seed,
                    cv_seed ^ 0xB007,
                    RESAMPLES,
                );
                let mut bon: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
                for ((_, m, n), (s, c)) in &pool {
                    if m == baseline {
                        let e = bon.entry(*n).or_default();
                        e.0 += s / f64::from(*c);
                        e.1 += 1;
                    }
                }
                let bon: Vec<(u32, f64)> =
                    bon.iter().map(|(&n, &(s, q))| (n, s / q as f64)).collect();
                let (p, e) = co_tables((kind, verifier, baseline), &co, &bon, &iv);
                if i == 0 {
                    per_bin.extend(p);
                }
                eff.extend(e);
            }
        }
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
/// `selector` (`"orm"`, `"prm"`) names what picked the answer, in the tables' verifier column.
pub fn ratio_co_tables(
    rows: &[RatioRow],
    bins: &[BinRow],
    cv_seed: u64,
    selector: &str,
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
        let (p, e) = co_tables((kind, selector, "1:N"), &co, &par, &iv);
        per_bin.extend(p);
        eff.extend(e);
    }
    (per_bin, eff, splits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(q: usize, strategy: &str, n: u32, correct: bool) -> SweepRow {
        SweepRow {
            question_id: format!("q{q}"),
            level: 1,
            strategy: strategy.into(),
            n,
            seed: 0,
            correct,
            generations: u64::from(n),
            generated_tokens: 0,
            verifier_tokens: 0,
            flops: 0.0,
        }
    }

    fn bins(qs: usize) -> Vec<BinRow> {
        (0..qs)
            .map(|q| BinRow {
                question_id: format!("q{q}"),
                level: 1,
                samples: 4,
                oracle_pass_at_1: 0.5,
                oracle_bin: 1 + (q % 2) as u8,
                predicted_score: 0.5,
                predicted_bin: 1 + (q % 2) as u8,
            })
            .collect()
    }

    #[test]
    fn each_verifier_chooses_among_its_own_methods_against_its_own_baseline() {
        // The likelihood's beam solves everything, the PRM's methods half, majority none:
        // a pool over every method would pick the likelihood's beam for the PRM too.
        let mut rows = Vec::new();
        for q in 0..8 {
            for n in [4, 16] {
                rows.push(row(q, "majority", n, false));
                rows.push(row(q, "weighted-bon", n, q % 2 == 0));
                rows.push(row(q, "beam", n, q < 4));
                rows.push(row(q, "weighted-bon-likelihood", n, q < 6));
                rows.push(row(q, "beam-likelihood", n, true));
            }
        }
        let co = sweep_co_tables(&rows, &bins(8), 3, "-likelihood");
        let pools: std::collections::BTreeSet<&str> =
            co.per_bin.iter().map(|r| r.verifier.as_str()).collect();
        assert_eq!(pools, ["likelihood", "prm"].into_iter().collect());
        for r in &co.per_bin {
            for m in [&r.chosen_fold0, &r.chosen_fold1] {
                assert_eq!(
                    m.ends_with("-likelihood"),
                    r.verifier == "likelihood",
                    "{r:?}"
                );
            }
        }
        let baseline = |v: &str, against: &str, n: u32| {
            co.efficiency
                .iter()
                .find(|e| e.verifier == v && e.against == against && e.bins == "oracle" && e.n == n)
                .and_then(|e| e.baseline)
        };
        assert_eq!(baseline("prm", "weighted-bon", 16), Some(0.5));
        assert_eq!(
            baseline("likelihood", "weighted-bon-likelihood", 16),
            Some(0.75)
        );
        // No vanilla best-of-N in these rows: no such baseline.
        assert_eq!(baseline("likelihood", "bon-likelihood", 16), None);
        // Without the likelihood's weighted best-of-N there is no likelihood pool.
        rows.retain(|r| r.strategy != "weighted-bon-likelihood");
        let co = sweep_co_tables(&rows, &bins(8), 3, "-likelihood");
        assert!(co.per_bin.iter().all(|r| r.verifier == "prm"));
    }
}
