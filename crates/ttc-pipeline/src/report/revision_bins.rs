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
}
