//! API keys: `trove_<id>_<secret>`, 256 random bits of secret, shown once. Only the SHA-256
//! of the whole key is stored, under the public `id` (the lookup prefix), so a key is found
//! with one read and checked in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::access::Permission;
use crate::domain::audit_action::AuditAction;
use crate::domain::keys;
use crate::domain::model::{from_item, to_item};
use crate::domain::names::TenantName;
use crate::ports::table::{GSI1_PK, GSI1_SK, Item};
use crate::ports::{Condition, Index, Query, TableError, Write};
use crate::services::access::admin_guard::{self, CommitError, Loss};
use crate::services::access::caller::{Caller, PrincipalKind};
use crate::services::access::grants;
use crate::services::pagination::{PageOf, PageParams};
use crate::services::records::audit;
use crate::services::{Context, Error};

pub const KEY_PREFIX: &str = "trove_";
const ID_LEN: usize = 26;
const SECRET_LEN: usize = 43;
/// How long a key lives unless asked otherwise, and at most.
pub const DEFAULT_TTL_SECS: u64 = 90 * 24 * 3600;
pub const MAX_TTL_SECS: u64 = 2 * 365 * 24 * 3600;
/// How stale `last_used_at` may get before a use writes it again.
const LAST_USED_GRANULARITY: time::Duration = time::Duration::minutes(15);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub tenant: TenantName,
    pub owner: String,
    pub name: String,
    pub hash: String,
    /// A key with scopes acts with at most these rights; without, with all its owner's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<Permission>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub revoked: bool,
}

/// An API key as listed: never its secret or hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKey {
    #[schema(example = "01jd5x7k3m2n4p6q8r0s2t4v6w")]
    pub id: String,
    pub owner: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<Permission>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked: bool,
}

impl From<ApiKeyRecord> for ApiKey {
    fn from(r: ApiKeyRecord) -> Self {
        Self {
            id: r.id,
            owner: r.owner,
            name: r.name,
            scopes: r.scopes,
            created_at: r.created_at,
            created_by: r.created_by,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked: r.revoked,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// The user or service account the key acts as (default: the caller). Only tenant
    /// admins create keys for others.
    #[schema(max_length = 32, pattern = "^(user_|sa_)[0-9a-z]{26}$")]
    pub owner: Option<String>,
    /// 1 to 100 characters, no control characters, not blank.
    #[schema(
        example = "laptop",
        max_length = 100,
        pattern = "^[^\\s\\x00-\\x1F\\x7F-\\x9F]([^\\x00-\\x1F\\x7F-\\x9F]{0,98}[^\\s\\x00-\\x1F\\x7F-\\x9F])?$"
    )]
    pub name: String,
    /// Seconds until the key stops working (default 90 days, at most 2 years), and never
    /// after the credential that creates it (by default it then ends with that credential).
    #[schema(minimum = 60, maximum = 63_072_000)]
    pub expires_in: Option<u64>,
    /// Narrower rights than the owner's; each must be held by the owner.
    #[schema(min_items = 1, max_items = 50)]
    pub scopes: Option<Vec<Permission>>,
}

/// The new key: `key` is shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    pub id: String,
    #[schema(example = "trove_01jd5x7k3m2n4p6q8r0s2t4v6w_…")]
    pub key: String,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh key and its id.
