//! ttc-data: datasets derived from a policy, without the model (DESIGN §5, §7, §11).
//!
//! - [`rows`]: the typed rows stages exchange (samples, labels, trajectories, chains);
//! - [`judge`]: a solution's graded answer and true step verdicts;
//! - [`steps`]: a solution's token layout (shared with the PRM, so labels and scores sit on
//!   the same tokens);
//! - [`revision`]: revision prompts and trajectories (previous wrong attempts → a correct one);
//! - [`shards`]: chunked, resumable, `--shard i/n`-able stage outputs and their merge.

pub mod error;
pub mod held_out;
pub mod judge;
pub mod revision;
pub mod revision_prompt;
pub mod rows;
pub mod shards;
pub mod steps;

pub use error::{Error, Result};
