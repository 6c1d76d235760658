//! The upload pipeline's steps: final code run by the Lambda step functions and, in
//! `trove serve`, by the in-process workflow. Every step is idempotent: storage events,
//! retries and restarts may run it again.

pub mod events;
pub mod on_upload;
pub mod persist;
pub mod quarantine;
pub mod scan;
pub mod validate;

use serde::{Deserialize, Serialize};

use crate::domain::keys::UploadId;
use crate::domain::names::TenantName;
use crate::services::{Context, Error};

/// What every step receives: the upload it works on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInput {
    pub tenant: TenantName,
    pub upload_id: UploadId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// Set for Quarantine: why the upload is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Stable error names the workflow's Retry and Catch match on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Transient: retry the step.
    #[error("{0}")]
    Retryable(String),
    /// The upload is refused; the message is shown to the uploader.
    #[error("{0}")]
    Rejected(String),
}

impl StepError {
    pub fn name(&self) -> &'static str {
        match self {
            StepError::Retryable(_) => "Trove.Retryable",
            StepError::Rejected(_) => "Trove.Rejected",
        }
    }
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unavailable(m) | Error::Internal(m) | Error::Conflict(m) => {
                StepError::Retryable(m)
            }
            other => StepError::Rejected(other.to_string()),
        }
    }
}

/// The step names of the pipeline definition.
pub const SCAN: &str = "Scan";
pub const VALIDATE: &str = "Validate";
pub const PERSIST: &str = "Persist";
pub const QUARANTINE: &str = "Quarantine";

/// Runs one step by name, as a Task state names it.
pub async fn run_step(ctx: &Context, step: &str, input: &StepInput) -> Result<(), StepError> {
    match step {
        SCAN => scan::run(ctx, input).await,
        VALIDATE => validate::run(ctx, input).await,
        PERSIST => persist::run(ctx, input).await,
        QUARANTINE => quarantine::run(ctx, input).await,
        other => Err(StepError::Rejected(format!(
            "unknown pipeline step {other}"
        ))),
    }
}
