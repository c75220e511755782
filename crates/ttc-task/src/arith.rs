//! The synthetic `arith` task (DESIGN §2): a chain of variable definitions whose answer is
//! the last variable, with a reference solution that evaluates one operation per `=`.
//!
//! ```text
//! Problem: Let a = 47. Let b = a * 3 - 18. Let c = b mod 7 + a. What is c?
//! b = 47 * 3 - 18 = 141 - 18 = 123
//!
//! c = 123 mod 7 + 47 = 4 + 47 = 51
//!
//! The answer is \boxed{51}.
//! ```
//! Difficulty is ours to set: each level 1–5 is a knob setting (steps, operations per
//! step, operand magnitude, operator mix); a problem's `level` is the setting it was
//! drawn from. Generation is seeded and byte-reproducible.

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::arith_expr::{Atom, FlatExpr, Op};
use crate::problem::{Problem, StepTruth};
use crate::{Error, Result, STEP_DELIMITER};

/// Knobs of one difficulty level. Ranges are inclusive `[min, max]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelKnobs {
    /// Number of derived variables = solution steps before the answer.
    pub steps: [u32; 2],
    /// Binary operations per definition.
    pub ops: [u32; 2],
    /// Literal operands are drawn from `1..=max_operand`.
    pub max_operand: i64,
    /// Operator mix, from `+ - * div mod`.
    pub operators: Vec<String>,
    /// Number of constant definitions (`Let a = 47.`) before the chain.
    #[serde(default = "default_constants")]
    pub constants: [u32; 2],
}

fn default_constants() -> [u32; 2] {
    [1, 2]
}

/// Generator config: split sizes, seed, and the five levels' knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArithConfig {
    pub train: usize,
    pub val: usize,
    pub test: usize,
    #[serde(default)]
    pub seed: u64,
    /// Largest magnitude any intermediate value may reach; larger draws are redrawn.
    #[serde(default = "default_max_value")]
    pub max_value: i64,
    /// Largest divisor of `div` / `mod`.
    #[serde(default = "default_max_divisor")]
    pub max_divisor: i64,
    /// Reference solutions restate each definition before substituting values
    /// (`c = b + 9 = 15 + 9 = 24`): one lookup per `=`, which small models learn far faster
    /// than substituting and copying in one go.
    #[serde(default = "default_restate")]
    pub restate: bool,
    /// Knobs of levels 1..=5, easiest first.
    #[serde(default = "ArithConfig::default_levels")]
    pub levels: Vec<LevelKnobs>,
}

fn default_restate() -> bool {
    true
}

fn default_max_value() -> i64 {
    999
}
fn default_max_divisor() -> i64 {
    9
}

fn knobs(steps: [u32; 2], ops: [u32; 2], max_operand: i64, operators: &[&str]) -> LevelKnobs {
    LevelKnobs {
        steps,
        ops,
        max_operand,
        operators: operators.iter().map(|s| s.to_string()).collect(),
        constants: default_constants(),
    }
}

impl ArithConfig {
    /// The default ladder: level 1 is one small addition/subtraction, level 5 is a long
    /// chain of mixed operations on larger numbers.
    pub fn default_levels() -> Vec<LevelKnobs> {
        vec![
            knobs([1, 1], [1, 1], 20, &["+", "-"]),
            knobs([2, 2], [1, 1], 20, &["+", "-"]),
            knobs([3, 3], [1, 2], 20, &["+", "-", "*"]),
            knobs([4, 4], [2, 2], 30, &["+", "-", "*", "mod"]),
            knobs([5, 6], [2, 3], 50, &["+", "-", "*", "div", "mod"]),
        ]
    }

    /// A tiny config for tests.
    pub fn tiny() -> Self {
        ArithConfig {
            train: 50,
            val: 10,
            test: 10,
            seed: 7,
            max_value: default_max_value(),
            max_divisor: default_max_divisor(),
            restate: default_restate(),
            levels: Self::default_levels(),
        }
    }

