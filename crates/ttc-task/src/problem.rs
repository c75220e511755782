//! One problem row in the MATH-500 JSONL schema (`problem, solution, answer, subject,
//! level, unique_id`), plus the arith step truth when the row is synthetic.

use serde::{Deserialize, Serialize};

/// A problem with its reference solution. Field names are the MATH-500 ones, so the real
/// set and ours load through the same code.
/// Unknown extra fields of other HF datasets are ignored on load (and not written back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub problem: String,
    pub solution: String,
    pub answer: String,
    pub subject: String,
    /// Difficulty level 1 (easiest) – 5. Reads `3` or the original MATH's `"Level 3"`.
    #[serde(deserialize_with = "level_from_int_or_text")]
    pub level: u8,
    pub unique_id: String,
    /// Per-step truth of the reference solution (arith only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepTruth>>,
}

/// The truth of one solution step of an arith problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepTruth {
    /// The variable the step defines.
    pub var: String,
    /// Its defining expression as the problem states it.
    pub expr: String,
    /// Its exact value.
    pub value: i64,
    /// The step's text in the reference solution.
    pub text: String,
}

fn level_from_int_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    use serde::de::Error;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Level {
        Int(u8),
        Text(String),
    }
    match Level::deserialize(d)? {
        Level::Int(n) => Ok(n),
        Level::Text(t) => t
            .trim()
            .trim_start_matches("Level")
            .trim()
            .parse()
            .map_err(|_| {
                D::Error::custom(format!("level: expected 1-5 or \"Level N\", got {t:?}"))
            }),
    }
}
