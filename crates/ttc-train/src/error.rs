//! The one error type of ttc-train.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] ttc_core::Error),
    #[error(transparent)]
    Task(#[from] ttc_task::Error),
    #[error(transparent)]
    Model(#[from] ttc_model::Error),
    #[error("training config: {0}")]
    Config(String),
    #[error("{0}")]
    Diverged(String),
    #[error("checkpoint {path}: {msg}")]
    Checkpoint {
        path: std::path::PathBuf,
        msg: String,
    },
}

pub type Result<T> = std::result::Result<T, Error>;
