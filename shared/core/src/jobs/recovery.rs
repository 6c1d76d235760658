//! What the hourly cleanup picks up that an event should have started: open uploads whose
//! bytes landed without their pipeline running (an S3 event Lambda dropped after its retries,
//! an on-upload function that failed, a process that died) or whose execution failed without
//! settling them (`Unfinished`, `Misdeployed`: a new execution, hourly, up to
//! `on_upload::MAX_EXECUTIONS`), webhook deliveries whose queued job was lost, and, on AWS,
//! outbox entries the table's stream did not relay (`outbox::STRAGGLER_AGE`). `trove serve`
//! also does the first two on start and sweeps deliveries every minute, and its relay reads
//! the outbox itself; in AWS nothing else would, so an upload would stay `pending` for ever.

use serde::Serialize;

use crate::faults::Faults;
use crate::outbox;
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
    /// Events that waited in the outbox longer than the stream takes, relayed now. `None`
    /// when this host's relay reads the outbox on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_events_relayed: Option<usize>,
    pub errors: Vec<String>,
}

/// The most stale outbox entries one run relays; the next run goes on.
const STALE_EVENTS_PER_RUN: usize = 10_000;

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
        let written_by = ctx.clock.now() - outbox::STRAGGLER_AGE;
        match outbox::relay_waiting(
            ctx,
            Some(written_by),
            STALE_EVENTS_PER_RUN,
            &Faults::default(),
        )
        .await
        {
            Ok(pass) => {
                recovery.stale_events_relayed = Some(pass.relayed);
                if pass.failed > 0 {
                    recovery
                        .errors
                        .push(format!("outbox: {} events not relayed", pass.failed));
                }
            }
            Err(e) => recovery.errors.push(format!("outbox: {e}")),
        }
        match dispatcher.sweep().await {
            Ok(n) => recovery.webhook_deliveries_requeued = Some(n),
            Err(e) => recovery.errors.push(format!("webhook deliveries: {e}")),
        }
    }
    let relayed = recovery.stale_events_relayed.unwrap_or(0);
    if recovery.uploads_restarted > 0
        || recovery.webhook_deliveries_requeued.unwrap_or(0) > 0
        || relayed > 0
    {
        tracing::warn!(
            uploads = recovery.uploads_restarted,
            deliveries = recovery.webhook_deliveries_requeued,
            events = relayed,
            "cleanup restarted work whose event was lost"
        );
    }
    recovery
}
