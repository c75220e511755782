//! `ttc sample`: N solutions per question from a policy, graded and step-checked.
//!
//! Each question's prompt is prefilled once and its cache forked N ways. Sample `j` of
//! question `i` (its index in the split) is seeded `derive_seed(seed, i, j)`, so a row does
//! not depend on how questions are chunked or sharded.

use serde::{Deserialize, Serialize};
use ttc_core::seed::derive_seed;
use ttc_engine::{Engine, FinishReason};
use ttc_model::sampling::SamplingParams;
use ttc_task::Problem;

use ttc_data::judge::{arith_of, judge};
use ttc_data::rows::SampleRow;

use crate::Result;

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
    ttc_core::sampling_rules::DEFAULT_TEMPERATURE
}
fn d_top_p() -> f32 {
    ttc_core::sampling_rules::DEFAULT_TOP_P
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
        let bad = |k: &str, m: &str| Err(crate::Error::Config(format!("[{section}] {k}: {m}")));
        if self.n == 0 {
            return bad("n", "must be >= 1");
        }
        use ttc_core::sampling_rules::{check_temperature, check_top_p};
        if let Err(m) = check_temperature(self.temperature).and(check_top_p(self.top_p)) {
            return Err(crate::Error::Config(format!("[{section}] {m}")));
        }
        if self.max_new_tokens == 0 {
            return bad("max_new_tokens", "must be >= 1");
        }
        Ok(())
    }
}

pub fn finish_name(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Stop => "stop",
        FinishReason::Eos => "eos",
        FinishReason::Length => "length",
        FinishReason::NonFinite => "non-finite",
        FinishReason::LowConfidence => "low-confidence",
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
    let mut base = engine.prefill(&prompts)?;
    let mut seqs = Vec::with_capacity(problems.len() * cfg.n);
    let mut seeds = Vec::with_capacity(problems.len() * cfg.n);
    for (i, b) in base.iter_mut().enumerate() {
        for j in 0..cfg.n {
            seqs.push(b.fork());
            seeds.push(derive_seed(cfg.seed, (first_index + i) as u64, j as u64));
        }
    }
    drop(base);
    let gens = engine.decode(seqs, &cfg.params(), &seeds)?;
    let mut rows = Vec::with_capacity(gens.len());
    for (k, (_, g)) in gens.into_iter().enumerate() {
        let (i, j) = (k / cfg.n, k % cfg.n);
        let p = &problems[i];
        crate::require_finite(&g, || format!("question {} sample {j}", p.unique_id))?;
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
