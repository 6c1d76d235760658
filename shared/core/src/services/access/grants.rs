//! Grants (a role on a scope, given to a principal) and the rights they add up to. A grant
//! is stored twice in one transaction: in its principal's partition, where resolving rights
//! reads it, and in the tenant's grant list, where it is found by id.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::domain::access::{Permission, Rights, Role, Scope};
use crate::domain::audit_action::AuditAction;
use crate::domain::event_kind::EventKind;
use crate::domain::keys;
use crate::domain::model::{from_item, to_item};
use crate::domain::names::TenantName;
use crate::pipeline::events;
use crate::ports::table::query_all;
use crate::ports::{Condition, Query, TableError, Write};
use crate::services::access::admin_guard::{self, CommitError, Loss};
use crate::services::access::caller::{Caller, PrincipalKind};
use crate::services::access::principals::{self, MAX_GROUP_DEPTH, PrincipalRecord};
use crate::services::pagination::PageOf;
use crate::services::records::audit;
use crate::services::{Context, Error};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Grant {
    pub id: String,
    /// The principal id (user, service account or group) the grant is given to.
    pub principal: String,
    pub role: Role,
    pub scope: Scope,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    /// When a request last relied on it (recorded at most hourly).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_used_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    /// A principal id: `user_…`, `sa_…` or `group_…`.
    #[schema(max_length = 32, pattern = "^(user_|sa_|group_)[0-9a-z]{26}$")]
    pub principal: String,
    pub role: Role,
    #[serde(default)]
    pub scope: Scope,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantCreated {
    pub id: String,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GrantQuery {
    /// Only grants given to this principal id.
    #[serde(default, deserialize_with = "crate::domain::bounds::filter_param")]
    #[param(max_length = 256)]
    pub principal: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    #[serde(default, deserialize_with = "crate::domain::bounds::cursor_param")]
    #[param(max_length = 2048)]
    pub cursor: Option<String>,
}

fn new_id() -> String {
    ulid::Ulid::new().to_string().to_ascii_lowercase()
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("grant {id} not found"))
}

pub async fn create(
    ctx: &Context,
    caller: &Caller,
    req: CreateGrant,
) -> Result<GrantCreated, Error> {
    req.scope.check().map_err(Error::Invalid)?;
    if !caller.rights.holds(Role::Admin, &req.scope) {
        audit::denied(ctx, caller, AuditAction::GrantCreate, &req.principal).await;
        return Err(Error::Forbidden(
            "you may grant roles only within a scope where you are admin".into(),
        ));
    }
    let tenant = &caller.tenant;
    principals::find(ctx, tenant, &req.principal)
        .await?
        .ok_or_else(|| Error::NotFound(format!("principal {} not found", req.principal)))?;
    let grant = Grant {
        id: new_id(),
        principal: req.principal,
        role: req.role,
        scope: req.scope,
        created_at: ctx.clock.now(),
        created_by: caller.principal.clone(),
        last_used_at: None,
    };
    let writes = vec![
        Write::Check {
            key: keys::principal(tenant, &grant.principal),
            condition: Condition::Exists,
        },
        Write::Put {
            item: to_item(
                &keys::principal_grant(tenant, &grant.principal, &grant.id),
                &grant,
            )?,
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: to_item(&keys::grant(tenant, &grant.id), &grant)?,
            condition: Some(Condition::NotExists),
        },
        announce(ctx, tenant, "created", &grant)?,
    ];
    match audit::transact(
        ctx,
        caller,
        AuditAction::GrantCreate,
        &format!("grant/{}", grant.id),
        writes,
    )
    .await
    {
        Ok(()) => {}
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => {
            return Err(Error::NotFound(format!(
                "principal {} not found",
                grant.principal
            )));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(GrantCreated { id: grant.id })
}

/// The outbox entry announcing `change` of the grant, for the change's transaction.
fn announce(
    ctx: &Context,
    tenant: &TenantName,
    change: &str,
    grant: &Grant,
) -> Result<Write, Error> {
    let event = events::event(
        ctx,
        tenant,
        EventKind::GrantChanged,
        serde_json::json!({ "change": change, "grant": grant }),
    );
    Ok(crate::outbox::entry(&event)?)
}

async fn load(ctx: &Context, tenant: &TenantName, id: &str) -> Result<Option<Grant>, Error> {
    if ulid::Ulid::from_string(id).is_err() {
        return Ok(None);
    }
    match ctx.table.get(&keys::grant(tenant, id)).await? {
        Some(item) => Ok(Some(from_item(item)?)),
        None => Ok(None),
    }
}

/// A grant is visible to admins of its scope and to the principal it is given to.
fn visible(caller: &Caller, grant: &Grant) -> bool {
    grant.principal == caller.principal || caller.rights.holds(Role::Admin, &grant.scope)
}

pub async fn get(ctx: &Context, caller: &Caller, id: &str) -> Result<Grant, Error> {
    match load(ctx, &caller.tenant, id).await? {
        Some(g) if visible(caller, &g) => Ok(g),
        _ => Err(not_found(id)),
    }
}

pub async fn delete(ctx: &Context, caller: &Caller, id: &str) -> Result<(), Error> {
    let tenant = &caller.tenant;
    let target = format!("grant/{id}");
    let grant = match load(ctx, tenant, id).await? {
        Some(g) if caller.rights.holds(Role::Admin, &g.scope) => g,
        Some(g) if visible(caller, &g) => {
            audit::denied(ctx, caller, AuditAction::GrantDelete, &target).await;
            return Err(Error::Forbidden(
                "only an admin of the grant's scope may revoke it".into(),
            ));
        }
        _ => {
            audit::denied(ctx, caller, AuditAction::GrantDelete, &target).await;
            return Err(not_found(id));
        }
    };
    let announced = announce(ctx, tenant, "deleted", &grant)?;
    let writes = || {
        vec![
            Write::Delete {
                key: keys::grant(tenant, &grant.id),
                condition: Some(Condition::Exists),
            },
            Write::Delete {
                key: keys::principal_grant(tenant, &grant.principal, &grant.id),
                condition: None,
            },
            announced.clone(),
        ]
    };
    let commit = |w| audit::transact(ctx, caller, AuditAction::GrantDelete, &target, w);
    match admin_guard::run(ctx, tenant, Loss::Grant(&grant.id), writes, commit).await {
        Ok(()) => {}
        Err(CommitError::Table(TableError::TransactionCanceled { failed }))
            if failed.contains(&0) =>
        {
            return Err(not_found(id));
        }
        Err(CommitError::Table(e)) => return Err(e.into()),
        Err(CommitError::Service(e)) => return Err(e),
    }
    Ok(())
}

/// A page of the grants the caller may see.
pub async fn list(ctx: &Context, caller: &Caller, q: &GrantQuery) -> Result<PageOf<Grant>, Error> {
    let limit = crate::services::pagination::PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let query = Query::new(keys::grants_partition(&caller.tenant))
        .limit(limit)
        .cursor(q.cursor.clone());
    let page = ctx.table.query(&query).await?;
    let mut items = Vec::new();
    for item in page.items {
        let grant: Grant = from_item(item)?;
        if visible(caller, &grant) && q.principal.as_ref().is_none_or(|p| *p == grant.principal) {
            items.push(grant);
        }
    }
    Ok(PageOf {
        items,
        next_cursor: page.cursor,
    })
}

/// A principal and the grants its rights come from: its own and those of every group it is
/// in, followed up the nesting (at most `MAX_GROUP_DEPTH` levels; a cycle is walked once).
pub struct Resolved {
    pub principal: PrincipalRecord,
    pub grants: Vec<Grant>,
}

impl Resolved {
    pub fn rights(&self, cap: Option<Vec<Permission>>) -> Rights {
        Rights {
            grants: self
                .grants
                .iter()
                .map(|g| Permission {
                    role: g.role,
                    scope: g.scope.clone(),
                })
                .collect(),
            cap,
        }
    }
}

/// One query per principal or group on the way up. `None` when the principal is unknown.
pub async fn resolve(
    ctx: &Context,
    tenant: &TenantName,
    principal: &str,
) -> Result<Option<Resolved>, Error> {
    if PrincipalKind::of_id(principal).is_none() {
        return Ok(None);
    }
    let mut record = None;
    let mut grants = Vec::new();
    let mut seen = HashSet::from([principal.to_owned()]);
    let mut queue = VecDeque::from([(principal.to_owned(), 0usize)]);
    while let Some((id, depth)) = queue.pop_front() {
        let items = query_all(
            ctx.table.as_ref(),
            Query::new(keys::principal_partition(tenant, &id)).limit(1000),
        )
        .await?;
        for item in items {
            let Some(sk) = item.get(crate::ports::table::SK).and_then(|v| v.as_str()) else {
                continue;
            };
            if sk == keys::PROFILE_SK {
                if id == principal {
                    record = Some(from_item::<PrincipalRecord>(item)?);
                }
            } else if sk.starts_with(keys::GRANT_SK_PREFIX) {
                grants.push(from_item::<Grant>(item)?);
            } else if let Some(group) = sk.strip_prefix(keys::MEMBER_OF_SK_PREFIX)
                && depth < MAX_GROUP_DEPTH
                && seen.insert(group.to_owned())
            {
                queue.push_back((group.to_owned(), depth + 1));
            }
        }
        if id == principal && record.is_none() {
            return Ok(None);
        }
    }
    Ok(record.map(|principal| Resolved { principal, grants }))
}

/// How often one process records a grant's use.
const USE_RECORD_INTERVAL: Duration = Duration::from_secs(3600);

/// Records, at most hourly per grant and process, that requests relied on these grants.
#[derive(Default)]
pub struct UseRecorder {
    written: Mutex<HashMap<String, Instant>>,
}

impl UseRecorder {
    pub async fn record(&self, ctx: &Context, tenant: &TenantName, grants: &[Grant]) {
        let now = ctx.clock.now();
        for grant in grants {
            if grant
                .last_used_at
                .is_some_and(|at| now - at < USE_RECORD_INTERVAL)
                || !self.due(&grant.id)
            {
                continue;
            }
            if let Err(e) = touch(ctx, tenant, &grant.id, now).await {
                tracing::warn!(error = %e, grant = %grant.id, "grant use not recorded");
            }
        }
    }

    fn due(&self, id: &str) -> bool {
        let Ok(mut written) = self.written.lock() else {
            return false;
        };
        if written.len() > 100_000 {
            written.clear();
        }
        match written.get(id) {
            Some(at) if at.elapsed() < USE_RECORD_INTERVAL => false,
            _ => {
                written.insert(id.to_owned(), Instant::now());
                true
            }
        }
    }
}

/// Sets `last_used_at` on the grant's list item; a grant deleted meanwhile stays deleted.
async fn touch(
    ctx: &Context,
    tenant: &TenantName,
    id: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let key = keys::grant(tenant, id);
    let Some(item) = ctx.table.get(&key).await? else {
        return Ok(());
    };
    let mut grant: Grant = from_item(item)?;
    grant.last_used_at = Some(now);
    match ctx
        .table
        .put(to_item(&key, &grant)?, Some(Condition::Exists))
        .await
    {
        Ok(()) | Err(TableError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
