//! The one error type of ttc-search.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] ttc_model::Error),
    #[error(transparent)]
    Data(#[from] ttc_data::Error),
    #[error("config: {0}")]
    Config(String),
    #[error("{0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, Error>;
