//! Webhooks and their deliveries, as answered (JSON) and as stored.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::event_kind::EventKind;
use crate::domain::names::RepoName;
use crate::ports::DomainEvent;
use crate::webhooks::lease::Lease;

/// The type of the test event `POST /v1/webhooks/{id}/ping` sends; every webhook gets its
/// own pings, whatever it subscribes to.
pub const PING: &str = "ping";

/// An internal event on the events queue: "attempt this delivery now" (a ping or a
/// redelivery created by a route). Never delivered to a webhook.
pub const DELIVERY_REQUESTED: &str = "trove.webhook.delivery_requested";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    #[schema(example = "wh_01jd3m5x8k2q4r6t8v0w2y4z6a")]
    pub id: String,
    #[schema(example = "https://ci.example.com/hooks/trove")]
    pub url: String,
    #[schema(example = json!([EventKind::PackagePublished.as_str()]))]
    pub events: Vec<String>,
    /// Only events about this repository (`data.repository`) are delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "libs")]
    pub repository: Option<RepoName>,
    /// Set when a delivery exhausted its retries; cleared by a successful delivery or an
    /// update of the webhook.
    #[serde(default)]
    pub failing: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Webhook {
    /// Whether the event goes to this webhook.
    pub fn wants(&self, event: &DomainEvent) -> bool {
        if !self.events.contains(&event.kind) {
            return false;
        }
        match &self.repository {
            None => true,
            Some(r) => event.data.get("repository").and_then(|v| v.as_str()) == Some(r.as_str()),
        }
    }
}

/// A webhook as stored: with its signing secret, sealed, and a revision for conditional
/// writes (the dispatcher and the routes both change it).
#[derive(Clone, Serialize, Deserialize)]
pub struct WebhookRecord {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub secret_sealed: String,
    #[serde(default)]
    pub rev: u64,
}

/// The answer to a create (and a secret rotation): the only time the secret is shown.
#[derive(Clone, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Verifies `X-Trove-Signature-256`; shown only now.
    pub secret: String,
}

// Secrets never reach a log line, not even through `{:?}`.
impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("webhook", &self.webhook)
            .field("rev", &self.rev)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for WebhookWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookWithSecret")
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    /// Every attempt failed; the delivery went to the dead-letter queue.
    Failed,
}

/// One try at delivering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The receiver's answer, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub success: bool,
    /// Why it failed: timeout, connection error, refused destination, non-2xx answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The start of the response body (at most 4 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    #[schema(example = "01jd3m5x8k2q4r6t8v0w2y4z6a")]
    pub id: String,
    pub webhook_id: String,
    /// The envelope sent as the body.
    #[schema(value_type = Object)]
    pub event: DomainEvent,
    pub status: DeliveryStatus,
    /// Oldest first; at most one per scheduled attempt.
    pub attempts: Vec<Attempt>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The delivery this one repeats, for a redelivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redelivery_of: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A delivery as stored: plus its tenant (the sweep finds it without one), a revision for
/// conditional writes, and when an attempt was claimed and not yet recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryRecord {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub tenant: String,
    #[serde(default)]
    pub rev: u64,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub in_flight_since: Option<OffsetDateTime>,
    /// Who claimed the attempt in flight (see `lease`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

impl DeliveryRecord {
    /// A delivery of `event` to the webhook, due at once, not attempted yet.
    pub fn pending(
        id: String,
        webhook_id: &str,
        event: DomainEvent,
        now: OffsetDateTime,
    ) -> DeliveryRecord {
        DeliveryRecord {
            tenant: event.tenant.clone(),
            delivery: Delivery {
                id,
                webhook_id: webhook_id.to_owned(),
                event,
                status: DeliveryStatus::Pending,
                attempts: Vec::new(),
                next_attempt_at: Some(now),
                redelivery_of: None,
                created_at: now,
            },
            rev: 0,
            in_flight_since: None,
            lease: None,
        }
    }
}

/// A message on the delivery queue: "attempt this delivery when due". The record decides
/// what happens; a repeated or stale job finds nothing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub tenant: String,
    pub webhook_id: String,
    pub delivery_id: String,
    /// Not to be attempted before (unix milliseconds): SQS delays are at most 15 min, so a
    /// job due later is sent on in hops.
    pub due_ms: i64,
    /// When the job was first queued (unix milliseconds), for the queue-age metric.
    pub enqueued_ms: i64,
}

pub fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A new id (lower-case ULID) at `at`, random or derived from `seed` (so repeating the
/// fan-out of one event gives the same delivery ids).
pub fn delivery_id(at: OffsetDateTime, seed: Option<&str>) -> String {
    let millis = u64::try_from(unix_ms(at)).unwrap_or(0);
    let random = match seed {
        Some(seed) => {
            use sha2::Digest as _;
            let d = sha2::Sha256::digest(seed.as_bytes());
            let mut b = [0u8; 16];
            b.copy_from_slice(&d[..16]);
            u128::from_be_bytes(b)
        }
        None => rand::random::<u128>(),
    };
    ulid::Ulid::from_parts(millis, random)
        .to_string()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(events: &[EventKind], repository: Option<&str>) -> Webhook {
        Webhook {
            id: "wh_x".into(),
            url: "https://example.com".into(),
            events: events.iter().map(|k| k.to_string()).collect(),
            repository: repository.map(|r| RepoName::parse(r).expect("name")),
            failing: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn event(kind: EventKind, data: serde_json::Value) -> DomainEvent {
        DomainEvent {
            id: "e".into(),
            kind: kind.to_string(),
            tenant: "acme".into(),
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            data,
        }
    }

    #[test]
    fn webhooks_match_type_and_repository() {
        use EventKind::{GrantChanged, PackagePublished, VersionDeleted};
        let published = event(PackagePublished, serde_json::json!({"repository": "libs"}));
        assert!(hook(&[PackagePublished], None).wants(&published));
        assert!(hook(&[PackagePublished], Some("libs")).wants(&published));
        assert!(!hook(&[PackagePublished], Some("apps")).wants(&published));
        assert!(!hook(&[VersionDeleted], None).wants(&published));
        let grant = event(GrantChanged, serde_json::json!({}));
        assert!(!hook(&[GrantChanged], Some("libs")).wants(&grant));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let rec = WebhookRecord {
            webhook: hook(&[EventKind::PackagePublished], None),
            secret_sealed: "v1.sealed-bytes".into(),
            rev: 0,
        };
        assert!(!format!("{rec:?}").contains("sealed-bytes"));
        let shown = WebhookWithSecret {
            webhook: rec.webhook.clone(),
            secret: "plain-secret".into(),
        };
        assert!(!format!("{shown:?}").contains("plain-secret"));
    }

    #[test]
    fn seeded_ids_repeat_and_sort_by_time() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(10);
        assert_eq!(delivery_id(t, Some("a")), delivery_id(t, Some("a")));
        assert_ne!(delivery_id(t, Some("a")), delivery_id(t, Some("b")));
        let later = delivery_id(t + time::Duration::milliseconds(1), None);
        assert!(later > delivery_id(t, Some("z")));
    }
}
