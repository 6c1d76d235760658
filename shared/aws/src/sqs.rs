//! `Events` on SQS: one message per domain event; the webhook dispatcher consumes them.

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;

use trove_core::ports::events::{TYPE_ATTRIBUTE, encode};
use trove_core::ports::{DomainEvent, EventError, Events};

pub struct SqsEvents {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsEvents {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl Events for SqsEvents {
    async fn publish(&self, event: DomainEvent) -> Result<(), EventError> {
        // Refuses what the queue would, whatever size this queue happens to take.
        let body = encode(&event)?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes(
                TYPE_ATTRIBUTE,
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(&event.kind)
                    .build()
                    .map_err(|e| EventError::Unavailable(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| EventError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}
