//! The typed rows stages hand each other (DESIGN §1 stage contract; STYLE 18), defined once
//! and written as parquet. A CSV beside a table is an export for people, never read back.

use serde::{Deserialize, Serialize};

mod tables;

pub use tables::{
    ComputeOptimalRow, CsvRow, EfficiencyRow, ExchangeRow, RatioAccuracyRow, RevisionSelectionRow,
    SplitAccuracyRow, csv_text,
};

/// One sampled solution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    pub question_id: String,
    /// Index of the question in its split.
    pub question_index: u32,
    pub level: u8,
    pub sample_id: u32,
    pub text: String,
    /// Non-empty steps of `text` (see `steps::split_steps`).
    pub steps: Vec<String>,
    /// Extracted final answer (`None`: no parsable answer).
    pub answer: Option<String>,
    /// The answer is equivalent to the reference.
    pub correct: bool,
    /// `stop`, `eos` or `length`.
    pub finish: String,
    pub generated_tokens: u32,
    /// Arith only: the step checker's verdict per step (`correct|wrong|malformed`).
    pub step_verdicts: Vec<String>,
    /// Arith only: index of the first step that is not correct.
    pub first_error: Option<u32>,
}

/// One labelled step of one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRow {
    pub question_id: String,
    pub question_index: u32,
    pub sample_id: u32,
    pub step_index: u32,
    pub n_steps: u32,
    /// Tokens of prompt + steps `0..=step_index` (+ delimiter when rolled out from).
    pub prefix_tokens: u32,
    /// Fraction of rollouts reaching the right answer.
    pub soft: f32,
    /// Some rollout reached the right answer.
    pub hard: bool,
    /// Rollouts run from this prefix (0 for the last step).
    pub rollouts: u32,
    pub correct_rollouts: u32,
    /// Arith only: the step checker's true verdict on this step.
    pub verdict: Option<String>,
}

/// One revision training example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryRow {
    pub question_id: String,
    pub question_index: u32,
    pub level: u8,
    /// The correct sample that is the target.
    pub target_sample_id: u32,
    pub target: String,
    /// Wrong attempts in context, oldest first; the last is the one closest to the target.
    pub attempt_ids: Vec<u32>,
    pub attempts: Vec<String>,
    pub k: u32,
    /// Character edit distance of each attempt to the target.
    pub edit_distances: Vec<u32>,
}

/// One attempt of a revision chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainRow {
    pub question_id: String,
    pub question_index: u32,
    pub level: u8,
    pub chain: u32,
    /// 0 = the first attempt (no previous attempts in context).
    pub step: u32,
    pub text: String,
    pub answer: Option<String>,
    pub correct: bool,
    pub generated_tokens: u32,
}

/// Samples grouped by question index (rows are in question order).
pub fn group_by_question(rows: Vec<SampleRow>, n_questions: usize) -> Vec<Vec<SampleRow>> {
    let mut g: Vec<Vec<SampleRow>> = vec![Vec::new(); n_questions];
    for r in rows {
        if let Some(v) = g.get_mut(r.question_index as usize) {
            v.push(r);
        }
    }
    g
}

/// One test sample with its PRM step scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredSample {
    pub question_id: String,
    pub question_index: u32,
    pub level: u8,
    pub sample_id: u32,
    pub answer: Option<String>,
    pub correct: bool,
    pub first_error: Option<u32>,
    pub step_scores: Vec<f32>,
}

/// One searched question.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchRow {
    pub question_id: String,
    pub question_index: u32,
    pub level: u8,
    pub strategy: String,
    pub width: u32,
    pub lookahead: u32,
    pub aggregation: String,
    pub n: u32,
    pub seed: u64,
    pub answer: Option<String>,
    pub correct: bool,
    /// Some finished solution is right (the search's oracle ceiling).
    pub any_correct: bool,
    pub solutions: u32,
    pub rounds: u32,
    pub generations: u64,
    pub continuations: u64,
    pub generated_tokens: u64,
    pub computed_tokens: u64,
    pub verifier_tokens: u64,
    pub flops: f64,
    /// The pick holds a wrong step (the step checker's verdict; `None` where it cannot
    /// judge: MATH, or no pick).
    #[serde(default)]
    pub picked_wrong_step: Option<bool>,
    /// The pick holds a wrong step that the search's verifier scored above 0.5 (reward
    /// hacking); `None` where the step checker cannot judge or no verifier scored the pick.
    /// A likelihood's raw scores are no probabilities: the report calibrates
    /// `picked_step_scores` first.
    #[serde(default)]
    pub picked_fooled: Option<bool>,
    /// The pick's first wrong step (the step checker's; `None`: none, or not judged).
    #[serde(default)]
    pub picked_first_error: Option<u32>,
    /// The verifier's score of each of the pick's steps, as the search saw them (empty
    /// without a verifier or where the pick was not judged).
    #[serde(default)]
    pub picked_step_scores: Vec<f32>,
}

/// One (question, strategy, N, seed) result of the sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepRow {
    pub question_id: String,
    pub level: u8,
    pub strategy: String,
    pub n: u32,
    pub seed: u64,
    pub correct: bool,
    pub generations: u64,
    pub generated_tokens: u64,
    pub verifier_tokens: u64,
    pub flops: f64,
}

/// A question's difficulty: oracle pass@1 and the PRM's mean final score over its samples.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BinRow {
    pub question_id: String,
    pub level: u8,
    pub samples: u32,
    pub oracle_pass_at_1: f64,
    pub oracle_bin: u8,
    pub predicted_score: f64,
    pub predicted_bin: u8,
}

/// One question answered at one (sequential, parallel) split of a budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RatioRow {
    pub question_id: String,
    pub n: u32,
    pub sequential: u32,
    pub parallel: u32,
    pub correct: bool,
}

impl RatioRow {
    /// The method name in compute-optimal tables: `s:p`.
    pub fn method(&self) -> String {
        format!("{}:{}", self.sequential, self.parallel)
    }
}
