//! Arith solutions with one arithmetic slip: the reference solution of a problem with one
//! operation's result (or one substituted value) off by a small amount, and every later
//! step computed from the wrong value, as the policy's own slips read
//! (`c = 7 + b = 7 + 8 = 14`, then `d = c * 2 = 14 * 2 = 28`).
//!
//! Only a synthetic task can write these: the step truth says exactly which step is the
//! first wrong one, with no rollout. Paired with the reference solution they are the
//! contrast a verifier has to learn — two solutions of one question that differ in one
//! number — which Monte Carlo labels on a few thousand policy samples teach too rarely.

use std::collections::{HashMap, HashSet};

use rand::RngExt;
use rand::rngs::StdRng;

use crate::arith_expr::{Atom, FlatExpr};
use crate::problem::Problem;
use crate::step_checker::ArithProblem;
use crate::{STEP_DELIMITER, steps::split_steps};

/// A solution with one slip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlippedSolution {
    /// Its steps, the answer step last.
    pub steps: Vec<String>,
    /// The step that slipped: the first wrong one (the step checker agrees).
    pub first_error: usize,
}

/// The reference solution's steps, split as samples are.
pub fn reference_steps(problem: &Problem) -> Vec<String> {
    split_steps(&problem.solution)
}

/// Where in its step the slip happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlipAt {
    /// A variable's value copied wrong into the expression.
    Substitution,
    /// The result of the `k`-th operation evaluated.
    Operation(usize),
}

/// A seeded slipped solution of `problem` (an arith problem with its step truth). `None`
/// when the problem has no step truth or the draw does not make a wrong answer (a later
/// `mod` can absorb a slip); callers draw again or move on.
pub fn slipped_solution(problem: &Problem, rng: &mut StdRng) -> Option<SlippedSolution> {
    let truths = problem.steps.as_ref()?;
    if truths.is_empty() {
        return None;
    }
    let parsed = ArithProblem::parse(&problem.problem).ok()?;
    let step_vars: HashSet<char> = truths.iter().filter_map(|t| t.var.chars().next()).collect();
    let mut env: HashMap<char, i64> = parsed
        .defs
        .iter()
        .filter(|(v, _, _)| !step_vars.contains(v))
        .map(|(v, _, x)| (*v, *x))
        .collect();
    let at = rng.random_range(0..truths.len());
    let magnitude = rng.random_range(1..=10i64);
    let delta = if rng.random_bool(0.5) {
        magnitude
    } else {
        -magnitude
    };
    let mut steps = Vec::with_capacity(truths.len() + 1);
    let mut value = 0;
    for (j, t) in truths.iter().enumerate() {
        let var = t.var.chars().next()?;
        let expr = parse_flat(&t.expr)?;
        let mut cur = expr.substitute(&env)?;
        let slip = (j == at).then(|| {
            let vars: Vec<usize> = (0..expr.atoms.len())
                .filter(|&k| matches!(expr.atoms[k], Atom::Var(_)))
                .collect();
            let options = cur.ops.len() + usize::from(!vars.is_empty());
            match rng.random_range(0..options) {
                k if k < cur.ops.len() => SlipAt::Operation(k),
                _ => {
                    let k = vars[rng.random_range(0..vars.len())];
                    if let Atom::Num(n) = cur.atoms[k] {
                        cur.atoms[k] = Atom::Num(n + delta);
                    }
                    SlipAt::Substitution
                }
            }
        });
        let restated = t.text.starts_with(&format!("{var} = {} = ", t.expr));
        let mut text = if restated {
            format!("{var} = {} = {}", t.expr, cur.render())
        } else {
            format!("{var} = {}", cur.render())
        };
        let mut k = 0;
        while !cur.ops.is_empty() {
            let off = if slip == Some(SlipAt::Operation(k)) {
                delta
            } else {
                0
            };
            cur = cur.reduce_once_off_by(off)?;
            text.push_str(" = ");
            text.push_str(&cur.render());
            k += 1;
        }
        value = match cur.atoms.first()? {
            Atom::Num(n) => *n,
            Atom::Var(_) => return None,
        };
        env.insert(var, value);
        steps.push(text);
    }
    steps.push(format!("The answer is \\boxed{{{value}}}."));
    let check = parsed.check(&steps.join(STEP_DELIMITER));
    (check.first_error == Some(at) && !check.answer_correct).then_some(SlippedSolution {
        steps,
        first_error: at,
    })
}

/// A definition as the problem renders it (`b * 3 - 18`, `a mod 7 + 4`): numbers and
/// one-letter variables between operators.
fn parse_flat(text: &str) -> Option<FlatExpr> {
    let mut atoms = Vec::new();
    let mut ops = Vec::new();
    for (i, tok) in text.split_whitespace().enumerate() {
        if i % 2 == 1 {
            ops.push(crate::arith_expr::Op::from_symbol(tok)?);
        } else if let Ok(n) = tok.parse::<i64>() {
            atoms.push(Atom::Num(n));
        } else {
            let mut cs = tok.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) if c.is_ascii_lowercase() => atoms.push(Atom::Var(c)),
                _ => return None,
            }
        }
    }
    (atoms.len() == ops.len() + 1).then_some(FlatExpr { atoms, ops })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::arith::{ArithConfig, generate};
    use crate::step_checker::check_solution;

    #[test]
    fn a_slip_is_the_first_error_and_the_answer_is_wrong() {
        let splits = generate(&ArithConfig::tiny()).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut made = 0;
        let mut at_each = HashSet::new();
        for p in &splits.train {
            // The reference itself is right at every step.
            let reference = check_solution(&p.problem, &p.solution).unwrap();
            assert_eq!(reference.first_error, None, "{}", p.solution);
            let Some(s) = slipped_solution(p, &mut rng) else {
                continue;
            };
            made += 1;
            at_each.insert(s.first_error);
            let check = check_solution(&p.problem, &s.steps.join(STEP_DELIMITER)).unwrap();
            assert_eq!(check.first_error, Some(s.first_error));
            assert!(check.has_answer && !check.answer_correct);
            let reference = reference_steps(p);
            assert_eq!(s.steps.len(), reference.len());
            // Steps before the slip are the reference's, word for word.
            assert_eq!(s.steps[..s.first_error], reference[..s.first_error]);
            assert_ne!(s.steps[s.first_error], reference[s.first_error]);
        }
        assert!(
            made * 10 >= splits.train.len() * 8,
            "{made} of {}",
            splits.train.len()
        );
        assert!(at_each.len() > 1, "slips land on more than one step");
    }

    #[test]
    fn the_same_seed_makes_the_same_slips() {
        let splits = generate(&ArithConfig::tiny()).unwrap();
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            splits
                .train
                .iter()
                .map(|p| slipped_solution(p, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn definitions_parse_back_to_what_they_render() {
        for text in ["b * 3 - 18", "a mod 7 + 4", "c div 2", "12 + d"] {
            assert_eq!(parse_flat(text).unwrap().render(), text);
        }
        assert!(parse_flat("b *").is_none());
        assert!(parse_flat("bb + 1").is_none());
    }
}
