//! The audit trail: one record per mutation, written in the same transaction as the change
//! (a change without its record, or a record without its change, cannot happen), and one per
//! denied attempt at a mutation. The pipeline's own changes (a file published, an upload
//! refused) are recorded the same way, by the system on behalf of the uploader. Records are
//! append-only: no route updates or deletes them; the table's TTL drops them after
//! `Settings::audit_retention_days`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::domain::audit_action::AuditAction;
use crate::domain::keys;
use crate::domain::model::{Upload, from_item, to_item};
use crate::domain::names::TenantName;
use crate::ports::table::{Item, TTL_ATTR};
use crate::ports::{Condition, Query, Write};
use crate::services::access::caller::Caller;
use crate::services::pagination::PageOf;
use crate::services::{Context, Error};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Denied,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    pub id: String,
    /// The principal id that acted.
    pub actor: String,
    /// What was done, e.g. `repository.create`, `grant.create`.
    pub action: String,
    /// What it was done to, e.g. `repository/libs`, `grant/01J…`.
    pub target: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    pub request_id: String,
    pub outcome: Outcome,
    /// The upload a pipeline record is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// For a pipeline record: the principal whose upload it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// For a refusal by the pipeline: the reason the uploader reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The actor of the pipeline's records.
pub const PIPELINE_ACTOR: &str = "system:pipeline";

fn record(
    ctx: &Context,
    caller: &Caller,
    action: AuditAction,
    target: &str,
    outcome: Outcome,
) -> AuditRecord {
    let at = ctx.clock.now();
    AuditRecord {
        id: record_id(at),
        actor: caller.principal.clone(),
        action: action.as_str().to_owned(),
        target: target.to_owned(),
        at,
        source_ip: caller.source_ip.map(|ip| ip.to_string()),
        request_id: caller.request_id.clone(),
        outcome,
        upload_id: None,
        on_behalf_of: None,
        reason: None,
    }
}

/// A ULID at the record's time, so the partition sorts by time and a time range is a key
/// range.
fn record_id(at: OffsetDateTime) -> String {
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    ulid::Ulid::from_parts(millis, rand::random::<u128>())
        .to_string()
        .to_ascii_lowercase()
}

/// The stored item of a record, with the time the table drops it.
fn item_of(ctx: &Context, tenant: &TenantName, rec: &AuditRecord) -> Result<Item, Error> {
    let mut item = to_item(&keys::audit(tenant, &rec.id), rec)?;
    let kept = i64::from(ctx.settings.audit_retention_days) * 86_400;
    item.insert(TTL_ATTR.into(), json!(rec.at.unix_timestamp() + kept));
    Ok(item)
}

/// The write that records a successful change; put it in the change's transaction.
pub fn success(
    ctx: &Context,
    caller: &Caller,
    action: AuditAction,
    target: &str,
) -> Result<Write, Error> {
    let rec = record(ctx, caller, action, target, Outcome::Success);
    Ok(Write::Put {
        item: item_of(ctx, &caller.tenant, &rec)?,
        condition: Some(Condition::NotExists),
    })
}

/// The write that records what the pipeline did with `upload` (published it, or refused it
/// for `reason`); put it in the transaction of that change. The actor is the system, on
/// behalf of the principal who uploaded.
pub fn by_pipeline(
    ctx: &Context,
    upload: &Upload,
    action: AuditAction,
    outcome: Outcome,
    reason: Option<&str>,
) -> Result<Write, Error> {
    let at = ctx.clock.now();
    let rec = AuditRecord {
        id: record_id(at),
        actor: PIPELINE_ACTOR.to_owned(),
        action: action.as_str().to_owned(),
        target: crate::services::catalog::uploads::target_of(upload),
        at,
        source_ip: None,
        request_id: format!("pipeline:{}", upload.upload_id),
        outcome,
        upload_id: Some(upload.upload_id.to_string()),
        on_behalf_of: upload.created_by.clone(),
        reason: reason.map(str::to_owned),
    };
    Ok(Write::Put {
        item: item_of(ctx, &upload.tenant, &rec)?,
        condition: Some(Condition::NotExists),
    })
}

/// Records a refused attempt at a mutation. Best effort: the refusal stands even if the
/// record cannot be written, and the failure is logged.
pub async fn denied(ctx: &Context, caller: &Caller, action: AuditAction, target: &str) {
    let rec = record(ctx, caller, action, target, Outcome::Denied);
    let item = match item_of(ctx, &caller.tenant, &rec) {
        Ok(item) => item,
        Err(e) => {
            tracing::error!(error = %e, "audit record not built");
            return;
        }
    };
    if let Err(e) = ctx.table.put(item, Some(Condition::NotExists)).await {
        tracing::error!(error = %e, action = action.as_str(), "denied attempt not recorded");
    }
}

