//! `ttc sample`: N solutions per question from a policy, graded and step-checked.
//!
//! Each question's prompt is prefilled once and its cache forked N ways. Sample `j` of
//! question `i` (its index in the split) is seeded `derive_seed(seed, i, j)`, so a row does
//! not depend on how questions are chunked or sharded.

use serde::{Deserialize, Serialize};
use ttc_model::generate::{Engine, FinishReason, derive_seed};
use ttc_model::sampling::SamplingParams;
use ttc_task::Problem;
use ttc_task::grader::{extract_answer, is_equivalent};
use ttc_task::step_checker::{ArithProblem, StepVerdict};

use crate::Result;
use crate::steps::{join_steps, split_steps};

/// Sampling knobs (a preset's `[samples]`, `[labels]` rollouts, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Samples per question.
    pub n: usize,
    #[serde(default = "d_temperature")]
    pub temperature: f32,
    #[serde(default = "d_top_p")]
    pub top_p: f32,
    #[serde(default = "d_max_new")]
    pub max_new_tokens: usize,
    #[serde(default)]
    pub seed: u64,
}

fn d_temperature() -> f32 {
    0.8
}
fn d_top_p() -> f32 {
    1.0
}
fn d_max_new() -> usize {
    400
}

impl SampleConfig {
    pub fn params(&self) -> SamplingParams {
        SamplingParams::sampled(self.temperature, self.top_p, self.max_new_tokens)
    }

    /// Check the knobs; the message names the key under `section`.
    pub fn validate(&self, section: &str) -> Result<()> {
        let bad = |k: &str, m: &str| Err(crate::Error::Config(format!("{section}.{k}: {m}")));
        if self.n == 0 {
            return bad("n", "must be >= 1");
        }
        if self.temperature.is_nan() || self.temperature < 0.0 {
            return bad("temperature", "must be >= 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", "must be in (0, 1]");
        }
        if self.max_new_tokens == 0 {
            return bad("max_new_tokens", "must be >= 1");
        }
        Ok(())
    }
}

/// One sampled solution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

pub fn finish_name(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Stop => "stop",
        FinishReason::Eos => "eos",
        FinishReason::Length => "length",
    }
}

/// `cfg.n` samples of each problem; `first_index` is the split index of `problems[0]`.
pub fn sample_questions(
    engine: &Engine,
    problems: &[Problem],
    first_index: usize,
    cfg: &SampleConfig,
) -> Result<Vec<SampleRow>> {
    let prompts = problems
        .iter()
        .map(|p| engine.encode_prompt(&p.problem))
        .collect::<ttc_model::Result<Vec<_>>>()?;
    let mut base = engine.prefill(&prompts);
    let mut seqs = Vec::with_capacity(problems.len() * cfg.n);
    let mut seeds = Vec::with_capacity(problems.len() * cfg.n);
    for (i, b) in base.iter_mut().enumerate() {
        for j in 0..cfg.n {
            seqs.push(b.fork());
            seeds.push(derive_seed(cfg.seed, (first_index + i) as u64, j as u64));
        }
    }
    drop(base);
    let gens = engine.decode(seqs, &cfg.params(), &seeds);
    let mut rows = Vec::with_capacity(gens.len());
    for (k, (_, g)) in gens.into_iter().enumerate() {
        let (i, j) = (k / cfg.n, k % cfg.n);
        let p = &problems[i];
        let j8 = judge(p, arith_of(p).as_ref(), &g.text);
        rows.push(SampleRow {
            question_id: p.unique_id.clone(),
            question_index: (first_index + i) as u32,
            level: p.level,
            sample_id: j as u32,
            text: g.text,
            steps: j8.steps,
            answer: j8.answer,
            correct: j8.correct,
            finish: finish_name(g.finish).into(),
            generated_tokens: g.generated_tokens as u32,
            step_verdicts: j8.step_verdicts,
            first_error: j8.first_error,
        });
    }
    Ok(rows)
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
