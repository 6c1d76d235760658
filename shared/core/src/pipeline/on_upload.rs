//! The storage event handler: an object landed under `incoming/`, start its pipeline.

use aws_lambda_events::event::s3::S3Event;

use crate::domain::keys::{BlobKey, OPEN_UPLOADS};
use crate::domain::model::{Upload, from_item};
use crate::ports::table::query_all;
use crate::ports::{Index, Query};
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

/// After a crash, an object may have landed without its event being handled: start the
/// pipeline of every open upload whose object is present (starting is idempotent).
pub async fn reconcile_open_uploads(ctx: &Context) -> Result<usize, Error> {
    let mut open = Vec::new();
    for partition in OPEN_UPLOADS.partitions() {
        let query = Query::new(partition).index(Index::Gsi1).limit(500);
        open.extend(query_all(ctx.table.as_ref(), query).await?);
    }
    let mut started = 0;
    for item in open {
        let upload: Upload = from_item(item)?;
        if !upload.status.is_open() {
            continue;
        }
        let key = BlobKey::incoming(&upload.tenant, &upload.upload_id);
        if ctx.blobs.head(&key).await?.is_some() {
            let input =
                serde_json::json!({ "tenant": upload.tenant, "upload_id": upload.upload_id });
            ctx.workflow.start(upload.upload_id.as_str(), input).await?;
            started += 1;
        }
    }
    Ok(started)
}
