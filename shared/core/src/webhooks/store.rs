//! Webhook and delivery items in the table. Both carry a revision: every change is a
//! conditional write on the revision it read, so the routes and any number of dispatchers
//! never overwrite each other's changes.

use crate::domain::keys;
use crate::domain::model::{from_item, to_item};
use crate::domain::names::TenantName;
use crate::ports::table::{GSI1_PK, GSI1_SK, TTL_ATTR};
use crate::ports::{Condition, Item, Table, TableError, Write};
use crate::webhooks::model::{DeliveryRecord, DeliveryStatus, WebhookRecord, unix_ms};

/// How long a finished delivery stays listed and redeliverable.
pub const DELIVERY_RETENTION_DAYS: i64 = 30;

pub fn webhook_item(tenant: &TenantName, rec: &WebhookRecord) -> Result<Item, TableError> {
    to_item(&keys::webhook(tenant, &rec.webhook.id), rec)
}

pub async fn get_webhook(
    table: &dyn Table,
    tenant: &TenantName,
    id: &str,
) -> Result<Option<WebhookRecord>, TableError> {
    table
        .get(&keys::webhook(tenant, id))
        .await?
        .map(from_item)
        .transpose()
}

/// Stores `rec` (its `rev` already bumped) if the stored one is still at `rev - 1`.
pub fn webhook_update(tenant: &TenantName, rec: &WebhookRecord) -> Result<Write, TableError> {
    let (item, condition) = webhook_update_parts(tenant, rec)?;
    Ok(Write::Put {
        item,
        condition: Some(condition),
    })
}

pub fn webhook_update_parts(
    tenant: &TenantName,
    rec: &WebhookRecord,
) -> Result<(Item, Condition), TableError> {
    Ok((
        webhook_item(tenant, rec)?,
        Condition::Equals("rev".into(), serde_json::json!(rec.rev.saturating_sub(1))),
    ))
}

/// The item of a delivery; a pending one also appears in the pending-deliveries index under
/// its due time.
pub fn delivery_item(rec: &DeliveryRecord) -> Result<Item, TableError> {
    let tenant = TenantName::parse(&rec.tenant)
        .map_err(|e| TableError::InvalidItem(format!("delivery tenant: {e}")))?;
    let d = &rec.delivery;
    let mut item = to_item(&keys::delivery(&tenant, &d.webhook_id, &d.id), rec)?;
    if d.status == DeliveryStatus::Pending {
        let due = d.next_attempt_at.map(unix_ms).unwrap_or(0);
        item.insert(
            GSI1_PK.into(),
            keys::PENDING_DELIVERIES.shard_of(&d.id).into(),
        );
        item.insert(GSI1_SK.into(), keys::pending_delivery_sk(due, &d.id).into());
    } else {
        // A finished delivery is history: DynamoDB's TTL drops it after a while, which also
        // clears the deliveries of a deleted webhook. A pending one never expires mid-retry.
        let expires = d.created_at + time::Duration::days(DELIVERY_RETENTION_DAYS);
        item.insert(TTL_ATTR.into(), expires.unix_timestamp().into());
    }
    Ok(item)
}

/// A new delivery, unless one with its id exists (a repeated fan-out).
pub fn delivery_create(rec: &DeliveryRecord) -> Result<Write, TableError> {
    Ok(Write::Put {
        item: delivery_item(rec)?,
        condition: Some(Condition::NotExists),
    })
}

pub async fn get_delivery(
    table: &dyn Table,
    tenant: &TenantName,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<Option<DeliveryRecord>, TableError> {
    table
        .get(&keys::delivery(tenant, webhook_id, delivery_id))
        .await?
        .map(from_item)
        .transpose()
}

/// Stores `rec` with its revision bumped, if nobody changed it since it was read.
/// `ConditionFailed` means somebody did: the caller lost the race and does nothing more.
pub async fn save_delivery(table: &dyn Table, rec: &mut DeliveryRecord) -> Result<(), TableError> {
    let read = rec.rev;
    rec.rev += 1;
    let result = table
        .put(
            delivery_item(rec)?,
            Some(Condition::Equals("rev".into(), serde_json::json!(read))),
        )
        .await;
    if result.is_err() {
        rec.rev = read;
    }
    result
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::ports::DomainEvent;

    fn record(status: DeliveryStatus) -> DeliveryRecord {
        let at = datetime!(2026-11-23 10:00 UTC);
        let event = DomainEvent {
            id: "ev_1".into(),
            kind: crate::domain::event_kind::EventKind::PackagePublished.to_string(),
            tenant: "acme".into(),
            occurred_at: at,
            data: serde_json::json!({}),
        };
        let mut rec =
            DeliveryRecord::pending("01jd3m5x8k2q4r6t8v0w2y4z6a".into(), "wh_1", event, at);
        rec.delivery.status = status;
        rec
    }

    #[test]
    fn finished_deliveries_expire_and_pending_ones_wait_in_the_index() {
        let created = datetime!(2026-11-23 10:00 UTC).unix_timestamp();
        for status in [DeliveryStatus::Succeeded, DeliveryStatus::Failed] {
            let item = delivery_item(&record(status)).expect("item");
            assert_eq!(
                item["expires_at_epoch"],
                created + DELIVERY_RETENTION_DAYS * 86_400
            );
            assert!(!item.contains_key(GSI1_PK));
        }
        let pending = delivery_item(&record(DeliveryStatus::Pending)).expect("item");
        assert!(!pending.contains_key("expires_at_epoch"));
        let shard = keys::PENDING_DELIVERIES.shard_of(&record(DeliveryStatus::Pending).delivery.id);
        assert_eq!(pending[GSI1_PK], shard.as_str());
        assert!(keys::PENDING_DELIVERIES.partitions().any(|p| p == shard));
    }
}
