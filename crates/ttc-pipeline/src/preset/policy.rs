//! `[policy]` / `[policy_large]`: a causal LM trained from scratch on the train split.

use serde::{Deserialize, Serialize};
use ttc_train::sft::SftConfig;

use super::default_eval_tokens;

/// A policy model and how to train it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Size preset: tiny, default, large; the fields below override it.
    pub size: String,
    pub hidden_size: Option<usize>,
    pub intermediate_size: Option<usize>,
    pub num_hidden_layers: Option<usize>,
    pub num_attention_heads: Option<usize>,
    pub num_key_value_heads: Option<usize>,
    /// Context length (prompt + solution).
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// Generation limit for greedy pass@1.
    #[serde(default = "default_eval_tokens")]
    pub eval_max_new_tokens: usize,
    pub train: SftConfig,
}

fn default_max_pos() -> usize {
    512
}
