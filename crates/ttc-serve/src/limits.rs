//! What a request to `ttc serve` may ask (`n`, `max_tokens`), and how much waits: the
//! server's admission limits, given on its command line.

/// What a request may ask, and how much waits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `n` at most.
    pub max_n: usize,
    /// `max_tokens` at most.
    pub max_tokens: usize,
    /// Requests waiting per model beyond the live ones; more are answered 429.
    pub queue: usize,
    /// Sequences per decode forward.
    pub max_batch: usize,
    /// Sequences live per model (admission stops there; the queue fills).
    pub max_active: usize,
    /// Computed sequences kept per model for prefix reuse (0: no prefix cache).
    pub prefix_cache: usize,
    /// `logprobs` (top alternatives per token) at most — vLLM's `max_logprobs` default.
    pub max_logprobs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_n: 256,
            max_tokens: 1 << 20,
            queue: 1024,
            max_batch: 256,
            max_active: 1024,
            prefix_cache: 1024,
            max_logprobs: 20,
        }
    }
}
