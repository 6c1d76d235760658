//! Users, service accounts and groups of a tenant, and group membership. Groups may contain
//! groups; a membership that would close a cycle is refused.

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::audit_action::AuditAction;
use crate::domain::keys;
use crate::domain::model::{from_item, to_item};
use crate::domain::names::{PrincipalName, TenantName};
use crate::ports::table::query_all;
use crate::ports::{Condition, Query, TableError, Write};
use crate::services::access::admin_guard::{self, CommitError, Loss};
use crate::services::access::caller::{Caller, PrincipalKind};
use crate::services::pagination::{PageOf, PageParams};
use crate::services::records::{audit, pii};
use crate::services::{Context, Error};

/// How deep group nesting is followed; deeper chains are refused when built.
pub const MAX_GROUP_DEPTH: usize = 16;

/// As stored. The email is sealed (`services::records::pii`), never stored or logged in clear.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrincipalRecord {
    pub id: String,
    pub kind: PrincipalKind,
    pub name: PrincipalName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_sealed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// As answered. `email` only for tenant admins.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Principal {
    #[schema(example = "user_01jd5x7k3m2n4p6q8r0s2t4v6w")]
    pub id: String,
    pub kind: PrincipalKind,
    #[schema(value_type = String, example = "alice")]
    pub name: PrincipalName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(
        example = "alice",
        max_length = 64,
        pattern = "^[a-z0-9][a-z0-9._-]{0,63}$"
    )]
    pub name: String,
    #[schema(example = "alice@example.com", max_length = 254, format = Email)]
    pub email: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    #[schema(
        example = "ci-release",
        max_length = 64,
        pattern = "^[a-z0-9][a-z0-9._-]{0,63}$"
    )]
    pub name: String,
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    #[schema(
        example = "platform-team",
        max_length = 64,
        pattern = "^[a-z0-9][a-z0-9._-]{0,63}$"
    )]
    pub name: String,
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

/// A group with its direct members.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupView {
    #[serde(flatten)]
    pub group: Principal,
    /// Principal ids of the direct members.
    pub members: Vec<String>,
}

const MAX_DESCRIPTION: usize = 1024;

fn check_description(d: &Option<String>) -> Result<(), Error> {
    match d {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(Error::Invalid(format!(
            "invalid description: at most {MAX_DESCRIPTION} characters"
        ))),
        _ => Ok(()),
    }
}

/// The writes that create a principal: its profile, its listing, and its name's claim.
pub(crate) fn create_writes(
    tenant: &TenantName,
    record: &PrincipalRecord,
) -> Result<Vec<Write>, Error> {
    Ok(vec![
        Write::Put {
            item: to_item(&keys::principal(tenant, &record.id), record)?,
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: to_item(&keys::principal_listing(tenant, &record.id), record)?,
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: to_item(
                &keys::principal_name(tenant, record.kind.as_str(), record.name.as_str()),
                &serde_json::json!({ "id": record.id }),
            )?,
            condition: Some(Condition::NotExists),
        },
    ])
}

/// The audit action of creating a principal of `kind`.
fn created(kind: PrincipalKind) -> AuditAction {
    match kind {
        PrincipalKind::User => AuditAction::UserCreate,
        PrincipalKind::ServiceAccount => AuditAction::ServiceAccountCreate,
        PrincipalKind::Group => AuditAction::GroupCreate,
    }
}

async fn create(
    ctx: &Context,
    caller: &Caller,
    kind: PrincipalKind,
    name: &str,
    email: Option<&str>,
    description: Option<String>,
) -> Result<Principal, Error> {
    let name = PrincipalName::parse(name)?;
    check_description(&description)?;
    let email_sealed = match email {
        Some(e) => {
            pii::validate_email(e)?;
            Some(pii::seal(ctx, &caller.tenant, "email", e).await?)
        }
        None => None,
    };
    let record = PrincipalRecord {
        id: kind.new_id(),
        kind,
        name,
        email_sealed,
        description,
        created_at: ctx.clock.now(),
    };
    let writes = create_writes(&caller.tenant, &record)?;
    match audit::transact(ctx, caller, created(kind), &record.id, writes).await {
        Ok(()) => {}
        Err(TableError::TransactionCanceled { failed }) if !failed.is_empty() => {
            return Err(Error::Conflict(format!(
                "a {} named {} already exists",
                kind.as_str().replace('_', " "),
                record.name
            )));
        }
        Err(e) => return Err(e.into()),
    }
    view(ctx, caller, record).await
}

