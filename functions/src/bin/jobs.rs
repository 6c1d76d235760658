//! The scheduled jobs, one function each; the function's `Handler` (`_HANDLER`) names the
//! job (`cleanup`, `report`). EventBridge invokes them on the timetable of
//! `shared::jobs::schedule::SCHEDULES`; the event's `detail` may ask for `{"dry_run": true}`.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use shared::jobs::schedule::{self, Job};

#[derive(Debug, Default, serde::Deserialize)]
struct Detail {
    #[serde(default)]
    dry_run: bool,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::init_tracing();
    let name = std::env::var("_HANDLER").map_err(|_| "_HANDLER names the job")?;
    let job = Job::parse(&name).ok_or_else(|| format!("_HANDLER {name:?} is no job"))?;
    let ctx = trove_functions::context().await?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| {
            let ctx = ctx.clone();
            async move {
                let detail: Detail =
                    serde_json::from_value(event.payload.detail).unwrap_or_default();
                let options = schedule::RunOptions {
                    dry_run: detail.dry_run,
                    date: None,
                };
                let summary = schedule::run(&ctx, job, options).await;
                trove_functions::flush_metrics();
                Ok::<_, lambda_runtime::Error>(summary?)
            }
        },
    ))
    .await
}
