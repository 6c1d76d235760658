//! `Events`: domain events for integrations (webhooks consume them in a later issue).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// CloudEvents-compatible envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub tenant: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub data: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    #[error("event of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
}

/// The most an event may take as an SQS message: 256 KiB, SQS's classic limit (queues
/// created with the default now take up to 1 MiB; older ones, and any queue configured
/// lower, do not). Every adapter refuses a larger event, so an event the embedded bus takes
/// is one the AWS queue takes too.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// The name of the SQS message attribute that carries the event's type.
pub const TYPE_ATTRIBUTE: &str = "type";

/// The event's JSON envelope, refused when the message would exceed [`MAX_EVENT_BYTES`]:
/// SQS counts the body and each attribute's name, data type (`String`) and value.
pub fn encode(event: &DomainEvent) -> Result<String, EventError> {
    let body = serde_json::to_string(event)
        .map_err(|e| EventError::Unavailable(format!("cannot encode event: {e}")))?;
    let size = body.len() + TYPE_ATTRIBUTE.len() + "String".len() + event.kind.len();
    if size > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge {
            size,
            limit: MAX_EVENT_BYTES,
        });
    }
    Ok(body)
}

#[async_trait]
pub trait Events: Send + Sync {
    /// Fails with [`EventError::TooLarge`] for an event [`encode`] refuses.
    async fn publish(&self, event: DomainEvent) -> Result<(), EventError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_of(message_bytes: usize) -> DomainEvent {
        let mut event = DomainEvent {
            id: "e".into(),
            kind: crate::domain::event_kind::EventKind::PackagePublished.to_string(),
            tenant: "acme".into(),
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            data: serde_json::Value::String(String::new()),
        };
        let overhead = serde_json::to_string(&event).expect("json").len()
            + TYPE_ATTRIBUTE.len()
            + "String".len()
            + event.kind.len();
        event.data = serde_json::Value::String("x".repeat(message_bytes - overhead));
        event
    }

    #[test]
    fn the_limit_counts_body_and_type_attribute() {
        assert!(encode(&event_of(MAX_EVENT_BYTES)).is_ok());
        match encode(&event_of(MAX_EVENT_BYTES + 1)) {
            Err(EventError::TooLarge { size, limit }) => {
                assert_eq!((size, limit), (MAX_EVENT_BYTES + 1, MAX_EVENT_BYTES));
            }
            other => panic!("{other:?}"),
        }
    }
}