/// Writes `writes` and the audit record of the change as one transaction. A failed
/// condition of the change's own writes is reported by index, as `Table::transact` does.
pub async fn transact(
    ctx: &Context,
    caller: &Caller,
    action: AuditAction,
    target: &str,
    mut writes: Vec<Write>,
) -> Result<(), crate::ports::TableError> {
    let audit = success(ctx, caller, action, target)
        .map_err(|e| crate::ports::TableError::InvalidItem(e.to_string()))?;
    writes.push(audit);
    ctx.table.transact(writes).await
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Earliest time, RFC 3339.
    #[serde(default, deserialize_with = "crate::domain::bounds::filter_param")]
    #[param(max_length = 256, format = DateTime)]
    pub from: Option<String>,
    /// Latest time, RFC 3339.
    #[serde(default, deserialize_with = "crate::domain::bounds::filter_param")]
    #[param(max_length = 256, format = DateTime)]
    pub to: Option<String>,
    /// Only records of this principal id.
    #[serde(default, deserialize_with = "crate::domain::bounds::filter_param")]
    #[param(max_length = 256)]
    pub actor: Option<String>,
    /// Only records of this action.
    #[serde(default, deserialize_with = "crate::domain::bounds::filter_param")]
    #[param(max_length = 256)]
    pub action: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    #[serde(default, deserialize_with = "crate::domain::bounds::cursor_param")]
    #[param(max_length = 2048)]
    pub cursor: Option<String>,
}

/// At most this many records are read to answer one filtered page.
const MAX_SCANNED: usize = 5000;

fn parse_time(what: &str, v: &Option<String>) -> Result<Option<OffsetDateTime>, Error> {
    v.as_deref()
        .map(|s| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|_| {
                Error::Invalid(format!(
                    "invalid {what}: use an RFC 3339 time such as 2026-11-23T10:00:00Z"
                ))
            })
        })
        .transpose()
}

fn ulid_bound(at: OffsetDateTime, high: bool) -> String {
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let random = if high { u128::MAX } else { 0 };
    keys::audit_sort_key(
        &ulid::Ulid::from_parts(millis, random)
            .to_string()
            .to_ascii_lowercase(),
    )
}

/// A page of the tenant's audit trail, newest first. Filters on actor and action apply
/// within the page (a page may hold fewer than `limit` records and still have a cursor).
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    q: &AuditQuery,
) -> Result<PageOf<AuditRecord>, Error> {
    let limit = crate::services::pagination::PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let from = parse_time("from", &q.from)?;
    let to = parse_time("to", &q.to)?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(Error::Invalid("invalid range: from is after to".into()));
    }
    let low = ulid_bound(from.unwrap_or(OffsetDateTime::UNIX_EPOCH), false);
    let high = match to {
        Some(t) => ulid_bound(t, true),
        // Above every id: `~` sorts after every character of one.
        None => keys::audit_sort_key("~"),
    };
    // The cursor is the id of the last record handed out (URL-safe as it is): the next page
    // is what sorts below it in every shard.
    let mut below = match q.cursor.as_deref() {
        Some(cursor) => Some(parse_cursor(cursor)?.min(high.clone())),
        None => None,
    };
    let partitions = keys::audit_partitions(&caller.tenant);
    // Filters apply within a page; pages with no match are skipped (up to a bound, so one
    // request reads a bounded number of records).
    let mut items = Vec::new();
    let mut scanned = 0;
    loop {
        let upper = below.clone().unwrap_or_else(|| high.clone());
        let (page, more) =
            newest_below(ctx, &partitions, &low, &upper, below.is_some(), limit).await?;
        scanned += page.len();
        let last = page.last().map(|rec| rec.id.clone());
        items.extend(page.into_iter().filter(|rec| {
            q.actor.as_ref().is_none_or(|a| *a == rec.actor)
                && q.action.as_ref().is_none_or(|a| *a == rec.action)
        }));
        match last {
            Some(last) if more && items.is_empty() && scanned < MAX_SCANNED => {
                below = Some(keys::audit_sort_key(&last));
            }
            last => {
                return Ok(PageOf {
                    items,
                    next_cursor: last.filter(|_| more),
                });
            }
        }
    }
}

/// The newest `limit` records with a sort key in `low..=upper` (`upper` itself left out when
/// `exclusive`) across every partition of the trail, newest first, and whether more may
/// follow. Each partition is read for at most `limit + 1`: a page never needs more of one.
async fn newest_below(
    ctx: &Context,
    partitions: &[String],
    low: &str,
    upper: &str,
    exclusive: bool,
    limit: usize,
) -> Result<(Vec<AuditRecord>, bool), Error> {
    let mut merged = Vec::new();
    let mut more = false;
    for partition in partitions {
        let query = Query::new(partition.clone())
            .between(low, upper)
            .descending()
            .limit(limit + 1);
        let page = ctx.table.query(&query).await?;
        more |= page.cursor.is_some();
        for item in page.items {
            let rec: AuditRecord = from_item(item)?;
            if !(exclusive && keys::audit_sort_key(&rec.id) == upper) {
                merged.push(rec);
            }
        }
    }
    // Ids are ULIDs: their order is their time's.
    merged.sort_by(|a, b| b.id.cmp(&a.id));
    more |= merged.len() > limit;
    merged.truncate(limit);
    Ok((merged, more))
}

/// The sort key below which the page after `cursor` starts. A cursor this listing handed
/// out is a record id: a lowercase ULID.
fn parse_cursor(cursor: &str) -> Result<String, Error> {
    let handed_out = cursor.len() == 26
        && ulid::Ulid::from_string(cursor).is_ok()
        && !cursor.bytes().any(|b| b.is_ascii_uppercase());
    if !handed_out {
        return Err(Error::Invalid(
            "invalid cursor: pass back a next_cursor as given".into(),
        ));
    }
    Ok(keys::audit_sort_key(cursor))
}
