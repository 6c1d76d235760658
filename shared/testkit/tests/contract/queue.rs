//! The webhook delivery queue on SQS (moto): delays are honoured and capped at SQS's 15
//! minutes, jobs carry their `kind` attribute so the dispatcher tells them from domain
//! events, and dead letters reach their own queue.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsMessage, SqsMessageAttribute};
use trove_aws::delivery::{
    KIND_ATTRIBUTE, KIND_DELIVERY_JOB, Message, SqsDeliveryQueue, parse_message,
};
use trove_core::ports::delivery::DeliveryQueue;
use trove_core::webhooks::model::DeliveryJob;

use crate::{moto, unique};

async fn queue(client: &aws_sdk_sqs::Client) -> String {
    client
        .create_queue()
        .queue_name(unique("webhooks"))
        .send()
        .await
        .expect("queue created")
        .queue_url
        .expect("queue url")
}

async fn receive(
    client: &aws_sdk_sqs::Client,
    url: &str,
    wait: i32,
) -> Vec<aws_sdk_sqs::types::Message> {
    client
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(wait)
        .message_attribute_names("All")
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
}

/// The SDK's message as the Lambda event carries it.
fn as_event_message(m: &aws_sdk_sqs::types::Message) -> SqsMessage {
    let mut out = SqsMessage::default();
    out.message_id = m.message_id.clone();
    out.body = m.body.clone();
    out.message_attributes = m
        .message_attributes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let mut attr = SqsMessageAttribute::default();
            attr.string_value = value.string_value;
            attr.data_type = Some(value.data_type);
            (name, attr)
        })
        .collect::<HashMap<_, _>>();
    out
}

fn job(id: &str) -> DeliveryJob {
    DeliveryJob {
        tenant: "acme".into(),
        webhook_id: "wh_contract".into(),
        delivery_id: id.into(),
        due_ms: 1_700_000_000_000,
        enqueued_ms: 1_699_999_999_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_jobs_round_trip_with_delay_and_kind() {
    let client = aws_sdk_sqs::Client::new(&moto::sdk_config().await);
    let main = queue(&client).await;
    let dlq = queue(&client).await;
    let port = SqsDeliveryQueue::new(client.clone(), main.clone(), dlq.clone());

    port.send(job("d-delayed"), Duration::from_secs(2))
        .await
        .expect("sent with a delay");
    assert!(
        receive(&client, &main, 0).await.is_empty(),
        "a delayed job is not visible at once"
    );
    let mut got = Vec::new();
    for _ in 0..10 {
        got = receive(&client, &main, 1).await;
        if !got.is_empty() {
            break;
        }
    }
    assert_eq!(got.len(), 1, "the job arrives after its delay");
    let message = as_event_message(&got[0]);
    assert_eq!(
        message.message_attributes[KIND_ATTRIBUTE]
            .string_value
            .as_deref(),
        Some(KIND_DELIVERY_JOB)
    );
    match parse_message(&message) {
        Ok(Message::Job(parsed)) => assert_eq!(parsed, job("d-delayed")),
        other => panic!("{other:?}"),
    }

    // Longer than SQS allows: sent with the longest delay instead of failing.
    port.send(job("d-later"), Duration::from_secs(7200))
        .await
        .expect("a long delay is capped");

    port.dead_letter(job("d-dead"))
        .await
        .expect("dead-lettered");
    let dead = receive(&client, &dlq, 1).await;
    assert_eq!(dead.len(), 1);
    assert!(
        matches!(parse_message(&as_event_message(&dead[0])), Ok(Message::Job(j)) if j.delivery_id == "d-dead")
    );
}
