//! Where revisions take pass@1: a first-order (Markov) reading of revision chains. From the
//! chains' step-to-step transitions, the share of right answers revised into wrong ones
//! (`r→w`) and of wrong ones into right (`w→r`) give the pass@1 the chain converges to,
//! `p* = w→r / (w→r + r→w)`, and pass@1 after `k` revisions from revision 0's `p₀`:
//! `p* + (p₀ − p*)·(1 − r→w − w→r)^k`. Revisions can raise pass@1 only where `p* > p₀`
//! — the cause, measured, when they do not (Snell et al. §6 find right→wrong ≈ 38% and
//! still a gain, their revision model fixing enough wrong answers).
//!
//! Intervals: percentile bootstrap over questions (the rates are ratios of sums over the
//! resampled questions), seeded.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use ttc_data::revision::{Transitions, transitions_by_question};
use ttc_data::rows::ChainRow;

use crate::paired::RESAMPLES;

/// One question's transitions and its revision-0 attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counts {
    moves: Transitions,
    start_right: u64,
    start_all: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.moves.add(&o.moves);
        self.start_right += o.start_right;
        self.start_all += o.start_all;
    }

    /// (r→w, w→r, p*, p₀); `None` without a transition from each side or a revision 0.
    fn rates(&self) -> Option<(f64, f64, f64, f64)> {
        let m = &self.moves;
        let (from_right, from_wrong) = (m.from_right(), m.from_wrong());
        if from_right == 0 || from_wrong == 0 || self.start_all == 0 {
            return None;
        }
        let rw = m.right_wrong as f64 / from_right as f64;
        let wr = m.wrong_right as f64 / from_wrong as f64;
        // Neither moves: every answer stays as it started.
        let start = self.start_right as f64 / self.start_all as f64;
        let steady = if rw + wr > 0.0 { wr / (rw + wr) } else { start };
        Some((rw, wr, steady, start))
    }
}

/// The drift of a set of questions' chains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    /// Share of right answers the next revision makes wrong.
    pub right_to_wrong: f64,
    /// Share of wrong answers the next revision makes right.
    pub wrong_to_right: f64,
    /// Pass@1 at revision 0.
    pub start: f64,
    /// `p*`, the pass@1 the chain converges to, with its bootstrap 95% interval.
    pub steady: f64,
    pub steady_lo: f64,
    pub steady_hi: f64,
    /// `p* − p₀` with its bootstrap 95% interval: above 0, revisions can raise pass@1.
    pub gap: f64,
    pub gap_lo: f64,
    pub gap_hi: f64,
    pub questions: usize,
}

impl Drift {
    /// Pass@1 the first-order model predicts after `k` revisions.
    pub fn predicted(&self, k: u32) -> f64 {
        let keep = 1.0 - self.right_to_wrong - self.wrong_to_right;
        self.steady + (self.start - self.steady) * keep.powi(k as i32)
    }
}

/// Per question (by index): its transitions between consecutive steps of each chain and
/// its revision-0 attempts.
fn per_question<'a>(rows: impl Iterator<Item = &'a ChainRow> + Clone) -> BTreeMap<u32, Counts> {
    let mut out: BTreeMap<u32, Counts> = transitions_by_question(rows.clone())
        .into_iter()
        .map(|(q, moves)| {
            let c = Counts {
                moves,
                ..Counts::default()
            };
            (q, c)
        })
        .collect();
    for r in rows.filter(|r| r.step == 0) {
        let c = out.entry(r.question_index).or_default();
        c.start_all += 1;
        c.start_right += u64::from(r.correct);
    }
    out
}

/// The drift of the chains of the questions `keep` accepts; `None` when they have no
/// transition from a right or from a wrong answer.
pub fn drift(rows: &[ChainRow], keep: impl Fn(&ChainRow) -> bool, seed: u64) -> Option<Drift> {
    let qs: Vec<Counts> = per_question(rows.iter().filter(|r| keep(r)))
        .into_values()
        .collect();
    let mut all = Counts::default();
    qs.iter().for_each(|c| all.add(c));
    let (rw, wr, steady, start) = all.rates()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut steadies, mut gaps) = (Vec::new(), Vec::new());
    for _ in 0..RESAMPLES {
        let mut s = Counts::default();
        for _ in 0..qs.len() {
            s.add(&qs[rng.random_range(0..qs.len())]);
        }
        // A resample with no transition from one side has no steady state: left out.
        if let Some((_, _, p, p0)) = s.rates() {
            steadies.push(p);
            gaps.push(p - p0);
        }
    }
    let (steady_lo, steady_hi) = percentiles(&mut steadies);
    let (gap_lo, gap_hi) = percentiles(&mut gaps);
    Some(Drift {
        right_to_wrong: rw,
        wrong_to_right: wr,
        start,
        steady,
        steady_lo,
        steady_hi,
        gap: steady - start,
        gap_lo,
        gap_hi,
        questions: qs.len(),
    })
}

