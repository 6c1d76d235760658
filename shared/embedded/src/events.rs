//! The `Events` port in-process: the webhook dispatcher's fan-out, then a broadcast queue
//! and a record of the last events for whoever watches.
//!
//! Publishing returns once the dispatcher has stored the event's deliveries: the outbox relay
//! removes an entry only after that, so a `kill -9` at any moment leaves each event either
//! in the outbox or in the deliveries, as SQS keeps a sent message. The broadcast is for
//! observers (tests waiting for an event): one that falls more than [`CHANNEL_CAPACITY`]
//! events behind gets `RecvError::Lagged(n)` and misses those `n`; nothing waits on it.

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock, PoisonError, Weak};

use async_trait::async_trait;
use tokio::sync::broadcast;

use trove_core::ports::events::encode;
use trove_core::ports::{DomainEvent, EventError, Events};
use trove_core::webhooks::Dispatcher;

/// How far a subscriber may fall behind before it misses events.
pub const CHANNEL_CAPACITY: usize = 4096;
/// How many recent events [`LocalEvents::published`] keeps.
pub const KEPT: usize = 1000;

#[derive(Debug)]
pub struct LocalEvents {
    sender: broadcast::Sender<DomainEvent>,
    recent: Mutex<VecDeque<DomainEvent>>,
    consumer: OnceLock<Weak<Dispatcher>>,
}

impl Default for LocalEvents {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalEvents {
    pub fn new() -> LocalEvents {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        LocalEvents {
            sender,
            recent: Mutex::new(VecDeque::with_capacity(KEPT)),
            consumer: OnceLock::new(),
        }
    }

    /// The dispatcher every event is handed to (once; later calls change nothing). Weak:
    /// the host owns the dispatcher, and the dispatcher's context owns these events.
    pub fn consume_with(&self, dispatcher: Weak<Dispatcher>) {
        let _ = self.consumer.set(dispatcher);
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.sender.subscribe()
    }

    /// The last [`KEPT`] events, oldest first.
    pub fn published(&self) -> Vec<DomainEvent> {
        // A plain queue of values cannot be left inconsistent by a panic elsewhere.
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.iter().cloned().collect()
    }
}

#[async_trait]
impl Events for LocalEvents {
    async fn publish(&self, event: DomainEvent) -> Result<(), EventError> {
        // Nothing here needs the encoding; the size check keeps this bus to what SQS takes.
        encode(&event)?;
        if let Some(dispatcher) = self.consumer.get().and_then(Weak::upgrade) {
            dispatcher
                .on_event(&event)
                .await
                .map_err(|e| EventError::Unavailable(e.to_string()))?;
        }
        {
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            if recent.len() == KEPT {
                recent.pop_front();
            }
            recent.push_back(event.clone());
        }
        // No subscriber is not an error: the event is still recorded above.
        let _ = self.sender.send(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn event(i: usize) -> DomainEvent {
        DomainEvent {
            id: format!("e{i}"),
            kind: "package.published".into(),
            tenant: "acme".into(),
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            data: serde_json::json!({ "i": i }),
        }
    }

    #[tokio::test]
    async fn subscribers_see_events_and_history_is_bounded() {
        let events = LocalEvents::new();
        events
            .publish(event(0))
            .await
            .expect("publish without subscribers");
        let mut a = events.subscribe();
        let mut b = events.subscribe();
        for i in 1..=KEPT + 5 {
            events.publish(event(i)).await.expect("publish");
        }
        assert_eq!(a.recv().await.expect("a").id, "e1");
        assert_eq!(b.recv().await.expect("b").id, "e1");
        let kept = events.published();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].id, "e6");
        assert_eq!(kept[KEPT - 1].id, format!("e{}", KEPT + 5));
    }
}
