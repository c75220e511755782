//! What a remote backend (a model behind an HTTP server: `ttc serve`, vLLM, SGLang, …)
//! offers the engine. A remote server samples on its side, so the engine hands it whole
//! continuations — the sequence's tokens, the sampling parameters, a per-request seed and a
//! token limit — instead of stepping logits itself; everything else (stop handling in the
//! text, EOS, forks, the token accounting) stays in the engine (`ttc_engine::Engine`), the
//! same as for a local backend.
//!
//! The client (crate `ttc-remote`) implements [`RemoteGenerate`] and [`crate::decoder::Decoder`]
//! (for the config, the context length and — for a score-head model — per-token scores).

use crate::Result;
use crate::generation::FinishReason;
use crate::sampling::SamplingParams;

/// One continuation to sample on the server.
#[derive(Debug, Clone, Copy)]
pub struct CompletionRequest<'a> {
    /// Everything the sequence holds (prompt + text so far), as token ids.
    pub tokens: &'a [u32],
    pub params: &'a SamplingParams,
    pub seed: u64,
    /// New tokens at most (≥ 1).
    pub max_tokens: usize,
}

/// What the server sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Generated token ids; the end-of-sequence token last when it ended the continuation.
    pub tokens: Vec<u32>,
    /// `Stop` (a stop string), `Eos` or `Length`.
    pub finish: FinishReason,
    /// One per token when the request's params asked for log-probabilities.
    pub logprobs: Vec<crate::generation::TokenLogprob>,
}

/// A model that samples continuations on a server.
pub trait RemoteGenerate: Send + Sync {
    /// One completion per request, in order; requests may run concurrently.
    fn complete(&self, reqs: &[CompletionRequest<'_>]) -> Result<Vec<Completion>>;
}

/// A remote sequence's "cache": the tokens the server would have cached (the engine's
/// accounting treats them as computed once, as it does for a local cache).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteSeq {
    pub tokens: Vec<u32>,
}
