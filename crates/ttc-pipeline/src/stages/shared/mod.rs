//! Helpers more than one stage uses: loading checkpoints onto an engine, training jobs
//! behind a progress bar, and the PRM's labelled data.

pub mod checkpoint;
pub mod prm_data;
pub mod training;
