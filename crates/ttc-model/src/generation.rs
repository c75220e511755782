//! What one generation returns (STYLE 7): its tokens, text, why it ended and what it cost,
//! and the stop-string rule every backend shares (a stop string is kept in the text, and
//! the text is cut right after it).

use serde::{Deserialize, Serialize};

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
