//! The dispatcher inside `trove serve`: events from `LocalEvents`, jobs from `LocalQueue`'s
//! timers, and a sweep of the pending deliveries on start and every minute (what a previous
//! process left, or a timer lost with it).

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::adapters::local::LocalEvents;
use crate::services::{Context, Error};
use crate::webhooks::dispatcher::Dispatcher;
use crate::webhooks::queue::LocalQueue;

const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Starts the dispatcher on the current tokio runtime. It runs while the returned handle
/// lives (the host keeps it); dropping it stops the loop.
pub fn start(ctx: Arc<Context>, events: &LocalEvents) -> Result<Arc<Dispatcher>, Error> {
    let (queue, mut jobs) = LocalQueue::new();
    let dispatcher = Arc::new(Dispatcher::new(ctx, Arc::new(queue))?);
    let weak: Weak<Dispatcher> = Arc::downgrade(&dispatcher);
    let mut received = events.subscribe();
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                event = received.recv() => {
                    let event = match event {
                        Ok(event) => event,
                        Err(RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "webhook dispatcher fell behind; events missed");
                            continue;
                        }
                        Err(RecvError::Closed) => return,
                    };
                    let Some(d) = weak.upgrade() else { return };
                    tokio::spawn(async move {
                        if let Err(e) = d.on_event(&event).await {
                            tracing::error!(error = %e, event = %event.kind, "webhook fan-out failed");
                        }
                    });
                }
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
