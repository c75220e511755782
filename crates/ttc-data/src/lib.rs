//! ttc-data: datasets derived from a policy (DESIGN §5, §7, §11).
//!
//! - [`steps`]: a solution's steps and their token layout (shared with the PRM, so labels
//!   and scores sit on the same tokens);
//! - [`shards`]: chunked, resumable, `--shard i/n`-able stage outputs and their merge;
//! - [`sample`]: N policy samples per question, graded and step-checked;
//! - [`label`]: Monte Carlo step labels from prefix-shared rollouts.

pub mod error;
pub mod label;
pub mod revision;
pub mod sample;
pub mod select;
pub mod shards;
pub mod steps;
pub mod verifier;

pub use error::{Error, Result};