pub fn generate() -> (String, String) {
    let id = ulid::Ulid::new().to_string().to_ascii_lowercase();
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{KEY_PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
    (id, key)
}

/// The id inside a presented key, if it has the shape of one.
pub fn parse_id(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == ID_LEN
        && secret.len() == SECRET_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    .then_some(id)
}

fn item(record: &ApiKeyRecord) -> Result<Item, Error> {
    let mut item = to_item(&keys::api_key_by_id(&record.id), record)?;
    item.insert(GSI1_PK.into(), keys::api_keys_index(&record.tenant).into());
    item.insert(GSI1_SK.into(), format!("K#{}", record.id).into());
    Ok(item)
}

/// The record of a key the bootstrap creates for a new tenant's first admin.
pub fn bootstrap_record(
    ctx: &Context,
    tenant: &TenantName,
    owner: &str,
    id: &str,
    key: &str,
    created_by: &str,
) -> Result<Write, Error> {
    unscoped_record(
        ctx,
        tenant,
        owner,
        (id, key),
        "bootstrap-admin",
        created_by,
        None,
    )
}

/// The record of an unscoped key the platform makes itself (bootstrap, admin recovery),
/// outside any caller's limits.
pub(crate) fn unscoped_record(
    ctx: &Context,
    tenant: &TenantName,
    owner: &str,
    (id, key): (&str, &str),
    name: &str,
    created_by: &str,
    expires_at: Option<OffsetDateTime>,
) -> Result<Write, Error> {
    let record = ApiKeyRecord {
        id: id.to_owned(),
        tenant: tenant.clone(),
        owner: owner.to_owned(),
        name: name.to_owned(),
        hash: hash(key),
        scopes: None,
        created_at: ctx.clock.now(),
        created_by: created_by.to_owned(),
        expires_at,
        last_used_at: None,
        revoked: false,
    };
    Ok(Write::Put {
        item: item(&record)?,
        condition: Some(Condition::NotExists),
    })
}

pub async fn create(
    ctx: &Context,
    caller: &Caller,
    req: CreateApiKey,
) -> Result<ApiKeyCreated, Error> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "invalid name: use 1 to 100 printable characters".into(),
        ));
    }
    let ttl = req.expires_in.unwrap_or(DEFAULT_TTL_SECS);
    if !(60..=MAX_TTL_SECS).contains(&ttl) {
        return Err(Error::Invalid(format!(
            "invalid expires_in {ttl}: use 60 to {MAX_TTL_SECS} seconds"
        )));
    }
    let owner = req.owner.unwrap_or_else(|| caller.principal.clone());
    let for_self = owner == caller.principal;
    if !for_self && !caller.is_tenant_admin() {
        audit::denied(ctx, caller, AuditAction::ApiKeyCreate, &owner).await;
        return Err(Error::Forbidden(
            "only tenant admins create keys for other principals".into(),
        ));
    }
    let resolved = grants::resolve(ctx, &caller.tenant, &owner)
        .await?
        .ok_or_else(|| Error::NotFound(format!("principal {owner} not found")))?;
    if resolved.principal.kind == PrincipalKind::Group {
        return Err(Error::Invalid(
            "a key acts as a user or a service account, not a group".into(),
        ));
    }
    // A key never carries more than its owner holds, nor more than the credential that
    // made it: a scoped key cannot mint an unscoped one.
    let owner_rights = resolved.rights(None);
    let scopes = match req.scopes {
        Some(scopes) => {
            if scopes.is_empty() || scopes.len() > 50 {
                return Err(Error::Invalid("invalid scopes: give 1 to 50".into()));
            }
            for p in &scopes {
                p.scope.check().map_err(Error::Invalid)?;
                if !owner_rights.holds(p.role, &p.scope)
                    || (for_self && !caller.rights.holds(p.role, &p.scope))
                {
                    return Err(Error::Forbidden(format!(
                        "the scope {} on {} is not held by the key's owner",
                        p.role,
                        serde_json::to_string(&p.scope).unwrap_or_default()
                    )));
                }
            }
            Some(scopes)
        }
        None if for_self => caller.rights.cap.clone(),
        None => None,
    };
    let now = ctx.clock.now();
    let mut expires_at = now + time::Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX));
    // Nor does it outlive that credential: a one-hour key (or a token) cannot leave behind a
    // two-year key. Without an explicit lifetime the key simply ends with the credential.
    if let Some(limit) = caller.expires_at
        && expires_at > limit
    {
        let left = (limit - now).whole_seconds().max(0);
        if req.expires_in.is_none() && left >= 60 {
            expires_at = limit;
        } else {
            return Err(Error::Invalid(format!(
                "invalid expires_in {ttl}: a key cannot outlive the credential that makes it, \
             which expires in {left} seconds; ask for at most that, or use a longer-lived key"
            )));
        }
    }
    let (id, key) = generate();
    let record = ApiKeyRecord {
        id: id.clone(),
        tenant: caller.tenant.clone(),
        owner,
        name: name.to_owned(),
        hash: hash(&key),
        scopes,
        created_at: now,
        created_by: caller.principal.clone(),
        expires_at: Some(expires_at),
        last_used_at: None,
        revoked: false,
    };
    let writes = vec![Write::Put {
        item: item(&record)?,
        condition: Some(Condition::NotExists),
    }];
    audit::transact(
        ctx,
        caller,
        AuditAction::ApiKeyCreate,
        &format!("api_key/{id}"),
        writes,
    )
    .await?;
    Ok(ApiKeyCreated {
        id,
        key,
        expires_at: Some(expires_at),
    })
}

pub async fn load(ctx: &Context, id: &str) -> Result<Option<ApiKeyRecord>, Error> {
    match ctx.table.get(&keys::api_key_by_id(id)).await? {
        Some(item) => Ok(Some(from_item(item)?)),
        None => Ok(None),
    }
}

/// Stores a key record as it is (tests that put keys in states the API never makes).
#[cfg(any(test, feature = "testing"))]
pub async fn store(ctx: &Context, record: &ApiKeyRecord) -> Result<(), Error> {
    Ok(ctx.table.put(item(record)?, None).await?)
}

