//! Quarantine: the upload is refused. Its object moves under `quarantine/` and the upload
//! records a reason the uploader can act on.

use crate::domain::keys::BlobKey;
use crate::domain::model::UploadStatus;
use crate::pipeline::{StepError, StepInput, events};
use crate::ports::BlobError;
use crate::services::{Context, uploads};

pub async fn run(ctx: &Context, input: &StepInput) -> Result<(), StepError> {
    let Some(mut upload) = uploads::load(ctx, &input.tenant, &input.upload_id).await? else {
        return Ok(());
    };
    if !upload.status.is_open() {
        return Ok(());
    }
    let incoming = BlobKey::incoming(&upload.tenant, &upload.upload_id);
    match ctx
        .blobs
        .copy(
            &incoming,
            &BlobKey::quarantine(&upload.tenant, &upload.upload_id),
        )
        .await
    {
        Ok(()) | Err(BlobError::NotFound) => {}
        Err(e) => return Err(StepError::Retryable(e.to_string())),
    }
    let from = upload.status;
    let reason = input
        .reason
        .clone()
        .unwrap_or_else(|| "rejected by the upload pipeline".into());
    upload.status = UploadStatus::Rejected;
    upload.reason = Some(reason.clone());
    upload.updated_at = ctx.clock.now();
    uploads::transition(ctx, from, &upload).await?;
    ctx.blobs
        .delete(&incoming)
        .await
        .map_err(|e| StepError::Retryable(e.to_string()))?;
    tracing::info!(tenant = %upload.tenant, upload_id = %upload.upload_id, %reason, "upload rejected");
    let event = events::event(
        ctx,
        &upload.tenant,
        "package.rejected",
        serde_json::json!({
            "repository": upload.repository, "package": upload.package,
            "version": upload.version, "filename": upload.filename,
            "upload_id": upload.upload_id, "reason": reason,
        }),
    );
    events::publish(ctx, event).await;
    Ok(())
}
