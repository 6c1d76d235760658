//! Domain events as the services build them. They reach the events bus only through the
//! outbox (`crate::outbox::entry`, in the transaction of the change they announce).

use crate::domain::event_kind::EventKind;
use crate::domain::names::TenantName;
use crate::ports::DomainEvent;
use crate::services::Context;

/// A domain event stamped with a fresh id and the current time.
pub fn event(
    ctx: &Context,
    tenant: &TenantName,
    kind: EventKind,
    data: serde_json::Value,
) -> DomainEvent {
    envelope(ctx, tenant, kind.as_str(), data)
}

/// An envelope of a type that is not a domain event (a webhook's ping, the dispatcher's
/// own requests): no webhook subscribes to it.
pub fn envelope(
    ctx: &Context,
    tenant: &TenantName,
    kind: &str,
    data: serde_json::Value,
) -> DomainEvent {
    let now = ctx.clock.now();
    DomainEvent {
        id: crate::outbox::event_id(now),
        kind: kind.to_owned(),
        tenant: tenant.to_string(),
        occurred_at: now,
        data,
    }
}
