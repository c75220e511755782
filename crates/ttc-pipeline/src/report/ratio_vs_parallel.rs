//! Sequential splits against parallel-only revisions at one budget (Snell et al. §6.2: the
//! compute-optimal ratio beats parallel sampling with the same verifier): per oracle bin,
//! every split s:p of the largest budget N where 1:N exists, against 1:N, paired over the
//! bin's questions, Holm-adjusted across all (bin, split) comparisons.

use std::collections::{BTreeMap, BTreeSet};

use ttc_data::rows::{BinRow, RatioRow};
use ttc_eval::paired::{bootstrap_p, holm, paired};

use super::doc::Block;

/// One (bin, split) before the test: per-question differences, the split's and 1:N's
/// accuracy.
struct Pending {
    bin: u8,
    split: (u32, u32),
    d: Vec<f64>,
    split_acc: f64,
    parallel_acc: f64,
}

/// One (bin, split) comparison against 1:N.
struct Compared {
    bin: u8,
    split: String,
    split_acc: f64,
    parallel_acc: f64,
    diff: ttc_eval::paired::Paired,
    adjusted_p: f64,
}

/// The table and a finding for one selector (`who`), from the per-question splits
/// (`ratios{sfx}.parquet`) and the bins; nothing when no budget has both 1:N and a split.
pub fn versus_parallel(
    ratios: &[RatioRow],
    bins: &[BinRow],
    seed: u64,
    who: &str,
    blocks: &mut Vec<Block>,
    findings: &mut Vec<Vec<String>>,
) {
    let splits_at = |n: u32| -> BTreeSet<(u32, u32)> {
        ratios
            .iter()
            .filter(|r| r.n == n)
            .map(|r| (r.sequential, r.parallel))
            .collect()
    };
    let budgets: BTreeSet<u32> = ratios.iter().map(|r| r.n).collect();
    let Some(n) = budgets.into_iter().rev().find(|&n| {
        let s = splits_at(n);
        s.contains(&(1, n)) && s.len() > 1
    }) else {
        return;
    };
    let bin_of: BTreeMap<&str, u8> = bins
        .iter()
        .map(|b| (b.question_id.as_str(), b.oracle_bin))
        .collect();
    // (question, split) → correct, at N.
    let mut at: BTreeMap<(&str, (u32, u32)), bool> = BTreeMap::new();
    for r in ratios.iter().filter(|r| r.n == n) {
        at.insert(
            (r.question_id.as_str(), (r.sequential, r.parallel)),
            r.correct,
        );
    }
    let questions: BTreeSet<&str> = at.keys().map(|k| k.0).collect();
    let mut cmp: Vec<Pending> = Vec::new();
    let bin_ids: BTreeSet<u8> = questions
        .iter()
        .filter_map(|q| bin_of.get(q).copied())
        .collect();
    for &bin in &bin_ids {
        for &split in splits_at(n).iter().filter(|&&s| s != (1, n)) {
            let (mut d, mut a, mut b) = (Vec::new(), 0.0, 0.0);
            for &q in questions.iter().filter(|q| bin_of.get(*q) == Some(&bin)) {
                if let (Some(&x), Some(&y)) = (at.get(&(q, split)), at.get(&(q, (1, n)))) {
                    let (x, y) = (f64::from(u8::from(x)), f64::from(u8::from(y)));
                    d.push(x - y);
                    a += x;
                    b += y;
                }
            }
            if !d.is_empty() {
                let k = d.len() as f64;
                cmp.push(Pending {
                    bin,
                    split,
                    d,
                    split_acc: a / k,
                    parallel_acc: b / k,
                });
            }
        }
    }
    if cmp.is_empty() {
        return;
    }
    let p: Vec<f64> = cmp
        .iter()
        .map(|c| bootstrap_p(&c.d, seed).unwrap_or(1.0))
        .collect();
    let adjusted = holm(&p);
    let rows: Vec<Compared> = cmp
        .into_iter()
        .zip(adjusted)
        .filter_map(|(c, adjusted_p)| {
            Some(Compared {
                bin: c.bin,
                split: format!("{}:{}", c.split.0, c.split.1),
                split_acc: c.split_acc,
                parallel_acc: c.parallel_acc,
                diff: paired(&c.d, seed)?,
                adjusted_p,
            })
        })
        .collect();
    let pts = |x: f64| format!("{:+.1}", 100.0 * x);
    blocks.push(Block::Para(format!(
        "Each sequential split against parallel-only revisions (1:{n}, {n} chains of one attempt) at N={n} under the {who}, per oracle bin: the paired difference over the bin's questions in points with its bootstrap 95% interval, and the two-sided bootstrap p-value Holm-adjusted across all {} comparisons:",
        rows.len()
    )));
    blocks.push(Block::Table {
        header: [
            "oracle bin",
            "split",
            "accuracy",
            "parallel (1:N)",
            "difference",
            "questions",
            "Holm p",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.bin.to_string(),
                    r.split.clone(),
                    format!("{:.1}%", 100.0 * r.split_acc),
                    format!("{:.1}%", 100.0 * r.parallel_acc),
                    format!(
                        "{} [{}, {}]",
                        pts(r.diff.diff),
                        pts(r.diff.lo),
                        pts(r.diff.hi)
                    ),
                    r.diff.questions.to_string(),
                    format!("{:.3}", r.adjusted_p),
                ]
            })
            .collect(),
    });
    let best = rows
        .iter()
        .max_by(|a, b| a.diff.diff.total_cmp(&b.diff.diff))
        .expect("rows is not empty");
    let wins: Vec<&Compared> = rows
        .iter()
        .filter(|r| r.adjusted_p < 0.05 && r.diff.diff > 0.0)
        .collect();
    let (verdict, shown) = match wins
        .iter()
        .max_by(|a, b| a.diff.diff.total_cmp(&b.diff.diff))
    {
        Some(w) => ("holds", *w),
        None => ("not significant", best),
    };
    findings.push(vec![
        format!(
            "a sequential:parallel split beats parallel-only revisions (1:{n}) at N={n} on some difficulty bin ({who} selection; Holm over {} comparisons)",
            rows.len()
        ),
        verdict.into(),
        format!(
            "best: bin {} {} {:.1}% vs 1:{n} {:.1}%: {} points (95% [{}, {}], paired over {} questions; Holm p = {:.3})",
            shown.bin,
            shown.split,
            100.0 * shown.split_acc,
            100.0 * shown.parallel_acc,
            pts(shown.diff.diff),
            pts(shown.diff.lo),
            pts(shown.diff.hi),
            shown.diff.questions,
            shown.adjusted_p
        ),
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(q: &str, n: u32, s: u32, correct: bool) -> RatioRow {
        RatioRow {
            question_id: q.into(),
            n,
            sequential: s,
            parallel: n / s,
            correct,
        }
    }

    fn bin(q: &str, b: u8) -> BinRow {
        BinRow {
            question_id: q.into(),
            level: 1,
            samples: 1,
            oracle_pass_at_1: 0.5,
            oracle_bin: b,
            predicted_score: 0.5,
            predicted_bin: b,
        }
    }

    #[test]
    fn a_split_right_where_parallel_is_wrong_wins_its_bin() {
        // Bin 1: 40 questions, 4:4 right on all, 1:16 right on 10. Bin 2: both right on all.
        let mut ratios = Vec::new();
        let mut bins = Vec::new();
        for i in 0..40 {
            let q = format!("a{i}");
            ratios.push(row(&q, 16, 4, true));
            ratios.push(row(&q, 16, 1, i < 10));
            ratios.push(row(&q, 8, 1, true)); // a smaller budget: not the one compared
            bins.push(bin(&q, 1));
            let q = format!("b{i}");
            ratios.push(row(&q, 16, 4, true));
            ratios.push(row(&q, 16, 1, true));
            bins.push(bin(&q, 2));
        }
        let (mut blocks, mut findings) = (Vec::new(), Vec::new());
        versus_parallel(&ratios, &bins, 7, "PRM", &mut blocks, &mut findings);
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert!(
            f[0].contains("(1:16) at N=16") && f[0].contains("Holm over 2"),
            "{f:?}"
        );
        assert_eq!(f[1], "holds");
        assert!(
            f[2].starts_with("best: bin 1 4:4 100.0% vs 1:16 25.0%: +75.0 points"),
            "{f:?}"
        );
        // No split differs from parallel: not significant.
        let same: Vec<RatioRow> = ratios
            .iter()
            .filter(|r| r.question_id.starts_with('b'))
            .cloned()
            .collect();
        let mut findings = Vec::new();
        versus_parallel(&same, &bins, 7, "PRM", &mut Vec::new(), &mut findings);
        assert_eq!(findings[0][1], "not significant");
        // No budget with 1:N beside another split: nothing to say.
        let mut findings = Vec::new();
        let only: Vec<RatioRow> = ratios.iter().filter(|r| r.n == 8).cloned().collect();
        versus_parallel(&only, &bins, 7, "PRM", &mut Vec::new(), &mut findings);
        assert!(findings.is_empty());
    }
}
