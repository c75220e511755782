//! ttc-engine: the generation engine (DESIGN §4, §11) — one interface for every stage that
//! generates or scores, the same over every backend.
//!
//! - [`engine`]: [`Engine`] — tokens, per-sequence sampling and seeds, stop strings, EOS,
//!   prefix prefill shared by forks ([`Sequence`]), batching limits and token accounting;
//! - [`decoding`]: decoding step by step over a changing set of sequences (continuous
//!   batching for `ttc serve`; whole continuations on a remote backend);
//! - [`load`]: a checkpoint onto the backend a preset names — `cpu`, `burn` or `openai` —
//!   the one place that dispatches over them ([`load_model`]);
//! - [`bench`]: `ttc bench generate|score`.
//!
//! The backends themselves live below: the cpu and burn decoders in `ttc-model`, the
//! `openai` client in `ttc-remote`. Errors are `ttc_model::Error`.

pub mod bench;
pub mod decoding;
pub mod engine;
pub mod load;

pub use engine::{Counters, Engine, LONG_PROMPT_RESERVE, Sequence, TokenCounts};
pub use load::{checkpoint_tokenizer, load_cpu, load_model, served_name};
pub use ttc_model::engine_spec::LongPrompts;
pub use ttc_model::generation::{FinishReason, Generation};
