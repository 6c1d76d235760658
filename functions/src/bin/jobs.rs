//! The scheduled jobs, one function each; the function's `Handler` (`_HANDLER`) names the
//! job (`cleanup`, `report`). EventBridge invokes them on the timetable of
//! `trove_core::jobs::schedule::SCHEDULES`; the event's `detail` may ask for `{"dry_run": true}`.
//! An operator may invoke either directly with `{"operator": {...}}`
//! (`trove_core::jobs::operator`), e.g. to give a locked-out tenant an admin key again.

use lambda_runtime::{LambdaEvent, service_fn};
use trove_core::jobs::operator::{self, Invocation};
use trove_core::jobs::schedule::Job;

/// When a run must stop starting new work: with a tenth of the invocation's time left (90 s
/// of the jobs' 15 minutes), for the last tenant's work and the summary to finish.
fn deadline(context: &lambda_runtime::Context) -> Option<time::OffsetDateTime> {
    let end = i128::from(context.deadline) * 1_000_000;
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    if end <= now {
        return None;
    }
    time::OffsetDateTime::from_unix_timestamp_nanos(end - (end - now) / 10).ok()
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::init_tracing();
    let name = std::env::var("_HANDLER").map_err(|_| "_HANDLER names the job")?;
    let job = Job::parse(&name).ok_or_else(|| format!("_HANDLER {name:?} is no job"))?;
    let ctx = trove_functions::context().await?;
    // The cleanup sweeps the webhook deliveries whose queued job was lost: nothing else in
    // AWS would (the dispatcher only runs when a message arrives).
    let webhooks = match job {
        Job::Cleanup => Some(
            trove_aws::delivery::dispatcher_from_env(ctx.clone())
                .await
                .map_err(|e| format!("webhook dispatcher: {e}"))?,
        ),
        Job::Report => None,
    };
    let webhooks = webhooks.as_ref();
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let ctx = ctx.clone();
        async move {
            let invocation = Invocation::parse(&event.payload)?;
            let summary =
                operator::handle(&ctx, job, invocation, webhooks, deadline(&event.context)).await;
            trove_functions::flush_metrics();
            Ok::<_, lambda_runtime::Error>(summary?)
        }
    }))
    .await
}
