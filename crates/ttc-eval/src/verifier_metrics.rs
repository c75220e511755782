//! How well a verifier's scores match what they can be checked on (DESIGN §6): step AUROC
//! against labels or truth, the within-question AUROC best-of-N needs, ProcessBench-style
//! first-error F1, and calibration bins. Pure statistics over scores; no model.

use serde::{Deserialize, Serialize};
use ttc_data::rows::{SampleRow, ScoredSample};

/// Area under the ROC curve of `scores` for `positive` (ties count half); `None` when one
/// class is absent.
pub fn auroc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0.0f64, 0);
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if positive[k] {
                rank_sum += avg;
            }
        }
        i = j + 1;
    }
    let np = positive.iter().filter(|&&p| p).count() as f64;
    let nn = positive.len() as f64 - np;
    if np == 0.0 || nn == 0.0 {
        return None;
    }
    Some((rank_sum - np * (np + 1.0) / 2.0) / (np * nn))
}

/// Within-question AUROC: for each question whose samples are both right and wrong, the
/// AUROC of the score between its own right and wrong samples. This is what choosing among
/// one question's samples needs (a pooled AUROC mostly separates easy questions from hard
/// ones). `samples`: (question, score, correct); returns (question, AUROC) in question order.
pub fn within_question_auroc(samples: &[(u32, f32, bool)]) -> Vec<(u32, f64)> {
    let mut by_q: std::collections::BTreeMap<u32, (Vec<f32>, Vec<bool>)> = Default::default();
    for &(q, s, ok) in samples {
        let e = by_q.entry(q).or_default();
        e.0.push(s);
        e.1.push(ok);
    }
    by_q.into_iter()
        .filter_map(|(q, (s, ok))| auroc(&s, &ok).map(|a| (q, a)))
        .collect()
}

/// ProcessBench-style first-error identification.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FirstErrorScore {
    /// Accuracy of the predicted first-error index on solutions with an error.
    pub acc_erroneous: f64,
    pub n_erroneous: usize,
    /// Accuracy of predicting "no error" on solutions without one.
    pub acc_correct: f64,
    pub n_correct: usize,
    /// Harmonic mean of the two.
    pub f1: f64,
}

/// Predicted first error = first step scored below `threshold`; truth = the step
/// checker's first non-correct step.
pub fn first_error_f1(
    step_scores: &[Vec<f32>],
    truth: &[Option<u32>],
    threshold: f32,
) -> FirstErrorScore {
    let (mut ok_e, mut n_e, mut ok_c, mut n_c) = (0usize, 0usize, 0usize, 0usize);
    for (s, t) in step_scores.iter().zip(truth) {
        let pred = s.iter().position(|&x| x < threshold).map(|i| i as u32);
        match t {
            Some(_) => {
                n_e += 1;
                ok_e += (pred == *t) as usize;
            }
            None => {
                n_c += 1;
                ok_c += pred.is_none() as usize;
            }
        }
    }
    let ae = ok_e as f64 / n_e.max(1) as f64;
    let ac = ok_c as f64 / n_c.max(1) as f64;
    FirstErrorScore {
        acc_erroneous: ae,
        n_erroneous: n_e,
        acc_correct: ac,
        n_correct: n_c,
        f1: if ae + ac > 0.0 {
            2.0 * ae * ac / (ae + ac)
        } else {
            0.0
        },
    }
}

/// One bin of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
    pub mean_score: f64,
    /// Mean of the reference (MC soft label, or 1/0 step truth) in the bin.
    pub mean_target: f64,
}

/// Equal-width calibration table of `scores` against `targets` over `bins` bins.
pub fn calibration(scores: &[f32], targets: &[f32], bins: usize) -> Vec<CalibrationBin> {
    let mut acc = vec![(0usize, 0.0f64, 0.0f64); bins];
    for (&s, &t) in scores.iter().zip(targets) {
        let b = ((s.clamp(0.0, 1.0) * bins as f32) as usize).min(bins - 1);
        acc[b].0 += 1;
        acc[b].1 += s as f64;
        acc[b].2 += t as f64;
    }
    acc.into_iter()
        .enumerate()
        .map(|(b, (n, ss, ts))| CalibrationBin {
            lo: b as f64 / bins as f64,
            hi: (b + 1) as f64 / bins as f64,
            n,
            mean_score: ss / n.max(1) as f64,
            mean_target: ts / n.max(1) as f64,
        })
        .collect()
}

