//! Quarantine: the upload is refused. Its object moves under `quarantine/` and the upload
//! records a reason the uploader can act on.

use crate::domain::audit_action::AuditAction;
use crate::domain::event_kind::EventKind;
use crate::domain::keys::BlobKey;
use crate::domain::model::{Upload, UploadStatus};
use crate::pipeline::{StepError, StepInput, events};
use crate::ports::BlobError;
use crate::services::Context;
use crate::services::catalog::uploads;
use crate::services::records::{audit, usage};

pub async fn run(ctx: &Context, input: &StepInput) -> Result<(), StepError> {
    let Some(mut upload) = uploads::load(ctx, &input.tenant, &input.upload_id).await? else {
        return Ok(());
    };
    if upload.status == UploadStatus::Rejected {
        // Settled by a run that stopped before the object left `incoming/` (or refused
        // before its bytes arrived): only the move is left to do.
        set_aside(ctx, &upload).await?;
        return drop_incoming(ctx, &upload).await;
    }
    if !upload.status.is_open() {
        return Ok(());
    }
    set_aside(ctx, &upload).await?;
    let from = upload.status;
    let reason = input
        .reason
        .as_deref()
        .map(readable_reason)
        .unwrap_or_else(|| "rejected by the upload pipeline".into());
    upload.status = UploadStatus::Rejected;
    upload.reason = Some(reason.clone());
    upload.updated_at = ctx.clock.now();
    let record = audit::by_pipeline(
        ctx,
        &upload,
        AuditAction::UploadReject,
        audit::Outcome::Success,
        Some(&reason),
    )?;
    let event = events::event(
        ctx,
        &upload.tenant,
        EventKind::PackageRejected,
        serde_json::json!({
            "repository": upload.repository, "package": upload.package,
            "version": upload.version, "filename": upload.filename,
            "upload_id": upload.upload_id, "reason": reason,
        }),
    );
    let announce = crate::outbox::entry(&event).map_err(|e| StepError::Retryable(e.to_string()))?;
    uploads::transition_recorded(ctx, from, &upload, [record, announce]).await?;
    usage::count(
        ctx,
        &upload.tenant,
        &upload.repository,
        &upload.package,
        &[(usage::UPLOADS_REJECTED, 1)],
    )
    .await;
    tracing::info!(tenant = %upload.tenant, upload_id = %upload.upload_id, %reason, "upload rejected");
    crate::metrics::pipeline_outcome("rejected");
    // Last: a run that fails here finds the upload settled when it is run again, which
    // announces nothing more.
    drop_incoming(ctx, &upload).await
}

/// Copies the upload's object under `quarantine/`. One already gone is fine: an earlier
/// run moved it, or it never arrived.
async fn set_aside(ctx: &Context, upload: &Upload) -> Result<(), StepError> {
    let incoming = BlobKey::incoming(&upload.tenant, &upload.upload_id);
    let aside = BlobKey::quarantine(&upload.tenant, &upload.upload_id);
    match ctx.blobs.copy(&incoming, &aside).await {
        Ok(()) | Err(BlobError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn drop_incoming(ctx: &Context, upload: &Upload) -> Result<(), StepError> {
    ctx.blobs
        .delete(&BlobKey::incoming(&upload.tenant, &upload.upload_id))
        .await
        .map_err(StepError::from)
}

/// Under Step Functions a Lambda error's Cause is the runtime's JSON
/// (`{"errorType": .., "errorMessage": ..}`); the uploader reads only the message.
fn readable_reason(cause: &str) -> String {
    #[derive(serde::Deserialize)]
    struct LambdaCause {
        #[serde(rename = "errorMessage")]
        error_message: String,
    }
    match serde_json::from_str::<LambdaCause>(cause) {
        Ok(c) => c.error_message,
        Err(_) => cause.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::readable_reason;

    #[test]
    fn lambda_error_causes_are_unwrapped() {
        let cause = r#"{"errorType":"Trove.Rejected","errorMessage":"malware: EICAR_Test_File in a.zip/eicar.com"}"#;
        assert_eq!(
            readable_reason(cause),
            "malware: EICAR_Test_File in a.zip/eicar.com"
        );
        assert_eq!(
            readable_reason("checksum mismatch: declared a, stored b"),
            "checksum mismatch: declared a, stored b"
        );
    }
}
