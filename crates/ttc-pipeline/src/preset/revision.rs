//! The preset's `[revision]` section: revision data, the revision model, its chains at
//! inference and the outcome model (DESIGN §7).

use serde::{Deserialize, Serialize};
use ttc_model::engine_spec::EngineSpec;
use ttc_train::sft::SftConfig;

use super::{
    default_chunk, default_eval_tokens, default_temperature, default_top_p, default_val_fraction,
};

/// Revision data and model (DESIGN §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevisionConfig {
    /// Most previous wrong attempts in context (k ~ U{0..max_attempts}); also the context
    /// window of revision chains.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: usize,
    /// Seeds the draws of k and of the random attempts.
    #[serde(default)]
    pub seed: u64,
    /// Most trajectories per question (a seeded subset of its correct samples as targets);
    /// unset = one per correct sample, as in the paper. Easy questions otherwise dominate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_question: Option<usize>,
    /// Share of trajectories whose last previous attempt is a right answer (another
    /// correct sample of the question) instead of the nearest wrong one, so the model
    /// learns to keep a right answer; 0 (the default) is the paper's recipe, every previous
    /// attempt wrong.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub right_last: f64,
    /// Fraction of questions held out for validation / early stopping.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// Context of the revision model (its prompts hold up to `max_attempts` solutions).
    #[serde(default = "default_revision_positions")]
    pub max_position_embeddings: usize,
    pub train: SftConfig,
    /// Revision chains at inference (`ttc revise`).
    #[serde(default)]
    pub chains: ChainsConfig,
    /// The revision verifier: an outcome model over revision outputs with the previous
    /// attempts in context (`ttc train orm`), trained on chains of train questions.
    #[serde(default)]
    pub orm: Option<OrmConfig>,
}

/// `ttc train orm`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrmConfig {
    /// Train questions whose revision chains are the ORM's data (`ttc revise --split train`).
    #[serde(default = "default_orm_questions")]
    pub questions: usize,
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    pub train: SftConfig,
}

fn default_orm_questions() -> usize {
    200
}

/// `ttc revise`: chains of revisions on the test split.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainsConfig {
    /// Independent chains per question.
    #[serde(default = "default_chains")]
    pub chains: usize,
    /// Revisions after the first attempt (the paper goes to 64).
    #[serde(default = "default_chain_steps")]
    pub steps: usize,
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    #[serde(default = "default_top_p")]
    pub top_p: f32,
    #[serde(default = "default_eval_tokens")]
    pub max_new_tokens: usize,
    #[serde(default)]
    pub seed: u64,
    /// Use only the first this many test questions (all when absent).
    pub questions: Option<usize>,
    /// Questions per resumable part.
    #[serde(default = "default_chunk")]
    pub chunk: usize,
    /// This stage's engine (`{ backend, device, dtype }`); the preset's `[engine]` when absent.
    #[serde(default, skip_serializing_if = "super::is_default_engine")]
    pub engine: Option<EngineSpec>,
    /// A budget N (power of two) at which every sequential:parallel split s·p = N is
    /// compared, parallel-only 1:N included: the test chains get the extra chains those
    /// splits need, each only as long as they need (`parallel.parquet`). 0: only `chains`.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub ratio_budget: usize,
}

fn is_zero_usize(x: &usize) -> bool {
    *x == 0
}

impl Default for ChainsConfig {
    fn default() -> Self {
        ChainsConfig {
            chains: default_chains(),
            steps: default_chain_steps(),
            temperature: default_temperature(),
            top_p: default_top_p(),
            max_new_tokens: default_eval_tokens(),
            seed: 0,
            questions: None,
            chunk: default_chunk(),
            engine: None,
            ratio_budget: 0,
        }
    }
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn default_max_attempts() -> usize {
    4
}
fn default_revision_positions() -> usize {
    1024
}
fn default_chains() -> usize {
    4
}
fn default_chain_steps() -> usize {
    8
}
