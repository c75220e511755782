//! The one error type of ttc-task.

/// Errors from problem generation, loading and tokenizer training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] ttc_core::Error),
    #[error("invalid config: {0}")]
    Config(String),
    #[error("{0}")]
    Parse(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

pub type Result<T> = std::result::Result<T, Error>;
