//! Changes to a published version: pinning, and deletion that frees storage. Deletion is
//! shared by a maintainer's `DELETE` and the retention policy of the cleanup job.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::audit_action::AuditAction;
use crate::domain::event_kind::EventKind;
use crate::domain::keys;
use crate::domain::model::{
    FileRecord, Package, Version, VersionStatus, Yanked, from_item, to_item,
};
use crate::domain::names::{PackageName, RepoName, Sha256Hex, TenantName, VersionName};
use crate::ports::table::query_all;
use crate::ports::{Condition, Query, TableError, Write};
use crate::services::access::caller::Caller;
use crate::services::catalog::blob_refs;
use crate::services::records::audit;
use crate::services::{Context, Error};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionView {
    #[schema(value_type = String)]
    pub package: PackageName,
    #[schema(value_type = String)]
    pub version: VersionName,
    pub status: VersionStatus,
    /// Pinned versions are never removed by the repository's retention policy.
    pub pinned: bool,
    /// Set while the release is yanked (PEP 592): installers skip it unless pinned to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yanked: Option<Yanked>,
    /// Set through `PUT …/labels`; found by search's `tag:`.
    #[serde(skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub tags: std::collections::BTreeSet<String>,
    /// Set through `PUT …/labels`; found by search's `label:key=value`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub file_count: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Version> for VersionView {
    fn from(v: Version) -> Self {
        Self {
            package: v.package,
            version: v.version,
            status: v.status,
            pinned: v.pinned,
            yanked: v.yanked,
            tags: v.tags,
            labels: v.labels,
            file_count: v.file_count,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

/// Lost races with concurrent publishes of the same package are retried this often.
const MAX_ATTEMPTS: usize = 8;
/// Files removed per transaction: each may add one blob count, and the limit is 100 writes.
const FILES_PER_BATCH: usize = 40;

pub struct VersionRef {
    pub repo: RepoName,
    pub package: PackageName,
    pub version: VersionName,
}

impl VersionRef {
    pub fn parse(repo: &str, package: &str, version: &str) -> Result<Self, Error> {
        Ok(Self {
            repo: RepoName::parse(repo)?,
            package: PackageName::parse(package)?,
            version: VersionName::parse(version)?,
        })
    }

    pub(crate) fn target(&self) -> String {
        format!("version/{}/{}/{}", self.repo, self.package, self.version)
    }

    pub(crate) fn not_found(&self) -> Error {
        Error::NotFound(format!(
            "version {} of {} not found in {}",
            self.version, self.package, self.repo
        ))
    }
}

/// The version if it exists and is not deleted.
pub async fn live(ctx: &Context, tenant: &TenantName, r: &VersionRef) -> Result<Version, Error> {
    let item = ctx
        .table
        .get(&keys::version(tenant, &r.repo, &r.package, &r.version))
        .await?;
    match item.map(from_item::<Version>).transpose()? {
        Some(v) if !v.deleted => Ok(v),
        _ => Err(r.not_found()),
    }
}

/// Pins or unpins a version (idempotent; each call is one audited change).
pub async fn set_pinned(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
    pinned: bool,
) -> Result<VersionView, Error> {
    let r = VersionRef::parse(repo, package, version)?;
    let mut v = live(ctx, &caller.tenant, &r).await?;
    let rev = v.rev;
    v.pinned = pinned;
    v.rev += 1;
    v.updated_at = ctx.clock.now();
    let key = keys::version(&caller.tenant, &r.repo, &r.package, &r.version);
    let writes = vec![Write::Put {
        item: to_item(&key, &v)?,
        condition: Some(Condition::Equals("rev".into(), rev.into())),
    }];
    let action = if pinned {
        AuditAction::VersionPin
    } else {
        AuditAction::VersionUnpin
    };
    match audit::transact(ctx, caller, action, &r.target(), writes).await {
        Ok(()) => Ok(v.into()),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => Err(
            Error::Conflict(format!("version {} changed concurrently; retry", r.version)),
        ),
        Err(e) => Err(e.into()),
    }
}

/// What removing a version's files released.
#[derive(Debug, Clone, Copy, Default)]
pub struct Released {
    pub files: u64,
}

/// Deletes the version as read (`seen`): it is flagged deleted (never listed, downloadable
/// or reused) if it has not changed since — a pin in between makes this a conflict — and the
/// package's latest version moves to the newest live one. Audited as `version.delete` by
/// `actor`. Then its files go and their blobs' references drop, so cleanup can free the
/// bytes; if that part fails, the next cleanup run finishes it.
pub async fn delete(
    ctx: &Context,
    actor: &Caller,
    repo: &RepoName,
    seen: &Version,
) -> Result<Released, Error> {
    let r = VersionRef {
        repo: repo.clone(),
        package: seen.package.clone(),
        version: seen.version.clone(),
    };
    let tenant = &actor.tenant;
    let mut deleted = seen.clone();
    deleted.deleted = true;
    deleted.rev += 1;
    deleted.updated_at = ctx.clock.now();
    let version_write = Write::Put {
        item: to_item(
            &keys::version(tenant, &r.repo, &r.package, &r.version),
            &deleted,
        )?,
        condition: Some(Condition::Equals("rev".into(), seen.rev.into())),
    };
    let event = crate::pipeline::events::event(
        ctx,
        tenant,
        EventKind::VersionDeleted,
        serde_json::json!({
            "repository": r.repo, "package": r.package, "version": r.version,
            "actor": actor.principal,
        }),
    );
    let announce = crate::outbox::entry(&event)?;
    let mut committed = false;
    for _ in 0..MAX_ATTEMPTS {
        let mut writes = vec![version_write.clone(), announce.clone()];
        writes.extend(package_write(ctx, tenant, &r).await?);
        match audit::transact(ctx, actor, AuditAction::VersionDelete, &r.target(), writes).await {
            Ok(()) => {
                committed = true;
                break;
            }
            Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => {
                return Err(Error::Conflict(format!(
                    "version {} changed concurrently; retry",
                    r.version
                )));
            }
            // The package moved on (a publish): recompute its latest version.
            Err(TableError::TransactionCanceled { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if !committed {
        return Err(Error::Conflict(format!(
            "package {} changed concurrently; retry",
            r.package
        )));
    }
    // Before the files go: their records say which checksum entries to remove.
    if let Ok(repository) = crate::services::catalog::repositories::find(ctx, tenant, &r.repo).await
    {
        crate::services::search::maintain::forget(ctx, tenant, &repository, seen).await;
    }
    match release_files(ctx, tenant, &r.repo, &r.package, &r.version).await {
        Ok(released) => Ok(released),
        Err(e) => {
            // The deletion stands; cleanup releases what is left on its next run.
            tracing::warn!(error = %e, version = %r.target(), "files of a deleted version not yet released");
            Ok(Released::default())
        }
    }
}

/// The package with `latest_version` pointing at the newest live version other than `r`.
async fn package_write(
    ctx: &Context,
    tenant: &TenantName,
    r: &VersionRef,
) -> Result<Option<Write>, Error> {
    let key = keys::package(tenant, &r.repo, &r.package);
    let Some(item) = ctx.table.get(&key).await? else {
        return Ok(None);
    };
    let mut package: Package = from_item(item)?;
    let rev = package.rev;
    let query = Query::new(keys::versions_partition(tenant, &r.repo, &r.package)).limit(500);
    let mut newest: Option<Version> = None;
    for item in query_all(ctx.table.as_ref(), query).await? {
        let v: Version = from_item(item)?;
        if v.deleted || v.version == r.version {
            continue;
        }
        if newest
            .as_ref()
            .is_none_or(|n| (v.created_at, v.version.as_str()) > (n.created_at, n.version.as_str()))
        {
            newest = Some(v);
        }
    }
    package.latest_version = newest.map(|v| v.version);
    package.rev += 1;
    package.updated_at = ctx.clock.now();
    Ok(Some(Write::Put {
        item: to_item(&key, &package)?,
        condition: Some(Condition::Equals("rev".into(), rev.into())),
    }))
}

/// The files of a version, all of them.
pub(crate) async fn files(
    ctx: &Context,
    tenant: &TenantName,
    repo: &RepoName,
    package: &PackageName,
    version: &VersionName,
) -> Result<Vec<FileRecord>, Error> {
    let query = Query::new(keys::files_partition(tenant, repo, package, version)).limit(1000);
    query_all(ctx.table.as_ref(), query)
        .await?
        .into_iter()
        .map(|item| from_item(item).map_err(Error::from))
        .collect()
}

/// Removes a deleted version's file records and drops their blobs' references, a batch per
/// transaction. Idempotent: a later call finishes what an interrupted one left.
pub(crate) async fn release_files(
    ctx: &Context,
    tenant: &TenantName,
    repo: &RepoName,
    package: &PackageName,
    version: &VersionName,
) -> Result<Released, Error> {
    let mut released = Released::default();
    let partition = keys::files_partition(tenant, repo, package, version);
    let mut conflicts = 0;
    loop {
        let page = ctx
            .table
            .query(&Query::new(partition.clone()).limit(FILES_PER_BATCH))
            .await?;
        if page.items.is_empty() {
            return Ok(released);
        }
        let mut writes = Vec::with_capacity(page.items.len() * 2);
        let mut counts: BTreeMap<Sha256Hex, u64> = BTreeMap::new();
        for item in page.items {
            let file: FileRecord = from_item(item)?;
            writes.push(Write::Delete {
                key: keys::file(tenant, repo, package, version, &file.filename),
                condition: Some(Condition::Exists),
            });
            *counts.entry(file.sha256).or_default() += 1;
        }
        let batch = writes.len() as u64;
        writes.extend(blob_refs::release(ctx, &counts).await?);
        match ctx.table.transact(writes).await {
            Ok(()) => released.files += batch,
            // A concurrent publish or release of the same bytes: read again.
            Err(TableError::TransactionCanceled { .. }) if conflicts < MAX_ATTEMPTS => {
                conflicts += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
