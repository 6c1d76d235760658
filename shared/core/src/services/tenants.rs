//! Tenants: creation (with a first admin user, its grant and its API key, all in one
//! transaction) and each tenant's access policy (rate limits, IP allow and block lists).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::access::{Role, Scope};
use crate::domain::audit_action::AuditAction;
use crate::domain::keys;
use crate::domain::model::{from_item, to_item};
use crate::domain::names::{PrincipalName, TenantName};
use crate::ports::{Condition, Query, TableError, Write};
use crate::services::access::api_keys;
use crate::services::access::caller::{Caller, PrincipalKind};
use crate::services::access::grants::Grant;
use crate::services::access::net_policy::{CompiledPolicy, NetworkPolicy};
use crate::services::access::principals::{self, PrincipalRecord};
use crate::services::access::rate_limit::TierLimits;
use crate::services::pagination::{self, PageOf, PageParams};
use crate::services::records::audit;
use crate::services::{Context, Error};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantRecord {
    #[schema(value_type = String, example = "acme")]
    pub name: TenantName,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    #[schema(
        example = "acme",
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9-]{0,62}$"
    )]
    pub name: String,
}

/// A new tenant and the key of its first admin, shown once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantCreated {
    #[schema(value_type = String)]
    pub name: TenantName,
    pub admin_api_key: String,
}

/// The writes that make a tenant with an admin user `admin` holding the admin role on the
/// whole tenant, and an API key of that user.
fn tenant_writes(
    ctx: &Context,
    tenant: &TenantName,
    created_by: &str,
) -> Result<(Vec<Write>, String), Error> {
    let now = ctx.clock.now();
    let record = TenantRecord {
        name: tenant.clone(),
        created_at: now,
    };
    let admin = PrincipalRecord {
        id: PrincipalKind::User.new_id(),
        kind: PrincipalKind::User,
        name: PrincipalName::parse("admin")?,
        email_sealed: None,
        description: Some("created with the tenant".into()),
        created_at: now,
    };
    let grant = Grant {
        id: ulid::Ulid::new().to_string().to_ascii_lowercase(),
        principal: admin.id.clone(),
        role: Role::Admin,
        scope: Scope::tenant(),
        created_at: now,
        created_by: created_by.to_owned(),
        last_used_at: None,
    };
    let (key_id, key) = api_keys::generate();
    let mut writes = vec![
        Write::Put {
            item: to_item(&keys::tenant(tenant), &record)?,
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: to_item(&keys::tenant_listing(tenant), &record)?,
            condition: None,
        },
    ];
    writes.extend(principals::create_writes(tenant, &admin)?);
    writes.push(Write::Put {
        item: to_item(&keys::principal_grant(tenant, &admin.id, &grant.id), &grant)?,
        condition: None,
    });
    writes.push(Write::Put {
        item: to_item(&keys::grant(tenant, &grant.id), &grant)?,
        condition: None,
    });
    writes.push(api_keys::bootstrap_record(
        ctx, tenant, &admin.id, &key_id, &key, created_by,
    )?);
    Ok((writes, key))
}

