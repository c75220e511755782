//! The one error type of ttc-search.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What a `Generator` / `Verifier` implementation (a model, a server) failed with.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    #[error("config: {0}")]
    Config(String),
    #[error("{0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, Error>;
