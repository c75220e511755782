//! Revisions per oracle difficulty bin: the paired gain of revision step 4 over step 0 on
//! each bin's questions (Snell et al. §6: revisions help most on easy and medium questions).

use ttc_data::revision::paired_step_gain;
use ttc_data::rows::{BinRow, ChainRow};

use super::doc::Block;

/// The step-`a`-to-`b` gain on the questions of `bins`: (mean, lo95, hi95, questions).
fn gain_on(
    rows: &[ChainRow],
    bin_of: &std::collections::BTreeMap<&str, u8>,
    bins: &[u8],
    a: u32,
    b: u32,
) -> Option<(f64, f64, f64, usize)> {
    let picked = super::cells::in_bins(rows, bin_of, bins, |r| r.question_id.as_str());
    paired_step_gain(&picked, a, b).map(|(d, se, n)| (d, d - 1.96 * se, d + 1.96 * se, n))
}

fn words(lo: f64, hi: f64) -> &'static str {
    if lo > 0.0 {
        "holds"
    } else if hi < 0.0 {
        "does not hold"
    } else {
        "not significant"
    }
}

/// A table of the gain per oracle bin and the finding on bins 1–3.
pub fn revision_gain_by_bin(
    rows: &[ChainRow],
    bins: &[BinRow],
    b: &mut Vec<Block>,
    findings: &mut Vec<Vec<String>>,
) {
    let (a, z) = (0, 4);
    if rows.is_empty() || bins.is_empty() || !rows.iter().any(|r| r.step == z) {
        return;
    }
    let bin_of: std::collections::BTreeMap<&str, u8> = bins
        .iter()
        .map(|r| (r.question_id.as_str(), r.oracle_bin))
        .collect();
    let fmt = |(d, lo, hi, n): (f64, f64, f64, usize)| {
        format!(
            "{:+.1} points (95% [{:+.1}, {:+.1}], {n} questions)",
            100.0 * d,
            100.0 * lo,
            100.0 * hi
        )
    };
    let table: Vec<Vec<String>> = (1..=5u8)
        .filter_map(|bin| {
            gain_on(rows, &bin_of, &[bin], a, z)
                .map(|g| vec![bin.to_string(), fmt(g), words(g.1, g.2).into()])
        })
        .collect();
    b.push(Block::Para(format!(
        "Pass@1 at revision {z} minus revision {a} per oracle difficulty bin (paired over the bin's questions, each averaged over its chains; normal 95% interval):"
    )));
    b.push(Block::Table {
        header: ["oracle bin", "gain", "improves?"]
            .map(String::from)
            .to_vec(),
        rows: table,
    });
    if let Some(g) = gain_on(rows, &bin_of, &[1, 2, 3], a, z) {
        findings.push(vec![
            format!("revisions improve pass@1 on easy and medium questions (oracle bins 1–3, step {z} vs {a})"),
            words(g.1, g.2).into(),
            fmt(g),
        ]);
    }
}

