//! The webhook dispatcher, with two sources: batches from the events queue (domain events to
//! fan out, delivery jobs to attempt), and the table's stream of outbox entries, which it
//! relays onto the events queue (`trove_aws::outbox_stream`). Each is answered with the
//! records to retry (partial batch failures).
//!
//! One function for both: the relay needs nothing the dispatcher's role lacks, and a function
//! of its own would cost the stack four resources of its 500.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use trove_aws::delivery::{dispatcher_from_env, handle_sqs_batch};
use trove_aws::outbox_stream::{StreamEvent, handle_stream_batch};

/// The `eventSource` of a DynamoDB stream's records.
const STREAM_SOURCE: &str = "aws:dynamodb";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::init_tracing();
    let ctx = trove_functions::context().await?;
    let dispatcher = dispatcher_from_env(ctx.clone()).await?;
    let (dispatcher, ctx) = (&dispatcher, &ctx);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let payload = event.payload;
        let response = if payload["Records"][0]["eventSource"] == STREAM_SOURCE {
            let batch: StreamEvent = serde_json::from_value(payload)?;
            serde_json::to_value(handle_stream_batch(ctx, batch).await)?
        } else {
            let batch: SqsEvent = serde_json::from_value(payload)?;
            serde_json::to_value(handle_sqs_batch(dispatcher, batch).await)?
        };
        trove_functions::flush_metrics();
        Ok::<_, lambda_runtime::Error>(response)
    }))
    .await
}
