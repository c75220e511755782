//! Paired comparisons of two strategies on the same questions (the report's "holds / does
//! not hold"): each question's accuracy under each strategy (the mean over its seeds), the
//! mean per-question difference, and a percentile bootstrap 95% interval over questions
//! (seeded). A claim holds when the interval is above 0, fails when it is below, and is
//! "not significant" when it crosses 0 — never decided on two point estimates.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use ttc_data::rows::SweepRow;

/// A paired difference `a − b` in accuracy (fractions, not points).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    pub diff: f64,
    pub lo: f64,
    pub hi: f64,
    pub questions: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The interval is above 0.
    Ahead,
    /// The interval is below 0.
    Behind,
    /// The interval crosses 0.
    NotSignificant,
}

impl Paired {
    pub fn verdict(&self) -> Verdict {
        if self.lo > 0.0 {
            Verdict::Ahead
        } else if self.hi < 0.0 {
            Verdict::Behind
        } else {
            Verdict::NotSignificant
        }
    }

    /// "+3.1 points (95% [+0.8, +5.4], 500 questions)".
    pub fn describe(&self) -> String {
        format!(
            "{:+.1} points (95% [{:+.1}, {:+.1}], paired over {} questions)",
            100.0 * self.diff,
            100.0 * self.lo,
            100.0 * self.hi,
            self.questions
        )
    }
}

/// Bootstrap resamples.
pub const RESAMPLES: usize = 2000;

/// Each question's accuracy under `strategy` at budget `n` (mean over its seeds).
pub fn per_question<'a>(rows: &'a [SweepRow], strategy: &str, n: u32) -> BTreeMap<&'a str, f64> {
    let mut acc: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.strategy == strategy && r.n == n) {
        let e = acc.entry(r.question_id.as_str()).or_default();
        e.0 += f64::from(u8::from(r.correct));
        e.1 += 1.0;
    }
    acc.into_iter().map(|(q, (k, t))| (q, k / t)).collect()
}

/// `a − b` at budget `n` over the questions both ran; `None` when they share none.
pub fn compare(rows: &[SweepRow], a: &str, b: &str, n: u32, seed: u64) -> Option<Paired> {
    paired(&differences(rows, a, b, n), seed)
}

/// Each question's accuracy under `a` minus under `b` at budget `n`, over the questions
/// both ran.
pub fn differences(rows: &[SweepRow], a: &str, b: &str, n: u32) -> Vec<f64> {
    let (qa, qb) = (per_question(rows, a, n), per_question(rows, b, n));
    qa.iter()
        .filter_map(|(q, x)| qb.get(q).map(|y| x - y))
        .collect()
}

/// Two-sided bootstrap p-value for mean(d) = 0: twice the smaller share of resampled means
/// on either side of 0 (ties count half), capped at 1; `None` for no data. The resamples
/// are [`paired`]'s for the same seed.
pub fn bootstrap_p(d: &[f64], seed: u64) -> Option<f64> {
    let means = resampled_means(d, seed)?;
    let below = means.iter().filter(|&&m| m < 0.0).count() as f64;
    let ties = means.iter().filter(|&&m| m == 0.0).count() as f64;
    let above = means.len() as f64 - below - ties;
    let side = (below.min(above) + ties / 2.0) / means.len() as f64;
    Some((2.0 * side).min(1.0))
}

/// Holm's step-down adjustment of `p` (same order out): the i-th smallest becomes
/// max over j ≤ i of (m − j) · p₍ⱼ₎, capped at 1. It controls the family-wise error over
/// the m comparisons.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// What `strategy` gains from budget 1 to budget `n`, paired over the questions it ran at
/// both. An efficiency claim against a baseline (N/N′) means something only when this is
/// above 0: a baseline no better at N than at 1 is matched at N′ = 1 by anything.
pub fn gain_over_one(rows: &[SweepRow], strategy: &str, n: u32, seed: u64) -> Option<Paired> {
    let (at_n, at_1) = (
        per_question(rows, strategy, n),
        per_question(rows, strategy, 1),
    );
    let d: Vec<f64> = at_n
        .iter()
        .filter_map(|(q, x)| at_1.get(q).map(|y| x - y))
        .collect();
    paired(&d, seed)
}

/// Mean of `d` and its percentile bootstrap 95% interval; `None` for no data.
pub fn paired(d: &[f64], seed: u64) -> Option<Paired> {
    if d.is_empty() {
        return None;
    }
    let diff = d.iter().sum::<f64>() / d.len() as f64;
    let means = resampled_means(d, seed)?;
    let at = |p: f64| means[((p * RESAMPLES as f64) as usize).min(RESAMPLES - 1)];
    Some(Paired {
        diff,
        lo: at(0.025),
        hi: at(0.975),
        questions: d.len(),
    })
}

