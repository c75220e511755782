//! Step checker for arith: the per-step ground truth no MATH-based study has (DESIGN §2).
//!
//! Works on any solution text, not only ours. The problem text is parsed into its
//! definitions; the solution is split at the step delimiter and each step judged:
//! - a derivation `v = e0 = e1 = … = en` is `Correct` iff `v` is a variable of the
//!   problem and every `ei` (numbers, problem variables, `+ - * div mod`, parentheses)
//!   evaluates to `v`'s true value; `Wrong` if any segment evaluates to something else or
//!   names an unknown variable; `Malformed` if it does not parse;
//! - an answer step (`\boxed{…}` or "The answer is …") is `Correct` iff the stated integer
//!   is the true answer and nothing follows it; `Malformed` without a parsable integer;
//! - anything after the answer step is `Malformed`.
//!
//! The first non-correct step is the first error (the ProcessBench label).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::arith_expr::{Expr, parse_expr};
use crate::grader::extract_answer;
use crate::{Error, Result, STEP_DELIMITER};

/// The verdict on one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepVerdict {
    Correct,
    Wrong,
    Malformed,
}

/// The verdicts on a whole solution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCheck {
    pub verdicts: Vec<StepVerdict>,
    /// Index of the first step that is not `Correct`.
    pub first_error: Option<usize>,
    /// The solution ends in an answer step stating the right answer.
    pub answer_correct: bool,
    /// The solution has an answer step.
    pub has_answer: bool,
}

/// An arith problem parsed back from its text.
#[derive(Debug, Clone)]
pub struct ArithProblem {
    /// Variable → (defining expression, true value), in definition order.
    pub defs: Vec<(char, Expr, i64)>,
    pub target: char,
    env: HashMap<char, i64>,
}

impl ArithProblem {
    /// Parse `Let a = 47. Let b = a * 3 - 18. … What is c?`.
    pub fn parse(text: &str) -> Result<ArithProblem> {
        let err = |m: String| Error::Parse(format!("arith problem: {m}: {text:?}"));
        let text = text.trim();
        let q = text
            .rfind("What is ")
            .ok_or_else(|| err("no `What is` question".into()))?;
        let target_str = text[q + 8..].trim().trim_end_matches('?').trim();
        let mut tc = target_str.chars();
        let target = match (tc.next(), tc.next()) {
            (Some(c), None) if c.is_ascii_lowercase() => c,
            _ => return Err(err(format!("bad target `{target_str}`"))),
        };
        let mut defs = Vec::new();
        let mut env = HashMap::new();
        for stmt in text[..q]
            .split('.')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let body = stmt
                .strip_prefix("Let ")
                .ok_or_else(|| err(format!("statement `{stmt}` does not start with `Let`")))?;
            let (var, expr) = body
                .split_once('=')
                .ok_or_else(|| err(format!("statement `{stmt}` has no `=`")))?;
            let var = var.trim();
            let v = match var.chars().collect::<Vec<_>>()[..] {
                [c] if c.is_ascii_lowercase() => c,
                _ => return Err(err(format!("bad variable `{var}`"))),
            };
            let e = parse_expr(expr).map_err(|m| err(format!("in `{stmt}`: {m}")))?;
            let value = e
                .eval(&env)
                .ok_or_else(|| err(format!("`{stmt}` cannot be evaluated")))?;
            env.insert(v, value);
            defs.push((v, e, value));
        }
        if !env.contains_key(&target) {
            return Err(err(format!("target `{target}` is never defined")));
        }
        Ok(ArithProblem { defs, target, env })
    }

    /// The true answer.
    pub fn answer(&self) -> i64 {
        self.env[&self.target]
    }

    /// Judge every step of `solution`.
    pub fn check(&self, solution: &str) -> StepCheck {
        let mut steps: Vec<&str> = solution.split(STEP_DELIMITER).map(str::trim).collect();
        // A trailing delimiter (the sampler keeps it) does not open an empty step.
        while steps.last().is_some_and(|s| s.is_empty()) {
            steps.pop();
        }
        let mut verdicts = Vec::with_capacity(steps.len());
        let mut answer_at = None;
        let mut answer_value = None;
        for (i, step) in steps.iter().enumerate() {
            if answer_at.is_some() {
                verdicts.push(StepVerdict::Malformed);
                continue;
            }
            if is_answer_step(step) {
                answer_at = Some(i);
                answer_value = extract_answer(step).and_then(|a| parse_int(&a));
                verdicts.push(match answer_value {
                    None => StepVerdict::Malformed,
                    Some(v) if v == self.answer() => StepVerdict::Correct,
                    Some(_) => StepVerdict::Wrong,
                });
            } else {
                verdicts.push(self.check_derivation(step));
            }
        }
        let first_error = verdicts.iter().position(|v| *v != StepVerdict::Correct);
        StepCheck {
            answer_correct: answer_at.is_some()
                && answer_at == Some(steps.len() - 1)
                && answer_value == Some(self.answer()),
            has_answer: answer_at.is_some(),
            verdicts,
            first_error,
        }
    }

    fn check_derivation(&self, step: &str) -> StepVerdict {
        let mut parts = step.split('=').map(str::trim);
        let lhs = parts.next().unwrap_or("");
        let segments: Vec<&str> = parts.collect();
        let var = match lhs.chars().collect::<Vec<_>>()[..] {
            [c] if c.is_ascii_lowercase() => c,
            _ => return StepVerdict::Malformed,
        };
        if segments.is_empty() {
            return StepVerdict::Malformed;
        }
        let Some(&truth) = self.env.get(&var) else {
            return StepVerdict::Wrong;
        };
        let mut verdict = StepVerdict::Correct;
        for seg in segments {
            match parse_expr(seg) {
                Err(_) => return StepVerdict::Malformed,
                Ok(e) => {
                    if e.eval(&self.env) != Some(truth) {
                        verdict = StepVerdict::Wrong;
                    }
                }
            }
        }
        verdict
    }
}

