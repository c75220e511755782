//! The report's newer strategies (DESIGN §13): accuracy against FLOPs for every strategy,
//! each particle-filtering / REBASE search against weighted best-of-N under its own verifier
//! (one comparison per method declared in advance — its largest budget — Holm-corrected
//! across methods), and adaptive voting against majority voting at its cap.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use ttc_data::rows::SweepRow;
use ttc_eval::paired::{bootstrap_p, differences, holm, paired};
use ttc_eval::stats::wilson95;

use super::cells::pct;
use super::doc::Block;
use super::figures::{Axes, Series, line_chart};
use crate::preset::LIKELIHOOD_SUFFIX as LIKELIHOOD;

/// Label prefixes of the searches compared with their baseline at equal N (weighted
/// best-of-N under the same verifier; majority for DeepConf, which uses none).
const PARTICLE_AND_TREE: [&str; 4] = ["pf", "pg-", "rebase", "deepconf"];
/// Label prefixes of adaptive voting.
const ADAPTIVE: [&str; 2] = ["esc", "adaptive"];

fn is_one_of(s: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| s.starts_with(p))
}

/// (right, rows, summed FLOPs) per (strategy, n).
type Tally = BTreeMap<(String, u32), (u64, u64, f64)>;

/// A point of the FLOPs figure: (mean FLOPs, accuracy, Wilson interval).
type FlopsPoint = (f64, f64, (f64, f64));

/// Right answers, rows and summed FLOPs per (strategy, n).
fn points(sweep: &[SweepRow]) -> Tally {
    let mut at: Tally = BTreeMap::new();
    for r in sweep {
        let e = at.entry((r.strategy.clone(), r.n)).or_default();
        e.0 += u64::from(r.correct);
        e.1 += 1;
        e.2 += r.flops;
    }
    at
}

/// The accuracy-vs-FLOPs figure: one line per strategy over its budgets, x = the mean
/// forward FLOPs per question (policy + verifier) on a log axis.
pub fn accuracy_vs_flops(sweep: &[SweepRow], b: &mut Vec<Block>) -> Result<()> {
    let at = points(sweep);
    let mut by_s: BTreeMap<&str, Vec<FlopsPoint>> = BTreeMap::new();
    for ((s, _), &(k, t, f)) in &at {
        by_s.entry(s.as_str()).or_default().push((
            f / t as f64,
            k as f64 / t as f64,
            wilson95(k, t),
        ));
    }
    let series: Vec<Series> = by_s
        .into_iter()
        .filter(|(_, v)| v.iter().all(|p| p.0 > 0.0))
        .map(|(s, mut v)| {
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label: s.to_string(),
                points: v.iter().map(|p| (p.0, p.1)).collect(),
                intervals: v.iter().map(|p| p.2).collect(),
            }
        })
        .collect();
    if series.is_empty() {
        return Ok(());
    }
    let ymax = series
        .iter()
        .flat_map(|s| s.intervals.iter().map(|i| i.1))
        .fold(0.0, f64::max);
    b.push(Block::Figure {
        file: "accuracy_vs_flops.svg".into(),
        svg: line_chart(
            &Axes {
                title: "Accuracy vs FLOPs",
                x: "forward FLOPs per question, policy + verifier (log2)",
                y: "accuracy",
                log2_x: true,
                y_range: (0.0, (ymax * 1.1).clamp(0.05, 1.0)),
            },
            &series,
        )?,
        caption: "Test accuracy of every strategy against the compute it spent: mean forward FLOPs per question (2 × parameters per token the policy and the verifier ran), one point per budget (bars: Wilson 95% intervals). Adaptive voting sits at its realised FLOPs, not its cap.".into(),
    });
    Ok(())
}

/// The rows of `a` and `b` at `n` on the questions both ran: what their paired comparison
/// sees (a search may run on fewer questions than the test samples cover).
fn shared_rows(sweep: &[SweepRow], a: &str, b: &str, n: u32) -> Vec<SweepRow> {
    let qs = |s: &str| -> BTreeSet<&str> {
        sweep
            .iter()
            .filter(|r| r.strategy == s && r.n == n)
            .map(|r| r.question_id.as_str())
            .collect()
    };
    let both: BTreeSet<&str> = qs(a).intersection(&qs(b)).copied().collect();
    sweep
        .iter()
        .filter(|r| r.n == n && (r.strategy == a || r.strategy == b))
        .filter(|r| both.contains(r.question_id.as_str()))
        .cloned()
        .collect()
}