pub async fn create_user(
    ctx: &Context,
    caller: &Caller,
    req: CreateUser,
) -> Result<Principal, Error> {
    create(
        ctx,
        caller,
        PrincipalKind::User,
        &req.name,
        Some(&req.email),
        None,
    )
    .await
}

pub async fn create_service_account(
    ctx: &Context,
    caller: &Caller,
    req: CreateServiceAccount,
) -> Result<Principal, Error> {
    create(
        ctx,
        caller,
        PrincipalKind::ServiceAccount,
        &req.name,
        None,
        req.description,
    )
    .await
}

pub async fn create_group(
    ctx: &Context,
    caller: &Caller,
    req: CreateGroup,
) -> Result<Principal, Error> {
    create(
        ctx,
        caller,
        PrincipalKind::Group,
        &req.name,
        None,
        req.description,
    )
    .await
}

/// The answer for a record: the email opened for tenant admins only.
async fn view(ctx: &Context, caller: &Caller, record: PrincipalRecord) -> Result<Principal, Error> {
    let email = match (&record.email_sealed, caller.is_tenant_admin()) {
        (Some(sealed), true) => Some(pii::open(ctx, &caller.tenant, "email", sealed).await?),
        _ => None,
    };
    Ok(Principal {
        id: record.id,
        kind: record.kind,
        name: record.name,
        email,
        description: record.description,
        created_at: record.created_at,
    })
}

pub async fn find(
    ctx: &Context,
    tenant: &TenantName,
    id: &str,
) -> Result<Option<PrincipalRecord>, Error> {
    if PrincipalKind::of_id(id).is_none() {
        return Ok(None);
    }
    match ctx.table.get(&keys::principal(tenant, id)).await? {
        Some(item) => Ok(Some(from_item(item)?)),
        None => Ok(None),
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("principal {id} not found"))
}

pub async fn get(ctx: &Context, caller: &Caller, id: &str) -> Result<Principal, Error> {
    let record = find(ctx, &caller.tenant, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    view(ctx, caller, record).await
}

/// A page of the tenant's principals of one kind.
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    kind: PrincipalKind,
    page: &PageParams,
) -> Result<PageOf<Principal>, Error> {
    let query = Query::new(keys::principals_partition(&caller.tenant))
        .begins_with(format!("P#{}", kind.prefix()))
        .limit(page.limit()?)
        .cursor(page.cursor.clone());
    let page = ctx.table.query(&query).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for item in page.items {
        items.push(view(ctx, caller, from_item(item)?).await?);
    }
    Ok(PageOf {
        items,
        next_cursor: page.cursor,
    })
}

/// The rest of an item's sort key after `prefix` (a member's or a group's id).
fn sk_after(item: &crate::ports::Item, prefix: &str) -> Option<String> {
    item.get(crate::ports::table::SK)?
        .as_str()?
        .strip_prefix(prefix)
        .map(str::to_owned)
}

/// The groups `principal` is directly a member of.
pub async fn groups_of(
    ctx: &Context,
    tenant: &TenantName,
    principal: &str,
) -> Result<Vec<String>, Error> {
    let query = Query::new(keys::principal_partition(tenant, principal))
        .begins_with(keys::MEMBER_OF_SK_PREFIX)
        .limit(1000);
    Ok(query_all(ctx.table.as_ref(), query)
        .await?
        .into_iter()
        .filter_map(|item| sk_after(&item, keys::MEMBER_OF_SK_PREFIX))
        .collect())
}

async fn group_record(
    ctx: &Context,
    tenant: &TenantName,
    group: &str,
) -> Result<PrincipalRecord, Error> {
    match find(ctx, tenant, group).await? {
        Some(r) if r.kind == PrincipalKind::Group => Ok(r),
        _ => Err(Error::NotFound(format!("group {group} not found"))),
    }
}

