//! Finds an existing package, version or file a new one would look like (the same
//! canonical form, `domain::canonical`, under another spelling). The upload request asks
//! first, for a quick 409; Persist asks again inside its publish, where it is binding:
//! - packages by their name claim (`keys::package_name_claim`), written in the publishing
//!   transaction on the condition that nobody holds it;
//! - versions and files by reading their (strongly consistent) partitions, which is atomic
//!   with the publish because every publish to a package rewrites the package item on the
//!   condition of its revision as read, and every publish to a version the version item.

use crate::domain::canonical;
use crate::domain::keys;
use crate::domain::model::{FileRecord, Package, PackageNameClaim, Repository, Version, from_item};
use crate::domain::names::{FileName, PackageName, TenantName, VersionName};
use crate::ports::Query;
use crate::ports::table::query_all;
use crate::services::{Context, Error};

/// The spelling holding the canonical form of `name` in `repo`, if any.
pub(crate) async fn claimed(
    ctx: &Context,
    tenant: &TenantName,
    repo: &Repository,
    name: &PackageName,
) -> Result<Option<PackageName>, Error> {
    let key = keys::package_name_claim(tenant, &repo.name, &canonical::package(repo.format, name));
    match ctx.table.get(&key).await? {
        Some(item) => Ok(Some(from_item::<PackageNameClaim>(item)?.name)),
        None => Ok(None),
    }
}

/// An existing package `name` looks like, under another spelling.
pub(crate) async fn package(
    ctx: &Context,
    tenant: &TenantName,
    repo: &Repository,
    name: &PackageName,
) -> Result<Option<PackageName>, Error> {
    match claimed(ctx, tenant, repo, name).await? {
        Some(holder) => Ok((holder != *name).then_some(holder)),
        None => unclaimed(ctx, tenant, repo, name).await,
    }
}

/// An existing package `name` looks like when nobody holds its name claim.
pub(crate) async fn unclaimed(
    ctx: &Context,
    tenant: &TenantName,
    repo: &Repository,
    name: &PackageName,
) -> Result<Option<PackageName>, Error> {
    if repo.id.is_some() {
        // Created since claims exist: each of its packages holds one.
        return Ok(None);
    }
    // An older repository's packages may predate claims: look at all of them.
    let wanted = canonical::package(repo.format, name);
    let query = Query::new(keys::packages_partition(tenant, &repo.name)).limit(1000);
    for item in query_all(ctx.table.as_ref(), query).await? {
        let p: Package = from_item(item)?;
        if p.name != *name && canonical::package(repo.format, &p.name) == wanted {
            return Ok(Some(p.name));
        }
    }
    Ok(None)
}

/// An existing version of `package` that `version` looks like, deleted ones included
/// (their numbers are never reused, in any spelling).
pub(crate) async fn version(
    ctx: &Context,
    tenant: &TenantName,
    repo: &Repository,
    package: &PackageName,
    version: &VersionName,
) -> Result<Option<Version>, Error> {
    let wanted = canonical::version(repo.format, version);
    let query = Query::new(keys::versions_partition(tenant, &repo.name, package)).limit(1000);
    for item in query_all(ctx.table.as_ref(), query).await? {
        let v: Version = from_item(item)?;
        if v.version != *version && canonical::version(repo.format, &v.version) == wanted {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// An existing file of the version that `filename` looks like.
pub(crate) async fn file(
    ctx: &Context,
    tenant: &TenantName,
    repo: &Repository,
    package: &PackageName,
    version: &VersionName,
    filename: &FileName,
) -> Result<Option<FileName>, Error> {
    let wanted = canonical::file(filename);
    let query = Query::new(keys::files_partition(tenant, &repo.name, package, version)).limit(1000);
    for item in query_all(ctx.table.as_ref(), query).await? {
        let f: FileRecord = from_item(item)?;
        if f.filename != *filename && canonical::file(&f.filename) == wanted {
            return Ok(Some(f.filename));
        }
    }
    Ok(None)
}

/// Why a look-alike package name is refused.
pub(crate) fn package_refusal(name: &PackageName, existing: &PackageName) -> String {
    format!(
        "package {name} looks like the existing package {existing} (package names are compared \
         ignoring case and '-', '_', '.'); publish to {existing} instead"
    )
}

pub(crate) fn version_refusal(
    package: &PackageName,
    version: &VersionName,
    existing: &Version,
) -> String {
    let deleted = if existing.deleted {
        " (deleted; version numbers are never reused)"
    } else {
        ""
    };
    format!(
        "version {version} of {package} looks like the existing version {}{deleted} (versions \
         are compared ignoring case)",
        existing.version
    )
}

pub(crate) fn file_refusal(
    package: &PackageName,
    version: &VersionName,
    filename: &FileName,
    existing: &FileName,
) -> String {
    format!(
        "{filename} looks like {existing}, already published in {package} {version} (filenames \
         are compared ignoring case)"
    )
}
