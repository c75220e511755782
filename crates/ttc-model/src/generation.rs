//! What one generation returns (STYLE 7): its tokens, text, why it ended and what it cost;
//! and how a generation ends on every backend — the stop-string rule (a stop string is kept
//! in the text, and the text is cut right after it) and the EOS ids of a model and its
//! tokenizer, which must fit the model's vocabulary.

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// A stop string appeared (kept in the text).
    Stop,
    /// The model emitted an end-of-sequence token.
    Eos,
    /// `max_new_tokens` or the context limit was reached.
    Length,
    /// The model's logits were not finite (NaN or inf): its output means nothing, and the
    /// caller stops with an error naming the sequence.
    NonFinite,
    /// A confidence gate stopped it: the mean confidence of its last tokens fell below the
    /// caller's threshold (DeepConf online).
    LowConfidence,
}

/// One generated token's log-probability and the most likely alternatives, read from the
/// raw distribution (temperature 1, no top-p / top-k filter) — what vLLM returns for
/// `logprobs`, whatever the sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    pub token: u32,
    pub logprob: f32,
    /// The k most likely tokens and their log-probabilities, most likely first (ties: lower
    /// id first).
    pub top: Vec<(u32, f32)>,
}

/// One finished continuation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Generated token ids (EOS included when it ended the generation).
    pub tokens: Vec<u32>,
    /// Generated text (EOS excluded), cut right after the stop string if one fired.
    pub text: String,
    pub finish: FinishReason,
    /// Tokens sampled for this continuation.
    pub generated_tokens: usize,
    /// Tokens this continuation ran through the model during the call (its shared prefix
    /// is counted where it was prefilled, not here).
    pub computed_tokens: usize,
    /// One entry per generated token when `SamplingParams::logprobs` asked for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logprobs: Vec<TokenLogprob>,
}

/// End offset of the earliest stop string in `buf` that was not already complete in its
/// first `before` bytes.
pub fn stop_hit(buf: &[u8], before: usize, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter_map(|s| {
            let sb = s.as_bytes();
            if sb.is_empty() || buf.len() < sb.len() {
                return None;
            }
            let start = before.saturating_sub(sb.len() - 1);
            buf[start..]
                .windows(sb.len())
                .position(|w| w == sb)
                .map(|p| start + p + sb.len())
        })
        .min()
}

/// A tokenizer and a model belong together only when every token id (added tokens
/// included) is below the model's vocabulary size: an id past it would index outside the
/// embedding table.
pub fn check_tokenizer_fits(
    tokenizer: &Tokenizer,
    vocab_size: usize,
) -> std::result::Result<(), String> {
    let count = tokenizer.get_vocab_size(true);
    let max_id = tokenizer.get_vocab(true).into_values().max();
    if count > vocab_size || max_id.is_some_and(|m| m as usize >= vocab_size) {
        return Err(format!(
            "tokenizer has {count} tokens (largest id {}) but the model's vocab_size is {vocab_size}: they do not belong together",
            max_id.map_or("-".into(), |m| m.to_string())
        ));
    }
    Ok(())
}

/// The ids that end a generation: the model config's EOS ids plus the tokenizer's end
/// tokens of the common families (`<|eos|>`, `</s>`, `<|endoftext|>`, `<|im_end|>`,
/// `<|eot_id|>`) where it has them.
pub fn eos_ids(cfg: &crate::LlamaConfig, tokenizer: &Tokenizer) -> Vec<u32> {
    let mut eos = cfg.eos_ids();
    for name in [
        "<|eos|>",
        "</s>",
        "<|endoftext|>",
        "<|im_end|>",
        "<|eot_id|>",
    ] {
        if let Some(id) = tokenizer.token_to_id(name)
            && !eos.contains(&id)
        {
            eos.push(id);
        }
    }
    eos
}