/// The baseline of `search`: weighted best-of-N under the same verifier; majority voting
/// for DeepConf (its vote is weighted by the policy's own confidence, not a verifier).
fn baseline(search: &str) -> String {
    if search.starts_with("deepconf") {
        "majority".into()
    } else if search.ends_with(LIKELIHOOD) {
        format!("weighted-bon{LIKELIHOOD}")
    } else {
        "weighted-bon".into()
    }
}

/// Mean FLOPs per question of `s` at `n`.
fn flops(at: &Tally, s: &str, n: u32) -> Option<f64> {
    at.get(&(s.to_string(), n)).map(|&(_, t, f)| f / t as f64)
}

fn accuracy(at: &Tally, s: &str, n: u32) -> Option<f64> {
    at.get(&(s.to_string(), n))
        .map(|&(k, t, _)| k as f64 / t as f64)
}

/// The comparison tables and their findings rows.
pub fn newer_strategies(
    sweep: &[SweepRow],
    seed: u64,
    b: &mut Vec<Block>,
    findings: &mut Vec<Vec<String>>,
) {
    let at = points(sweep);
    let names: BTreeSet<&str> = at.keys().map(|k| k.0.as_str()).collect();
    // Particle filtering / Gibbs and REBASE: at the largest budget both it and its baseline
    // ran (declared before looking at results).
    let mut plan: Vec<(&str, String, u32)> = Vec::new();
    for &s in names.iter().filter(|s| is_one_of(s, &PARTICLE_AND_TREE)) {
        let base = baseline(s);
        let n = at
            .keys()
            .filter(|k| k.0 == s && at.contains_key(&(base.clone(), k.1)))
            .map(|k| k.1)
            .max();
        if let Some(n) = n {
            plan.push((s, base, n));
        }
    }
    if !plan.is_empty() {
        let diffs: Vec<Vec<f64>> = plan
            .iter()
            .map(|(s, base, n)| differences(sweep, s, base, *n))
            .collect();
        let p: Vec<f64> = diffs
            .iter()
            .map(|d| bootstrap_p(d, seed).unwrap_or(1.0))
            .collect();
        let adjusted = holm(&p);
        let mut rows = Vec::new();
        for (((s, base, n), d), adj) in plan.iter().zip(&diffs).zip(&adjusted) {
            let Some(pd) = paired(d, seed) else { continue };
            let at = points(&shared_rows(sweep, s, base, *n));
            let ratio = match (flops(&at, s, *n), flops(&at, base, *n)) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
                _ => "–".into(),
            };
            let acc = |x: &str| accuracy(&at, x, *n).map_or("–".into(), pct);
            let verdict = if *adj < 0.05 && pd.diff > 0.0 {
                "ahead"
            } else if *adj < 0.05 {
                "behind"
            } else {
                "not significant"
            };
            rows.push(vec![
                s.to_string(),
                format!("N={n}"),
                acc(s),
                format!("{} {}", base, acc(base)),
                format!(
                    "{:+.1} [{:+.1}, {:+.1}]",
                    100.0 * pd.diff,
                    100.0 * pd.lo,
                    100.0 * pd.hi
                ),
                format!("{adj:.3}"),
                ratio.clone(),
                verdict.into(),
            ]);
            findings.push(vec![
                format!(
                    "{s} beats {base} (N={n}, Holm-corrected over {} methods)",
                    plan.len()
                ),
                match verdict {
                    "ahead" => "holds",
                    "behind" => "does not hold",
                    _ => "not significant",
                }
                .into(),
                format!(
                    "{} vs {}: {} (adjusted p = {adj:.3}; FLOPs {ratio})",
                    acc(s),
                    acc(base),
                    pd.describe()
                ),
            ]);
        }
        b.push(Block::Para(
            "Particle filtering (pf; pg = particle Gibbs) and REBASE against weighted best-of-N under the same verifier, DeepConf against majority voting, each at the largest budget both ran (declared before the run): the paired difference over questions in points with its bootstrap 95% interval, the two-sided bootstrap p-value Holm-adjusted across these methods, and the method's FLOPs per question over the baseline's.".into(),
        ));
        b.push(Block::Table {
            header: [
                "method",
                "budget",
                "accuracy",
                "baseline",
                "difference",
                "Holm p",
                "FLOPs ratio",
                "verdict",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        });
    }
    adaptive_vs_majority(sweep, &at, &names, seed, b, findings);
}

