//! A tenant never loses its last admin through the API. An admin who can still act is a
//! user or service account that holds the admin role on the whole tenant (by a grant of its
//! own or of a group it is in, nested) and has a usable API key that carries that role.
//! A change that takes such rights away (deleting a grant, removing a group member,
//! revoking a key) is refused with 409 when it would leave the tenant with none; the
//! operator's way back is `trove admin reset-admin` (or the jobs function's operator event),
//! which needs the machine or the AWS account, not the API.
//!
//! Checks read the current state outside the change's transaction, so two changes could each
//! pass while the other removes the admin they counted on. Every change that touches an
//! admin's rights therefore also writes the tenant's guard item, conditional on the revision
//! its check read: of two racing changes one commits, the other's transaction fails on the
//! guard and its caller checks again against the new state (`run`).

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::json;

use crate::domain::access::{Permission, Rights, Role, Scope};
use crate::domain::keys;
use crate::domain::model::from_item;
use crate::domain::names::TenantName;
use crate::ports::table::{SK, query_all};
use crate::ports::{Condition, Index, Query, TableError, Write};
use crate::services::access::api_keys::ApiKeyRecord;
use crate::services::access::caller::PrincipalKind;
use crate::services::access::grants::Grant;
use crate::services::access::principals::MAX_GROUP_DEPTH;
use crate::services::{Context, Error};

/// What a change takes away.
#[derive(Debug, Clone, Copy)]
pub enum Loss<'a> {
    Grant(&'a str),
    Membership { group: &'a str, member: &'a str },
    Key(&'a str),
}

/// How many times a change is checked again after a concurrent change won the guard.
const ATTEMPTS: usize = 5;

const REV: &str = "rev";

/// What the tenant's admin rights rest on, as read now.
struct Snapshot {
    /// Tenant-wide admin grants: (grant id, principal).
    admin_grants: Vec<(String, String)>,
    /// Direct members of each group that an admin grant reaches.
    members: HashMap<String, Vec<String>>,
    keys: Vec<ApiKeyRecord>,
}

impl Snapshot {
    async fn read(ctx: &Context, tenant: &TenantName) -> Result<Self, Error> {
        let tenant_admin = Scope::tenant();
        let mut admin_grants = Vec::new();
        for item in query_all(
            ctx.table.as_ref(),
            Query::new(keys::grants_partition(tenant)).limit(1000),
        )
        .await?
        {
            let grant: Grant = from_item(item)?;
            if grant.role == Role::Admin && grant.scope == tenant_admin {
                admin_grants.push((grant.id, grant.principal));
            }
        }
        let mut members = HashMap::new();
        let mut queue: VecDeque<(String, usize)> = admin_grants
            .iter()
            .filter(|(_, p)| PrincipalKind::of_id(p) == Some(PrincipalKind::Group))
            .map(|(_, p)| (p.clone(), 0))
            .collect();
        while let Some((group, depth)) = queue.pop_front() {
            if members.contains_key(&group) || depth > MAX_GROUP_DEPTH {
                continue;
            }
            let query = Query::new(keys::principal_partition(tenant, &group))
                .begins_with(keys::MEMBER_SK_PREFIX)
                .limit(1000);
            let direct: Vec<String> = query_all(ctx.table.as_ref(), query)
                .await?
                .iter()
                .filter_map(|item| item.get(SK)?.as_str()?.strip_prefix(keys::MEMBER_SK_PREFIX))
                .map(str::to_owned)
                .collect();
            for m in &direct {
                if PrincipalKind::of_id(m) == Some(PrincipalKind::Group) {
                    queue.push_back((m.clone(), depth + 1));
                }
            }
            members.insert(group, direct);
        }
        let now = ctx.clock.now();
        let keys = query_all(
            ctx.table.as_ref(),
            Query::new(keys::api_keys_index(tenant))
                .index(Index::Gsi1)
                .limit(1000),
        )
        .await?
        .into_iter()
        .map(from_item::<ApiKeyRecord>)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|k| !k.revoked && k.expires_at.is_none_or(|at| at > now) && carries_admin(k))
        .collect();
        Ok(Self {
            admin_grants,
            members,
            keys,
        })
    }

    /// Every principal (groups included) holding tenant admin, without what `loss` removes.
    fn holders(&self, loss: Option<Loss<'_>>) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut queue: VecDeque<String> = self
            .admin_grants
            .iter()
            .filter(|(id, _)| !matches!(loss, Some(Loss::Grant(g)) if g == id))
            .map(|(_, p)| p.clone())
            .collect();
        while let Some(p) = queue.pop_front() {
            if !seen.insert(p.clone()) {
                continue;
            }
            for m in self.members.get(&p).into_iter().flatten() {
                let cut = matches!(loss, Some(Loss::Membership { group, member }) if group == p && member == m);
                if !cut {
                    queue.push_back(m.clone());
                }
            }
        }
        seen
    }

    /// The admins who can still act: holders that are not groups and have a usable key
    /// carrying the role.
    fn acting_admins(&self, loss: Option<Loss<'_>>) -> HashSet<String> {
        let holders = self.holders(loss);
        self.keys
            .iter()
            .filter(|k| !matches!(loss, Some(Loss::Key(id)) if id == k.id))
            .filter(|k| holders.contains(&k.owner))
            .map(|k| k.owner.clone())
            .collect()
    }

    /// Whether the thing lost is one the tenant's admin rights rest on (so the change must
    /// take the guard even when other admins remain).
    fn touches_admins(&self, loss: Loss<'_>) -> bool {
        match loss {
            Loss::Grant(id) => self.admin_grants.iter().any(|(g, _)| g == id),
            Loss::Membership { group, .. } => self.holders(None).contains(group),
            Loss::Key(id) => {
                let holders = self.holders(None);
                self.keys
                    .iter()
                    .any(|k| k.id == id && holders.contains(&k.owner))
            }
        }
    }
}

