//! The wire format of the OpenAI completions API as ttc speaks it (client) and serves it
//! (`ttc serve`), with the extensions vLLM added and ttc follows: token-id prompts,
//! `seed`, `top_k`, `include_stop_str_in_output`, `return_token_ids`, `stop_reason`, and
//! vLLM's `/pooling` for per-token scores.

use serde::{Deserialize, Serialize};

/// A prompt: text, token ids, or a batch of either.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    Ids(Vec<u32>),
    Text(String),
    IdBatch(Vec<Vec<u32>>),
    TextBatch(Vec<String>),
}

/// `stop`: one string or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn strings(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

/// `POST /v1/completions` as `ttc serve` reads it. Unknown fields are refused with a
/// message naming them (a misspelt parameter never silently does nothing).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionBody {
    pub model: Option<String>,
    pub prompt: Prompt,
    #[serde(default = "d_max_tokens")]
    pub max_tokens: usize,
    #[serde(default = "one")]
    pub temperature: f32,
    #[serde(default = "one")]
    pub top_p: f32,
    /// 0 or -1: off.
    #[serde(default)]
    pub top_k: i64,
    #[serde(default = "d_n")]
    pub n: usize,
    /// Choice j of a request is seeded `seed + j` (one choice: `seed`).
    pub seed: Option<u64>,
    pub stop: Option<Stop>,
    /// Keep the stop string at the end of the text (vLLM's parameter; default false, as
    /// OpenAI).
    #[serde(default)]
    pub include_stop_str_in_output: bool,
    /// Return each choice's token ids (vLLM's parameter; `ttc serve` always returns them).
    #[serde(default)]
    pub return_token_ids: bool,
    #[serde(default)]
    pub stream: bool,
    /// Each generated token's log-probability and the top this-many alternatives (raw
    /// distribution, as vLLM reports them).
    pub logprobs: Option<u32>,
    /// vLLM's parameter: log-probability tokens as `token_id:N` instead of text.
    #[serde(default)]
    pub return_tokens_as_token_ids: bool,
    #[serde(default)]
    pub echo: bool,
    pub user: Option<String>,
}

fn d_max_tokens() -> usize {
    16
}
fn one() -> f32 {
    1.0
}
fn d_n() -> usize {
    1
}

/// One choice of a completion response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub index: usize,
    pub text: String,
    /// "stop" (stop string or end of sequence), "length"; other values are refused.
    pub finish_reason: Option<String>,
    /// vLLM: the stop string that fired, or the stop token id, or null at end of sequence.
    #[serde(default)]
    pub stop_reason: Option<serde_json::Value>,
    /// vLLM (`return_token_ids`) and `ttc serve`: the generated ids, EOS included.
    #[serde(default)]
    pub token_ids: Option<Vec<u32>>,
    #[serde(default)]
    pub logprobs: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionResponse {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelCard>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub owned_by: String,
    /// vLLM: the context length the server allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<usize>,
    /// vLLM: the model behind this name (its path); every name a model is served under
    /// (`--served-model-name a b`) has the same root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// vLLM's `POST /pooling`: per-token head outputs of each input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolingBody {
    pub model: Option<String>,
    pub input: Prompt,
    /// vLLM's task name ("token_classify", "reward"); `ttc serve` returns every token's
    /// raw score-head outputs whatever it says.
    pub task: Option<String>,
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolingItem {
    pub index: usize,
    pub object: String,
    /// `[tokens][outputs]`.
    pub data: Vec<Vec<f32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolingResponse {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub data: Vec<PoolingItem>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// An error answer: `{"error": {"message", "type", "code"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub code: u16,
}