    /// Check knob ranges; the message names the offending key.
    pub fn validate(&self) -> Result<()> {
        if self.levels.len() != 5 {
            return Err(Error::Config(format!(
                "data.levels: expected 5 levels, got {}",
                self.levels.len()
            )));
        }
        for (i, l) in self.levels.iter().enumerate() {
            let key = format!("data.levels[{i}]");
            for (name, r) in [
                ("steps", l.steps),
                ("ops", l.ops),
                ("constants", l.constants),
            ] {
                if r[0] > r[1] || r[0] == 0 {
                    return Err(Error::Config(format!(
                        "{key}.{name}: need 1 <= min <= max, got {r:?}"
                    )));
                }
            }
            if l.steps[1] + l.constants[1] > 26 {
                return Err(Error::Config(format!(
                    "{key}: more than 26 variables (steps + constants)"
                )));
            }
            if l.max_operand < 2 {
                return Err(Error::Config(format!("{key}.max_operand: must be >= 2")));
            }
            if l.operators.is_empty() {
                return Err(Error::Config(format!("{key}.operators: empty")));
            }
            for o in &l.operators {
                if Op::from_symbol(o).is_none() {
                    return Err(Error::Config(format!(
                        "{key}.operators: unknown operator `{o}` (use + - * div mod)"
                    )));
                }
            }
        }
        if self.max_divisor < 2 {
            return Err(Error::Config("data.max_divisor: must be >= 2".into()));
        }
        // Bounded before anything is allocated: 10^12 problems is a typo, not a dataset.
        const MAX_SPLIT: usize = 10_000_000;
        for (key, n) in [
            ("train", self.train),
            ("val", self.val),
            ("test", self.test),
        ] {
            if n == 0 || n > MAX_SPLIT {
                return Err(Error::Config(format!(
                    "[data] {key}: must be in 1..={MAX_SPLIT}, got {n}"
                )));
            }
        }
        Ok(())
    }
}

/// The three splits.
pub struct Splits {
    pub train: Vec<Problem>,
    pub val: Vec<Problem>,
    pub test: Vec<Problem>,
}

/// Generate all splits. Problems are unique across splits (a test problem never appears
/// in train); levels cycle 1..5 so each split is balanced.
pub fn generate(cfg: &ArithConfig) -> Result<Splits> {
    cfg.validate()?;
    let mut seen = HashSet::new();
    let mut split = |name: &str, n: usize, salt: u64| -> Result<Vec<Problem>> {
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut out = Vec::with_capacity(n);
        let mut attempts = 0usize;
        while out.len() < n {
            let level = (out.len() % 5) as u8 + 1;
            let p = generate_one(cfg, level, &mut rng, &format!("arith/{name}/{}", out.len()));
            attempts += 1;
            if attempts > 100 * n.max(100) {
                return Err(Error::Config(format!(
                    "data: could not draw {n} distinct {name} problems; widen the level knobs"
                )));
            }
            if let Some(p) = p
                && seen.insert(p.problem.clone())
            {
                out.push(p);
            }
        }
        Ok(out)
    };
    // Test first, so its problems stay the same when only the train size changes.
    let test = split("test", cfg.test, 3)?;
    let val = split("val", cfg.val, 2)?;
    let train = split("train", cfg.train, 1)?;
    Ok(Splits { train, val, test })
}

fn var_name(i: usize) -> char {
    (b'a' + i as u8) as char
}

fn range(rng: &mut StdRng, r: [u32; 2]) -> usize {
    rng.random_range(r[0]..=r[1]) as usize
}

