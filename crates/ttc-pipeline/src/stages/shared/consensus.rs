//! Consensus filtering (Zhang et al. 2025, "The Lessons of Developing Process Reward Models
//! in Mathematical Reasoning"): a labelled sample teaches the PRM only where its Monte Carlo
//! first error — the first step from which no rollout reaches the right answer — agrees with
//! a second judge's. The judge here is the `[verifier]` model's likelihood of each step,
//! calibrated on the same labels into a probability that the step is right (its first error:
//! the first step below 0.5). Both judges exist on MATH too; the step checker's truth is not
//! used.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Result;
use ttc_data::rows::{LabelRow, SampleRow, ScoredSample};
use ttc_eval::logistic::{fit_logistic, sigmoid};
use ttc_jobs::likelihood_scorer::LikelihoodScorer;

use super::prm_data::label_pairs;
use crate::run::stage::Ctx;
use crate::stages::prm_eval::scoring::score_samples;

/// The samples both judges agree on, and how many were judged.
pub struct Consensus {
    /// (question index, sample id) of the samples kept.
    pub kept: HashSet<(u32, u32)>,
    pub judged: usize,
}

/// The Monte Carlo first error of one sample's labels: the lowest step no rollout finished
/// right from (`None`: every step can still reach the answer).
pub fn mc_first_error(labels: &[&LabelRow]) -> Option<u32> {
    labels
        .iter()
        .filter(|l| !l.hard)
        .map(|l| l.step_index)
        .min()
}

/// The judge's first error: the first step whose calibrated score is below 0.5.
pub fn judge_first_error(calibrated: &[f32]) -> Option<u32> {
    calibrated.iter().position(|&p| p < 0.5).map(|i| i as u32)
}

/// Score `samples` (those with labels) by the likelihood of the model in `judge_dir`,
/// calibrate it on their soft labels, and keep the samples whose two first errors agree.
pub fn consensus(
    ctx: &Ctx,
    judge_dir: &Path,
    problems: &HashMap<String, String>,
    samples: &[SampleRow],
    labels: &[LabelRow],
) -> Result<Consensus> {
    let engine = crate::preset::engine_choice::resolve(ctx.preset, &None);
    let (model, tok) = ttc_engine::load_model(judge_dir, &engine)?;
    let prompt = ttc_task::tokenizer::PromptTemplate::load(judge_dir)?;
    let scorer = LikelihoodScorer::new(model.as_ref(), &tok, prompt)
        .map_err(|e| anyhow::anyhow!("{}: {e}", judge_dir.display()))?;
    let mut by_sample: HashMap<(u32, u32), Vec<&LabelRow>> = HashMap::new();
    for l in labels {
        by_sample
            .entry((l.question_index, l.sample_id))
            .or_default()
            .push(l);
    }
    let labelled: Vec<SampleRow> = samples
        .iter()
        .filter(|s| by_sample.contains_key(&(s.question_index, s.sample_id)))
        .cloned()
        .collect();
    let scored = score_samples(ctx, &|i| scorer.score(i), problems, &labelled)?;
    let (x, y, _) = label_pairs(&scored, labels);
    let x: Vec<f64> = x.iter().map(|&p| f64::from(p).ln()).collect();
    let y: Vec<f64> = y.iter().map(|&t| f64::from(t)).collect();
    let (a, b) = fit_logistic(&x, &y).ok_or_else(|| {
        anyhow::anyhow!(
            "[prm] consensus: the judge's likelihood could not be calibrated on {} labelled steps",
            x.len()
        )
    })?;
    Ok(agreeing(&scored, &by_sample, &|p| {
        sigmoid(a * f64::from(p).ln() + b) as f32
    }))
}

/// The samples of `scored` whose judge first error (after `calibrate`) equals their Monte
/// Carlo first error.
fn agreeing(
    scored: &[ScoredSample],
    by_sample: &HashMap<(u32, u32), Vec<&LabelRow>>,
    calibrate: &dyn Fn(f32) -> f32,
) -> Consensus {
    let (mut kept, mut judged) = (HashSet::new(), 0);
    for s in scored {
        let key = (s.question_index, s.sample_id);
        let Some(ls) = by_sample.get(&key) else {
            continue;
        };
        judged += 1;
        let cal: Vec<f32> = s.step_scores.iter().map(|&p| calibrate(p)).collect();
        if judge_first_error(&cal) == mc_first_error(ls) {
            kept.insert(key);
        }
    }
    Consensus { kept, judged }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step every rollout (of 4) finishes right from, or none.
    fn label(q: u32, s: u32, step: u32, hard: bool) -> LabelRow {
        crate::stages::shared::prm_data::test_label(q, s, step, 4, if hard { 4 } else { 0 })
    }

    fn scored(q: u32, s: u32, steps: &[f32]) -> ScoredSample {
        ScoredSample {
            question_id: format!("q{q}"),
            question_index: q,
            level: 1,
            sample_id: s,
            answer: None,
            correct: false,
            first_error: None,
            step_scores: steps.to_vec(),
        }
    }

    #[test]
    fn samples_are_kept_where_both_first_errors_agree() {
        let labels = vec![
            // Sample 0: MC first error at step 1; the judge too (0.3 < 0.5).
            label(0, 0, 0, true),
            label(0, 0, 1, false),
            label(0, 0, 2, false),
            // Sample 1: MC says all right; the judge finds an error at step 2.
            label(0, 1, 0, true),
            label(0, 1, 1, true),
            label(0, 1, 2, true),
            // Sample 2: neither finds an error.
            label(1, 2, 0, true),
            label(1, 2, 1, true),
        ];
        let mut by: HashMap<(u32, u32), Vec<&LabelRow>> = HashMap::new();
        for l in &labels {
            by.entry((l.question_index, l.sample_id))
                .or_default()
                .push(l);
        }
        assert_eq!(mc_first_error(&by[&(0, 0)]), Some(1));
        assert_eq!(mc_first_error(&by[&(0, 1)]), None);
        let rows = vec![
            scored(0, 0, &[0.9, 0.3, 0.2]),
            scored(0, 1, &[0.9, 0.8, 0.4]),
            scored(1, 2, &[0.7, 0.6]),
            // Unlabelled: never kept.
            scored(2, 9, &[0.9]),
        ];
        let c = agreeing(&rows, &by, &|p| p);
        let mut kept: Vec<(u32, u32)> = c.kept.into_iter().collect();
        kept.sort();
        assert_eq!(kept, vec![(0, 0), (1, 2)]);
        assert_eq!(c.judged, 3);
    }
}
