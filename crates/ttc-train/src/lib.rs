//! ttc-train: supervised fine-tuning of the policy (and later the revision model and the
//! reward models) on burn's autodiff backend.
//!
//! - [`sft_data`]: prompt-masked next-token examples and length-bucketed batches;
//! - [`schedule`]: linear warmup + cosine decay;
//! - [`loss`]: masked token cross-entropy;
//! - [`sft`]: the resumable training loop; [`policy_eval`]: examples and greedy pass@1;
//! - [`bench`]: training throughput (`ttc bench train`).

pub mod bench;
pub mod error;
pub mod loss;
pub mod policy_eval;
pub mod schedule;
pub mod sft;
pub mod sft_data;

pub use error::{Error, Result};
