//! The `Events` contract: what a consumer of the bus sees. On AWS the consumer is the
//! webhook dispatcher reading the events queue (messages parsed as `parse_message` does);
//! embedded it is a subscriber of `LocalEvents`, subscribed before anything is published.
//! SQS may hand a message over twice, so the consumer dedupes by event id.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::{Mutex, broadcast};
use trove_aws::delivery::{Message, parse_message};
use trove_core::ports::events::MAX_EVENT_BYTES;
use trove_core::ports::{DomainEvent, EventError, Events};

use crate::{Fixture, cases, unique};

/// The bus and a consumer of it.
pub struct Bus {
    events: Arc<dyn Events>,
    consumer: Consumer,
}

enum Consumer {
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
    Local(Mutex<broadcast::Receiver<DomainEvent>>),
}

impl Bus {
    /// Every event the consumer gets until it has seen `want` distinct ids or `within`
    /// passes, copies included.
    async fn consume(&self, want: usize, within: Duration) -> Vec<DomainEvent> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        let mut ids = BTreeSet::new();
        while ids.len() < want && Instant::now() < deadline {
            let batch = match &self.consumer {
                Consumer::Sqs { client, url } => crate::sqs::receive(client, url, 1)
                    .await
                    .iter()
                    .map(|m| match parse_message(m) {
                        Ok(Message::Event(event)) => event,
                        other => {
                            panic!("the dispatcher would not take this as an event: {other:?}")
                        }
                    })
                    .collect(),
                Consumer::Local(rx) => {
                    let mut rx = rx.lock().await;
                    match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
                        Ok(Ok(event)) => vec![event],
                        Ok(Err(e)) => panic!("the subscriber lost events: {e}"),
                        Err(_) => Vec::new(),
                    }
                }
            };
            ids.extend(batch.iter().map(|e| e.id.clone()));
            got.extend(batch);
        }
        got
    }
}

fn event(kind: &str, data: serde_json::Value) -> DomainEvent {
    DomainEvent {
        id: unique("evt"),
        kind: kind.to_owned(),
        tenant: "acme".into(),
        // Sub-second precision must survive the envelope too.
        occurred_at: OffsetDateTime::from_unix_timestamp_nanos(1_767_225_600_123_456_789)
            .expect("a valid instant"),
        data,
    }
}

const WAIT: Duration = Duration::from_secs(10);

/// A published event reaches the consumer with every field as published.
async fn published_event_arrives_intact(bus: Arc<Bus>) {
    let sent = event(
        "package.published",
        json!({
            "repository": "libs",
            "package": "widget",
            "version": "1.0.0",
            "files": [{"name": "w.bin", "size": 7, "sha256": null}],
            "note": "ünïcödé ✓ \"quoted\" \n newline",
            "big": 9_007_199_254_740_993_u64,
            "ratio": 0.25
        }),
    );
    bus.events.publish(sent.clone()).await.expect("published");
    let got = bus.consume(1, WAIT).await;
    assert!(!got.is_empty(), "the event never arrived");
    for copy in &got {
        assert_eq!(copy, &sent, "every copy is the event as published");
    }
}

/// Events published at once all arrive, each exactly once once copies are set aside, and
/// nothing else does.
async fn concurrent_events_all_arrive_once(bus: Arc<Bus>) {
    let sent: Vec<DomainEvent> = (0..25)
        .map(|i| event("upload.completed", json!({ "i": i })))
        .collect();
    let results =
        futures::future::join_all(sent.iter().map(|e| bus.events.publish(e.clone()))).await;
    for result in results {
        result.expect("published");
    }
    let got = bus.consume(sent.len(), WAIT).await;
    let mut by_id = BTreeMap::new();
    for copy in got {
        if let Some(first) = by_id.insert(copy.id.clone(), copy.clone()) {
            assert_eq!(first, copy, "copies of one event are identical");
        }
    }
    let expected: BTreeMap<String, DomainEvent> =
        sent.into_iter().map(|e| (e.id.clone(), e)).collect();
    assert_eq!(by_id, expected);
}

/// An event SQS would refuse is refused before it goes anywhere; one within the limit
/// still passes.
async fn oversize_event_is_refused(bus: Arc<Bus>) {
    let huge = event(
        "package.published",
        json!({ "blob": "x".repeat(MAX_EVENT_BYTES) }),
    );
    match bus.events.publish(huge).await {
        Err(EventError::TooLarge { size, limit }) => {
            assert_eq!(limit, MAX_EVENT_BYTES);
            assert!(size > limit, "{size} > {limit}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let large = event(
        "package.published",
        json!({ "blob": "y".repeat(MAX_EVENT_BYTES - 1024) }),
    );
    bus.events
        .publish(large.clone())
        .await
        .expect("within the limit");
    let got = bus.consume(1, WAIT).await;
    assert!(
        !got.is_empty() && got.iter().all(|e| e == &large),
        "only the event within the limit arrives, intact"
    );
}

mod aws {
    use super::*;
    use crate::sqs;

    async fn fixture() -> Fixture<Bus> {
        let client = sqs::client().await;
        let url = sqs::queue(&client, "events").await;
        let events = Arc::new(trove_aws::SqsEvents::new(client.clone(), url.clone()));
        let consumer = Consumer::Sqs { client, url };
        Fixture::new(Arc::new(Bus { events, consumer }), None)
    }

    cases!(fixture =>
        published_event_arrives_intact,
        concurrent_events_all_arrive_once,
        oversize_event_is_refused,
    );

    /// AWS only: the message carries the event's type as an attribute and no `kind`, so
    /// the dispatcher takes it for a domain event rather than a delivery job.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn message_carries_the_type_attribute() {
        let client = sqs::client().await;
        let url = sqs::queue(&client, "events").await;
        let events = trove_aws::SqsEvents::new(client.clone(), url.clone());
        let sent = event("repository.created", json!({}));
        events.publish(sent.clone()).await.expect("published");
        let got = sqs::receive(&client, &url, 5).await;
        assert_eq!(got.len(), 1);
        let attrs = &got[0].message_attributes;
        assert_eq!(
            attrs["type"].string_value.as_deref(),
            Some("repository.created")
        );
        assert!(!attrs.contains_key(trove_aws::delivery::KIND_ATTRIBUTE));
    }
}

mod local {
    use super::*;
    use trove_embedded::LocalEvents;

    async fn fixture() -> Fixture<Bus> {
        let events = Arc::new(LocalEvents::new());
        let consumer = Consumer::Local(Mutex::new(events.subscribe()));
        Fixture::new(Arc::new(Bus { events, consumer }), None)
    }

    cases!(fixture =>
        published_event_arrives_intact,
        concurrent_events_all_arrive_once,
        oversize_event_is_refused,
    );
}