/// Creates `tenant` with its first admin unless it exists. The key is handed to `keep`
/// *before* it is stored, so a crash in between never leaves a tenant whose only key was
/// lost. Returns the new key when one was created.
pub async fn ensure(
    ctx: &Context,
    tenant: &TenantName,
    keep: impl FnOnce(&str) -> std::io::Result<()>,
) -> Result<Option<String>, Error> {
    if ctx.table.get(&keys::tenant(tenant)).await?.is_some() {
        return Ok(None);
    }
    let (writes, key) = tenant_writes(ctx, tenant, "system")?;
    keep(&key).map_err(|e| Error::Internal(format!("cannot keep the admin key: {e}")))?;
    match ctx.table.transact(writes).await {
        Ok(()) => Ok(Some(key)),
        // Only the tenant's own record says it exists (written first, index 0).
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => Ok(None),
        // Something else of that name is in the way: nothing was stored, so the key just
        // kept would open nothing; saying "exists" would leave it looking valid.
        Err(TableError::TransactionCanceled { failed }) => Err(Error::Conflict(format!(
            "tenant {tenant} cannot be created: records of that name are in the way (writes {failed:?} refused)"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/tenants` (platform admins): the record of it goes to the caller's tenant.
pub async fn create(
    ctx: &Context,
    caller: &Caller,
    req: CreateTenant,
) -> Result<TenantCreated, Error> {
    let name = TenantName::parse(&req.name)?;
    let (writes, key) = tenant_writes(ctx, &name, &caller.principal)?;
    match audit::transact(
        ctx,
        caller,
        AuditAction::TenantCreate,
        &format!("tenant/{name}"),
        writes,
    )
    .await
    {
        Ok(()) => Ok(TenantCreated {
            name,
            admin_api_key: key,
        }),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => {
            Err(Error::Conflict(format!("tenant {name} already exists")))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list(ctx: &Context, page: &PageParams) -> Result<PageOf<TenantRecord>, Error> {
    let query = Query::new(keys::tenants_partition())
        .limit(page.limit()?)
        .cursor(page.cursor.clone());
    pagination::fetch(ctx.table.as_ref(), &query).await
}

/// The user `trove admin reset-admin` gives admin rights back to a tenant through.
pub const RECOVERY_USER: &str = "recovery-admin";
/// A recovery key is for putting access right, not for daily use.
const RECOVERY_KEY_TTL: time::Duration = time::Duration::days(7);

/// A recovered tenant's admin: the principal and its new key, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct AdminReset {
    pub tenant: TenantName,
    pub principal: String,
    pub api_key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Gives a tenant that lost its admins one again: the user `recovery-admin` (created the
/// first time), the admin role on the whole tenant, and a new unscoped key valid for 7 days.
/// Only operators reach this (`trove admin reset-admin`, or the jobs function's operator
/// event): never the API, which is what refuses to lose the last admin in the first place.
pub async fn reset_admin(ctx: &Context, tenant: &TenantName) -> Result<AdminReset, Error> {
    if ctx.table.get(&keys::tenant(tenant)).await?.is_none() {
        return Err(Error::NotFound(format!("tenant {tenant} not found")));
    }
    let actor = Caller::system(tenant.clone(), "reset-admin");
    let now = ctx.clock.now();
    let name_key = keys::principal_name(tenant, PrincipalKind::User.as_str(), RECOVERY_USER);
    let mut writes = Vec::new();
    let user = match ctx.table.get(&name_key).await? {
        Some(item) => item
            .get("id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::Internal(format!("name claim of {RECOVERY_USER} has no id")))?
            .to_owned(),
        None => {
            let record = PrincipalRecord {
                id: PrincipalKind::User.new_id(),
                kind: PrincipalKind::User,
                name: PrincipalName::parse(RECOVERY_USER)?,
                email_sealed: None,
                description: Some("created by trove admin reset-admin".into()),
                created_at: now,
            };
            writes.extend(principals::create_writes(tenant, &record)?);
            record.id
        }
    };
    let holds_admin = match crate::services::access::grants::resolve(ctx, tenant, &user).await? {
        Some(resolved) => resolved.rights(None).is_tenant_admin(),
        None => false,
    };
    if !holds_admin {
        let grant = Grant {
            id: ulid::Ulid::new().to_string().to_ascii_lowercase(),
            principal: user.clone(),
            role: Role::Admin,
            scope: Scope::tenant(),
            created_at: now,
            created_by: actor.principal.clone(),
            last_used_at: None,
        };
        writes.push(Write::Put {
            item: to_item(&keys::principal_grant(tenant, &user, &grant.id), &grant)?,
            condition: None,
        });
        writes.push(Write::Put {
            item: to_item(&keys::grant(tenant, &grant.id), &grant)?,
            condition: None,
        });
    }
    let (key_id, key) = api_keys::generate();
    let expires_at = now + RECOVERY_KEY_TTL;
    writes.push(api_keys::unscoped_record(
        ctx,
        tenant,
        &user,
        (&key_id, &key),
        "reset-admin",
        &actor.principal,
        Some(expires_at),
    )?);
    audit::transact(
        ctx,
        &actor,
        AuditAction::TenantResetAdmin,
        &format!("principal/{user}"),
        writes,
    )
    .await?;
    Ok(AdminReset {
        tenant: tenant.clone(),
        principal: user,
        api_key: key,
        expires_at,
    })
}

/// A tenant's access policy. Absent: the defaults (built-in limits, no IP lists).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPolicy {
    #[serde(default)]
    pub rate_limits: TierLimits,
    #[serde(default)]
    pub network: NetworkPolicy,
}

pub async fn get_policy(ctx: &Context, tenant: &TenantName) -> Result<TenantPolicy, Error> {
    match ctx.table.get(&keys::tenant_policy(tenant)).await? {
        Some(item) => Ok(from_item(item)?),
        None => Ok(TenantPolicy::default()),
    }
}

pub async fn put_policy(
    ctx: &Context,
    caller: &Caller,
    policy: TenantPolicy,
) -> Result<TenantPolicy, Error> {
    policy
        .rate_limits
        .validate()
        .map_err(|e| Error::Invalid(format!("invalid rate_limits: {e}")))?;
    // Like an IP list that blocks the caller, limits that throttle admins lock them out.
    policy
        .rate_limits
        .keeps_admins_in()
        .map_err(|e| Error::Invalid(format!("invalid rate_limits: {e}")))?;
    let compiled = policy
        .network
        .compile()
        .map_err(|e| Error::Invalid(format!("invalid network: {e}")))?;
    // An admin who blocks their own address locks everyone out: refuse it.
    if let Err(reason) = compiled.check(caller.source_ip) {
        return Err(Error::Invalid(format!(
            "this policy would refuse your own request ({reason}); include your address"
        )));
    }
    let writes = vec![Write::Put {
        item: to_item(&keys::tenant_policy(&caller.tenant), &policy)?,
        condition: None,
    }];
    audit::transact(ctx, caller, AuditAction::PolicyUpdate, "policy", writes).await?;
    Ok(policy)
}

/// A tenant's policy, compiled, as one process last read it.
pub struct Policy {
    pub limits: TierLimits,
    pub network: CompiledPolicy,
}

/// Policies change rarely and are read on every request: each process keeps them briefly.
#[derive(Default)]
pub struct PolicyCache {
    entries: Mutex<HashMap<TenantName, (Arc<Policy>, Instant)>>,
}

const POLICY_TTL: Duration = Duration::from_secs(10);

impl PolicyCache {
    /// Drops this process's copy after a change, so the change applies here at once (other
    /// processes pick it up within `POLICY_TTL`).
    pub fn forget(&self, tenant: &TenantName) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(tenant);
        }
    }

    pub async fn get(&self, ctx: &Context, tenant: &TenantName) -> Result<Arc<Policy>, Error> {
        if let Ok(entries) = self.entries.lock()
            && let Some((policy, at)) = entries.get(tenant)
            && at.elapsed() < POLICY_TTL
        {
            return Ok(policy.clone());
        }
        let stored = get_policy(ctx, tenant).await?;
        let network = stored
            .network
            .compile()
            .map_err(|e| Error::Internal(format!("stored network policy of {tenant}: {e}")))?;
        let policy = Arc::new(Policy {
            limits: stored.rate_limits,
            network,
        });
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(tenant.clone(), (policy.clone(), Instant::now()));
        }
        Ok(policy)
    }
}
