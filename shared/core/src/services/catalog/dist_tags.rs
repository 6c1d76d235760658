//! Dist-tags: names for versions of a package (npm's `latest`, `beta`, `next`). Tags set on
//! purpose are kept on the package record; `latest`, unless set, is the newest release that
//! is not a pre-release in the format's order, so a publish moves it without a write of its
//! own and a deleted version never stays tagged. Each change is one audited write that bumps
//! the package's `rev` (its index pages show the tags).

use std::collections::BTreeMap;

use crate::domain::access::{Role, Target};
use crate::domain::audit_action::AuditAction;
use crate::domain::keys;
use crate::domain::model::{Package, Repository, Version, from_item, to_item};
use crate::domain::names::{PackageName, VersionName};
use crate::formats::{self, npm};
use crate::ports::table::query_all;
use crate::ports::{Condition, Query, TableError, Write};
use crate::services::access::caller::Caller;
use crate::services::records::audit;
use crate::services::{Context, Error};

/// The tag every client resolves a bare install with.
pub const LATEST: &str = "latest";

/// The tags a client sees: the ones set on purpose that point at a live version, and
/// `latest` (set, else the newest release, else the newest pre-release).
pub fn effective(
    repo: &Repository,
    package: &Package,
    live: &[VersionName],
) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = package
        .dist_tags
        .iter()
        .filter(|(_, v)| live.contains(v))
        .map(|(t, v)| (t.clone(), v.to_string()))
        .collect();
    if !tags.contains_key(LATEST) {
        let order = |a: &&VersionName, b: &&VersionName| match formats::for_format(repo.format) {
            Some(f) => f.compare_versions(a.as_str(), b.as_str()),
            None => a.as_str().cmp(b.as_str()),
        };
        let newest = live
            .iter()
            .filter(|v| !npm::is_prerelease(v.as_str()))
            .max_by(order)
            .or_else(|| live.iter().max_by(order));
        if let Some(v) = newest {
            tags.insert(LATEST.to_owned(), v.to_string());
        }
    }
    tags
}

/// A package's versions that are not deleted and have a file.
pub async fn live_versions(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
) -> Result<Vec<Version>, Error> {
    let query = Query::new(keys::versions_partition(
        &caller.tenant,
        &repo.name,
        package,
    ));
    let mut out = Vec::new();
    for item in query_all(ctx.table.as_ref(), query).await? {
        let v: Version = from_item(item)?;
        if !v.deleted && v.file_count > 0 {
            out.push(v);
        }
    }
    Ok(out)
}

/// The package's tags as a client sees them (readers).
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
) -> Result<BTreeMap<String, String>, Error> {
    let record = crate::services::catalog::index::package(ctx, caller, repo, package).await?;
    let live: Vec<VersionName> = live_versions(ctx, caller, repo, package)
        .await?
        .into_iter()
        .map(|v| v.version)
        .collect();
    Ok(effective(repo, &record, &live))
}

/// Points `tag` at `version` (publishers of the package); answers the tags as they are now.
pub async fn set(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
    tag: &str,
    version: &str,
) -> Result<BTreeMap<String, String>, Error> {
    npm::check_dist_tag(tag).map_err(Error::Invalid)?;
    require_writer(caller, repo, package)?;
    let live = live_versions(ctx, caller, repo, package).await?;
    let Some(v) = live.iter().find(|v| v.version.as_str() == version) else {
        return Err(Error::NotFound(format!(
            "version not found: {}@{}",
            package,
            crate::domain::echo::echo(version)
        )));
    };
    let version = v.version.clone();
    let target = format!("package/{}/{package}/{tag}", repo.name);
    change(
        ctx,
        caller,
        repo,
        package,
        AuditAction::PackageTagSet,
        &target,
        |p| {
            p.dist_tags.insert(tag.to_owned(), version.clone());
            Ok(())
        },
    )
    .await?;
    list(ctx, caller, repo, package).await
}

/// Removes `tag` (publishers of the package); `latest` cannot be removed, only moved.
pub async fn remove(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
    tag: &str,
) -> Result<BTreeMap<String, String>, Error> {
    require_writer(caller, repo, package)?;
    if tag == LATEST {
        return Err(Error::Invalid(
            "the latest tag cannot be removed; point it at another version instead".into(),
        ));
    }
    let target = format!("package/{}/{package}/{tag}", repo.name);
    change(
        ctx,
        caller,
        repo,
        package,
        AuditAction::PackageTagRemove,
        &target,
        |p| match p.dist_tags.remove(tag) {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!(
                "{} is not a dist-tag of {package}",
                crate::domain::echo::echo(tag)
            ))),
        },
    )
    .await?;
    list(ctx, caller, repo, package).await
}

/// Sets the tags a client sent with a change of the whole document (npm's unpublish sends
/// the tags it moved off the versions it removes): a tag equal to what it would be anyway is
/// not kept on purpose, so `latest` keeps following new releases.
pub async fn replace(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
    wanted: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let record = crate::services::catalog::index::package(ctx, caller, repo, package).await?;
    let live: Vec<VersionName> = live_versions(ctx, caller, repo, package)
        .await?
        .into_iter()
        .map(|v| v.version)
        .collect();
    let mut unset = record.clone();
    unset.dist_tags.clear();
    let implied = effective(repo, &unset, &live);
    let mut kept = BTreeMap::new();
    for (tag, version) in wanted {
        npm::check_dist_tag(tag).map_err(Error::Invalid)?;
        let Some(v) = live.iter().find(|v| v.as_str() == version) else {
            return Err(Error::Conflict(format!(
                "dist-tag {tag} points at {version}, which is not published; move the tag first"
            )));
        };
        if implied.get(tag) != Some(version) {
            kept.insert(tag.clone(), v.clone());
        }
    }
    if kept == record.dist_tags {
        return Ok(());
    }
    let target = format!("package/{}/{package}", repo.name);
    change(
        ctx,
        caller,
        repo,
        package,
        AuditAction::PackageTagSet,
        &target,
        |p| {
            p.dist_tags = kept.clone();
            Ok(())
        },
    )
    .await
}

fn require_writer(caller: &Caller, repo: &Repository, package: &PackageName) -> Result<(), Error> {
    caller.require(Role::Writer, &Target::Package(&repo.name, package), || {
        Error::NotFound(format!("package {package} not found in {}", repo.name))
    })
}

/// One audited change of the package record, conditioned on the `rev` read.
async fn change(
    ctx: &Context,
    caller: &Caller,
    repo: &Repository,
    package: &PackageName,
    action: AuditAction,
    target: &str,
    edit: impl Fn(&mut Package) -> Result<(), Error>,
) -> Result<(), Error> {
    let key = keys::package(&caller.tenant, &repo.name, package);
    let mut record: Package = match ctx.table.get(&key).await? {
        Some(item) => from_item(item)?,
        None => {
            return Err(Error::NotFound(format!(
                "package {package} not found in {}",
                repo.name
            )));
        }
    };
    let rev = record.rev;
    edit(&mut record)?;
    record.rev += 1;
    record.updated_at = ctx.clock.now();
    let writes = vec![Write::Put {
        item: to_item(&key, &record)?,
        condition: Some(Condition::Equals("rev".into(), rev.into())),
    }];
    match audit::transact(ctx, caller, action, target, writes).await {
        Ok(()) => Ok(()),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => Err(
            Error::Conflict(format!("package {package} changed concurrently; retry")),
        ),
        Err(e) => Err(e.into()),
    }
}
