//! The webhook dispatcher: batches from the events queue (domain events to fan out, delivery
//! jobs to attempt), answered with the messages to retry (partial batch failures).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use trove_aws::delivery::{dispatcher_from_env, handle_sqs_batch};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::init_tracing();
    let ctx = trove_functions::context().await?;
    let dispatcher = dispatcher_from_env(ctx).await?;
    let dispatcher = &dispatcher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let response = handle_sqs_batch(dispatcher, event.payload).await;
        trove_functions::flush_metrics();
        Ok::<_, lambda_runtime::Error>(response)
    }))
    .await
}
