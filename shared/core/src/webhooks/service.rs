//! The webhook use cases behind `/v1/webhooks`. Tenant admins manage every webhook; an
//! admin of a repository manages the webhooks scoped to it; nobody else sees any (another
//! tenant's ids are simply not found).

use std::collections::BTreeSet;

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::access::{Role, Target};
use crate::domain::audit_action::AuditAction;
use crate::domain::event_kind::EventKind;
use crate::domain::keys;
use crate::domain::model::from_item;
use crate::domain::names::RepoName;
use crate::egress::AllowedHosts;
use crate::ports::{Condition, DomainEvent, Query, TableError, Write};
use crate::services::access::caller::Caller;
use crate::services::catalog::repositories;
use crate::services::pagination::{PageOf, PageParams};
use crate::services::records::{audit, pii};
use crate::services::{Context, Error};
use crate::webhooks::dispatcher::SECRET_FIELD;
use crate::webhooks::model::{
    DELIVERY_REQUESTED, Delivery, DeliveryRecord, PING, Webhook, WebhookRecord, WebhookWithSecret,
    delivery_id,
};
use crate::webhooks::ssrf;
use crate::webhooks::{signing, store};

/// Webhooks per tenant: each event reads them all.
pub const MAX_WEBHOOKS: usize = 100;
const MIN_SECRET: usize = 16;
const MAX_SECRET: usize = 256;

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// An `http(s)` URL of a public address (the pattern is the document's sketch of one;
    /// the server also takes ports, queries and any host name that resolves publicly).
    #[schema(
        example = "https://ci.example.com/hooks/trove",
        max_length = 2048,
        pattern = "^https?://([a-z0-9]+[.])+[a-z]{2,8}(/[A-Za-z0-9._~-]+)*$"
    )]
    pub url: String,
    /// Event types to receive (see `EventKind`).
    #[schema(schema_with = event_list)]
    pub events: Vec<String>,
    /// Only events of this repository; its admins may then manage the webhook too.
    #[schema(
        example = "libs",
        max_length = 64,
        pattern = "^[a-z0-9][a-z0-9._-]{0,63}$"
    )]
    pub repository: Option<String>,
    /// The signing secret (16 to 256 printable characters); generated when absent.
    #[schema(max_length = 256, pattern = "^[!-~]{16,256}$")]
    pub secret: Option<String>,
}

#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[schema(
        max_length = 2048,
        pattern = "^https?://([a-z0-9]+[.])+[a-z]{2,8}(/[A-Za-z0-9._~-]+)*$"
    )]
    pub url: Option<String>,
    #[schema(schema_with = event_list)]
    pub events: Option<Vec<String>>,
    /// A new secret; with `rotate_secret: true` instead, one is generated. Either way the
    /// answer shows it, once.
    #[schema(max_length = 256, pattern = "^[!-~]{16,256}$")]
    pub secret: Option<String>,
    #[serde(default)]
    pub rotate_secret: bool,
}

/// One or more of the domain events' names, each at most twice (duplicates are tolerated,
/// not stored).
fn event_list() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(EventKind::ALL.iter().map(|k| k.as_str()))),
        )
        .min_items(Some(1))
        .max_items(Some(EventKind::ALL.len() * 2))
        .build()
}

// Secrets never reach a log line, not even through `{:?}`.
impl std::fmt::Debug for CreateWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateWebhook")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("repository", &self.repository)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl std::fmt::Debug for UpdateWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateWebhook")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("rotate_secret", &self.rotate_secret)
            .finish()
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("webhook {} not found", shown(id)))
}

fn shown(id: &str) -> crate::domain::echo::Echo<'_> {
    crate::domain::echo::echo(id)
}

/// Who may manage a webhook scoped to `repository` (or tenant-wide). A mutation that is
/// refused leaves its audit record.
async fn authorize(
    ctx: &Context,
    caller: &Caller,
    repository: Option<&RepoName>,
    audited: Option<(AuditAction, &str)>,
    id: &str,
) -> Result<(), Error> {
    let result = match repository {
        Some(r) => caller.require(Role::Admin, &Target::Repository(r), || not_found(id)),
        None => caller.require(Role::Admin, &Target::Tenant, || not_found(id)),
    };
    if let (Err(Error::Forbidden(_) | Error::NotFound(_)), Some((action, target))) =
        (&result, audited)
    {
        audit::denied(ctx, caller, action, target).await;
    }
    result
}

fn may_manage(caller: &Caller, hook: &Webhook) -> bool {
    match &hook.repository {
        Some(r) => caller.rights.can(Role::Admin, &Target::Repository(r)),
        None => caller.is_tenant_admin(),
    }
}

fn check_events(events: &[String]) -> Result<Vec<String>, Error> {
    if events.is_empty() {
        return Err(Error::Invalid(format!(
            "invalid events: name at least one of {}",
            EventKind::listed()
        )));
    }
    // The same bound the OpenAPI schema states (`event_list`).
    let most = EventKind::ALL.len() * 2;
    if events.len() > most {
        return Err(Error::Invalid(format!(
            "invalid events: at most {most} entries"
        )));
    }
    let mut set = BTreeSet::new();
    for e in events {
        if EventKind::parse(e).is_none() {
            let shown: String = e.chars().take(64).collect();
            return Err(Error::Invalid(format!(
                "invalid events: unknown event type {shown:?}; use {}",
                EventKind::listed()
            )));
        }
        set.insert(e.clone());
    }
    Ok(set.into_iter().collect())
}