/// Draw one problem of `level`; `None` when a value leaves the allowed range (redraw).
fn generate_one(cfg: &ArithConfig, level: u8, rng: &mut StdRng, id: &str) -> Option<Problem> {
    let k = &cfg.levels[level as usize - 1];
    let ops: Vec<Op> = k
        .operators
        .iter()
        .map(|o| Op::from_symbol(o).expect("validated"))
        .collect();
    let n_const = range(rng, k.constants);
    let n_steps = range(rng, k.steps);
    let mut env: HashMap<char, i64> = HashMap::new();
    let mut statements = Vec::new();
    for i in 0..n_const {
        let v = rng.random_range(1..=k.max_operand);
        env.insert(var_name(i), v);
        statements.push(format!("Let {} = {v}.", var_name(i)));
    }
    let mut steps = Vec::new();
    for s in 0..n_steps {
        let var = var_name(n_const + s);
        let defined = n_const + s;
        let n_ops = range(rng, k.ops);
        // The previous variable appears once, at a random operand position, so every step
        // feeds the next one; other operands are literals or earlier variables.
        let prev_pos = rng.random_range(0..=n_ops);
        let mut atoms = Vec::with_capacity(n_ops + 1);
        let mut expr_ops = Vec::with_capacity(n_ops);
        for j in 0..=n_ops {
            let op = (j > 0).then(|| *ops.choose(rng).expect("non-empty"));
            if let Some(op) = op {
                expr_ops.push(op);
            }
            let divisor_slot = matches!(op, Some(Op::Div | Op::Mod));
            let atom = if divisor_slot {
                Atom::Num(rng.random_range(2..=cfg.max_divisor.min(k.max_operand)))
            } else if j == prev_pos {
                Atom::Var(var_name(defined - 1))
            } else if rng.random_bool(0.25) {
                Atom::Var(var_name(rng.random_range(0..defined)))
            } else {
                Atom::Num(rng.random_range(1..=k.max_operand))
            };
            atoms.push(atom);
        }
        if !atoms.contains(&Atom::Var(var_name(defined - 1))) {
            // The previous variable's slot was a divisor: put it first instead.
            atoms[0] = Atom::Var(var_name(defined - 1));
        }
        let expr = FlatExpr {
            atoms,
            ops: expr_ops,
        };
        let mut cur = expr.substitute(&env)?;
        let mut text = if cfg.restate && cur != expr {
            format!("{var} = {} = {}", expr.render(), cur.render())
        } else {
            format!("{var} = {}", cur.render())
        };
        while !cur.ops.is_empty() {
            cur = cur.reduce_once()?;
            if let Atom::Num(n) = cur.atoms[0]
                && n.abs() > cfg.max_value
            {
                return None;
            }
            text.push_str(" = ");
            text.push_str(&cur.render());
        }
        let value = expr.eval(&env)?;
        if value.abs() > cfg.max_value {
            return None;
        }
        env.insert(var, value);
        statements.push(format!("Let {var} = {}.", expr.render()));
        steps.push(StepTruth {
            var: var.to_string(),
            expr: expr.render(),
            value,
            text,
        });
    }
    let last = steps.last()?;
    let answer = last.value.to_string();
    let problem = format!("{} What is {}?", statements.join(" "), last.var);
    let mut parts: Vec<String> = steps.iter().map(|s| s.text.clone()).collect();
    parts.push(format!("The answer is \\boxed{{{answer}}}."));
    Some(Problem {
        problem,
        solution: parts.join(STEP_DELIMITER),
        answer,
        subject: "arith".into(),
        level,
        unique_id: id.into(),
        steps: Some(steps),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_balanced_and_distinct() {
        let cfg = ArithConfig::tiny();
        let a = generate(&cfg).unwrap();
        let b = generate(&cfg).unwrap();
        assert_eq!(a.train, b.train);
        assert_eq!(a.test, b.test);
        let mut all = HashSet::new();
        for p in a.train.iter().chain(&a.val).chain(&a.test) {
            assert!(all.insert(p.problem.clone()), "duplicate {}", p.problem);
        }
        for lvl in 1..=5 {
            assert_eq!(a.test.iter().filter(|p| p.level == lvl).count(), 2);
        }
        let other = generate(&ArithConfig {
            seed: 8,
            ..ArithConfig::tiny()
        })
        .unwrap();
        assert_ne!(a.train, other.train);
    }

    #[test]
    fn bad_knobs_name_the_key() {
        let mut cfg = ArithConfig::tiny();
        cfg.levels[2].operators = vec!["^".into()];
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("data.levels[2].operators"), "{e}");
    }
}
