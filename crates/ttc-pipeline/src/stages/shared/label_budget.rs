//! `[prm] label_questions` / `label_rollouts` (DESIGN §6, lever (d)): the PRM trains on a
//! smaller labelling budget cut from the labels already drawn, so fewer questions with many
//! rollouts and more questions with fewer rollouts can be compared at the same rollout cost
//! without a second labelling run.
//!
//! - **Questions:** only the first `label_questions` labelled train questions (by question
//!   index) keep their samples and labels.
//! - **Rollouts:** each rolled-out step is relabelled from `label_rollouts` of its rollouts,
//!   drawn without replacement (a hypergeometric draw from its `rollouts` and
//!   `correct_rollouts`). The rollouts of a step are exchangeable draws, so the new count is
//!   distributed exactly as a labelling run with that many rollouts per step would give.
//!
//! The held-out questions are left whole: every variant validates on the same labels.

use std::collections::{BTreeSet, HashSet};

use anyhow::{Result, bail};
use ttc_core::seed::derive_seed;
use ttc_data::rows::{LabelRow, SampleRow};

/// The budget a PRM's labels are cut to.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LabelBudget {
    pub questions: Option<usize>,
    pub rollouts: Option<usize>,
    /// Seeds the rollout draws.
    pub seed: u64,
}

/// What the cut kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetCut {
    pub questions: usize,
    pub of_questions: usize,
    /// Rollouts behind the train labels: all of them, and those the cut ones stand for.
    pub rollouts_before: u64,
    pub rollouts_after: u64,
}

/// Cut the train part (questions outside `val_q`) of `samples` / `labels` to `budget`.
/// Errors name the key: more rollouts or questions than the labels hold.
pub fn cut(
    samples: &mut Vec<SampleRow>,
    labels: &mut Vec<LabelRow>,
    val_q: &HashSet<u32>,
    budget: LabelBudget,
) -> Result<BudgetCut> {
    let train_q: BTreeSet<u32> = labels
        .iter()
        .map(|l| l.question_index)
        .filter(|q| !val_q.contains(q))
        .collect();
    let of_questions = train_q.len();
    let keep: BTreeSet<u32> = match budget.questions {
        None => train_q,
        Some(0) => bail!("prm.label_questions = 0: the PRM needs at least one question"),
        Some(n) if n > of_questions => bail!(
            "prm.label_questions = {n}: the labels hold only {of_questions} train questions (outside the held-out ones)"
        ),
        Some(n) => train_q.into_iter().take(n).collect(),
    };
    let before: u64 = labels
        .iter()
        .filter(|l| !val_q.contains(&l.question_index))
        .map(|l| l.rollouts as u64)
        .sum();
    let in_budget = |q: u32| val_q.contains(&q) || keep.contains(&q);
    labels.retain(|l| in_budget(l.question_index));
    samples.retain(|s| in_budget(s.question_index));
    let mut after = 0u64;
    for l in labels
        .iter_mut()
        .filter(|l| !val_q.contains(&l.question_index))
    {
        if let (Some(r), true) = (budget.rollouts, l.rollouts > 0) {
            if r == 0 || r > l.rollouts as usize {
                bail!(
                    "prm.label_rollouts = {r}: question {} sample {} step {} has {} rollouts (use 1 to {})",
                    l.question_id,
                    l.sample_id,
                    l.step_index,
                    l.rollouts,
                    l.rollouts
                );
            }
            let item = ((l.sample_id as u64) << 32) | l.step_index as u64;
            let s = derive_seed(budget.seed, l.question_index as u64, item);
            let k = hypergeometric(l.rollouts, l.correct_rollouts, r as u32, s);
            l.rollouts = r as u32;
            l.correct_rollouts = k;
            l.soft = k as f32 / r as f32;
            l.hard = k > 0;
        }
        after += l.rollouts as u64;
    }
    Ok(BudgetCut {
        questions: keep.len(),
        of_questions,
        rollouts_before: before,
        rollouts_after: after,
    })
}

