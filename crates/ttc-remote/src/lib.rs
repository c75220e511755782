//! ttc-remote: the `openai` engine backend — a model served by `ttc serve`, vLLM, SGLang,
//! llama.cpp, TGI or `transformers serve`, driven through the OpenAI completions API
//! (DESIGN §11).
//!
//! - [`protocol`]: the wire format (shared with `ttc serve`);
//! - [`pool`] + [`transport`]: many servers, least outstanding requests first, bounded in
//!   flight, retries with backoff, failing servers taken out;
//! - [`completion`]: one continuation as a request, and the answer read back the same way
//!   from every server kind;
//! - [`model::RemoteModel`]: all of it behind the engine's `Decoder` interface.

pub mod completion;
pub mod model;
pub mod pool;
pub mod protocol;
pub mod stats;
pub mod transport;

pub use model::RemoteModel;
