use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::audit_action::AuditAction;
use crate::domain::event_kind::EventKind;
use crate::domain::keys;
use crate::domain::model::{
    Format, Package, Repository, Retention, ScanPolicy, Version, from_item, to_item,
};
use crate::domain::names::{RepoName, TenantName};
use crate::outbox;
use crate::pipeline::events;
use crate::ports::blobs::MAX_OBJECT_SIZE;
use crate::ports::table::query_all;
use crate::ports::{Condition, Query, TableError, Write};
use crate::services::access::caller::Caller;
use crate::services::pagination::{PageOf, PageParams};
use crate::services::records::audit;
use crate::services::{Context, Error};

const MAX_DESCRIPTION: usize = 1024;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRepository {
    #[schema(
        example = "libs",
        max_length = 64,
        pattern = "^[a-z0-9][a-z0-9._-]{0,63}$"
    )]
    pub name: String,
    pub format: Format,
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// Largest accepted file in bytes (defaults to the server's limit, 5 GiB).
    #[schema(minimum = 1, maximum = 5_497_558_138_880_u64)]
    pub max_file_size: Option<u64>,
    /// What the hourly cleanup removes (nothing by default).
    pub retention: Option<Retention>,
}

pub async fn create(
    ctx: &Context,
    caller: &Caller,
    req: CreateRepository,
) -> Result<Repository, Error> {
    let name = RepoName::parse(&req.name)?;
    if let Some(d) = &req.description
        && d.chars().count() > MAX_DESCRIPTION
    {
        return Err(Error::Invalid(format!(
            "invalid description: at most {MAX_DESCRIPTION} characters"
        )));
    }
    if let Some(r) = &req.retention {
        r.check().map_err(Error::Invalid)?;
    }
    // Up to what storage keeps in one object; files over 5 GiB come in parts.
    let max_file_size = match req.max_file_size {
        None => ctx.settings.default_max_file_size,
        Some(n) if (1..=MAX_OBJECT_SIZE).contains(&n) => n,
        Some(n) => {
            return Err(Error::Invalid(format!(
                "invalid max_file_size {n}: use 1 to {MAX_OBJECT_SIZE} bytes (5 TiB)"
            )));
        }
    };
    let repo = Repository {
        name,
        id: Some(ulid::Ulid::new().to_string().to_ascii_lowercase()),
        format: req.format,
        description: req.description,
        max_file_size,
        retention: req.retention.unwrap_or_default(),
        scan_policy: ScanPolicy::default(),
        created_at: ctx.clock.now(),
    };
    let item = to_item(&keys::repo(&caller.tenant, &repo.name), &repo)?;
    let data = serde_json::json!({"repository": repo.name, "format": repo.format});
    let event = events::event(ctx, &caller.tenant, EventKind::RepositoryCreated, data);
    let writes = vec![
        Write::Put {
            item,
            condition: Some(Condition::NotExists),
        },
        outbox::entry(&event)?,
    ];
    let target = format!("repository/{}", repo.name);
    match audit::transact(ctx, caller, AuditAction::RepositoryCreate, &target, writes).await {
        Ok(()) => Ok(repo),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => Err(
            Error::Conflict(format!("repository {} already exists", repo.name)),
        ),
        Err(e) => Err(e.into()),
    }
}

pub async fn get(ctx: &Context, caller: &Caller, name: &str) -> Result<Repository, Error> {
    let name = RepoName::parse(name)?;
    find(ctx, &caller.tenant, &name).await
}

pub async fn find(
    ctx: &Context,
    tenant: &TenantName,
    name: &RepoName,
) -> Result<Repository, Error> {
    let item = ctx
        .table
        .get(&keys::repo(tenant, name))
        .await?
        .ok_or_else(|| Error::NotFound(format!("repository {name} not found")))?;
    Ok(from_item(item)?)
}

/// Holds while the item under the repository's key is still `repo` itself, not another
/// repository created under its name since. One without an id is told apart by when it
/// was created: a later one of that name has an id, or at least another creation time.
pub fn is_instance(repo: &Repository) -> Condition {
    match &repo.id {
        Some(id) => Condition::Equals("id".into(), id.clone().into()),
        None => Condition::Equals(
            "created_at".into(),
            serde_json::to_value(repo)
                .ok()
                .and_then(|v| v.get("created_at").cloned())
                .unwrap_or(serde_json::Value::Null),
        ),
    }
}

pub async fn list(
    ctx: &Context,
    caller: &Caller,
    page: &PageParams,
) -> Result<PageOf<Repository>, Error> {
    let query = Query::new(keys::repos_partition(&caller.tenant))
        .limit(page.limit()?)
        .cursor(page.cursor.clone());
    let page = ctx.table.query(&query).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for item in page.items {
        let repo: Repository = from_item(item)?;
        if caller.rights.sees_repository(&repo.name) {
            items.push(repo);
        }
    }
    Ok(PageOf {
        items,
        next_cursor: page.cursor,
    })
}

/// Deletes per transaction, besides the repository's own, its event and the audit record
/// (DynamoDB takes 100 writes in one).
const DELETES_PER_TRANSACTION: usize = 90;

