//! The storage event handler: an object landed under `incoming/`, start its pipeline.

use aws_lambda_events::event::s3::S3Event;

use crate::domain::keys::{BlobKey, OPEN_UPLOADS};
use crate::domain::model::{Upload, from_item};
use crate::ports::table::query_all;
use crate::ports::{ExecutionStatus, Index, Query};
use crate::services::catalog::uploads;
use crate::services::{Context, Error};

/// Starts one execution per uploaded object, named by the upload id, so a repeated event
/// starts nothing new. Keys outside `incoming/` are ignored.
pub async fn handle(ctx: &Context, event: &S3Event) -> Result<Vec<String>, Error> {
    let mut started = Vec::new();
    for record in &event.records {
        let Some(raw) = record.s3.object.key.as_deref() else {
            continue;
        };
        // S3 event keys are URL-encoded (spaces as '+'); ours never need encoding.
        let Some((tenant, upload_id)) = BlobKey::parse_incoming(raw) else {
            tracing::info!(key = raw, "ignoring object outside incoming/");
            continue;
        };
        match uploads::load(ctx, &tenant, &upload_id).await? {
            Some(upload) if upload.status.is_open() => {}
            Some(upload) => {
                // A presigned URL stays valid after its upload settled; bytes PUT again
                // then have no pipeline to go through and must not linger.
                tracing::info!(%tenant, %upload_id, status = ?upload.status, "removing object re-sent after its upload settled");
                ctx.blobs
                    .delete(&BlobKey::incoming(&tenant, &upload_id))
                    .await?;
                continue;
            }
            None => {
                tracing::warn!(%tenant, %upload_id, "object for an unknown upload; left for cleanup");
                continue;
            }
        }
        let input = serde_json::json!({ "tenant": tenant, "upload_id": upload_id });
        let id = ctx.workflow.start(upload_id.as_str(), input).await?;
        tracing::info!(%tenant, %upload_id, execution = %id, "pipeline started");
        started.push(id);
    }
    Ok(started)
}

/// Executions an open upload gets before recovery stops restarting it: its first and the
/// restarts after it (one a run of the hourly cleanup: a day's worth). Past them the upload
/// waits for the abandoned-upload cleanup, and the failed executions have fired the
/// pipeline alarm.
pub const MAX_EXECUTIONS: u32 = 25;

/// What recovery did with the open uploads whose bytes are stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reconciled {
    /// Uploads whose pipeline is running or was (re)started.
    pub started: usize,
    /// Of those, uploads whose last execution had failed without settling them (an
    /// infrastructure fault outlived its retries, or a step was misdeployed), given a new one.
    pub restarted_after_failure: usize,
    /// Uploads whose every execution failed: left open, for the expiry of abandoned uploads.
    pub given_up: Vec<String>,
}

/// The name of an upload's `attempt`-th execution: the upload id, then `<id>-r2`, `<id>-r3`…
pub fn execution_name(upload_id: &str, attempt: u32) -> String {
    if attempt <= 1 {
        upload_id.to_owned()
    } else {
        format!("{upload_id}-r{attempt}")
    }
}

/// After a crash, an object may have landed without its event being handled, and an
/// execution may have failed without settling its upload (it ends in `Unfinished` or
/// `Misdeployed`, the upload still open). For every open upload whose object is present:
/// its executions in order, each started if it does not exist (starting is idempotent), up
/// to the first that has not failed; a failed one is followed by the next.
pub async fn reconcile_open_uploads(ctx: &Context) -> Result<Reconciled, Error> {
    let mut open = Vec::new();
    for partition in OPEN_UPLOADS.partitions() {
        let query = Query::new(partition).index(Index::Gsi1).limit(500);
        open.extend(query_all(ctx.table.as_ref(), query).await?);
    }
    let mut reconciled = Reconciled::default();
    for item in open {
        let upload: Upload = from_item(item)?;
        if !upload.status.is_open() {
            continue;
        }
        let key = BlobKey::incoming(&upload.tenant, &upload.upload_id);
        if ctx.blobs.head(&key).await?.is_none() {
            continue;
        }
        let input = serde_json::json!({ "tenant": upload.tenant, "upload_id": upload.upload_id });
        let mut live = false;
        for attempt in 1..=MAX_EXECUTIONS {
            let name = execution_name(upload.upload_id.as_str(), attempt);
            match ctx.workflow.describe(&ctx.workflow.id_of(&name)).await? {
                Some(execution) if execution.status == ExecutionStatus::Failed => continue,
                Some(_) => {}
                None => {
                    let id = ctx.workflow.start(&name, input.clone()).await?;
                    if attempt > 1 {
                        tracing::warn!(tenant = %upload.tenant, upload_id = %upload.upload_id, execution = %id, "pipeline restarted after a failed execution");
                        reconciled.restarted_after_failure += 1;
                    }
                }
            }
            live = true;
            break;
        }
        if live {
            reconciled.started += 1;
        } else {
            tracing::error!(tenant = %upload.tenant, upload_id = %upload.upload_id, "every execution of the upload failed; not restarted again");
            reconciled
                .given_up
                .push(format!("{}/{}", upload.tenant, upload.upload_id));
        }
    }
    Ok(reconciled)
}
