//! The outbox relay on AWS: the table's stream invokes the webhook-dispatcher function with
//! the outbox entries as they are committed (the event source mapping's filter passes only
//! new items of the `OUTBOX#` partitions), and each is relayed onto the events queue and
//! removed (`trove_core::outbox::relay`).
//!
//! A stream shard is retried from the first record that failed, in order: the batch stops
//! at the first failure and reports it, as Lambda's partial batch response for streams asks.
//! A record that is not an outbox entry is skipped: nothing could ever relay it.

use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Deserialize;
use serde_dynamo::{AttributeValue, Item};

use trove_core::faults::Faults;
use trove_core::outbox::{self, EVENT_ATTRIBUTE, Waiting};
use trove_core::ports::table::{PK, SK};
use trove_core::services::{Context, Error};

/// The stream's name for a record of a new item.
const INSERT: &str = "INSERT";

/// A batch of the table's stream as Lambda delivers it, as far as the relay reads it.
/// (aws_lambda_events' own type needs its `dynamodb` feature, which would link the
/// DynamoDB SDK into every crate that takes Lambda events, `trove-core` and `trove serve`
/// among them.)
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records")]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    /// `INSERT`, `MODIFY` or `REMOVE`.
    #[serde(rename = "eventName")]
    pub event_name: String,
    /// `aws:dynamodb`.
    #[serde(rename = "eventSource")]
    pub event_source: Option<String>,
    pub dynamodb: StreamChange,
}

#[derive(Debug, Deserialize)]
pub struct StreamChange {
    /// The item as written (the stream's view type is NEW_IMAGE), in DynamoDB's JSON.
    #[serde(rename = "NewImage", default)]
    pub new_image: Item,
    /// Where a retry of the shard resumes.
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: Option<String>,
}

/// Relays a batch of the table's stream; answers with the record to resume from, if any.
pub async fn handle_stream_batch(ctx: &Context, event: StreamEvent) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let faults = Faults::default();
    for record in event.records {
        if record.event_name != INSERT {
            continue;
        }
        let waiting = match entry_of(&record) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "stream record skipped: not an outbox entry");
                continue;
            }
        };
        let kind = waiting.event().kind.clone();
        if let Err(e) = outbox::relay(ctx, waiting, &faults).await {
            tracing::warn!(error = %e, event = %kind, "event not relayed; the stream retries from it");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.dynamodb.sequence_number.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}

/// The outbox entry a stream record carries (its new image).
pub fn entry_of(record: &StreamRecord) -> Result<Waiting, Error> {
    let image = &record.dynamodb.new_image;
    let text = |name: &str| match image.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.as_str()),
        _ => Err(Error::Invalid(format!("no string {name} in the new image"))),
    };
    Waiting::parse(text(PK)?, text(SK)?, text(EVENT_ATTRIBUTE)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the stream delivers it (NEW_IMAGE), from the JSON Lambda receives.
    fn record(pk: &str, event: &str, sequence: &str) -> serde_json::Value {
        serde_json::json!({
            "eventID": "1", "eventName": "INSERT", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_700_000_000,
                "Keys": {"pk": {"S": pk}, "sk": {"S": "01JD"}},
                "NewImage": {"pk": {"S": pk}, "sk": {"S": "01JD"}, "event": {"S": event}},
                "SequenceNumber": sequence, "SizeBytes": 100, "StreamViewType": "NEW_IMAGE"
            }
        })
    }

    #[test]
    fn an_entry_is_read_from_the_new_image() {
        let body = r#"{"id":"01JD","type":"package.published","tenant":"acme","occurred_at":"2026-12-03T00:00:00Z","data":{}}"#;
        let event: StreamEvent = serde_json::from_value(serde_json::json!({
            "Records": [record("OUTBOX#2", body, "111"), record("T#acme#REPOS", body, "112")]
        }))
        .expect("a stream event");
        let waiting = entry_of(&event.records[0]).expect("an outbox entry");
        assert_eq!(waiting.event().tenant, "acme");
        assert_eq!(waiting.event().kind, "package.published");
        assert!(entry_of(&event.records[1]).is_err(), "not the outbox");
        assert_eq!(
            event.records[0].dynamodb.sequence_number.as_deref(),
            Some("111")
        );
        assert_eq!(
            event.records[0].event_source.as_deref(),
            Some("aws:dynamodb")
        );
    }
}