/// The 2.5th and 97.5th percentiles (NaN for none).
fn percentiles(x: &mut [f64]) -> (f64, f64) {
    if x.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    x.sort_by(f64::total_cmp);
    let at = |p: f64| x[((p * x.len() as f64) as usize).min(x.len() - 1)];
    (at(0.025), at(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(q: u32, chain: u32, step: u32, correct: bool) -> ChainRow {
        ChainRow {
            question_id: format!("q{q}"),
            question_index: q,
            level: 1,
            chain,
            step,
            text: String::new(),
            answer: None,
            correct,
            generated_tokens: 0,
        }
    }

    /// A chain of `q` with the given verdicts per step.
    fn chain(q: u32, c: u32, verdicts: &[bool]) -> Vec<ChainRow> {
        verdicts
            .iter()
            .enumerate()
            .map(|(t, &ok)| row(q, c, t as u32, ok))
            .collect()
    }

    #[test]
    fn rates_and_steady_state_of_handmade_chains() {
        // 20 questions, each one chain: W R R R (w→r once, r→r twice) on even questions,
        // R W W W (r→w once, w→w twice) on odd ones. From right: 20 r→r, 10 r→w; from
        // wrong: 10 w→r, 20 w→w. r→w = 1/3, w→r = 1/3, p* = 1/2, p₀ = 1/2.
        let mut rows = Vec::new();
        for q in 0..20 {
            let v: &[bool] = if q % 2 == 0 {
                &[false, true, true, true]
            } else {
                &[true, false, false, false]
            };
            rows.extend(chain(q, 0, v));
        }
        let d = drift(&rows, |_| true, 7).expect("transitions on both sides");
        assert!((d.right_to_wrong - 1.0 / 3.0).abs() < 1e-12, "{d:?}");
        assert!((d.wrong_to_right - 1.0 / 3.0).abs() < 1e-12, "{d:?}");
        assert!((d.steady - 0.5).abs() < 1e-12 && (d.start - 0.5).abs() < 1e-12);
        assert_eq!(d.questions, 20);
        assert!(d.gap_lo <= 0.0 && d.gap_hi >= 0.0, "{d:?}");
        // The first-order model after 0 revisions is p₀; it decays to p*.
        assert!((d.predicted(0) - d.start).abs() < 1e-12);
        assert!((d.predicted(50) - d.steady).abs() < 1e-9);
    }

    #[test]
    fn a_model_that_spoils_right_answers_converges_below_its_start() {
        // 40 questions, 2 chains each, R R W W: right→wrong 1 of 2 transitions from right,
        // never wrong→right (1 of 40 chains W R W W lets w→r be defined): p* near 0 < p₀.
        let mut rows = Vec::new();
        for q in 0..40 {
            rows.extend(chain(q, 0, &[true, true, false, false]));
            let second: &[bool] = if q == 0 {
                &[false, true, false, false]
            } else {
                &[true, true, false, false]
            };
            rows.extend(chain(q, 1, second));
        }
        let d = drift(&rows, |_| true, 7).unwrap();
        assert!(d.steady < 0.1 && d.start > 0.9, "{d:?}");
        assert!(d.gap_hi < 0.0, "the interval is below 0: {d:?}");
        // Only bins' questions count: question 0 alone has both kinds of transition.
        let only_q0 = drift(&rows, |r| r.question_index == 0, 7).unwrap();
        assert_eq!(only_q0.questions, 1);
        assert!(drift(&rows, |_| false, 7).is_none());
    }

    #[test]
    fn a_gap_in_a_chain_is_not_a_transition() {
        let mut rows = chain(0, 0, &[false, true]);
        rows.push(row(0, 0, 3, false));
        rows.extend(chain(1, 0, &[true, false]));
        let c = per_question(rows.iter());
        assert_eq!((c[&0].moves.wrong_right, c[&0].moves.right_wrong), (1, 0));
        assert_eq!((c[&1].moves.right_wrong, c[&1].start_right), (1, 1));
    }
}
