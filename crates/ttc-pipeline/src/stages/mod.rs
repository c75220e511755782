//! One module per stage type (see [`crate::run::stage::Stage`]); a stage's private helpers
//! live beside it (`prm_eval/`), helpers several stages use in [`shared`].

pub mod analysis;
pub mod data;
pub mod eval_policy;
pub mod exchange;
pub mod import;
pub mod labels;
pub mod orm;
pub mod policy;
pub mod prm_eval;
pub mod prm_train;
pub mod ratios;
pub mod revision;
pub mod revision_eval;
pub mod samples;
pub mod search;
pub mod shared;
pub mod tokenizer;
