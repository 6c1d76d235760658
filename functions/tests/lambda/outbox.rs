//! The transactional outbox on AWS: a change's event is an item of its transaction; the
//! table's stream brings the dispatcher function the new outbox entries (and only them, by
//! the template's filter), which it relays onto the events queue and removes; a relay that
//! fails is reported for the stream to retry; the cleanup function relays what the stream
//! left behind.

use serde_json::Value;
use trove_core::domain::event_kind::EventKind;
use trove_core::domain::keys;
use trove_core::domain::names::TenantName;
use trove_core::outbox;
use trove_core::ports::{DomainEvent, Query};

use crate::stack::{Stack, sample_event};

/// The events waiting in the outbox, by id.
async fn waiting(stack: &Stack) -> Vec<String> {
    let mut ids = Vec::new();
    for pk in keys::outbox_partitions() {
        let page = stack.ctx.table.query(&Query::new(pk)).await.expect("query");
        ids.extend(
            page.items
                .iter()
                .filter_map(|i| i["sk"].as_str().map(str::to_owned)),
        );
    }
    ids
}

/// The events on the events queue (received, not deleted: they come back later).
async fn queued(stack: &Stack) -> Vec<DomainEvent> {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let received = sqs
        .receive_message()
        .queue_url(&stack.queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .expect("receive");
    received
        .messages()
        .iter()
        .filter_map(|m| serde_json::from_str(m.body().unwrap_or_default()).ok())
        .collect()
}

fn failures(answer: &Option<Value>) -> Value {
    answer.as_ref().expect("the dispatcher was invoked")["batchItemFailures"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reaches_the_events_queue_only_through_the_tables_stream() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    stack.create_repository(&key).await;

    // The route function committed the event with the repository, and sent nothing.
    let entries = waiting(&stack).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        queued(&stack).await.is_empty(),
        "announced before the relay"
    );

    let (batch, answer) = stack.relay_outbox().await;
    let records = batch["Records"].as_array().expect("records");
    assert_eq!(
        records.len(),
        1,
        "the filter keeps the outbox entry only: {batch}"
    );
    assert_eq!(
        records[0]["dynamodb"]["Keys"]["sk"]["S"],
        entries[0].as_str()
    );
    assert_eq!(failures(&answer), serde_json::json!([]));

    let on_queue = queued(&stack).await;
    assert_eq!(on_queue.len(), 1, "{on_queue:?}");
    assert_eq!(on_queue[0].kind, EventKind::RepositoryCreated.as_str());
    assert_eq!(on_queue[0].id, entries[0]);
    assert!(
        waiting(&stack).await.is_empty(),
        "relayed entries are removed"
    );

    // The removal is on the stream too; the filter keeps it from the dispatcher.
    let (again, answer) = stack.relay_outbox().await;
    assert_eq!(again["Records"], serde_json::json!([]));
    assert!(answer.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_the_queue_refuses_is_retried_from_that_record_and_nothing_is_lost() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    stack.create_repository(&key).await;
    let entries = waiting(&stack).await;
    let (consumer, pattern) = crate::template::stream_consumer();
    let batch = stack.stream.batch(&pattern).await;

    // The queue is gone for a while: the record is reported, the entry kept.
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let name = stack.queue_url.rsplit('/').next().expect("name").to_owned();
    sqs.delete_queue()
        .queue_url(&stack.queue_url)
        .send()
        .await
        .expect("delete the queue");
    let mut dispatcher = stack.function(&consumer.binary, &consumer.handler).await;
    let answer = dispatcher.invoke(&batch).await.response();
    let sequence = &batch["Records"][0]["dynamodb"]["SequenceNumber"];
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([{"itemIdentifier": sequence}]),
        "{answer}"
    );
    assert_eq!(waiting(&stack).await, entries, "nothing lost");

    // Back: the stream's retry (the same batch) relays it.
    sqs.create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("the queue again");
    let answer = dispatcher.invoke(&batch).await.response();
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "{answer}"
    );
    assert!(waiting(&stack).await.is_empty());
    let on_queue = queued(&stack).await;
    assert_eq!(
        on_queue.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        entries
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cleanup_relays_what_waited_longer_than_the_stream_takes() {
    let stack = Stack::new().await;
    let tenant = TenantName::parse("default").expect("tenant");
    let now = time::OffsetDateTime::now_utc();
    let entry = |age: std::time::Duration| DomainEvent {
        id: outbox::event_id(now - age),
        kind: EventKind::RepositoryCreated.as_str().to_owned(),
        tenant: tenant.to_string(),
        occurred_at: now - age,
        data: serde_json::json!({"repository": "libs", "format": "generic"}),
    };
    let stale = entry(outbox::STRAGGLER_AGE * 2);
    let fresh = entry(std::time::Duration::ZERO);
    for event in [&stale, &fresh] {
        stack
            .ctx
            .table
            .transact(vec![outbox::entry(event).expect("entry")])
            .await
            .expect("committed");
    }

    let mut cleanup = stack.function("jobs", "cleanup").await;
    let summary = cleanup
        .invoke(&sample_event("jobs/cleanup.json"))
        .await
        .response();
    assert_eq!(summary["recovered"]["stale_events_relayed"], 1, "{summary}");
    assert_eq!(
        waiting(&stack).await,
        vec![fresh.id.clone()],
        "the stream's to relay"
    );
    let on_queue: Vec<String> = queued(&stack).await.into_iter().map(|e| e.id).collect();
    assert_eq!(on_queue, vec![stale.id.clone()]);
}
