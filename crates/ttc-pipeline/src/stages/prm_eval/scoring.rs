//! Scoring samples with a step scorer (a PRM, or the policy's likelihood) for the stages
//! that evaluate it, behind a progress bar.

use std::collections::HashMap;

use anyhow::{Context, Result};
use ttc_data::rows::{SampleRow, ScoredSample};

use crate::run::stage::Ctx;

/// Per-step scores of (problem text, steps) items.
pub type ScoreSteps<'a> = dyn Fn(&[(&str, &[String])]) -> ttc_jobs::Result<Vec<Vec<f32>>> + 'a;

/// Score every sample with `score` (batched, with a progress bar).
pub fn score_samples(
    ctx: &Ctx,
    score: &ScoreSteps,
    problems: &HashMap<String, String>,
    samples: &[SampleRow],
) -> Result<Vec<ScoredSample>> {
    let pb = ctx.progress.bar(samples.len() as u64, "score");
    let mut out = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(256) {
        let items: Vec<(&str, &[String])> = chunk
            .iter()
            .map(|s| {
                let p = problems
                    .get(&s.question_id)
                    .with_context(|| format!("sample of unknown question {}", s.question_id))?;
                Ok((p.as_str(), s.steps.as_slice()))
            })
            .collect::<Result<_>>()?;
        let scores = score(&items)?;
        for (s, sc) in chunk.iter().zip(scores) {
            out.push(ScoredSample {
                question_id: s.question_id.clone(),
                question_index: s.question_index,
                level: s.level,
                sample_id: s.sample_id,
                answer: s.answer.clone(),
                correct: s.correct,
                first_error: s.first_error,
                step_scores: sc,
            });
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish();
    Ok(out)
}
