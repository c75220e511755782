//! Helpers more than one stage uses: loading checkpoints onto an engine, training jobs
//! behind a progress bar, the PRM's labelled data, its labelling budget and its consensus
//! filter.

pub mod checkpoint;
pub mod consensus;
pub mod data_shape;
pub mod generative_prm;
pub mod label_budget;
pub mod prm_data;
pub mod training;
