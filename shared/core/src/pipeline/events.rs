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
    DomainEvent {
        id: ulid::Ulid::new().to_string(),
        kind: kind.to_owned(),
        tenant: tenant.to_string(),
        occurred_at: ctx.clock.now(),
        data,
    }
}

/// Publishes, logging instead of failing: the change it reports is already stored.
pub async fn publish(ctx: &Context, event: DomainEvent) {
    let kind = event.kind.clone();
    if let Err(e) = ctx.events.publish(event).await {
        tracing::warn!(error = %e, event = %kind, "domain event not published");
    }
}