/// Adaptive voting at cap N against majority over N samples: the accuracy difference and
/// the share of majority's generated tokens it spent. It holds when the interval's lower
/// end is ≥ −2 points at ≤ 40% of the tokens.
fn adaptive_vs_majority(
    sweep: &[SweepRow],
    at: &Tally,
    names: &BTreeSet<&str>,
    seed: u64,
    b: &mut Vec<Block>,
    findings: &mut Vec<Vec<String>>,
) {
    let tokens = |rows: &[SweepRow], s: &str| -> Option<f64> {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r.strategy == s)
            .map(|r| r.generated_tokens as f64)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let mut rows = Vec::new();
    for &s in names.iter().filter(|s| is_one_of(s, &ADAPTIVE)) {
        for n in at.keys().filter(|k| k.0 == s).map(|k| k.1) {
            let shared = shared_rows(sweep, s, "majority", n);
            let at = &points(&shared);
            let (Some(tm), Some(ta)) = (tokens(&shared, "majority"), tokens(&shared, s)) else {
                continue;
            };
            let Some(pd) = paired(&differences(sweep, s, "majority", n), seed) else {
                continue;
            };
            let share = ta / tm;
            let holds = pd.lo >= -0.02 && share <= 0.40;
            let acc = |x: &str| accuracy(at, x, n).map_or("–".into(), pct);
            rows.push(vec![
                s.to_string(),
                format!("N≤{n}"),
                acc(s),
                acc("majority"),
                format!(
                    "{:+.1} [{:+.1}, {:+.1}]",
                    100.0 * pd.diff,
                    100.0 * pd.lo,
                    100.0 * pd.hi
                ),
                format!("{:.0}%", 100.0 * share),
            ]);
            findings.push(vec![
                format!("{s} matches majority@{n} (interval ≥ −2 points) at ≤ 40% of its tokens"),
                if holds { "holds" } else { "does not hold" }.into(),
                format!(
                    "{} vs {}: {}; {:.0}% of the tokens",
                    acc(s),
                    acc("majority"),
                    pd.describe(),
                    100.0 * share
                ),
            ]);
        }
    }
    if rows.is_empty() {
        return;
    }
    b.push(Block::Para(
        "Adaptive voting (esc: stop when a window of samples agrees; adaptive: stop when the Beta rule is confident of the leading answer) against majority voting over all N samples: the paired accuracy difference in points with its bootstrap 95% interval, and the generated tokens spent as a share of majority's.".into(),
    ));
    b.push(Block::Table {
        header: [
            "method",
            "cap",
            "accuracy",
            "majority",
            "difference",
            "tokens",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(q: usize, s: &str, n: u32, correct: bool, tokens: u64) -> SweepRow {
        SweepRow {
            question_id: format!("q{q}"),
            level: 1,
            strategy: s.into(),
            n,
            seed: 0,
            correct,
            generations: u64::from(n),
            generated_tokens: tokens,
            verifier_tokens: 0,
            flops: tokens as f64 * 10.0,
        }
    }

    #[test]
    fn particle_and_adaptive_methods_are_judged_against_their_baselines() {
        let mut sweep = Vec::new();
        for q in 0..40 {
            // pf right on every question, weighted best-of-N on half: a clear gain.
            sweep.push(row(q, "pf", 16, true, 100));
            sweep.push(row(q, "weighted-bon", 16, q % 2 == 0, 100));
            // esc equals majority at a fifth of its tokens.
            sweep.push(row(q, "esc-w4", 64, q % 3 == 0, 80));
            sweep.push(row(q, "majority", 64, q % 3 == 0, 400));
            // Adaptive equals majority but spends 90% of its tokens.
            sweep.push(row(q, "adaptive-w4-beta0.95", 64, q % 3 == 0, 360));
        }
        let (mut b, mut f) = (Vec::new(), Vec::new());
        newer_strategies(&sweep, 7, &mut b, &mut f);
        let verdict = |who: &str| f.iter().find(|r| r[0].starts_with(who)).unwrap()[1].clone();
        assert_eq!(verdict("pf beats weighted-bon"), "holds");
        assert_eq!(verdict("esc-w4 matches"), "holds");
        assert_eq!(verdict("adaptive-w4-beta0.95 matches"), "does not hold");
        // One table per family.
        assert_eq!(
            b.iter()
                .filter(|x| matches!(x, Block::Table { .. }))
                .count(),
            2
        );
        accuracy_vs_flops(&sweep, &mut b).unwrap();
        assert!(
            matches!(b.last(), Some(Block::Figure { file, .. }) if file == "accuracy_vs_flops.svg")
        );
    }
}
