//! The PRM's labelled data: the train samples, their Monte Carlo step labels and the
//! problems they answer; and the held-out questions PRM training validates on.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use ttc_data::held_out::held_out;
use ttc_data::rows::{LabelRow, SampleRow};
use ttc_task::math500::load_problems;

use crate::layout::Layout;

pub struct LabelledData {
    pub samples: Vec<SampleRow>,
    pub labels: Vec<LabelRow>,
    /// Problem text by question id.
    pub problems: HashMap<String, String>,
}

pub fn load(layout: &Layout) -> Result<LabelledData> {
    let samples_file = layout.samples_dir("train").join("samples.parquet");
    let labels_file = layout.labels_dir().join("labels.parquet");
    let problems = load_problems(&layout.split_file("train"))?
        .into_iter()
        .map(|p| (p.unique_id, p.problem))
        .collect();
    Ok(LabelledData {
        samples: ttc_core::table::read_parquet(&samples_file)?,
        labels: ttc_core::table::read_parquet(&labels_file)?,
        problems,
    })
}

/// Held-out questions: a seeded `val_fraction` of the labelled question indices.
pub fn val_questions(labels: &[LabelRow], frac: f64, seed: u64) -> HashSet<u32> {
    held_out(labels.iter().map(|l| l.question_index), frac, seed)
}