fn is_answer_step(step: &str) -> bool {
    step.contains("\\boxed") || step.contains("The answer is")
}

fn parse_int(s: &str) -> Option<i64> {
    let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    t.trim_end_matches('.').parse().ok()
}

/// Convenience: parse `problem` and check `solution`.
pub fn check_solution(problem: &str, solution: &str) -> Result<StepCheck> {
    Ok(ArithProblem::parse(problem)?.check(solution))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arith::{ArithConfig, generate};

    const P: &str = "Let a = 47. Let b = a * 3 - 18. Let c = b mod 7 + a. What is c?";
    const S: &str = "b = 47 * 3 - 18 = 141 - 18 = 123\n\nc = 123 mod 7 + 47 = 4 + 47 = 51\n\nThe answer is \\boxed{51}.";

    #[test]
    fn design_example_is_all_correct() {
        let c = check_solution(P, S).unwrap();
        assert_eq!(c.verdicts, vec![StepVerdict::Correct; 3]);
        assert_eq!(c.first_error, None);
        assert!(c.answer_correct);
    }

    #[test]
    fn every_reference_solution_is_all_correct() {
        let s = generate(&ArithConfig::tiny()).unwrap();
        for p in s.train.iter().chain(&s.val).chain(&s.test) {
            let c = check_solution(&p.problem, &p.solution).unwrap();
            assert!(c.first_error.is_none(), "{p:?} -> {c:?}");
            assert!(c.answer_correct);
            assert_eq!(c.verdicts.len(), p.steps.as_ref().unwrap().len() + 1);
        }
    }

    /// Change the last number of step k by +1: the checker must flag exactly step k first.
    #[test]
    fn mutated_step_is_flagged_at_k() {
        let s = generate(&ArithConfig::tiny()).unwrap();
        for p in &s.test {
            let steps: Vec<&str> = p.solution.split(STEP_DELIMITER).collect();
            for k in 0..steps.len() {
                let mut mutated: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
                mutated[k] = bump_last_number(&mutated[k]);
                let c = check_solution(&p.problem, &mutated.join(STEP_DELIMITER)).unwrap();
                assert_eq!(c.first_error, Some(k), "{:?}", mutated[k]);
                assert_eq!(c.verdicts[k], StepVerdict::Wrong);
            }
        }
    }

    fn bump_last_number(s: &str) -> String {
        let b = s.as_bytes();
        let end = b.iter().rposition(|c| c.is_ascii_digit()).unwrap() + 1;
        let mut start = end;
        while start > 0 && b[start - 1].is_ascii_digit() {
            start -= 1;
        }
        let n: i64 = s[start..end].parse().unwrap();
        format!("{}{}{}", &s[..start], n + 1, &s[end..])
    }

    #[test]
    fn garbage_is_malformed_never_panics() {
        for g in [
            "",
            "\n\n",
            "hello world",
            "b = = =",
            "b = 3 +",
            "= 5",
            "b = 123\n\n\n\nc = 51",
            "b = ((((((",
            "The answer is \\boxed{",
            "\u{1F600} = 3",
            "b = 99999999999999999999999999",
        ] {
            let c = check_solution(P, g).unwrap();
            assert!(
                c.verdicts.iter().all(|v| *v != StepVerdict::Correct) || c.verdicts.len() > 1,
                "{g:?} -> {c:?}"
            );
            assert!(!c.answer_correct);
        }
        let c = check_solution(P, "b = 3 +").unwrap();
        assert_eq!(c.verdicts, vec![StepVerdict::Malformed]);
        let c = check_solution(P, "hello world").unwrap();
        assert_eq!(c.verdicts, vec![StepVerdict::Malformed]);
    }

    #[test]
    fn other_phrasings_are_judged_by_value() {
        // Skipping the trace, a trailing delimiter, variables left in: still correct.
        let c = check_solution(P, "b = 123\n\nc = b mod 7 + a = 51\n\n\\boxed{51}\n\n").unwrap();
        assert_eq!(c.verdicts, vec![StepVerdict::Correct; 3]);
        // Right final number reached through a wrong intermediate: wrong.
        let c = check_solution(P, "b = 47 * 3 - 18 = 140 - 18 = 123").unwrap();
        assert_eq!(c.verdicts, vec![StepVerdict::Wrong]);
        // Text after the answer is malformed; the answer no longer counts as final.
        let c = check_solution(P, "c = 51\n\n\\boxed{51}\n\nc = 51").unwrap();
        assert_eq!(c.verdicts[2], StepVerdict::Malformed);
        assert!(!c.answer_correct);
        // Unknown variable.
        let c = check_solution(P, "z = 5").unwrap();
        assert_eq!(c.verdicts, vec![StepVerdict::Wrong]);
        assert!(ArithProblem::parse("What is love?").is_err());
    }
}
