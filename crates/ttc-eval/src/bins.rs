//! Difficulty bins (Snell et al. §3): questions ranked by a per-question score — oracle
//! pass@1 over many samples, or the verifier's mean final-answer score (predicted
//! difficulty) — and cut into equal-size quantile bins, **bin 1 the easiest** (highest
//! score). Ties in score are ordered by question id so the assignment is deterministic.

use std::collections::BTreeMap;

use ttc_data::rows::{BinRow, ScoredSample};

/// Quantile bins 1..=`bins` of `(question, score)`; higher score = easier = lower bin.
/// Bin sizes differ by at most one (the first bins take the remainder).
pub fn quantile_bins(scores: &[(String, f64)], bins: usize) -> BTreeMap<String, u8> {
    assert!(bins >= 1 && bins <= u8::MAX as usize, "1..=255 bins");
    let mut v: Vec<&(String, f64)> = scores.iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let n = v.len();
    let mut out = BTreeMap::new();
    let (base, extra) = (n / bins, n % bins);
    let mut i = 0;
    for b in 0..bins {
        let size = base + usize::from(b < extra);
        for (q, _) in v[i..i + size].iter().map(|x| (&x.0, x.1)) {
            out.insert(q.clone(), (b + 1) as u8);
        }
        i += size;
    }
    out
}

/// Fixed bins: bin 1 for score ≥ `edges[0]`, bin 2 for ≥ `edges[1]`, …, last bin below the
/// last edge. `edges` must be descending.
pub fn absolute_bin(score: f64, edges: &[f64]) -> u8 {
    debug_assert!(edges.windows(2).all(|w| w[0] >= w[1]), "edges descending");
    (edges.iter().take_while(|&&e| score < e).count() + 1) as u8
}

/// Each question's difficulty from its scored samples: oracle pass@1 and the PRM's mean final
/// score, each cut into `bins` bins (1 = easiest) — quantiles, or with `absolute` equal-width
/// score ranges (≥0.8, ≥0.6, … for 5 bins) so a bin means the same on every run.
pub fn difficulty_rows(scored: &[ScoredSample], bins: usize, absolute: bool) -> Vec<BinRow> {
    let mut by_q: BTreeMap<&str, (u8, u32, u32, f64)> = BTreeMap::new();
    for s in scored {
        let e = by_q
            .entry(s.question_id.as_str())
            .or_insert((s.level, 0, 0, 0.0));
        e.1 += 1;
        e.2 += u32::from(s.correct);
        e.3 += f64::from(s.step_scores.last().copied().unwrap_or(0.0));
    }
    let oracle: Vec<(String, f64)> = by_q
        .iter()
        .map(|(q, e)| (q.to_string(), f64::from(e.2) / f64::from(e.1)))
        .collect();
    let predicted: Vec<(String, f64)> = by_q
        .iter()
        .map(|(q, e)| (q.to_string(), e.3 / f64::from(e.1)))
        .collect();
    let cut = |scores: &[(String, f64)]| -> BTreeMap<String, u8> {
        if absolute {
            let edges: Vec<f64> = (1..bins).map(|i| 1.0 - i as f64 / bins as f64).collect();
            scores
                .iter()
                .map(|(q, s)| (q.clone(), absolute_bin(*s, &edges)))
                .collect()
        } else {
            quantile_bins(scores, bins)
        }
    };
    let ob = cut(&oracle);
    let pb = cut(&predicted);
    let rows: Vec<BinRow> = oracle
        .iter()
        .zip(&predicted)
        .map(|((q, o), (_, p))| BinRow {
            question_id: q.clone(),
            level: by_q[q.as_str()].0,
            samples: by_q[q.as_str()].1,
            oracle_pass_at_1: *o,
            oracle_bin: ob[q],
            predicted_score: *p,
            predicted_bin: pb[q],
        })
        .collect();
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|&(q, x)| (q.to_string(), x)).collect()
    }

    #[test]
    fn quantile_bins_put_the_easiest_first_and_break_ties_by_id() {
        let b = quantile_bins(
            &s(&[
                ("a", 0.1),
                ("b", 0.9),
                ("c", 0.5),
                ("d", 0.5),
                ("e", 0.0),
                ("f", 1.0),
                ("g", 0.3),
            ]),
            3,
        );
        // Order: f 1.0, b 0.9, c 0.5, d 0.5, g 0.3, a 0.1, e 0.0 → sizes 3, 2, 2.
        let got: Vec<(&str, u8)> = b.iter().map(|(q, &x)| (q.as_str(), x)).collect();
        assert_eq!(
            got,
            [
                ("a", 3),
                ("b", 1),
                ("c", 1),
                ("d", 2),
                ("e", 3),
                ("f", 1),
                ("g", 2)
            ]
        );
    }

    #[test]
    fn absolute_bins_follow_descending_edges() {
        let edges = [0.8, 0.6, 0.4, 0.2];
        assert_eq!(absolute_bin(0.95, &edges), 1);
        assert_eq!(absolute_bin(0.8, &edges), 1);
        assert_eq!(absolute_bin(0.5, &edges), 3);
        assert_eq!(absolute_bin(0.0, &edges), 5);
    }
}
