//! What a remote engine asked of its servers (requests, retries) and what they report
//! having computed (`usage`): printed when the engine is dropped, so a stage's log shows
//! the real server-side cost next to the engine's own accounting.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub cached_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
}

impl Stats {
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn usage(&self, u: &crate::protocol::Usage) {
        self.prompt_tokens
            .fetch_add(u.prompt_tokens, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(u.completion_tokens, Ordering::Relaxed);
        let cached = u
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0);
        self.cached_tokens.fetch_add(cached, Ordering::Relaxed);
    }

    /// "120 requests (2 retries); servers report 5400 prompt tokens (4100 cached), 900 generated".
    pub fn summary(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "{} requests ({} retries); servers report {} prompt tokens ({} cached), {} generated",
            g(&self.requests),
            g(&self.retries),
            g(&self.prompt_tokens),
            g(&self.cached_tokens),
            g(&self.completion_tokens)
        )
    }
}
