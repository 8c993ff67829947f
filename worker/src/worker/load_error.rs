//! Why a model load ended without a model: cancelled, failed (with the
//! message the page shows) or too large for the memory reported.

use super::fetch::FetchError;
use chexlens_web::protocol::TooLarge;

pub enum LoadError {
    Cancelled,
    Failed(String),
    /// The model would not fit in memory.
    TooLarge(TooLarge),
}

impl From<FetchError> for LoadError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Cancelled => LoadError::Cancelled,
            FetchError::Failed(m) => LoadError::Failed(m),
        }
    }
}

/// A download's failure, naming the file.
pub(super) fn download_error(name: &str, e: FetchError) -> LoadError {
    match e {
        FetchError::Failed(m) => LoadError::Failed(format!("{name}: download failed: {m}")),
        FetchError::Cancelled => LoadError::Cancelled,
    }
}
