//! The PRM's labelled data: the train samples, their Monte Carlo step labels and the
//! problems they answer; and the held-out questions PRM training validates on.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use ttc_data::held_out::held_out;
use ttc_data::rows::{LabelRow, SampleRow};
use ttc_task::Problem;
use ttc_task::math500::load_problems;

use crate::run::layout::Layout;

pub struct LabelledData {
    pub samples: Vec<SampleRow>,
    pub labels: Vec<LabelRow>,
    /// Problem text by question id.
    pub problems: HashMap<String, String>,
    /// The train split, in order (question index = position).
    pub train: Vec<Problem>,
}

pub fn load(layout: &Layout) -> Result<LabelledData> {
    let samples_file = layout.samples_dir("train").join("samples.parquet");
    let labels_file = layout.labels_dir().join("labels.parquet");
    let train = load_problems(&layout.split_file("train"))?;
    let problems = train
        .iter()
        .map(|p| (p.unique_id.clone(), p.problem.clone()))
        .collect();
    Ok(LabelledData {
        samples: ttc_core::table::read_parquet(&samples_file)?,
        labels: ttc_core::table::read_parquet(&labels_file)?,
        problems,
        train,
    })
}

/// The first `n` train problems no sample was drawn for: the questions slipped solutions
/// are made of (`[prm] slips`), so they never repeat a labelled or held-out question.
/// An error when the split has no step truth (slips are arith only) or too few questions.
pub fn slip_questions(layout: &Layout, data: &LabelledData, n: usize) -> Result<Vec<Problem>> {
    let sampled: HashSet<u32> = data.samples.iter().map(|s| s.question_index).collect();
    let fresh: Vec<Problem> = (0u32..)
        .zip(&data.train)
        .filter(|(i, _)| !sampled.contains(i))
        .map(|(_, p)| p.clone())
        .take(n)
        .collect();
    let file = layout.split_file("train");
    if let Some(p) = fresh.iter().find(|p| p.steps.is_none()) {
        anyhow::bail!(
            "prm.slips: {} question {} has no step truth (slipped solutions are arith only)",
            file.display(),
            p.unique_id
        );
    }
    if fresh.len() < n {
        anyhow::bail!(
            "prm.slips = {n}: {} has only {} questions without samples",
            file.display(),
            fresh.len()
        );
    }
    Ok(fresh)
}

/// Held-out questions: a seeded `val_fraction` of the labelled question indices.
pub fn val_questions(labels: &[LabelRow], frac: f64, seed: u64) -> HashSet<u32> {
    held_out(labels.iter().map(|l| l.question_index), frac, seed)
}

/// The PRM's held-out (validation) questions: their samples and Monte Carlo labels.
pub struct HeldOut {
    pub problems: HashMap<String, String>,
    pub samples: Vec<SampleRow>,
    pub labels: Vec<LabelRow>,
}

/// The held-out questions of the labelled data (`val_fraction` of them, seeded as the PRM's
/// training split them off).
pub fn held_out_set(layout: &Layout, val_fraction: f64, seed: u64) -> Result<HeldOut> {
    let inp = load(layout)?;
    let val_q = val_questions(&inp.labels, val_fraction, seed);
    Ok(HeldOut {
        samples: inp
            .samples
            .into_iter()
            .filter(|s| val_q.contains(&s.question_index))
            .collect(),
        labels: inp
            .labels
            .into_iter()
            .filter(|l| val_q.contains(&l.question_index))
            .collect(),
        problems: inp.problems,
    })
}

/// Each label's step score in `scored` beside its soft label and its truth (labels whose
/// sample or step was not scored are left out).
pub fn label_pairs(
    scored: &[ttc_data::rows::ScoredSample],
    labels: &[LabelRow],
) -> (Vec<f32>, Vec<f32>, Vec<bool>) {
    let by_key: HashMap<(u32, u32), &ttc_data::rows::ScoredSample> = scored
        .iter()
        .map(|s| ((s.question_index, s.sample_id), s))
        .collect();
    let (mut sc, mut soft, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    for l in labels {
        if let Some(s) = by_key
            .get(&(l.question_index, l.sample_id))
            .and_then(|s| s.step_scores.get(l.step_index as usize))
        {
            sc.push(*s);
            soft.push(l.soft);
            truth.push(l.verdict.as_deref() == Some("correct"));
        }
    }
    (sc, soft, truth)
}

/// A handmade label for tests: `correct` of `rollouts` right (soft and hard from them).
#[cfg(test)]
pub(crate) fn test_label(q: u32, sample: u32, step: u32, rollouts: u32, correct: u32) -> LabelRow {
    LabelRow {
        question_id: format!("q{q}"),
        question_index: q,
        sample_id: sample,
        step_index: step,
        n_steps: 3,
        prefix_tokens: 10,
        soft: correct as f32 / rollouts.max(1) as f32,
        hard: correct > 0,
        rollouts,
        correct_rollouts: correct,
        verdict: None,
    }
}
