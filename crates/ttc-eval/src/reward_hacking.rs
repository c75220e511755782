//! Reward hacking, measured with the step checker's truth: how often selection over a
//! verifier's scores picks a solution holding a wrong step the verifier scored above 0.5 — a
//! step it was fooled by, not merely a wrong final answer.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use ttc_data::rows::ScoredSample;
use ttc_search::select::{best_of_n, weighted_best_of_n};

/// Shares of questions whose pick at N holds a wrong step scored above 0.5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HackingRow {
    pub n: usize,
    /// Questions with N samples whose picks the step checker judged.
    pub questions: usize,
    pub best_of_n: f64,
    pub weighted_best_of_n: f64,
}

/// Whether `s` has a step at or after its first error (the wrong steps: a step is right
/// only while every step so far is) that scored above 0.5.
fn fooled(s: &ScoredSample) -> bool {
    fooled_at(s.first_error.map(|f| f as usize), &s.step_scores)
}

/// Whether a step at or after `first_error` scored above 0.5 in `step_scores`.
pub fn fooled_at(first_error: Option<usize>, step_scores: &[f32]) -> bool {
    first_error.is_some_and(|f| step_scores.iter().skip(f).any(|&x| x > 0.5))
}

/// Over each question's first `n` samples (sample order): best-of-N's and weighted
/// best-of-N's pick (weighted: the best-scored sample of the winning answer), judged by the
/// step checker. `None` when no question has `n` judged picks.
pub fn reward_hacking(
    scored: &[ScoredSample],
    judged: &HashSet<(u32, u32)>,
    n: usize,
) -> Option<HackingRow> {
    let mut by_q: BTreeMap<u32, Vec<&ScoredSample>> = BTreeMap::new();
    for s in scored {
        by_q.entry(s.question_index).or_default().push(s);
    }
    let (mut questions, mut hits) = (0usize, [0usize; 2]);
    for ss in by_q.values().filter(|ss| ss.len() >= n && n > 0) {
        let sub = &ss[..n];
        let answers: Vec<Option<&str>> = sub.iter().map(|s| s.answer.as_deref()).collect();
        let last: Vec<f32> = sub
            .iter()
            .map(|s| s.step_scores.last().copied().unwrap_or(0.0))
            .collect();
        // Weighted: the best-scored solution of the winning answer.
        let weighted = weighted_best_of_n(&answers, &last).map(|w| {
            (0..n)
                .filter(|&i| answers[i] == answers[w])
                .fold(w, |b, i| if last[i] > last[b] { i } else { b })
        });
        let picks = [best_of_n(&answers, &last), weighted];
        let judged_pick = |i: Option<usize>| {
            i.map(|i| sub[i])
                .filter(|s| judged.contains(&(s.question_index, s.sample_id)))
        };
        let [Some(b), Some(w)] = picks.map(judged_pick) else {
            continue;
        };
        questions += 1;
        hits[0] += fooled(b) as usize;
        hits[1] += fooled(w) as usize;
    }
    (questions > 0).then(|| HackingRow {
        n,
        questions,
        best_of_n: hits[0] as f64 / questions as f64,
        weighted_best_of_n: hits[1] as f64 / questions as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(q: u32, id: u32, answer: &str, first_error: Option<u32>, scores: &[f32]) -> ScoredSample {
        ScoredSample {
            question_id: format!("q{q}"),
            question_index: q,
            level: 1,
            sample_id: id,
            answer: Some(answer.into()),
            correct: first_error.is_none(),
            first_error,
            step_scores: scores.to_vec(),
        }
    }

    #[test]
    fn a_pick_is_hacked_when_a_wrong_step_scored_above_a_half() {
        let rows = vec![
            // Question 0: the top last-step score is a solution whose step 1 is wrong and
            // scored 0.9: both picks are fooled (its answer also wins the weighted vote).
            s(0, 0, "5", Some(1), &[0.9, 0.9, 0.95]),
            s(0, 1, "7", None, &[0.8, 0.7, 0.6]),
            // Question 1: best-of-N picks a wrong solution whose wrong steps all scored
            // ≤ 0.5 (wrong, not fooled); the weighted vote picks the right answer.
            s(1, 0, "3", Some(0), &[0.5, 0.4, 0.45]),
            s(1, 1, "4", None, &[0.5, 0.5, 0.3]),
            s(1, 2, "4", None, &[0.5, 0.5, 0.3]),
            // Question 2: only one sample — not counted at N = 2.
            s(2, 0, "1", Some(0), &[0.9]),
        ];
        let judged: HashSet<(u32, u32)> = rows
            .iter()
            .map(|r| (r.question_index, r.sample_id))
            .collect();
        let r = reward_hacking(&rows, &judged, 2).unwrap();
        assert_eq!(r.questions, 2);
        assert_eq!(r.best_of_n, 0.5);
        assert_eq!(r.weighted_best_of_n, 0.5);
        // A step scored above 0.5 only before the first error does not count.
        assert!(!fooled(&s(3, 0, "1", Some(2), &[0.9, 0.9, 0.2])));
        // Unjudged picks (MATH: no step truth) leave nothing to measure.
        assert!(reward_hacking(&rows, &HashSet::new(), 2).is_none());
    }
}
