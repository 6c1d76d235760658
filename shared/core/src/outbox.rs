//! The transactional outbox. A domain event is written in the same transaction as the change
//! it announces ([`entry`]), so a change is never stored without its event nor an event
//! announced for a change that failed. A relay then hands each waiting event to the events
//! bus and removes it ([`relay`]): at least once, since a relay that dies between the two
//! hands it over again. Consumers are idempotent by event id (the webhook fan-out derives
//! each delivery's id from it), so a repeat changes nothing.
//!
//! Who relays: on AWS the table's stream invokes the webhook-dispatcher function with each
//! new entry (`handle_stream_batch` in trove-aws), and the hourly cleanup relays what the
//! stream left behind (older than [`STRAGGLER_AGE`]); in `trove serve` a task relays every
//! entry as it is committed and on start (`trove_embedded::relay`).
//!
//! Entries are not relayed in a global order: webhook deliveries never were ordered (each has
//! its own retries).

use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::keys;
use crate::faults::{Faults, Injected};
use crate::ports::events::encode;
use crate::ports::table::{PK, SK};
use crate::ports::{Condition, DomainEvent, Item, Key, Query, SkRange, TableError, Write};
use crate::services::{Context, Error};

/// The attribute that holds the event, as the JSON the events queue carries.
pub const EVENT_ATTRIBUTE: &str = "event";

/// How old an entry must be before the cleanup relays it on AWS: the stream relays in
/// seconds, so an entry this old was missed (a stream record past its 24 hours, a function
/// refused for too long).
pub const STRAGGLER_AGE: Duration = Duration::from_secs(5 * 60);

/// Fault points (`TROVE_FAULTS`) of the relay: before it hands an entry over, and after it
/// handed it over but before it removed it.
pub mod fault_point {
    pub const RELAYING: &str = "EventRelaying";
    pub const RELAYED: &str = "EventRelayed";
}

/// The write that keeps `event` until it is relayed; put it in the change's transaction.
/// Refuses an event the events queue would refuse, before anything is stored.
pub fn entry(event: &DomainEvent) -> Result<Write, TableError> {
    let body = encode(event).map_err(|e| TableError::InvalidItem(e.to_string()))?;
    let key = keys::outbox(&event.id);
    let mut item = Item::new();
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    item.insert(EVENT_ATTRIBUTE.into(), body.into());
    Ok(Write::Put {
        item,
        condition: Some(Condition::NotExists),
    })
}

/// An event waiting in the outbox.
#[derive(Debug, Clone)]
pub struct Waiting {
    key: Key,
    event: DomainEvent,
}

impl Waiting {
    /// An entry read back from the table (or from the stream's image of it).
    pub fn parse(pk: &str, sk: &str, body: &str) -> Result<Self, Error> {
        if !pk.starts_with(keys::OUTBOX_PREFIX) {
            return Err(Error::Invalid(format!("{pk} is not an outbox entry")));
        }
        let event: DomainEvent = serde_json::from_str(body)
            .map_err(|e| Error::Invalid(format!("outbox entry {pk}/{sk}: {e}")))?;
        Ok(Self {
            key: Key::new(pk, sk),
            event,
        })
    }

    fn from_item(item: &Item) -> Result<Self, Error> {
        let text = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_str())
                .ok_or_else(|| Error::Invalid(format!("outbox entry without {name}")))
        };
        Self::parse(text(PK)?, text(SK)?, text(EVENT_ATTRIBUTE)?)
    }

    pub fn event(&self) -> &DomainEvent {
        &self.event
    }
}

/// Hands the entry to the events bus, then removes it. An error leaves it waiting.
pub async fn relay(ctx: &Context, waiting: Waiting, faults: &Faults) -> Result<(), Error> {
    let id = waiting.event.id.clone();
    if faults.before(fault_point::RELAYING, &id).await == Injected::Fail {
        return Err(Error::Unavailable("injected fault (TROVE_FAULTS)".into()));
    }
    ctx.events.publish(waiting.event).await?;
    crate::metrics::events_relayed(1);
    if faults.before(fault_point::RELAYED, &id).await == Injected::Fail {
        return Err(Error::Unavailable("injected fault (TROVE_FAULTS)".into()));
    }
    ctx.table.delete(&waiting.key, None).await?;
    Ok(())
}

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub relayed: usize,
    /// Entries that could not be read (removed, with an error logged: nothing could ever
    /// deliver them).
    pub dropped: usize,
    /// Entries left waiting because relaying them failed.
    pub failed: usize,
}

