//! A package manager's own publish (twine's upload; npm and Cargo are meant to use it too):
//! the client sends the bytes to the API, which streams them to storage under `incoming/`,
//! records the upload, starts the same pipeline execution as the storage event would, and
//! waits (bounded) for its outcome, because these clients expect the answer in the response.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use sha2::{Digest, Sha256};

use crate::domain::audit_action::AuditAction;
use crate::domain::keys::{BlobKey, UploadId};
use crate::domain::model::{Upload, UploadStatus};
use crate::domain::names::Sha256Hex;
use crate::ports::BlobError;
use crate::services::access::caller::Caller;
use crate::services::catalog::uploads;
use crate::services::{Context, Error};

/// What the client declared about the file, besides its bytes.
#[derive(Debug, Clone)]
pub struct Declared {
    pub package: String,
    pub version: String,
    pub filename: String,
    /// Lower-case hex, when the client sent one: the stored bytes must match it.
    pub sha256: Option<String>,
}

/// Where the upload stands when the answer is given.
#[derive(Debug, Clone)]
pub enum Outcome {
    Published(Upload),
    /// Refused by the pipeline; `reason` on the upload says why.
    Rejected(Upload),
    /// Still in the pipeline when the wait ran out.
    Pending(Upload),
}

/// Counts and hashes the bytes as they pass, and stops them past the limit.
#[derive(Default)]
struct Tally {
    size: u64,
    hasher: Sha256,
    over_limit: bool,
    /// The client's body broke off or was malformed.
    broken: Option<String>,
}

/// Checks the upload, streams `body` to storage, records it, starts the pipeline and waits
/// for the outcome.
pub async fn publish<S, E>(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    declared: Declared,
    body: S,
) -> Result<Outcome, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let declared_sha256 = declared
        .sha256
        .as_deref()
        .map(Sha256Hex::parse)
        .transpose()?;
    let proposal = uploads::Proposal {
        package: &declared.package,
        version: &declared.version,
        filename: &declared.filename,
        size: None,
    };
    let admitted = uploads::admit(ctx, caller, repo, proposal, AuditAction::UploadPublish).await?;
    let repository = admitted.repository.clone();
    let target = admitted.target.clone();

    let upload_id = UploadId::new();
    let key = BlobKey::incoming(&caller.tenant, &upload_id);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let limit = repository.max_file_size;
    let counting = {
        let tally = Arc::clone(&tally);
        body.map(move |chunk| {
            let mut t = tally
                .lock()
                .map_err(|_| BlobError::Other("upload tally poisoned".into()))?;
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    t.broken = Some(e.to_string());
                    return Err(BlobError::Other(format!("upload interrupted: {e}")));
                }
            };
            t.size += chunk.len() as u64;
            if t.size > limit {
                t.over_limit = true;
                return Err(BlobError::Other("over the repository's limit".into()));
            }
            t.hasher.update(&chunk);
            Ok(chunk)
        })
    };
    let written = ctx
        .blobs
        .put_stream(&key, Box::pin(counting), "application/octet-stream")
        .await;
    let (size, sha256, over_limit, broken) = {
        let mut t = tally
            .lock()
            .map_err(|_| Error::Internal("upload tally poisoned".into()))?;
        let digest = std::mem::take(&mut t.hasher).finalize();
        (
            t.size,
            Sha256Hex::from_digest(&digest),
            t.over_limit,
            t.broken.take(),
        )
    };
    // Nothing was stored in either case: a failed write leaves no object.
    if over_limit {
        return Err(Error::TooLarge(format!(
            "file too large: it exceeds the repository limit of {} bytes",
            repository.max_file_size
        )));
    }
    if let Some(why) = broken {
        return Err(Error::Invalid(why));
    }
    written?;
    let refuse = |why: String| {
        let key = &key;
        async move {
            let _ = ctx.blobs.delete(key).await;
            Err(Error::Invalid(why))
        }
    };
    if size == 0 {
        return refuse("invalid file: it is empty".into()).await;
    }
    if let Some(declared) = &declared_sha256
        && *declared != sha256
    {
        return refuse(format!(
            "checksum mismatch: sha256_digest says {declared}, the file received is {sha256}"
        ))
        .await;
    }

    let upload = admitted.pending(ctx, caller, upload_id.clone(), size, sha256);
    if let Err(e) = uploads::record(ctx, caller, &upload, AuditAction::UploadPublish, &target).await
    {
        let _ = ctx.blobs.delete(&key).await;
        return Err(e);
    }
    // The storage event may start it too (S3 notifies of every object under incoming/): the
    // execution is named by the upload, so only one runs.
    let input = serde_json::json!({ "tenant": upload.tenant, "upload_id": upload.upload_id });
    ctx.workflow.start(upload_id.as_str(), input).await?;
    wait(ctx, upload).await
}

/// Polls the upload until the pipeline settles it or `publish_wait` runs out.
async fn wait(ctx: &Context, upload: Upload) -> Result<Outcome, Error> {
    let deadline = tokio::time::Instant::now() + ctx.settings.publish_wait;
    let mut pause = Duration::from_millis(20);
    let mut last = upload;
    loop {
        if let Some(now) = uploads::load(ctx, &last.tenant, &last.upload_id).await? {
            last = now;
        }
        match last.status {
            UploadStatus::Published => return Ok(Outcome::Published(last)),
            UploadStatus::Rejected | UploadStatus::Cancelled => {
                return Ok(Outcome::Rejected(last));
            }
            UploadStatus::Pending | UploadStatus::Scanning => {}
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(Outcome::Pending(last));
        }
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}
