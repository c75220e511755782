//! The one error type of ttc-data.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] ttc_core::Error),
    #[error(transparent)]
    Task(#[from] ttc_task::Error),
    #[error("config: {0}")]
    Config(String),
    #[error("{0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, Error>;