/// The record of a presented key that is valid now; anything else is `Unauthenticated`.
pub async fn verify(ctx: &Context, presented: &str) -> Result<ApiKeyRecord, Error> {
    let id = parse_id(presented).ok_or(Error::Unauthenticated)?;
    let record = load(ctx, id).await?.ok_or(Error::Unauthenticated)?;
    let presented_hash = hash(presented);
    if aws_lc_rs::constant_time::verify_slices_are_equal(
        presented_hash.as_bytes(),
        record.hash.as_bytes(),
    )
    .is_err()
    {
        return Err(Error::Unauthenticated);
    }
    usable(ctx, &record)?;
    Ok(record)
}

/// Not revoked, not expired.
pub fn usable(ctx: &Context, record: &ApiKeyRecord) -> Result<(), Error> {
    if record.revoked || record.expires_at.is_some_and(|at| at <= ctx.clock.now()) {
        return Err(Error::Unauthenticated);
    }
    Ok(())
}

/// Records the key's use unless it was recorded recently. A key revoked meanwhile stays
/// revoked (the write requires `revoked == false`).
pub async fn touch(ctx: &Context, record: &ApiKeyRecord) {
    let now = ctx.clock.now();
    if record
        .last_used_at
        .is_some_and(|at| now - at < LAST_USED_GRANULARITY)
    {
        return;
    }
    let mut updated = record.clone();
    updated.last_used_at = Some(now);
    let result = match item(&updated) {
        Ok(item) => ctx
            .table
            .put(
                item,
                Some(Condition::Equals("revoked".into(), false.into())),
            )
            .await
            .or_else(|e| match e {
                TableError::ConditionFailed => Ok(()),
                e => Err(Error::from(e)),
            }),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, key = %record.id, "API key use not recorded");
    }
}

/// Who may see and revoke a key: tenant admins; its owner through a credential that carries
/// all the owner's rights; and any credential the key itself (or a token made from it).
/// A credential narrowed by scopes can do nothing with its owner's other keys: it would
/// otherwise revoke the owner's admin key or learn what the owner's other keys may do.
fn manageable(caller: &Caller, record: &ApiKeyRecord) -> bool {
    record.tenant == caller.tenant
        && (caller.is_tenant_admin()
            || (record.owner == caller.principal
                && (caller.acts_with_all_owner_rights()
                    || caller.api_key_id() == Some(record.id.as_str()))))
}

pub async fn revoke(ctx: &Context, caller: &Caller, id: &str) -> Result<(), Error> {
    let target = format!("api_key/{id}");
    let not_found = || Error::NotFound(format!("API key {id} not found"));
    let record = match load(ctx, id).await? {
        Some(r) if manageable(caller, &r) => r,
        _ => {
            audit::denied(ctx, caller, AuditAction::ApiKeyRevoke, &target).await;
            return Err(not_found());
        }
    };
    if record.revoked {
        return Err(not_found());
    }
    let mut updated = record;
    updated.revoked = true;
    let revoked = item(&updated)?;
    let writes = || {
        vec![Write::Put {
            item: revoked.clone(),
            condition: Some(Condition::Equals("revoked".into(), false.into())),
        }]
    };
    let commit = |w| audit::transact(ctx, caller, AuditAction::ApiKeyRevoke, &target, w);
    match admin_guard::run(ctx, &caller.tenant, Loss::Key(id), writes, commit).await {
        Ok(()) => Ok(()),
        Err(CommitError::Table(TableError::TransactionCanceled { failed }))
            if failed.contains(&0) =>
        {
            Err(not_found())
        }
        Err(CommitError::Table(e)) => Err(e.into()),
        Err(CommitError::Service(e)) => Err(e),
    }
}

/// The keys the caller may manage (see `manageable`): its own, or every key of the tenant
/// for a tenant admin.
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    page: &PageParams,
) -> Result<PageOf<ApiKey>, Error> {
    let query = Query::new(keys::api_keys_index(&caller.tenant))
        .index(Index::Gsi1)
        .limit(page.limit()?)
        .cursor(page.cursor.clone());
    let page = ctx.table.query(&query).await?;
    let mut items = Vec::new();
    for item in page.items {
        let record: ApiKeyRecord = from_item(item)?;
        if manageable(caller, &record) {
            items.push(record.into());
        }
    }
    Ok(PageOf {
        items,
        next_cursor: page.cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_carry_their_id() {
        let (id_a, a) = generate();
        let (_, b) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(parse_id(&a), Some(id_a.as_str()));
        assert_eq!(a.len(), KEY_PREFIX.len() + ID_LEN + 1 + SECRET_LEN);
    }

    #[test]
    fn only_the_hash_is_stored() {
        let (_, key) = generate();
        let h = hash(&key);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&key[KEY_PREFIX.len() + ID_LEN + 1..]));
    }

    #[test]
    fn malformed_keys_have_no_id() {
        for bad in [
            "",
            "trove_",
            "trove_abc_def",
            "other_01jd5x7k3m2n4p6q8r0s2t4v6w_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "trove_01JD5X7K3M2N4P6Q8R0S2T4V6W_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