/// The samples whose steps the step checker judged (arith; MATH has no step truth).
pub fn judged_samples(samples: &[SampleRow]) -> std::collections::HashSet<(u32, u32)> {
    samples
        .iter()
        .filter(|s| !s.step_verdicts.is_empty())
        .map(|s| (s.question_index, s.sample_id))
        .collect()
}

/// Every step score of the judged samples beside its truth: steps before the sample's first
/// error are right.
pub fn steps_vs_truth(
    scored: &[ScoredSample],
    judged: &std::collections::HashSet<(u32, u32)>,
) -> (Vec<f32>, Vec<bool>) {
    let (mut sc, mut ok) = (Vec::new(), Vec::new());
    for s in scored
        .iter()
        .filter(|s| judged.contains(&(s.question_index, s.sample_id)))
    {
        let fe = s.first_error.map(|f| f as usize).unwrap_or(usize::MAX);
        for (k, &x) in s.step_scores.iter().enumerate() {
            sc.push(x);
            ok.push(k < fe);
        }
    }
    (sc, ok)
}

/// First-error F1 (threshold 0.5) over the judged samples with an answer, each step score
/// passed through `calibrate` first.
pub fn first_error_over(
    scored: &[ScoredSample],
    judged: &std::collections::HashSet<(u32, u32)>,
    calibrate: &dyn Fn(f32) -> f32,
) -> FirstErrorScore {
    let with_answer: Vec<&ScoredSample> = scored
        .iter()
        .filter(|s| s.answer.is_some())
        .filter(|s| judged.contains(&(s.question_index, s.sample_id)))
        .collect();
    let scores: Vec<Vec<f32>> = with_answer
        .iter()
        .map(|s| s.step_scores.iter().map(|&p| calibrate(p)).collect())
        .collect();
    let truth: Vec<Option<u32>> = with_answer.iter().map(|s| s.first_error).collect();
    first_error_f1(&scores, &truth, 0.5)
}

/// Each question's within-question AUROC of its samples' last-step scores (a sample
/// without steps scores 0), for the questions with right and wrong samples.
pub fn last_step_auroc_per_question(scored: &[ScoredSample]) -> Vec<(u32, f64)> {
    let rows: Vec<(u32, f32, bool)> = scored
        .iter()
        .map(|s| {
            let last = s.step_scores.last().copied().unwrap_or(0.0);
            (s.question_index, last, s.correct)
        })
        .collect();
    within_question_auroc(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_of_known_rankings() {
        assert_eq!(
            auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            auroc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(auroc(&[0.5, 0.5], &[false, true]), Some(0.5));
        // 1 of 4 positive/negative pairs misordered.
        assert_eq!(
            auroc(&[0.1, 0.6, 0.5, 0.9], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn within_question_auroc_ignores_what_separates_questions() {
        // Question 0 scores everything high, question 1 low: a pooled AUROC rewards that,
        // the within-question one sees only each question's own ranking.
        let s = [
            (0, 0.9, true),
            (0, 0.8, false),
            (1, 0.2, false),
            (1, 0.1, true),
            (2, 0.5, true), // only right samples: no AUROC
        ];
        assert_eq!(within_question_auroc(&s), vec![(0, 1.0), (1, 0.0)]);
    }

    #[test]
    fn first_error_f1_on_a_handmade_set() {
        let scores = vec![
            vec![0.9, 0.2, 0.1], // predicted error at 1
            vec![0.9, 0.8, 0.7], // predicted no error
            vec![0.3, 0.9],      // predicted error at 0
            vec![0.9, 0.9],      // predicted no error
        ];
        let truth = [Some(1), None, Some(1), Some(0)];
        let f = first_error_f1(&scores, &truth, 0.5);
        assert_eq!((f.n_erroneous, f.n_correct), (3, 1));
        assert!((f.acc_erroneous - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(f.acc_correct, 1.0);
        assert!((f.f1 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn calibration_bins_scores() {
        let c = calibration(&[0.05, 0.15, 0.95, 1.0], &[0.0, 1.0, 1.0, 1.0], 10);
        assert_eq!(c.len(), 10);
        assert_eq!((c[0].n, c[1].n, c[9].n), (1, 1, 2));
        assert_eq!(c[1].mean_target, 1.0);
    }
}
