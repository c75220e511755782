//! What a solution text says about a problem: the graded final answer and, for the arith
//! task, the true verdict of every step (DESIGN §2–§3). Shared by sampling, chains and search.

use ttc_task::Problem;
use ttc_task::grader::{extract_answer, is_equivalent};
use ttc_task::step_checker::{ArithProblem, StepVerdict};
use ttc_task::steps::{join_steps, split_steps};

/// What a solution text says about a problem: answer, correctness, true step verdicts.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub steps: Vec<String>,
    pub answer: Option<String>,
    pub correct: bool,
    pub step_verdicts: Vec<String>,
    pub first_error: Option<u32>,
}

fn verdict_name(v: StepVerdict) -> &'static str {
    match v {
        StepVerdict::Correct => "correct",
        StepVerdict::Wrong => "wrong",
        StepVerdict::Malformed => "malformed",
    }
}

/// Judge `text` as a solution of `p`: graded answer, and for arith the true verdict of
/// every step.
pub fn judge(p: &Problem, arith: Option<&ArithProblem>, text: &str) -> Judgement {
    let steps = split_steps(text);
    let answer = extract_answer(text);
    let correct = answer
        .as_deref()
        .is_some_and(|a| is_equivalent(a, &p.answer));
    let (step_verdicts, first_error) = match arith {
        Some(a) => {
            let c = a.check(&join_steps(&steps));
            (
                c.verdicts
                    .iter()
                    .map(|&v| verdict_name(v).to_string())
                    .collect(),
                c.first_error.map(|i| i as u32),
            )
        }
        None => (Vec::new(), None),
    };
    Judgement {
        steps,
        answer,
        correct,
        step_verdicts,
        first_error,
    }
}

/// The arith parse of a problem, when it is one.
pub fn arith_of(p: &Problem) -> Option<ArithProblem> {
    (p.subject == "arith")
        .then(|| ArithProblem::parse(&p.problem).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem() -> Problem {
        Problem {
            problem: "Let a = 47. Let b = a * 3 - 18. Let c = b mod 7 + a. What is c?".into(),
            solution: String::new(),
            answer: "51".into(),
            subject: "arith".into(),
            level: 2,
            unique_id: "q".into(),
            steps: None,
        }
    }

    #[test]
    fn judge_grades_and_checks_steps() {
        let p = problem();
        let a = arith_of(&p).unwrap();
        let j = judge(
            &p,
            Some(&a),
            "b = 123\n\nc = 123 mod 7 + 47 = 5 + 47 = 52\n\nThe answer is \\boxed{52}.",
        );
        assert_eq!(j.steps.len(), 3);
        assert_eq!(j.answer.as_deref(), Some("52"));
        assert!(!j.correct);
        assert_eq!(j.step_verdicts, vec!["correct", "wrong", "wrong"]);
        assert_eq!(j.first_error, Some(1));
        let j = judge(&p, Some(&a), "b = 123\n\nc = 51\n\n\\boxed{51}\n\n");
        assert!(j.correct);
        assert_eq!(j.first_error, None);
        let j = judge(&p, None, "no answer here");
        assert_eq!((j.answer, j.correct, j.first_error), (None, false, None));
    }
}