/// [`RESAMPLES`] bootstrap means of `d`, sorted; `None` for no data.
fn resampled_means(d: &[f64], seed: u64) -> Option<Vec<f64>> {
    if d.is_empty() {
        return None;
    }
    let mean = |x: &mut dyn Iterator<Item = f64>| x.sum::<f64>() / d.len() as f64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| mean(&mut (0..d.len()).map(|_| d[rng.random_range(0..d.len())])))
        .collect();
    means.sort_by(f64::total_cmp);
    Some(means)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(q: &str, n: u32, seed: u64, correct: bool) -> SweepRow {
        SweepRow {
            question_id: q.into(),
            level: 1,
            strategy: "weighted-bon".into(),
            n,
            seed,
            correct,
            generations: u64::from(n),
            generated_tokens: 0,
            verifier_tokens: 0,
            flops: 0.0,
        }
    }

    #[test]
    fn a_baseline_that_never_improves_with_n_gains_nothing() {
        // Every question wrong at every budget: no gain, an interval of exactly 0.
        let flat: Vec<SweepRow> = (0..10)
            .flat_map(|q| {
                [
                    at(&q.to_string(), 1, 0, false),
                    at(&q.to_string(), 16, 0, false),
                ]
            })
            .collect();
        let g = gain_over_one(&flat, "weighted-bon", 16, 3).unwrap();
        assert_eq!((g.diff, g.lo, g.hi), (0.0, 0.0, 0.0));
        assert_ne!(g.verdict(), Verdict::Ahead);
        // Right at 16 on every question, wrong at 1: a gain whose interval is above 0.
        let up: Vec<SweepRow> = (0..10)
            .flat_map(|q| {
                [
                    at(&q.to_string(), 1, 0, false),
                    at(&q.to_string(), 16, 0, true),
                ]
            })
            .collect();
        assert_eq!(
            gain_over_one(&up, "weighted-bon", 16, 3).unwrap().verdict(),
            Verdict::Ahead
        );
        assert!(
            gain_over_one(&up, "weighted-bon", 4, 3).is_none(),
            "never ran at 4"
        );
    }

    fn row(q: usize, s: &str, correct: bool) -> SweepRow {
        SweepRow {
            question_id: format!("q{q}"),
            level: 1,
            strategy: s.into(),
            n: 4,
            seed: 0,
            correct,
            generations: 4,
            generated_tokens: 0,
            verifier_tokens: 0,
            flops: 0.0,
        }
    }

    #[test]
    fn a_clear_win_holds_a_coin_flip_is_not_significant() {
        // a right on 80 of 100 questions, b on 20 of them (a subset): +60 points.
        let mut rows = Vec::new();
        for q in 0..100 {
            rows.push(row(q, "a", q < 80));
            rows.push(row(q, "b", q < 20));
        }
        let p = compare(&rows, "a", "b", 4, 1).unwrap();
        assert!((p.diff - 0.6).abs() < 1e-12 && p.questions == 100);
        assert_eq!(p.verdict(), Verdict::Ahead);
        assert!(p.lo > 0.45 && p.hi < 0.75, "{p:?}");
        assert_eq!(
            compare(&rows, "b", "a", 4, 1).unwrap().verdict(),
            Verdict::Behind
        );
        // Right on different questions, equally often: no difference that an interval shows.
        let mut rows = Vec::new();
        for q in 0..100 {
            rows.push(row(q, "a", q % 2 == 0));
            rows.push(row(q, "b", q % 2 == 1));
        }
        let p = compare(&rows, "a", "b", 4, 1).unwrap();
        assert_eq!((p.diff, p.verdict()), (0.0, Verdict::NotSignificant));
        assert!(
            p.describe().contains("paired over 100 questions"),
            "{}",
            p.describe()
        );
        assert!(compare(&rows, "a", "c", 4, 1).is_none());
        // The same seed, the same interval.
        assert_eq!(compare(&rows, "a", "b", 4, 1), Some(p));
    }

    #[test]
    fn holm_adjusts_in_rank_order_and_stays_monotone() {
        // m = 3, sorted 0.01, 0.03, 0.04: 0.01·3 = 0.03, 0.03·2 = 0.06, then 0.04·1 = 0.04
        // raised to the running 0.06.
        let adj = holm(&[0.04, 0.01, 0.03]);
        let want = [0.06, 0.03, 0.06];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn bootstrap_p_is_small_for_a_clear_gain_and_one_for_none() {
        let clear = vec![1.0; 30];
        assert_eq!(bootstrap_p(&clear, 1), Some(0.0));
        let none = vec![0.0; 30];
        assert_eq!(bootstrap_p(&none, 1), Some(1.0));
        let mixed: Vec<f64> = (0..40)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert!(bootstrap_p(&mixed, 1).unwrap() > 0.5);
        assert_eq!(bootstrap_p(&[], 1), None);
    }
}
