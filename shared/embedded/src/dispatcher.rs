//! The dispatcher inside `trove serve`: events handed over by `LocalEvents` (from the
//! outbox relay), jobs from `LocalQueue`'s timers, and a sweep of the pending deliveries on start and every minute (what a previous
//! process left, or a timer lost with it). A `kill -9` loses the timers and any attempt in
//! flight; the sweep on start queues them again at once (see `lease` for how the attempts
//! of a dead process are told apart).

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::LocalEvents;
use crate::queue::LocalQueue;
use trove_core::faults::Faults;
use trove_core::services::{Context, Error};
use trove_core::webhooks::dispatcher::Dispatcher;

const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Starts the dispatcher on the current tokio runtime, registered among the dispatchers
/// whose lock files are in `holders_dir`. It runs while the returned handle lives (the host
/// keeps it); dropping it stops the loop.
pub fn start(
    ctx: Arc<Context>,
    events: &LocalEvents,
    holders_dir: &Path,
    faults: Faults,
) -> Result<Arc<Dispatcher>, Error> {
    let (queue, mut jobs) = LocalQueue::new();
    let dispatcher = Dispatcher::new(ctx, Arc::new(queue))?
        .with_holder_locks(holders_dir)
        .map_err(|e| {
            Error::Internal(format!(
                "cannot lock the webhook dispatcher's file in {}: {e}",
                holders_dir.display()
            ))
        })?
        .with_faults(faults);
    let dispatcher = Arc::new(dispatcher);
    let weak: Weak<Dispatcher> = Arc::downgrade(&dispatcher);
    events.consume_with(weak.clone());
    let starting = Arc::clone(&dispatcher);
    tokio::spawn(async move {
        match starting.sweep_on_start().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "webhook deliveries picked up"),
            Err(e) => tracing::error!(error = %e, "webhook sweep on start failed"),
        }
    });
    tokio::spawn(async move {
        let mut sweep =
            tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_EVERY, SWEEP_EVERY);
        loop {
            tokio::select! {
                job = jobs.recv() => {
                    let Some(job) = job else { return };
                    let Some(d) = weak.upgrade() else { return };
                    tokio::spawn(async move {
                        if let Err(e) = d.run_job(&job).await {
                            // The delivery stays pending in the table; the sweep retries it.
                            tracing::error!(error = %e, delivery = %job.delivery_id, "webhook delivery job failed");
                        }
                    });
                }
                _ = sweep.tick() => {
                    let Some(d) = weak.upgrade() else { return };
                    tokio::spawn(async move {
                        if let Err(e) = d.sweep().await {
                            tracing::error!(error = %e, "webhook sweep failed");
                        }
                    });
                }
            }
        }
    });
    Ok(dispatcher)
}
