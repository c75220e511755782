//! The one error type of ttc-model.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] ttc_core::Error),
    #[error("model config: {0}")]
    Config(String),
    #[error("weights: {0}")]
    Weights(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A remote server failed or answered something unusable (the message names its URL).
    #[error("remote: {0}")]
    Remote(String),
    /// A decode asked for what the engine cannot give (a confidence gate without
    /// log-probabilities, or on a server that samples on its own).
    #[error("decode: {0}")]
    Decode(String),
}

pub type Result<T> = std::result::Result<T, Error>;