/// `group` and every group it is (transitively) inside.
async fn enclosing_groups(
    ctx: &Context,
    tenant: &TenantName,
    group: &str,
) -> Result<(HashSet<String>, usize), Error> {
    let mut seen = HashSet::from([group.to_owned()]);
    let mut queue = VecDeque::from([(group.to_owned(), 0usize)]);
    let mut depth = 0;
    while let Some((g, d)) = queue.pop_front() {
        depth = depth.max(d);
        for parent in groups_of(ctx, tenant, &g).await? {
            if seen.insert(parent.clone()) {
                queue.push_back((parent, d + 1));
            }
        }
    }
    Ok((seen, depth))
}

pub async fn add_member(
    ctx: &Context,
    caller: &Caller,
    group: &str,
    member: &str,
) -> Result<(), Error> {
    let tenant = &caller.tenant;
    group_record(ctx, tenant, group).await?;
    let member_record = find(ctx, tenant, member)
        .await?
        .ok_or_else(|| not_found(member))?;
    if member_record.kind == PrincipalKind::Group {
        let (enclosing, depth) = enclosing_groups(ctx, tenant, group).await?;
        if enclosing.contains(member) {
            return Err(Error::Conflict(format!(
                "adding group {member} to group {group} would make a cycle: {group} is already inside {member}"
            )));
        }
        if depth + 1 >= MAX_GROUP_DEPTH {
            return Err(Error::Invalid(format!(
                "groups nest at most {MAX_GROUP_DEPTH} deep"
            )));
        }
    }
    let at = serde_json::json!({ "group": group, "member": member, "added_at": ctx.clock.now().unix_timestamp() });
    let writes = vec![
        Write::Check {
            key: keys::principal(tenant, group),
            condition: Condition::Exists,
        },
        Write::Put {
            item: to_item(&keys::group_member(tenant, group, member), &at)?,
            condition: None,
        },
        Write::Put {
            item: to_item(&keys::member_of(tenant, member, group), &at)?,
            condition: None,
        },
    ];
    let target = format!("{group}/members/{member}");
    audit::transact(ctx, caller, AuditAction::GroupMemberAdd, &target, writes)
        .await
        .map_err(Error::from)
}

pub async fn remove_member(
    ctx: &Context,
    caller: &Caller,
    group: &str,
    member: &str,
) -> Result<(), Error> {
    let tenant = &caller.tenant;
    group_record(ctx, tenant, group).await?;
    let key = keys::group_member(tenant, group, member);
    if ctx.table.get(&key).await?.is_none() {
        return Err(Error::NotFound(format!(
            "{member} is not a member of group {group}"
        )));
    }
    let writes = || {
        vec![
            Write::Delete {
                key: key.clone(),
                condition: Some(Condition::Exists),
            },
            Write::Delete {
                key: keys::member_of(tenant, member, group),
                condition: None,
            },
        ]
    };
    let target = format!("{group}/members/{member}");
    let commit = |w| audit::transact(ctx, caller, AuditAction::GroupMemberRemove, &target, w);
    let loss = Loss::Membership { group, member };
    match admin_guard::run(ctx, tenant, loss, writes, commit).await {
        Ok(()) => Ok(()),
        Err(CommitError::Table(TableError::TransactionCanceled { failed }))
            if failed.contains(&0) =>
        {
            Err(Error::NotFound(format!(
                "{member} is not a member of group {group}"
            )))
        }
        Err(CommitError::Table(e)) => Err(e.into()),
        Err(CommitError::Service(e)) => Err(e),
    }
}

pub async fn get_group(ctx: &Context, caller: &Caller, group: &str) -> Result<GroupView, Error> {
    let record = group_record(ctx, &caller.tenant, group).await?;
    let query = Query::new(keys::principal_partition(&caller.tenant, group))
        .begins_with(keys::MEMBER_SK_PREFIX)
        .limit(1000);
    let members = query_all(ctx.table.as_ref(), query)
        .await?
        .into_iter()
        .filter_map(|item| sk_after(&item, keys::MEMBER_SK_PREFIX))
        .collect();
    Ok(GroupView {
        group: view(ctx, caller, record).await?,
        members,
    })
}
