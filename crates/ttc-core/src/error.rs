//! The one error type of ttc-core.

use std::path::PathBuf;

/// Errors from reading and writing ttc artifacts. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OS error is part of the message and not a `source`, so a printed chain says
    /// it once.
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{path}:{line}: {msg}")]
    Jsonl {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("{path}: {msg}")]
    Json { path: PathBuf, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }
}
