//! The one error type of ttc-jobs.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] ttc_model::Error),
    #[error(transparent)]
    Data(#[from] ttc_data::Error),
    #[error(transparent)]
    Task(#[from] ttc_task::Error),
    #[error("config: {0}")]
    Config(String),
    #[error("{0}")]
    Input(String),
}

impl From<Error> for ttc_search::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Config(m) => ttc_search::Error::Config(m),
            other => ttc_search::Error::Input(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
