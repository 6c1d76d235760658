//! The scheduled jobs in `trove serve`: EventBridge's timetable (`jobs::schedule::SCHEDULES`,
//! the expressions the template deploys) kept by tokio timers.

use std::sync::Arc;
use std::time::Duration;

use trove_core::jobs::schedule::{RunOptions, SCHEDULES, run};
use trove_core::services::Context;

/// Runs every scheduled job on its timetable until the returned handles are aborted. A run
/// that fails is logged; the next one comes at its time (both jobs are idempotent and
/// repair what an interrupted run left).
pub fn spawn(ctx: Arc<Context>) -> Vec<tokio::task::JoinHandle<()>> {
    SCHEDULES
        .iter()
        .map(|schedule| {
            let ctx = Arc::clone(&ctx);
            let schedule = *schedule;
            tokio::spawn(async move {
                loop {
                    let now = ctx.clock.now();
                    let next = schedule.next_after(now);
                    let wait = (next - now).try_into().unwrap_or(Duration::from_secs(1));
                    tokio::time::sleep(wait).await;
                    let job = schedule.job.name();
                    match run(&ctx, schedule.job, RunOptions::default()).await {
                        Ok(summary) => tracing::info!(job, %summary, "scheduled job done"),
                        Err(e) => tracing::error!(job, error = %e, "scheduled job failed"),
                    }
                }
            })
        })
        .collect()
}
