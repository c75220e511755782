//! Final-answer selection over N solutions (DESIGN §8): majority voting, best-of-N
//! vanilla (highest score) and weighted (highest sum of scores per equivalent answer).
//!
//! Answers are grouped with the grader's equivalence (`1/2` and `0.5` vote together), in
//! sample order: each answer joins the first earlier group it is equivalent to.
//! **Tie rule**: equal totals (votes or score sums) go to the group that appears first
//! in sample order — never to whichever finished first. Solutions without an answer
//! neither vote nor win.

use ttc_task::grader::is_equivalent;

/// Groups of equivalent answers: (representative index, member indices), in first-seen order.
pub fn group_answers(answers: &[Option<&str>]) -> Vec<(usize, Vec<usize>)> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, a) in answers.iter().enumerate() {
        let Some(a) = a else { continue };
        match groups
            .iter_mut()
            .find(|(r, _)| answers[*r].is_some_and(|b| b == *a || is_equivalent(a, b)))
        {
            Some(g) => g.1.push(i),
            None => groups.push((i, vec![i])),
        }
    }
    groups
}

fn best_group(groups: &[(usize, Vec<usize>)], weight: impl Fn(&[usize]) -> f64) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for (r, m) in groups {
        let w = weight(m);
        if best.is_none_or(|(bw, _)| w > bw) {
            best = Some((w, *r));
        }
    }
    best.map(|(_, r)| r)
}

/// Index of the majority answer's first solution.
pub fn majority(answers: &[Option<&str>]) -> Option<usize> {
    best_group(&group_answers(answers), |m| m.len() as f64)
}

/// Index of the highest-scoring solution with an answer (first on ties).
pub fn best_of_n(answers: &[Option<&str>], scores: &[f32]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for i in 0..answers.len() {
        if answers[i].is_some() && best.is_none_or(|b| scores[i] > scores[b]) {
            best = Some(i);
        }
    }
    best
}

/// Index of the first solution of the answer with the highest summed score.
pub fn weighted_best_of_n(answers: &[Option<&str>], scores: &[f32]) -> Option<usize> {
    best_group(&group_answers(answers), |m| {
        m.iter().map(|&i| scores[i] as f64).sum()
    })
}

/// How a solution's step scores become one score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// The last step's score (Snell et al.'s choice).
    Last,
    Min,
    Prod,
    Mean,
}

impl Aggregation {
    pub fn apply(self, steps: &[f32]) -> f32 {
        if steps.is_empty() {
            return 0.0;
        }
        match self {
            Aggregation::Last => *steps.last().expect("non-empty"),
            Aggregation::Min => steps.iter().copied().fold(f32::INFINITY, f32::min),
            Aggregation::Prod => steps.iter().product(),
            Aggregation::Mean => steps.iter().sum::<f32>() / steps.len() as f32,
        }
    }

    /// The name in presets, flags and output labels.
    pub fn name(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Min => "min",
            Self::Prod => "prod",
            Self::Mean => "mean",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "last" => Some(Self::Last),
            "min" => Some(Self::Min),
            "prod" => Some(Self::Prod),
            "mean" => Some(Self::Mean),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_answers_vote_together_and_ties_go_to_the_first_group() {
        let a = [
            Some("0.5"),
            Some("3"),
            Some("\\frac{1}{2}"),
            Some("3"),
            None,
        ];
        assert_eq!(group_answers(&a), vec![(0, vec![0, 2]), (1, vec![1, 3])]);
        // 2 votes each: the first-seen group wins.
        assert_eq!(majority(&a), Some(0));
        assert_eq!(majority(&[None, None]), None);
    }

    #[test]
    fn weighted_sums_scores_and_vanilla_takes_the_max() {
        let a = [Some("7"), Some("8"), Some("8"), None];
        let s = [0.9, 0.5, 0.5, 1.0];
        assert_eq!(best_of_n(&a, &s), Some(0));
        assert_eq!(weighted_best_of_n(&a, &s), Some(1));
        // Equal sums: first group.
        assert_eq!(weighted_best_of_n(&a, &[1.0, 0.5, 0.5, 0.0]), Some(0));
        assert_eq!(best_of_n(&a, &[0.5, 0.5, 0.1, 0.0]), Some(0));
    }

    #[test]
    fn aggregations() {
        let s = [0.9, 0.5, 0.8];
        assert_eq!(Aggregation::Last.apply(&s), 0.8);
        assert_eq!(Aggregation::Min.apply(&s), 0.5);
        assert!((Aggregation::Prod.apply(&s) - 0.36).abs() < 1e-6);
        assert!((Aggregation::Mean.apply(&s) - 2.2 / 3.0).abs() < 1e-6);
    }
}