fn check_secret(secret: &str) -> Result<(), Error> {
    let n = secret.chars().count();
    if !(MIN_SECRET..=MAX_SECRET).contains(&n) || !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::Invalid(format!(
            "invalid secret: use {MIN_SECRET} to {MAX_SECRET} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

async fn check_url(ctx: &Context, url: &str) -> Result<String, Error> {
    let allowed = AllowedHosts::new(&ctx.settings.webhook_allow_hosts);
    ssrf::check_destination(url, &allowed)
        .await
        .map(|u| u.to_string())
        .map_err(Error::Invalid)
}

pub async fn create(
    ctx: &Context,
    caller: &Caller,
    req: CreateWebhook,
) -> Result<WebhookWithSecret, Error> {
    let repository = req.repository.as_deref().map(RepoName::parse).transpose()?;
    authorize(
        ctx,
        caller,
        repository.as_ref(),
        Some((AuditAction::WebhookCreate, "webhooks")),
        "",
    )
    .await
    .map_err(|e| match (e, &repository) {
        // Not even visible: answer as for a missing repository.
        (Error::NotFound(_), Some(r)) => Error::NotFound(format!("repository {r} not found")),
        (e, _) => e,
    })?;
    if let Some(r) = &repository {
        repositories::find(ctx, &caller.tenant, r).await?;
    }
    let events = check_events(&req.events)?;
    let url = check_url(ctx, &req.url).await?;
    let secret = match req.secret {
        Some(s) => {
            check_secret(&s)?;
            s
        }
        None => signing::new_secret(),
    };
    let existing = crate::ports::table::query_all(
        ctx.table.as_ref(),
        Query::new(keys::webhooks_partition(&caller.tenant)).limit(MAX_WEBHOOKS + 1),
    )
    .await?;
    if existing.len() >= MAX_WEBHOOKS {
        return Err(Error::Conflict(format!(
            "this tenant has {MAX_WEBHOOKS} webhooks, the most it may have"
        )));
    }
    let now = ctx.clock.now();
    let webhook = Webhook {
        id: format!("wh_{}", ulid::Ulid::new().to_string().to_ascii_lowercase()),
        url,
        events,
        repository,
        failing: false,
        created_at: now,
        updated_at: now,
    };
    let rec = WebhookRecord {
        webhook: webhook.clone(),
        secret_sealed: pii::seal(ctx, &caller.tenant, SECRET_FIELD, &secret).await?,
        rev: 0,
    };
    let writes = vec![Write::Put {
        item: store::webhook_item(&caller.tenant, &rec)?,
        condition: Some(Condition::NotExists),
    }];
    let target = format!("webhook/{}", webhook.id);
    audit::transact(ctx, caller, AuditAction::WebhookCreate, &target, writes).await?;
    Ok(WebhookWithSecret { webhook, secret })
}

/// The stored webhook, if the caller may manage it (else not found or forbidden).
async fn load(
    ctx: &Context,
    caller: &Caller,
    id: &str,
    audited: Option<AuditAction>,
) -> Result<WebhookRecord, Error> {
    let rec = store::get_webhook(ctx.table.as_ref(), &caller.tenant, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let target = format!("webhook/{}", shown(id));
    authorize(
        ctx,
        caller,
        rec.webhook.repository.as_ref(),
        audited.map(|a| (a, target.as_str())),
        id,
    )
    .await?;
    Ok(rec)
}

pub async fn get(ctx: &Context, caller: &Caller, id: &str) -> Result<Webhook, Error> {
    Ok(load(ctx, caller, id, None).await?.webhook)
}

/// The webhooks the caller may manage, a page at a time.
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    page: &PageParams,
) -> Result<PageOf<Webhook>, Error> {
    let query = Query::new(keys::webhooks_partition(&caller.tenant))
        .limit(page.limit()?)
        .cursor(page.cursor.clone());
    let found = ctx.table.query(&query).await?;
    let mut items = Vec::new();
    for item in found.items {
        let rec: WebhookRecord = from_item(item)?;
        if may_manage(caller, &rec.webhook) {
            items.push(rec.webhook);
        }
    }
    Ok(PageOf {
        items,
        next_cursor: found.cursor,
    })
}

/// Changes url, events or secret; clears `failing` (the owner has looked at it). The
/// answer carries the secret only when it changed.
pub async fn update(
    ctx: &Context,
    caller: &Caller,
    id: &str,
    req: UpdateWebhook,
) -> Result<(Webhook, Option<String>), Error> {
    let mut rec = load(ctx, caller, id, Some(AuditAction::WebhookUpdate)).await?;
    if let Some(events) = &req.events {
        rec.webhook.events = check_events(events)?;
    }
    if let Some(url) = &req.url {
        rec.webhook.url = check_url(ctx, url).await?;
    }
    let secret = match (req.secret, req.rotate_secret) {
        (Some(_), true) => {
            return Err(Error::Invalid(
                "invalid update: give a secret or rotate_secret, not both".into(),
            ));
        }
        (Some(s), false) => {
            check_secret(&s)?;
            Some(s)
        }
        (None, true) => Some(signing::new_secret()),
        (None, false) => None,
    };
    if let Some(s) = &secret {
        rec.secret_sealed = pii::seal(ctx, &caller.tenant, SECRET_FIELD, s).await?;
    }
    rec.webhook.failing = false;
    rec.webhook.updated_at = ctx.clock.now();
    rec.rev += 1;
    let writes = vec![store::webhook_update(&caller.tenant, &rec)?];
    let target = format!("webhook/{id}");
    match audit::transact(ctx, caller, AuditAction::WebhookUpdate, &target, writes).await {
        Ok(()) => Ok((rec.webhook, secret)),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => Err(
            Error::Conflict("the webhook changed meanwhile; read it and try again".into()),
        ),
        Err(e) => Err(e.into()),
    }
}

/// Removes the webhook; its queued deliveries find it gone and stop. Its delivery log is
/// left to expire with the table's retention.
pub async fn delete(ctx: &Context, caller: &Caller, id: &str) -> Result<(), Error> {
    load(ctx, caller, id, Some(AuditAction::WebhookDelete)).await?;
    let writes = vec![Write::Delete {
        key: keys::webhook(&caller.tenant, id),
        condition: Some(Condition::Exists),
    }];
    let target = format!("webhook/{id}");
    match audit::transact(ctx, caller, AuditAction::WebhookDelete, &target, writes).await {
        Ok(()) => Ok(()),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => {
            Err(not_found(id))
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates a delivery for the webhook (audited with `action`) and asks the dispatcher to
/// attempt it now.
async fn request_delivery(
    ctx: &Context,
    caller: &Caller,
    hook: &Webhook,
    event: DomainEvent,
    redelivery_of: Option<String>,
    action: AuditAction,
) -> Result<Delivery, Error> {
    let now = ctx.clock.now();
    let mut rec = DeliveryRecord::pending(delivery_id(now, None), &hook.id, event, now);
    // The caller's tenant, whatever the (repeated) event says.
    rec.tenant = caller.tenant.to_string();
    rec.delivery.redelivery_of = redelivery_of;
    let target = format!("webhook/{}/delivery/{}", hook.id, rec.delivery.id);
    let kick = crate::pipeline::events::envelope(
        ctx,
        &caller.tenant,
        DELIVERY_REQUESTED,
        serde_json::json!({"webhook": hook.id, "delivery": rec.delivery.id}),
    );
    audit::transact(
        ctx,
        caller,
        action,
        &target,
        vec![store::delivery_create(&rec)?, crate::outbox::entry(&kick)?],
    )
    .await?;
    Ok(rec.delivery)
}

/// Sends a `ping` event to the webhook.
pub async fn ping(ctx: &Context, caller: &Caller, id: &str) -> Result<Delivery, Error> {
    let rec = load(ctx, caller, id, Some(AuditAction::WebhookPing)).await?;
    let event = crate::pipeline::events::envelope(
        ctx,
        &caller.tenant,
        PING,
        serde_json::json!({"webhook": rec.webhook.id, "repository": rec.webhook.repository}),
    );
    request_delivery(
        ctx,
        caller,
        &rec.webhook,
        event,
        None,
        AuditAction::WebhookPing,
    )
    .await
}

/// Delivers a past delivery's event again, as a new delivery with its own attempts.
pub async fn redeliver(
    ctx: &Context,
    caller: &Caller,
    id: &str,
    delivery: &str,
) -> Result<Delivery, Error> {
    let rec = load(ctx, caller, id, Some(AuditAction::WebhookRedeliver)).await?;
    let old = store::get_delivery(ctx.table.as_ref(), &caller.tenant, id, delivery)
        .await?
        .ok_or_else(|| Error::NotFound(format!("delivery {} not found", shown(delivery))))?;
    request_delivery(
        ctx,
        caller,
        &rec.webhook,
        old.delivery.event,
        Some(old.delivery.id),
        AuditAction::WebhookRedeliver,
    )
    .await
}

/// The webhook's deliveries, newest first.
pub async fn deliveries(
    ctx: &Context,
    caller: &Caller,
    id: &str,
    page: &PageParams,
) -> Result<PageOf<Delivery>, Error> {
    load(ctx, caller, id, None).await?;
    let query = Query::new(keys::deliveries_partition(&caller.tenant, id))
        .descending()
        .limit(page.limit()?)
        .cursor(page.cursor.clone());
    let found = ctx.table.query(&query).await?;
    let items = found
        .items
        .into_iter()
        .map(|item| from_item::<DeliveryRecord>(item).map(|r| r.delivery))
        .collect::<Result<_, _>>()?;
    Ok(PageOf {
        items,
        next_cursor: found.cursor,
    })
}
