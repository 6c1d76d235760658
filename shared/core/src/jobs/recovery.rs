//! What the hourly cleanup picks up that an event should have started: open uploads whose
//! bytes landed without their pipeline running (an S3 event Lambda dropped after its retries,
//! an on-upload function that failed, a process that died) or whose execution failed without
//! settling them (`Unfinished`, `Misdeployed`: a new execution, hourly, up to
//! `on_upload::MAX_EXECUTIONS`), and webhook deliveries whose queued job was lost. `trove serve` also does both on start and sweeps deliveries every
//! minute; in AWS nothing else would, so an upload would stay `pending` for ever.

use serde::Serialize;

use crate::pipeline::on_upload;
use crate::services::Context;
use crate::webhooks::dispatcher::Dispatcher;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Recovery {
    /// Open uploads whose object is stored and whose pipeline was (re)started; starting is
    /// idempotent (the execution is named by the upload), so a running one is left as it is.
    pub uploads_restarted: usize,
    /// Of those, uploads whose last execution had failed without settling them, given a
    /// new execution (`<upload>-r2`, …).
    pub failed_executions_restarted: usize,
    /// Pending webhook deliveries queued again (due, or abandoned by a dead dispatcher).
    /// `None` when this host's dispatcher sweeps on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_deliveries_requeued: Option<usize>,
    pub errors: Vec<String>,
}

/// Restarts what was lost. A dry run restarts nothing. Failures are reported, not returned:
/// the next run tries again.
pub async fn run(ctx: &Context, dry_run: bool, webhooks: Option<&Dispatcher>) -> Recovery {
    let mut recovery = Recovery::default();
    if dry_run {
        return recovery;
    }
    match on_upload::reconcile_open_uploads(ctx).await {
        Ok(reconciled) => {
            recovery.uploads_restarted = reconciled.started;
            recovery.failed_executions_restarted = reconciled.restarted_after_failure;
            recovery
                .errors
                .extend(reconciled.given_up.iter().map(|upload| {
                    format!(
                        "upload {upload}: its {} executions failed; not restarted again",
                        on_upload::MAX_EXECUTIONS
                    )
                }));
        }
        Err(e) => recovery.errors.push(format!("open uploads: {e}")),
    }
    if let Some(dispatcher) = webhooks {
        match dispatcher.sweep().await {
            Ok(n) => recovery.webhook_deliveries_requeued = Some(n),
            Err(e) => recovery.errors.push(format!("webhook deliveries: {e}")),
        }
    }
    if recovery.uploads_restarted > 0 || recovery.webhook_deliveries_requeued.unwrap_or(0) > 0 {
        tracing::warn!(
            uploads = recovery.uploads_restarted,
            deliveries = recovery.webhook_deliveries_requeued,
            "cleanup restarted work whose event was lost"
        );
    }
    recovery
}