/// A key that carries the admin role on the tenant if its owner holds it.
fn carries_admin(key: &ApiKeyRecord) -> bool {
    Rights {
        grants: vec![Permission {
            role: Role::Admin,
            scope: Scope::tenant(),
        }],
        cap: key.scopes.clone(),
    }
    .is_tenant_admin()
}

/// The guard write to add to the change's transaction, or `None` when the change leaves
/// every admin's rights as they are. `Conflict` when it would leave the tenant no admin
/// who can act (unless it had none to begin with: nothing left to protect).
async fn check(ctx: &Context, tenant: &TenantName, loss: Loss<'_>) -> Result<Option<Write>, Error> {
    let guard = keys::admin_guard(tenant);
    let rev = match ctx.table.get(&guard).await? {
        Some(item) => item.get(REV).and_then(|v| v.as_i64()),
        None => None,
    };
    let snapshot = Snapshot::read(ctx, tenant).await?;
    if !snapshot.touches_admins(loss) {
        return Ok(None);
    }
    if !snapshot.acting_admins(None).is_empty() && snapshot.acting_admins(Some(loss)).is_empty() {
        let what = match loss {
            Loss::Grant(_) => "deleting this grant",
            Loss::Membership { .. } => "removing this member",
            Loss::Key(_) => "revoking this key",
        };
        return Err(Error::Conflict(format!(
            "{what} would leave tenant {tenant} without an admin who can sign in; first give \
             another user or service account the admin role on the tenant, with an API key"
        )));
    }
    let item = crate::domain::model::to_item(&guard, &json!({ REV: rev.unwrap_or(0) + 1 }))?;
    Ok(Some(Write::Put {
        item,
        condition: Some(match rev {
            Some(rev) => Condition::Equals(REV.into(), rev.into()),
            None => Condition::NotExists,
        }),
    }))
}

/// Commits the change's writes (built afresh by `writes` on every attempt) after checking that the
/// change leaves the tenant an admin; `commit` runs the transaction (with its audit record)
/// and gets the guard write appended last. A guard lost to a concurrent change means
/// checking again; the change's own failures come back as they are.
pub async fn run<F, Fut>(
    ctx: &Context,
    tenant: &TenantName,
    loss: Loss<'_>,
    writes: impl Fn() -> Vec<Write>,
    commit: F,
) -> Result<(), CommitError>
where
    F: Fn(Vec<Write>) -> Fut,
    Fut: std::future::Future<Output = Result<(), TableError>>,
{
    for _ in 0..ATTEMPTS {
        let mut all = writes();
        let guard_at = all.len();
        let guarded = match check(ctx, tenant, loss).await? {
            Some(guard) => {
                all.push(guard);
                true
            }
            None => false,
        };
        match commit(all).await {
            Ok(()) => return Ok(()),
            Err(TableError::TransactionCanceled { failed }) if guarded && failed == [guard_at] => {
                continue;
            }
            Err(e) => return Err(CommitError::Table(e)),
        }
    }
    Err(CommitError::Service(Error::Conflict(
        "admin rights of this tenant are changing concurrently; try again".into(),
    )))
}

/// Why a guarded change did not commit: refused by the check, or its own transaction's
/// failure (for the caller to map, e.g. a failed condition to 404).
#[derive(Debug)]
pub enum CommitError {
    Service(Error),
    Table(TableError),
}

impl From<Error> for CommitError {
    fn from(e: Error) -> Self {
        Self::Service(e)
    }
}
