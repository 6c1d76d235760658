use crate::domain::names::NameError;
use crate::ports::{BlobError, EventError, SecretError, TableError, WorkflowError};

/// Every way a use case can fail; each maps to one HTTP status in `http::problem`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// The caller may see the resource but lacks the role for this action.
    #[error("{0}")]
    Forbidden(String),
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// Transient: the caller may retry.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Transient, and the retry is known not to succeed for this long: a dependency's
    /// circuit is open.
    #[error("service unavailable; retry in {retry_after_secs} s")]
    CoolingDown { retry_after_secs: u64 },
    /// A fault of ours; the detail goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
    /// The deployment is wrong (e.g. a missing permission): retrying cannot help and the
    /// request or upload is not at fault. Answered like `Internal`; a pipeline step stops
    /// for redrive instead of retrying or quarantining.
    #[error("misconfigured deployment: {0}")]
    Misconfigured(String),
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        Error::Invalid(e.to_string())
    }
}

impl From<TableError> for Error {
    fn from(e: TableError) -> Self {
        match e {
            TableError::InvalidCursor => {
                Error::Invalid("invalid cursor: use the next_cursor of a previous page".into())
            }
            TableError::Unavailable(m) => Error::Unavailable(m),
            TableError::CircuitOpen { retry_after_secs } => Error::CoolingDown { retry_after_secs },
            // Hot items: a retry shortly after is likely to pass.
            TableError::Contended(_) | TableError::Throttled(_) => Error::CoolingDown {
                retry_after_secs: 1,
            },
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<BlobError> for Error {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Unavailable(m) => Error::Unavailable(m),
            BlobError::Forbidden(m) => Error::Misconfigured(m),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<SecretError> for Error {
    fn from(e: SecretError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<EventError> for Error {
    fn from(e: EventError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<WorkflowError> for Error {
    fn from(e: WorkflowError) -> Self {
        match e {
            WorkflowError::Unavailable(m) => Error::Unavailable(m),
            other => Error::Internal(other.to_string()),
        }
    }
}