/// Removes an empty repository: one whose versions are all deleted (or that never held
/// any). Its package items go with it; deleted versions' markers stay, so a repository
/// created later under the same name still never reuses their numbers.
pub async fn delete(ctx: &Context, caller: &Caller, name: &str) -> Result<(), Error> {
    let name = RepoName::parse(name)?;
    let repo = find(ctx, &caller.tenant, &name).await?;
    let packages = query_all(
        ctx.table.as_ref(),
        Query::new(keys::packages_partition(&caller.tenant, &name)).limit(1000),
    )
    .await?
    .into_iter()
    .map(from_item::<Package>)
    .collect::<Result<Vec<_>, _>>()?;
    let mut live = Vec::new();
    for package in &packages {
        if let Some(version) = first_live_version(ctx, &caller.tenant, &name, package).await? {
            live.push(format!("{} {version}", package.name));
        }
    }
    if !live.is_empty() {
        let shown = live.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        let more = if live.len() > 5 { ", ..." } else { "" };
        return Err(Error::Conflict(format!(
            "repository {name} still holds versions ({shown}{more}); delete them first"
        )));
    }

    let target = format!("repository/{name}");
    let conflict = || Error::Conflict(format!("repository {name} changed concurrently; retry"));
    // A publish bumps its package's revision: a delete conditioned on the revision it
    // checked cannot remove a package that gained a version meanwhile.
    let package_deletes = packages
        .iter()
        .map(|p| Write::Delete {
            key: keys::package(&caller.tenant, &name, &p.name),
            condition: Some(Condition::Equals("rev".into(), p.rev.into())),
        })
        .collect::<Vec<_>>();
    let mut batches = package_deletes
        .chunks(DELETES_PER_TRANSACTION)
        .map(<[Write]>::to_vec)
        .collect::<Vec<_>>();
    let repo_delete = Write::Delete {
        key: keys::repo(&caller.tenant, &name),
        condition: Some(Condition::Exists),
    };
    let data = serde_json::json!({"repository": name, "format": repo.format});
    let event = events::event(ctx, &caller.tenant, EventKind::RepositoryDeleted, data);
    let announce = outbox::entry(&event)?;
    // The repository goes last, with the last packages and its event: if a batch before
    // fails, what is left is still a listed repository the caller can delete again.
    match batches.last_mut() {
        Some(last) if last.len() < DELETES_PER_TRANSACTION => {
            last.extend([repo_delete, announce]);
        }
        _ => batches.push(vec![repo_delete, announce]),
    }
    for writes in batches {
        match audit::transact(ctx, caller, AuditAction::RepositoryDelete, &target, writes).await {
            Ok(()) => {}
            Err(TableError::TransactionCanceled { failed }) if !failed.is_empty() => {
                return Err(conflict());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A version of the package that is not deleted, if any.
async fn first_live_version(
    ctx: &Context,
    tenant: &TenantName,
    repo: &RepoName,
    package: &Package,
) -> Result<Option<String>, Error> {
    let mut query = Query::new(keys::versions_partition(tenant, repo, &package.name)).limit(1000);
    loop {
        let page = ctx.table.query(&query).await?;
        for item in page.items {
            let version: Version = from_item(item)?;
            if !version.deleted {
                return Ok(Some(version.version.to_string()));
            }
        }
        match page.cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(None),
        }
    }
}

/// Replaces the repository's retention policy (an empty object clears it).
pub async fn put_retention(
    ctx: &Context,
    caller: &Caller,
    name: &str,
    retention: Retention,
) -> Result<Repository, Error> {
    retention.check().map_err(Error::Invalid)?;
    update(
        ctx,
        caller,
        name,
        AuditAction::RepositoryRetentionUpdate,
        |repo| {
            repo.retention = retention;
        },
    )
    .await
}

/// Replaces the repository's scan policy (an empty object restores the defaults). It
/// applies to uploads scanned from then on.
pub async fn put_scan_policy(
    ctx: &Context,
    caller: &Caller,
    name: &str,
    policy: ScanPolicy,
) -> Result<Repository, Error> {
    policy.check().map_err(Error::Invalid)?;
    update(
        ctx,
        caller,
        name,
        AuditAction::RepositoryScanPolicyUpdate,
        |repo| {
            repo.scan_policy = policy;
        },
    )
    .await
}

/// Changes one setting of a repository, for its admins.
async fn update(
    ctx: &Context,
    caller: &Caller,
    name: &str,
    action: AuditAction,
    change: impl FnOnce(&mut Repository),
) -> Result<Repository, Error> {
    let name = RepoName::parse(name)?;
    caller.require(
        crate::domain::access::Role::Admin,
        &crate::domain::access::Target::Repository(&name),
        || Error::NotFound(format!("repository {name} not found")),
    )?;
    let key = keys::repo(&caller.tenant, &name);
    let item = ctx
        .table
        .get(&key)
        .await?
        .ok_or_else(|| Error::NotFound(format!("repository {name} not found")))?;
    let mut repo: Repository = from_item(item)?;
    // Each setting is replaced whole, so the last write wins; but only on the repository
    // as read, never on one created since under its name.
    let condition = is_instance(&repo);
    change(&mut repo);
    let writes = vec![Write::Put {
        item: to_item(&key, &repo)?,
        condition: Some(condition),
    }];
    let target = format!("repository/{name}");
    match audit::transact(ctx, caller, action, &target, writes).await {
        Ok(()) => Ok(repo),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => {
            Err(Error::NotFound(format!("repository {name} not found")))
        }
        Err(e) => Err(e.into()),
    }
}
