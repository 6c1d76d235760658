//! The dispatcher in AWS: delivery jobs ride the events queue (told apart from domain
//! events by the `kind` message attribute), exhausted deliveries go to the webhook DLQ, and
//! one Lambda function consumes the queue with `handle_sqs_batch`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::env;
use trove_core::ports::DomainEvent;
use trove_core::ports::delivery::{DeliveryQueue, QueueError};
use trove_core::services::Context;
use trove_core::webhooks::dispatcher::Dispatcher;
use trove_core::webhooks::lease::Receipt;
use trove_core::webhooks::model::DeliveryJob;

/// The message attribute that marks a delivery job; messages without it are domain events.
pub const KIND_ATTRIBUTE: &str = "kind";
pub const KIND_DELIVERY_JOB: &str = "webhook.delivery";
/// SQS delays a message by at most 15 minutes; later jobs hop (see `Dispatcher::run_job`).
pub const MAX_DELAY: Duration = Duration::from_secs(900);

pub struct SqsDeliveryQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    dead_letter_url: String,
}

impl SqsDeliveryQueue {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        dead_letter_url: impl Into<String>,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dead_letter_url: dead_letter_url.into(),
        }
    }

    async fn put(&self, url: &str, job: &DeliveryJob, delay: Duration) -> Result<(), QueueError> {
        let body = serde_json::to_string(job)
            .map_err(|e| QueueError::Unavailable(format!("cannot encode job: {e}")))?;
        let kind = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(KIND_DELIVERY_JOB)
            .build()
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .delay_seconds(delay_seconds(delay))
            .message_attributes(KIND_ATTRIBUTE, kind)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

/// SQS counts a delay in whole seconds, at most 15 minutes. Rounded up: a job handed back a
/// moment before its time is sent on with what is left of it, so rounding down would bring it
/// back early again and again until the last second ran out.
fn delay_seconds(delay: Duration) -> i32 {
    let secs = delay.min(MAX_DELAY).as_millis().div_ceil(1000);
    i32::try_from(secs).unwrap_or(i32::MAX).min(900)
}

#[async_trait]
impl DeliveryQueue for SqsDeliveryQueue {
    async fn send(&self, job: DeliveryJob, delay: Duration) -> Result<(), QueueError> {
        self.put(&self.queue_url, &job, delay).await
    }

    async fn dead_letter(&self, job: DeliveryJob) -> Result<(), QueueError> {
        self.put(&self.dead_letter_url, &job, Duration::ZERO).await
    }
}

/// The dispatcher over AWS: reads `TROVE_EVENTS_QUEUE_URL` (jobs share the events queue)
/// and `TROVE_WEBHOOK_DLQ_URL`, with the SDK configuration of `ctx`'s adapters.
pub async fn dispatcher_from_env(ctx: Arc<Context>) -> Result<Dispatcher, String> {
    let queue_url = env::events_queue_url().map_err(|e| e.to_string())?;
    let dlq_url = env::required(
        "TROVE_WEBHOOK_DLQ_URL",
        "the SQS queue of webhook deliveries that gave up",
    )
    .map_err(|e| e.to_string())?;
    let config = crate::AwsConfig::from_env().map_err(|e| e.to_string())?;
    let sdk = config.sdk_config();
    let queue = SqsDeliveryQueue::new(crate::meter::sqs(&sdk), queue_url, dlq_url);
    Dispatcher::new(ctx, Arc::new(queue)).map_err(|e| e.to_string())
}

/// What a queue message carries.
#[derive(Debug)]
pub enum Message {
    Job(DeliveryJob),
    Event(DomainEvent),
}

pub fn parse_message(message: &SqsMessage) -> Result<Message, String> {
    let body = message.body.as_deref().ok_or("message without a body")?;
    let kind = message
        .message_attributes
        .get(KIND_ATTRIBUTE)
        .and_then(|a| a.string_value.as_deref());
    if kind == Some(KIND_DELIVERY_JOB) {
        serde_json::from_str(body)
            .map(Message::Job)
            .map_err(|e| format!("bad delivery job: {e}"))
    } else {
        serde_json::from_str(body)
            .map(Message::Event)
            .map_err(|e| format!("bad domain event: {e}"))
    }
}

/// Which hand-over of which message this is, when SQS says (Lambda's event source passes
/// `ApproximateReceiveCount`): a later one knows the handler of the earlier one died.
pub fn receipt_of(message: &SqsMessage) -> Option<Receipt> {
    let message_id = message.message_id.clone().filter(|id| !id.is_empty())?;
    let receive_count = message
        .attributes
        .get("ApproximateReceiveCount")?
        .parse()
        .ok()?;
    Some(Receipt {
        message_id,
        receive_count,
    })
}

/// Handles a batch from the events queue. Messages that fail for a transient reason are
/// reported back (partial batch failure) and come again; a message that cannot be parsed
/// never will be, so it is logged and dropped.
pub async fn handle_sqs_batch(dispatcher: &Dispatcher, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in &event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let result = match parse_message(message) {
            Ok(Message::Job(job)) => {
                dispatcher
                    .run_received_job(&job, receipt_of(message).as_ref())
                    .await
            }
            Ok(Message::Event(event)) => dispatcher.on_event(&event).await,
            Err(e) => {
                tracing::error!(message = %id, error = %e, "queue message dropped");
                continue;
            }
        };
        if let Err(e) = result {
            tracing::warn!(message = %id, error = %e, "queue message will be retried");
            response.add_failure(id);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_lambda_events::event::sqs::SqsMessageAttribute;

    use super::*;

    #[test]
    fn a_delay_is_rounded_up_to_whole_seconds_and_capped_at_fifteen_minutes() {
        let ms = Duration::from_millis;
        assert_eq!(delay_seconds(Duration::ZERO), 0);
        assert_eq!(delay_seconds(ms(1)), 1, "never sent back at once early");
        assert_eq!(delay_seconds(ms(899_600)), 900);
        assert_eq!(delay_seconds(ms(5_000)), 5);
        assert_eq!(delay_seconds(Duration::from_secs(7_200)), 900);
        assert_eq!(delay_seconds(Duration::MAX), 900);
    }

    fn message(body: &str, kind: Option<&str>) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some("m1".into());
        m.body = Some(body.into());
        if let Some(kind) = kind {
            let mut attr = SqsMessageAttribute::default();
            attr.string_value = Some(kind.into());
            attr.data_type = Some("String".into());
            m.message_attributes = HashMap::from([(KIND_ATTRIBUTE.to_owned(), attr)]);
        }
        m
    }

    #[test]
    fn messages_are_told_apart_by_their_kind() {
        let job = DeliveryJob {
            tenant: "acme".into(),
            webhook_id: "wh_1".into(),
            delivery_id: "d1".into(),
            due_ms: 5,
            enqueued_ms: 1,
        };
        let body = serde_json::to_string(&job).expect("json");
        match parse_message(&message(&body, Some(KIND_DELIVERY_JOB))) {
            Ok(Message::Job(parsed)) => assert_eq!(parsed, job),
            other => panic!("{other:?}"),
        }
        let event = r#"{"id":"e","type":"package.published","tenant":"acme","occurred_at":"2026-01-01T00:00:00Z","data":{}}"#;
        assert!(matches!(
            parse_message(&message(event, None)),
            Ok(Message::Event(_))
        ));
        // Read by the kind its attribute names, never by what the body looks like.
        let err = parse_message(&message(&body, None)).expect_err("a job without its kind");
        assert!(err.starts_with("bad domain event: "), "{err}");
        let err = parse_message(&message("{}", Some(KIND_DELIVERY_JOB))).expect_err("empty job");
        assert!(err.starts_with("bad delivery job: missing field"), "{err}");
        let mut bodiless = message("{}", None);
        bodiless.body = None;
        assert_eq!(
            parse_message(&bodiless).expect_err("no body"),
            "message without a body"
        );
    }

    #[test]
    fn a_receipt_names_the_message_and_its_hand_over() {
        let mut m = message("{}", Some(KIND_DELIVERY_JOB));
        assert_eq!(receipt_of(&m), None, "no count, no receipt");
        m.attributes
            .insert("ApproximateReceiveCount".into(), "3".into());
        assert_eq!(
            receipt_of(&m),
            Some(Receipt {
                message_id: "m1".into(),
                receive_count: 3
            })
        );
        m.attributes
            .insert("ApproximateReceiveCount".into(), "many".into());
        assert_eq!(receipt_of(&m), None);
    }
}