/// Successes among `draws` drawn without replacement from `n` items of which `good` are
/// successes; each draw's coin is its own seed's.
fn hypergeometric(n: u32, good: u32, draws: u32, seed: u64) -> u32 {
    let (mut n, mut good, mut k) = (n as u64, good as u64, 0u32);
    for t in 0..draws as u64 {
        let u = derive_seed(seed, t, 0) >> 11; // 53 bits, uniform in [0, 2^53)
        if (u as u128) * (n as u128) < (good as u128) << 53 {
            good -= 1;
            k += 1;
        }
        n -= 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::shared::prm_data::test_label as label;

    fn sample(q: u32, id: u32) -> SampleRow {
        SampleRow {
            question_id: format!("q{q}"),
            question_index: q,
            sample_id: id,
            ..Default::default()
        }
    }

    #[test]
    fn hypergeometric_draws_stay_in_range_and_match_the_mean() {
        // All right or all wrong: the draw has no choice.
        assert_eq!(hypergeometric(8, 8, 4, 1), 4);
        assert_eq!(hypergeometric(8, 0, 4, 1), 0);
        assert_eq!(hypergeometric(8, 3, 8, 1), 3);
        // 3 of 8 right, 4 drawn: mean 1.5, at most 3.
        let draws: Vec<u32> = (0..20_000).map(|s| hypergeometric(8, 3, 4, s)).collect();
        assert!(draws.iter().all(|&k| k <= 3));
        let mean = draws.iter().sum::<u32>() as f64 / draws.len() as f64;
        assert!((mean - 1.5).abs() < 0.03, "mean {mean}");
        // P(k = 0) = C(5,4)/C(8,4) = 5/70.
        let p0 = draws.iter().filter(|&&k| k == 0).count() as f64 / draws.len() as f64;
        assert!((p0 - 5.0 / 70.0).abs() < 0.01, "P(0) {p0}");
    }

    #[test]
    fn cut_keeps_the_first_train_questions_and_every_held_out_one() {
        let mut labels = vec![
            label(0, 0, 0, 8, 4),
            label(0, 0, 1, 0, 1),
            label(1, 0, 0, 8, 8),
            label(2, 0, 0, 8, 2),
            label(3, 0, 0, 8, 0),
        ];
        let mut samples = (0..4).map(|q| sample(q, 0)).collect();
        let val: HashSet<u32> = [1].into();
        let budget = LabelBudget {
            questions: Some(2),
            rollouts: Some(2),
            seed: 7,
        };
        let cut = cut(&mut samples, &mut labels, &val, budget).unwrap();
        assert_eq!((cut.questions, cut.of_questions), (2, 3));
        let qs: Vec<u32> = labels.iter().map(|l| l.question_index).collect();
        assert_eq!(qs, vec![0, 0, 1, 2]);
        assert_eq!(samples.len(), 3);
        // Train steps with rollouts now have 2; the last step (0 rollouts) and the held-out
        // question are unchanged.
        assert_eq!(labels[0].rollouts, 2);
        assert_eq!(labels[0].soft, labels[0].correct_rollouts as f32 / 2.0);
        assert_eq!((labels[1].rollouts, labels[1].soft), (0, 1.0));
        assert_eq!((labels[2].rollouts, labels[2].soft), (8, 1.0));
        assert_eq!(labels[3].rollouts, 2);
        assert_eq!((cut.rollouts_before, cut.rollouts_after), (24, 4));
        // Same seed, same labels.
        let mut again = vec![label(0, 0, 0, 8, 4), label(2, 0, 0, 8, 2)];
        cut_again(&mut again, 7);
        assert_eq!(again[0].correct_rollouts, labels[0].correct_rollouts);
        assert_eq!(again[1].correct_rollouts, labels[3].correct_rollouts);
    }

    fn cut_again(labels: &mut Vec<LabelRow>, seed: u64) {
        let budget = LabelBudget {
            questions: None,
            rollouts: Some(2),
            seed,
        };
        cut(&mut Vec::new(), labels, &HashSet::new(), budget).unwrap();
    }

    #[test]
    fn a_budget_beyond_the_labels_is_an_error_naming_its_key() {
        let mut labels = vec![label(0, 0, 0, 4, 1)];
        let none = HashSet::new();
        let too_many_q = LabelBudget {
            questions: Some(5),
            ..Default::default()
        };
        let e = cut(&mut Vec::new(), &mut labels.clone(), &none, too_many_q).unwrap_err();
        assert!(e.to_string().contains("prm.label_questions = 5"), "{e}");
        let too_many_r = LabelBudget {
            rollouts: Some(8),
            ..Default::default()
        };
        let e = cut(&mut Vec::new(), &mut labels, &none, too_many_r).unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("prm.label_rollouts = 8") && e.contains("has 4 rollouts"),
            "{e}"
        );
    }
}
