//! The upload pipeline's steps: final code run by the Lambda step functions and, in
//! `trove serve`, by the in-process workflow. Every step is idempotent: storage events,
//! retries and restarts may run it again.

pub mod events;
pub mod format;
pub mod on_upload;
pub mod persist;
pub mod quarantine;
pub mod validate;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::keys::UploadId;
use crate::domain::model::{Repository, Upload, UploadStatus};
use crate::domain::names::TenantName;
use crate::services::catalog::{repositories, uploads};
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
    /// This binary cannot run the step at all (see [`step_available`]): a deployment error,
    /// not the upload's and not transient, so not retried. The pipeline's Catch (States.ALL)
    /// would still send the upload to Quarantine with this message: hence the Lambda binaries
    /// refuse such a step at cold start already, and the contract test keeps the template
    /// from deploying one (functions/tests/lambda/contract.rs).
    #[error("{0}")]
    Misdeployed(String),
}

impl StepError {
    pub fn name(&self) -> &'static str {
        match self {
            StepError::Retryable(_) => "Trove.Retryable",
            StepError::Rejected(_) => "Trove.Rejected",
            StepError::Misdeployed(_) => "Trove.Misdeployed",
        }
    }
}

/// A storage fault: retried, but for a refused access (a role without the permission),
/// which no retry mends: `Trove.Misdeployed`, never Quarantine.
impl From<crate::ports::BlobError> for StepError {
    fn from(e: crate::ports::BlobError) -> Self {
        StepError::from(Error::from(e))
    }
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unavailable(m) | Error::Internal(m) | Error::Conflict(m) => {
                StepError::Retryable(m)
            }
            e @ Error::CoolingDown { .. } => StepError::Retryable(e.to_string()),
            e @ Error::Misconfigured(_) => StepError::Misdeployed(e.to_string()),
            other => StepError::Rejected(other.to_string()),
        }
    }
}

/// The upload a checking step works on, moved from `pending` to `scanning` (recording the
/// execution). `None` when it is already published: the step has nothing to do. A rejected
/// upload stays rejected, with its reason.
pub async fn claim(ctx: &Context, input: &StepInput) -> Result<Option<Upload>, StepError> {
    let Some(mut upload) = uploads::load(ctx, &input.tenant, &input.upload_id).await? else {
        return Err(StepError::Rejected(format!(
            "upload {} not found",
            input.upload_id
        )));
    };
    match upload.status {
        UploadStatus::Published => return Ok(None),
        UploadStatus::Rejected => {
            return Err(StepError::Rejected(upload.reason.unwrap_or_default()));
        }
        // Quarantine leaves a settled upload as it is: the status stays `cancelled`.
        UploadStatus::Cancelled => {
            return Err(StepError::Rejected("upload cancelled".into()));
        }
        UploadStatus::Pending => {
            upload.status = UploadStatus::Scanning;
            upload.execution_id = input.execution_id.clone().or(upload.execution_id);
            upload.updated_at = ctx.clock.now();
            uploads::transition(ctx, UploadStatus::Pending, &upload).await?;
        }
        // A new execution of an upload whose last one failed (recovery's restart): the
        // upload's status shows this one from now on.
        UploadStatus::Scanning
            if input.execution_id.is_some() && input.execution_id != upload.execution_id =>
        {
            upload.execution_id = input.execution_id.clone();
            upload.updated_at = ctx.clock.now();
            uploads::transition(ctx, UploadStatus::Scanning, &upload).await?;
        }
        UploadStatus::Scanning => {}
    }
    Ok(Some(upload))
}

/// The repository the upload was accepted for, or the refusal when it has been deleted
/// since (another repository created under its name is not it: its limits were never
/// checked against this upload).
pub async fn accepted_repository(ctx: &Context, upload: &Upload) -> Result<Repository, StepError> {
    match repositories::find(ctx, &upload.tenant, &upload.repository).await {
        Ok(repo) if upload.belongs_to(&repo) => Ok(repo),
        Ok(_) | Err(Error::NotFound(_)) => Err(StepError::Rejected(repository_gone(upload))),
        Err(e) => Err(e.into()),
    }
}

/// Why an upload whose repository was deleted is refused.
pub fn repository_gone(upload: &Upload) -> String {
    format!(
        "repository {} was deleted after this upload was accepted",
        upload.repository
    )
}

/// The step names of the pipeline definition.
pub const SCAN: &str = "Scan";
pub const VALIDATE: &str = "Validate";
pub const PERSIST: &str = "Persist";
pub const QUARANTINE: &str = "Quarantine";

/// The Scan step: YARA and the archive walkers live in trove-scan, which only the binaries
/// that run Scan link (`trove serve`, functions-scan's `scan-step`); their composition puts
/// it in the `Context`. Every other binary stays free of libyara, whose bindings exist
/// prebuilt for x86_64 only: those functions build for arm64.
#[async_trait]
pub trait Scanner: Send + Sync {
    async fn run(&self, ctx: &Context, input: &StepInput) -> Result<(), StepError>;
}

/// Why Scan cannot run in a context without a scanner.
pub const NO_SCANNER: &str = "this binary carries no scanner (trove-scan): the Scan function \
     must run functions-scan's `scan-step` binary";

/// Whether this context can run `step`: a step of the pipeline, and for Scan a scanner. A
/// Lambda binary checks its `_HANDLER` with it at cold start.
pub fn step_available(ctx: &Context, step: &str) -> Result<(), StepError> {
    match step {
        SCAN if ctx.scanner.is_some() => Ok(()),
        SCAN => Err(StepError::Misdeployed(NO_SCANNER.to_owned())),
        VALIDATE | PERSIST | QUARANTINE => Ok(()),
        other => Err(StepError::Misdeployed(format!(
            "unknown pipeline step {other}"
        ))),
    }
}

/// Runs one step by name, as a Task state names it.
pub async fn run_step(ctx: &Context, step: &str, input: &StepInput) -> Result<(), StepError> {
    match step {
        SCAN => match &ctx.scanner {
            Some(scanner) => scanner.run(ctx, input).await,
            None => Err(StepError::Misdeployed(NO_SCANNER.to_owned())),
        },
        VALIDATE => validate::run(ctx, input).await,
        PERSIST => persist::run(ctx, input).await,
        QUARANTINE => quarantine::run(ctx, input).await,
        other => Err(StepError::Misdeployed(format!(
            "unknown pipeline step {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A role that may not read storage is a deployment fault: the execution stops for a
    /// redrive once the permission is fixed; retrying cannot help and the upload is not to
    /// blame, so it is never quarantined for it.
    #[test]
    fn storage_refusing_access_stops_a_step_as_misdeployed_not_retried_or_rejected() {
        use crate::ports::BlobError;
        // As the steps convert a storage error (`?` on a Blobs call).
        let refused = StepError::from(BlobError::Forbidden("403".into()));
        assert_eq!(refused.name(), "Trove.Misdeployed");
        let flaky = StepError::from(BlobError::Unavailable("503".into()));
        assert_eq!(flaky.name(), "Trove.Retryable");
        let odd = StepError::from(BlobError::Other("500".into()));
        assert_eq!(odd.name(), "Trove.Retryable");
    }
}
