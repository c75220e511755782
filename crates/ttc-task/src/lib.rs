//! ttc-task: the problems ttc solves and how answers are judged (DESIGN §2–§3). No burn.
//!
//! - [`arith`]: the synthetic multi-step arithmetic task, seeded, with levels 1–5;
//! - [`step_checker`]: per-step ground truth for any arith solution text;
//! - [`problem`] / [`math500`]: rows in the MATH-500 JSONL schema and their loader;
//! - [`grader`]: `\boxed{}` extraction and answer equivalence for MATH-style answers;
//! - [`tokenizer`]: the small BPE trained on the arith corpus.

pub mod arith;
pub mod arith_expr;
pub mod arith_slips;
pub mod chat_template;
pub mod dataset;
pub mod error;
pub mod grader;
pub mod math500;
pub mod problem;
pub mod step_checker;
pub mod steps;
pub mod tokenizer;

pub use error::{Error, Result};
pub use problem::Problem;

/// The step delimiter of solutions (search-and-learn convention).
pub const STEP_DELIMITER: &str = "\n\n";