/// Relays the entries written at or before `written_by` (every entry when `None`), oldest
/// first within each partition, at most `budget` of them.
pub async fn relay_waiting(
    ctx: &Context,
    written_by: Option<OffsetDateTime>,
    budget: usize,
    faults: &Faults,
) -> Result<Pass, Error> {
    let range = match written_by {
        None => SkRange::All,
        Some(at) => SkRange::Between(ulid_at(0, 0), ulid_at(unix_ms(at), u128::MAX)),
    };
    let mut pass = Pass::default();
    for partition in keys::outbox_partitions() {
        let mut query = Query::new(partition);
        query.sk = range.clone();
        loop {
            let left = budget.saturating_sub(pass.relayed + pass.failed + pass.dropped);
            if left == 0 {
                return Ok(pass);
            }
            query.limit = left.min(100);
            let page = ctx.table.query(&query).await?;
            for item in &page.items {
                let waiting = match Waiting::from_item(item) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::error!(error = %e, "outbox entry dropped: it cannot be read");
                        if let Some(key) = Key::of(item) {
                            ctx.table.delete(&key, None).await?;
                        }
                        pass.dropped += 1;
                        continue;
                    }
                };
                let kind = waiting.event.kind.clone();
                match relay(ctx, waiting, faults).await {
                    Ok(()) => pass.relayed += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, event = %kind, "event not relayed; it waits for the next pass");
                        pass.failed += 1;
                    }
                }
            }
            match page.cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
    }
    Ok(pass)
}

fn unix_ms(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn ulid_at(millis: u64, random: u128) -> String {
    ulid::Ulid::from_parts(millis, random).to_string()
}

/// A new event id: a ULID at `at` (the context's clock, so "older than" agrees with it).
pub fn event_id(at: OffsetDateTime) -> String {
    ulid_at(unix_ms(at), rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_holds_the_event_as_the_queue_carries_it() {
        let event = DomainEvent {
            id: event_id(OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1)),
            kind: "package.published".into(),
            tenant: "acme".into(),
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            data: serde_json::json!({"version": "1.0"}),
        };
        let Write::Put { item, condition } = entry(&event).expect("entry") else {
            panic!("a put");
        };
        assert!(matches!(condition, Some(Condition::NotExists)));
        let waiting = Waiting::from_item(&item).expect("reads back");
        assert_eq!(waiting.event(), &event);
        assert_eq!(waiting.key, keys::outbox(&event.id));
        assert_eq!(item[EVENT_ATTRIBUTE], encode(&event).expect("encodes"));
    }

    #[test]
    fn an_event_too_large_for_the_queue_is_refused_before_anything_is_stored() {
        let event = DomainEvent {
            id: event_id(OffsetDateTime::UNIX_EPOCH),
            kind: "package.published".into(),
            tenant: "acme".into(),
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            data: serde_json::Value::String("x".repeat(crate::ports::events::MAX_EVENT_BYTES)),
        };
        assert!(matches!(entry(&event), Err(TableError::InvalidItem(_))));
    }

    #[test]
    fn event_ids_sort_by_time_and_bound_ranges() {
        let t = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let earlier = event_id(t - Duration::from_millis(1));
        let at = event_id(t);
        let later = event_id(t + Duration::from_millis(1));
        let (low, high) = (ulid_at(0, 0), ulid_at(unix_ms(t), u128::MAX));
        assert!(low <= earlier && earlier <= high);
        assert!(at <= high, "written at the bound: included");
        assert!(later > high, "written after: left for later");
    }

    #[test]
    fn what_is_not_an_entry_is_not_relayed() {
        assert!(Waiting::parse("T#acme#REPOS", "x", "{}").is_err());
        assert!(Waiting::parse("OUTBOX#0", "x", "not json").is_err());
    }
}
