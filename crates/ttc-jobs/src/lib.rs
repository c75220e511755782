//! ttc-jobs: the jobs that run models (DESIGN §1, §11) — where models meet algorithms.
//! Every job drives the engine (`ttc-engine`) and so runs on every backend; the algorithms
//! (`ttc-search`) and the analysis (`ttc-eval`) know no model.
//!
//! - [`sampling`]: N policy samples per question, graded and step-checked;
//! - [`mc_labels`]: Monte Carlo step labels from prefix-shared rollouts;
//! - [`revision_chains`]: revision chains with the last attempts in context;
//! - [`prm_format`]: the field's PRM formats (ttc, Math-Shepherd, RLHFlow, Qwen2.5-Math-PRM);
//! - [`step_scorer`]: a PRM / ORM scoring whole (prompt, steps) items;
//! - [`step_tag`]: a causal LM given Math-Shepherd's step tag, to train as a generative PRM;
//! - [`likelihood_scorer`]: the policy's own likelihood of each step prefix, a verifier
//!   that trains nothing (the PRM's baseline);
//! - [`likelihood_verifier`]: the same likelihood as a search `Verifier` (per-node caches);
//! - [`layout_forward`]: many token layouts through a model, prompts shared;
//! - [`prm_verifier`]: a PRM as a search `Verifier`, reusing its parent's cache;
//! - [`search_adapters`]: the policy as a search `Generator`, the PRM as a `Verifier`,
//!   each with per-node forked KV caches.

pub mod checkpoint_verifier;
pub mod error;
pub mod layout_forward;
pub mod likelihood_scorer;
pub mod likelihood_verifier;
pub mod mc_labels;
pub mod prefill;
pub mod prm_format;
pub mod prm_verifier;
pub mod revision_chains;
pub mod sampling;
pub mod search_adapters;
pub mod step_scorer;
pub mod step_tag;

pub use error::{Error, Result};

/// A model's tokenizer error as the data layer's error (its token layouts take an encoder).
pub(crate) fn tokenizer_error(e: ttc_model::Error) -> ttc_data::Error {
    ttc_data::Error::Input(format!("tokenizer: {e}"))
}

/// Stop with an error naming the sequence when the model's logits were not finite.
pub(crate) fn require_finite(
    g: &ttc_engine::Generation,
    what: impl FnOnce() -> String,
) -> Result<()> {
    if g.finish == ttc_engine::FinishReason::NonFinite {
        return Err(Error::Input(format!(
            "{}: the model's logits are not finite (NaN or inf); its weights or inputs are corrupt",
            what()
        )));
    }
    Ok(())
}