/// Where revisions take pass@1 (`ttc_eval::revision_drift`), overall, per oracle bin and on
/// bins 1–3: the transition rates, the steady state `p*` against revision 0, and the
/// first-order model's pass@1 at revision 4 beside the measured one; and the finding on
/// bins 1–3 — the measured cause when revisions do not help there.
pub fn revision_drift_by_bin(
    rows: &[ChainRow],
    bins: &[BinRow],
    seed: u64,
    b: &mut Vec<Block>,
    findings: &mut Vec<Vec<String>>,
) {
    let z = 4;
    let bin_of: std::collections::BTreeMap<&str, u8> = bins
        .iter()
        .map(|r| (r.question_id.as_str(), r.oracle_bin))
        .collect();
    let measured = |keep: &dyn Fn(&ChainRow) -> bool| {
        let at: Vec<bool> = rows
            .iter()
            .filter(|r| r.step == z && keep(r))
            .map(|r| r.correct)
            .collect();
        (!at.is_empty()).then(|| at.iter().filter(|&&x| x).count() as f64 / at.len() as f64)
    };
    let sets: Vec<(String, Vec<u8>)> = std::iter::once(("all".to_string(), vec![]))
        .chain((1..=5u8).map(|k| (k.to_string(), vec![k])))
        .chain((!bins.is_empty()).then(|| ("1–3".to_string(), vec![1, 2, 3])))
        .filter(|(_, set)| set.is_empty() || !bins.is_empty())
        .collect();
    let mut table = Vec::new();
    for (name, set) in &sets {
        let keep = |r: &ChainRow| {
            set.is_empty()
                || bin_of
                    .get(r.question_id.as_str())
                    .is_some_and(|b| set.contains(b))
        };
        let Some(d) = ttc_eval::revision_drift::drift(rows, keep, seed) else {
            continue;
        };
        let at = measured(&keep).map_or("–".into(), |m| format!("{:.1}%", 100.0 * m));
        table.push(vec![
            name.clone(),
            d.questions.to_string(),
            format!("{:.1}%", 100.0 * d.right_to_wrong),
            format!("{:.1}%", 100.0 * d.wrong_to_right),
            format!("{:.1}%", 100.0 * d.start),
            format!(
                "{:.1}% [{:.1}, {:.1}]",
                100.0 * d.steady,
                100.0 * d.steady_lo,
                100.0 * d.steady_hi
            ),
            format!(
                "{:+.1} [{:+.1}, {:+.1}]",
                100.0 * d.gap,
                100.0 * d.gap_lo,
                100.0 * d.gap_hi
            ),
            format!("{:.1}% / {at}", 100.0 * d.predicted(z)),
            match words(d.gap_lo, d.gap_hi) {
                "holds" => "yes",
                "does not hold" => "no: they pull it down",
                _ => "not significant",
            }
            .into(),
        ]);
        if name == "1–3" {
            findings.push(vec![
                "cause: the revision model's steady state p* = w→r / (w→r + r→w) lies above revision 0 on easy and medium questions (oracle bins 1–3), so revisions can raise pass@1 there".into(),
                words(d.gap_lo, d.gap_hi).into(),
                format!(
                    "p* {:.1}% vs revision 0 {:.1}%: {:+.1} points (95% [{:+.1}, {:+.1}], bootstrap over {} questions); r→w {:.1}%, w→r {:.1}%",
                    100.0 * d.steady,
                    100.0 * d.start,
                    100.0 * d.gap,
                    100.0 * d.gap_lo,
                    100.0 * d.gap_hi,
                    d.questions,
                    100.0 * d.right_to_wrong,
                    100.0 * d.wrong_to_right
                ),
            ]);
        }
    }
    if table.is_empty() {
        return;
    }
    b.push(Block::Para(format!(
        "Where revisions take pass@1: from each chain's step-to-step transitions, the share of right answers revised into wrong ones (r→w) and of wrong ones into right (w→r) fix the pass@1 a chain converges to, p* = w→r / (w→r + r→w) (a first-order model: the rates do not depend on the step). Revisions can raise pass@1 only where p* is above revision 0's. The model's pass@1 at revision {z}, p* + (p₀ − p*)(1 − r→w − w→r)^{z}, stands beside the measured one as its check. Intervals: percentile bootstrap over questions."
    )));
    b.push(Block::Table {
        header: [
            "oracle bin",
            "questions",
            "r→w",
            "w→r",
            "revision 0",
            "steady state p* (95%)",
            "p* − revision 0, points (95%)",
            &format!("revision {z}: model / measured"),
            "can revisions raise pass@1?",
        ]
        .map(String::from)
        .to_vec(),
        rows: table,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(q: u32, step: u32, correct: bool) -> ChainRow {
        ChainRow {
            question_id: format!("q{q}"),
            question_index: q,
            level: 1,
            chain: 0,
            step,
            text: String::new(),
            answer: None,
            correct,
            generated_tokens: 0,
        }
    }

    fn bin(q: u32, b: u8) -> BinRow {
        BinRow {
            question_id: format!("q{q}"),
            level: 1,
            samples: 4,
            oracle_pass_at_1: 0.0,
            oracle_bin: b,
            predicted_score: 0.0,
            predicted_bin: b,
        }
    }

    #[test]
    fn gains_are_judged_per_bin_on_paired_intervals() {
        // Questions 0–9 (bin 1) go from wrong to right; 10–19 (bin 5) stay as they were,
        // half right.
        let mut rows = Vec::new();
        let mut bins = Vec::new();
        for q in 0..20u32 {
            let easy = q < 10;
            rows.push(chain(q, 0, !easy && q % 2 == 0));
            rows.push(chain(q, 4, easy || q % 2 == 0));
            bins.push(bin(q, if easy { 1 } else { 5 }));
        }
        let (mut b, mut f) = (Vec::new(), Vec::new());
        revision_gain_by_bin(&rows, &bins, &mut b, &mut f);
        let Some(Block::Table { rows: t, .. }) = b.last() else {
            panic!("no table")
        };
        assert_eq!(t.len(), 2);
        assert_eq!((t[0][0].as_str(), t[0][2].as_str()), ("1", "holds"));
        assert!(t[0][1].starts_with("+100.0 points"), "{t:?}");
        assert_eq!(
            (t[1][0].as_str(), t[1][2].as_str()),
            ("5", "not significant")
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0][1], "holds");
        assert!(f[0][2].contains("10 questions"), "{f:?}");
    }

    #[test]
    fn the_drift_table_has_a_row_per_bin_and_the_finding_reads_bins_1_to_3() {
        // Bin 1: chains W R R R R (fixed, and kept): p* = 1 above revision 0 = 0. Bin 5:
        // R W W W W on 10 questions, W W W W W on 10 (spoiled, never fixed): p* = 0.
        let mut rows = Vec::new();
        let mut bins = Vec::new();
        for q in 0..30u32 {
            let verdicts: [bool; 5] = match q {
                0..10 => [false, true, true, true, true],
                10..20 => [true, false, false, false, false],
                _ => [false; 5],
            };
            for (t, ok) in verdicts.into_iter().enumerate() {
                rows.push(chain(q, t as u32, ok));
            }
            bins.push(bin(q, if q < 10 { 1 } else { 5 }));
        }
        let (mut b, mut f) = (Vec::new(), Vec::new());
        revision_drift_by_bin(&rows, &bins, 3, &mut b, &mut f);
        let Some(Block::Table { rows: t, .. }) = b.last() else {
            panic!("no table")
        };
        let names: Vec<&str> = t.iter().map(|r| r[0].as_str()).collect();
        // Bins 2–4 have no questions.
        assert_eq!(names, ["all", "1", "5", "1–3"], "{t:?}");
        // Bin 1: w→r = 100%, r→w = 0: p* = 100% from 0%; one revision gets there.
        assert_eq!(t[1][5], "100.0% [100.0, 100.0]", "{t:?}");
        assert_eq!(t[1][7], "100.0% / 100.0%", "{t:?}");
        assert_eq!(t[1][8], "yes", "{t:?}");
        // Bin 5: p* = 0 below revision 0's 50%.
        assert_eq!(t[2][4], "50.0%", "{t:?}");
        assert_eq!(t[2][8], "no: they pull it down", "{t:?}");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0][1], "holds", "{f:?}");
    }
}
