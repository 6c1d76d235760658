use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::keys;
use crate::domain::model::{Format, Repository, Retention, from_item, to_item};
use crate::domain::names::{RepoName, TenantName};
use crate::ports::{Condition, Query, TableError, Write};
use crate::services::caller::Caller;
use crate::services::pagination::{PageOf, PageParams};
use crate::services::{Context, Error, audit};

const MAX_DESCRIPTION: usize = 1024;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRepository {
    #[schema(example = "libs")]
    pub name: String,
    pub format: Format,
    pub description: Option<String>,
    /// Largest accepted file in bytes (defaults to the server's limit, 5 GiB).
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
    let max_file_size = match req.max_file_size {
        None => ctx.settings.default_max_file_size,
        Some(n) if n >= 1 && n <= ctx.settings.default_max_file_size => n,
        Some(n) => {
            return Err(Error::Invalid(format!(
                "invalid max_file_size {n}: use 1 to {} bytes",
                ctx.settings.default_max_file_size
            )));
        }
    };
    let repo = Repository {
        name,
        format: req.format,
        description: req.description,
        max_file_size,
        retention: req.retention.unwrap_or_default(),
        created_at: ctx.clock.now(),
    };
    let item = to_item(&keys::repo(&caller.tenant, &repo.name), &repo)?;
    let writes = vec![Write::Put {
        item,
        condition: Some(Condition::NotExists),
    }];
    let target = format!("repository/{}", repo.name);
    match audit::transact(ctx, caller, "repository.create", &target, writes).await {
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

pub(crate) async fn find(
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

/// Replaces the repository's retention policy (an empty object clears it).
pub async fn put_retention(
    ctx: &Context,
    caller: &Caller,
    name: &str,
    retention: Retention,
) -> Result<Repository, Error> {
    let name = RepoName::parse(name)?;
    caller.require(
        crate::domain::access::Role::Admin,
        &crate::domain::access::Target::Repository(&name),
        || Error::NotFound(format!("repository {name} not found")),
    )?;
    retention.check().map_err(Error::Invalid)?;
    let key = keys::repo(&caller.tenant, &name);
    let item = ctx
        .table
        .get(&key)
        .await?
        .ok_or_else(|| Error::NotFound(format!("repository {name} not found")))?;
    let mut repo: Repository = from_item(item)?;
    // The policy is the only thing that changes on a repository, so the last write wins.
    repo.retention = retention;
    let writes = vec![Write::Put {
        item: to_item(&key, &repo)?,
        condition: Some(Condition::Exists),
    }];
    let target = format!("repository/{name}");
    match audit::transact(ctx, caller, "repository.retention.update", &target, writes).await {
        Ok(()) => Ok(repo),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => {
            Err(Error::NotFound(format!("repository {name} not found")))
        }
        Err(e) => Err(e.into()),
    }
}
