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
pub mod likelihood_prm;
pub mod loss;
pub mod policy_eval;
pub mod prm;
pub mod prm_slips;
pub mod schedule;
pub mod sft;
pub mod sft_config;
pub mod sft_data;

pub use error::{Error, Result};

/// Keep freed memory in the process while training. Each step allocates and frees large
/// activation tensors; glibc returns them to the kernel (mmap/trim) and the next step pays
/// for freshly zeroed pages (measured: 11% of a step in `clear_page`; +12% tokens/s with
/// this). No effect outside glibc.
pub fn tune_allocator_for_training() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; called before training allocates.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}
