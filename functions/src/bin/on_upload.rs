//! On-upload: an S3 `ObjectCreated` event under `incoming/` starts the upload's pipeline.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{LambdaEvent, service_fn};
use trove_core::pipeline::on_upload;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::init_tracing();
    let ctx = trove_functions::context().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<S3Event>| {
        let ctx = ctx.clone();
        async move {
            let started = on_upload::handle(&ctx, &event.payload).await;
            trove_functions::flush_metrics();
            let started = started?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "started": started }))
        }
    }))
    .await
}
