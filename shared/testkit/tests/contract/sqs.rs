//! SQS on moto as a consumer sees it: a queue of its own per test, and messages received,
//! deleted and turned into what the Lambda event source hands the dispatcher.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsMessage, SqsMessageAttribute};

use crate::{moto, unique};

pub async fn client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&moto::sdk_config().await)
}

/// A fresh queue; its URL.
pub async fn queue(client: &aws_sdk_sqs::Client, prefix: &str) -> String {
    client
        .create_queue()
        .queue_name(unique(prefix))
        .send()
        .await
        .expect("moto creates the queue")
        .queue_url
        .expect("queue url")
}

/// Up to 10 messages, waiting at most `wait_seconds` for the first; each is deleted, as the
/// event source mapping does after a successful batch, so none comes back.
pub async fn receive(
    client: &aws_sdk_sqs::Client,
    url: &str,
    wait_seconds: i32,
) -> Vec<SqsMessage> {
    let messages = client
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(wait_seconds)
        .message_attribute_names("All")
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    for m in &messages {
        if let Some(handle) = &m.receipt_handle {
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(handle)
                .send()
                .await
                .expect("delete");
        }
    }
    messages.iter().map(as_event_message).collect()
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

/// A queue attribute as a number (`ApproximateNumberOfMessagesDelayed`, …).
pub async fn count(client: &aws_sdk_sqs::Client, url: &str, name: &str) -> u64 {
    let attr = aws_sdk_sqs::types::QueueAttributeName::from(name);
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(attr.clone())
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| a.get(&attr).cloned())
        .and_then(|v| v.parse().ok())
        .expect("a numeric attribute")
}
