//! What a package manager's index shows: a repository of one format, the packages a caller
//! may read in it, and a package's published files with their versions in the format's
//! order. The format renders it (`formats::pypi::simple`).

use futures::{StreamExt as _, TryStreamExt as _};

use crate::domain::access::{Role, Target};
use crate::domain::keys;
use crate::domain::model::{FileRecord, Format, Package, Repository, Version, Yanked, from_item};
use crate::domain::names::{PackageName, RepoName, VersionName};
use crate::ports::Query;
use crate::ports::table::query_all;
use crate::services::access::caller::Caller;
use crate::services::catalog::repositories;
use crate::services::{Context, Error};

/// Files of one version are read a page at a time; a version holds few.
const FILES_PAGE: usize = 1000;
/// Versions whose files are read at once.
const PARALLEL_QUERIES: usize = 16;

/// The repository `repo` of the caller's tenant, if it is of `format` (a repository of
/// another format has no index of this kind: 404).
pub async fn repository(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    format: Format,
) -> Result<Repository, Error> {
    let name = RepoName::parse(repo)?;
    let repository = repositories::find(ctx, &caller.tenant, &name).await?;
    if repository.format != format {
        let wanted = serde_json::to_value(format)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(Error::NotFound(format!(
            "repository {name} is not a {wanted} repository"
        )));
    }
    Ok(repository)
}

/// Every package of the repository the caller may read, by name.
pub async fn packages(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
) -> Result<Vec<PackageName>, Error> {
    let query = Query::new(keys::packages_partition(&caller.tenant, &repo.name))
        .begins_with(keys::PACKAGE_SK_PREFIX)
        .limit(1000);
    let mut names = Vec::new();
    for item in query_all(ctx.table.as_ref(), query).await? {
        let package: Package = from_item(item)?;
        // Every version deleted: nothing left to install.
        if package.latest_version.is_none() {
            continue;
        }
        if caller
            .rights
            .can(Role::Reader, &Target::Package(&repo.name, &package.name))
        {
            names.push(package.name);
        }
    }
    Ok(names)
}

/// One published file and the version it belongs to.
#[derive(Debug, Clone)]
pub struct IndexedFile {
    pub version: VersionName,
    pub file: FileRecord,
    /// The file's own yank, else its release's.
    pub yanked: Option<Yanked>,
}

/// A package's live versions (oldest first, in the format's order) and their files.
#[derive(Debug, Clone)]
pub struct PackageFiles {
    pub package: Package,
    pub versions: Vec<VersionName>,
    pub files: Vec<IndexedFile>,
}

/// The package if the caller may read it: 404 when it may not.
pub async fn package(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
) -> Result<Package, Error> {
    let t = &caller.tenant;
    let not_found = || Error::NotFound(format!("package {package} not found in {}", repo.name));
    // Checked here, on the normal name, rather than by the guard on the URL's spelling:
    // a grant on `foo-bar` covers `/simple/Foo_Bar/`'s redirect and its target alike.
    if !caller
        .rights
        .can(Role::Reader, &Target::Package(&repo.name, package))
    {
        return Err(not_found());
    }
    match ctx
        .table
        .get(&keys::package(t, &repo.name, package))
        .await?
    {
        Some(item) => Ok(from_item::<Package>(item)?),
        None => Err(not_found()),
    }
}

/// The page of a package read by [`package`]: its live versions and their files.
pub async fn package_files(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: Package,
) -> Result<PackageFiles, Error> {
    let t = &caller.tenant;
    let query = Query::new(keys::versions_partition(t, &repo.name, &package.name)).limit(1000);
    let mut versions: Vec<Version> = query_all(ctx.table.as_ref(), query)
        .await?
        .into_iter()
        .map(from_item)
        .collect::<Result<_, _>>()?;
    versions.retain(|v| !v.deleted && v.file_count > 0);
    let order = |a: &str, b: &str| match crate::formats::for_format(repo.format) {
        Some(format) => format.compare_versions(a, b),
        None => a.cmp(b),
    };
    versions.sort_by(|a, b| order(a.version.as_str(), b.version.as_str()));
    // One query per version: a few at a time, so a long history costs the table's latency
    // once per `PARALLEL_QUERIES` versions rather than once per version.
    let name = &package.name;
    // Owned versions: a closure over references is not `Send` enough for a handler future.
    let per_version = futures::stream::iter(versions.iter().cloned().map(|v| async move {
        let query =
            Query::new(keys::files_partition(t, &repo.name, name, &v.version)).limit(FILES_PAGE);
        let mut of_version: Vec<FileRecord> = query_all(ctx.table.as_ref(), query)
            .await?
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        of_version.sort_by(|a, b| a.filename.as_str().cmp(b.filename.as_str()));
        Ok::<_, Error>(
            of_version
                .into_iter()
                .map(|file| IndexedFile {
                    version: v.version.clone(),
                    yanked: file.yanked.clone().or_else(|| v.yanked.clone()),
                    file,
                })
                .collect::<Vec<_>>(),
        )
    }))
    .buffered(PARALLEL_QUERIES)
    .try_collect::<Vec<_>>()
    .await?;
    let files = per_version.into_iter().flatten().collect();
    Ok(PackageFiles {
        package,
        versions: versions.into_iter().map(|v| v.version).collect(),
        files,
    })
}
