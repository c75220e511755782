//! Helpers more than one stage uses: loading checkpoints onto an engine, training jobs
//! behind a progress bar, the PRM's labelled data and its consensus filter.

pub mod checkpoint;
pub mod consensus;
pub mod prm_data;
pub mod training;
