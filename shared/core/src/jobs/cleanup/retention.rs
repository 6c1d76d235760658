//! A repository's retention policy over its packages' versions, and the finishing of
//! deletions whose files were not all released yet (a crash, or a failed release).

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use super::{ACTOR, CleanupOptions, RemovedVersion, RepositoryCleanup};
use crate::domain::keys;
use crate::domain::model::{Package, Repository, Retention, Version, from_item};
use crate::domain::names::{Sha256Hex, TenantName};
use crate::ports::Query;
use crate::ports::table::query_all;
use crate::services::access::caller::Caller;
use crate::services::catalog::versions;
use crate::services::search;
use crate::services::{Context, Error};

/// The versions the policy removes, of one package's versions: never the newest, never a
/// pinned one. `keep_last` counts the unpinned versions (pinned ones are kept besides);
/// a version goes when either rule says so.
pub(crate) fn doomed<'a>(
    policy: &Retention,
    versions: &'a [Version],
    now: OffsetDateTime,
) -> Vec<&'a Version> {
    let mut live: Vec<&Version> = versions.iter().filter(|v| !v.deleted).collect();
    live.sort_by(|a, b| {
        (b.created_at, b.version.as_str()).cmp(&(a.created_at, a.version.as_str()))
    });
    let cutoff = policy
        .max_age_days
        .map(|d| now - Duration::days(i64::from(d)));
    let mut unpinned_seen = 0usize;
    let mut out = Vec::new();
    for (i, v) in live.into_iter().enumerate() {
        if v.pinned {
            continue;
        }
        unpinned_seen += 1;
        if i == 0 {
            continue;
        }
        let beyond_count = policy.keep_last.is_some_and(|n| unpinned_seen > n as usize);
        let too_old = cutoff.is_some_and(|c| v.created_at < c);
        if beyond_count || too_old {
            out.push(v);
        }
    }
    out
}

pub(super) async fn apply(
    ctx: &Context,
    options: CleanupOptions,
    tenant: &TenantName,
    repo: &Repository,
    done: &mut RepositoryCleanup,
    pending: &mut BTreeMap<Sha256Hex, u64>,
) -> Result<(), Error> {
    let actor = Caller::system(tenant.clone(), ACTOR);
    let now = ctx.clock.now();
    let mut query = Query::new(keys::packages_partition(tenant, &repo.name))
        .begins_with(keys::PACKAGE_SK_PREFIX)
        .limit(100);
    loop {
        let page = ctx.table.query(&query).await?;
        for item in page.items {
            let package: Package = from_item(item)?;
            let all: Vec<Version> = query_all(
                ctx.table.as_ref(),
                Query::new(keys::versions_partition(tenant, &repo.name, &package.name)).limit(500),
            )
            .await?
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
            finish_deletions(ctx, options, tenant, repo, &all, done).await?;
            for v in doomed(&repo.retention, &all, now) {
                if options.dry_run {
                    let files =
                        versions::files(ctx, tenant, &repo.name, &v.package, &v.version).await?;
                    done.files_released += files.len() as u64;
                    for f in files {
                        *pending.entry(f.sha256).or_default() += 1;
                    }
                } else {
                    match versions::delete(ctx, &actor, &repo.name, v).await {
                        Ok(released) => done.files_released += released.files,
                        // Pinned or deleted meanwhile: the next run decides again.
                        Err(Error::Conflict(e)) => {
                            tracing::info!(error = %e, "version changed during cleanup");
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
                done.versions_removed.push(RemovedVersion {
                    package: v.package.clone(),
                    version: v.version.clone(),
                });
            }
        }
        match page.cursor {
            Some(c) => query.cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// Deleted versions whose files are still there: forget their search entries and release
/// them now.
async fn finish_deletions(
    ctx: &Context,
    options: CleanupOptions,
    tenant: &TenantName,
    repo: &Repository,
    all: &[Version],
    done: &mut RepositoryCleanup,
) -> Result<(), Error> {
    for v in all.iter().filter(|v| v.deleted) {
        let left = ctx
            .table
            .query(
                &Query::new(keys::files_partition(
                    tenant, &repo.name, &v.package, &v.version,
                ))
                .limit(1),
            )
            .await?;
        if left.items.is_empty() {
            continue;
        }
        if options.dry_run {
            let files = versions::files(ctx, tenant, &repo.name, &v.package, &v.version).await?;
            done.files_released += files.len() as u64;
        } else {
            // A deletion that died before its own `forget` left the entries too; their
            // removal reads the files, so it goes first.
            search::maintain::forget(ctx, tenant, repo, v).await;
            let released =
                versions::release_files(ctx, tenant, &repo.name, &v.package, &v.version).await?;
            done.files_released += released.files;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::VersionStatus;
    use crate::domain::names::{PackageName, VersionName};

    fn version(i: i64, pinned: bool, deleted: bool) -> Version {
        let at = OffsetDateTime::UNIX_EPOCH + Duration::days(1000 + i);
        Version {
            package: PackageName::parse("p").expect("valid"),
            version: VersionName::parse(&format!("1.0.{i}")).expect("valid"),
            status: VersionStatus::Published,
            deleted,
            pinned,
            yanked: None,
            tags: Default::default(),
            labels: Default::default(),
            file_count: 1,
            rev: 1,
            created_at: at,
            updated_at: at,
        }
    }

    fn names(vs: Vec<&Version>) -> Vec<String> {
        vs.into_iter().map(|v| v.version.to_string()).collect()
    }

    #[test]
    fn keep_last_counts_unpinned_versions_and_skips_deleted_ones() {
        let mut all: Vec<Version> = (0..8).map(|i| version(i, i == 1, false)).collect();
        all.push(version(8, false, true));
        let policy = Retention {
            keep_last: Some(3),
            ..Default::default()
        };
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(2000);
        // Live: 7 6 5 | 4 3 2 0 (1 pinned, 8 deleted).
        assert_eq!(
            names(doomed(&policy, &all, now)),
            ["1.0.4", "1.0.3", "1.0.2", "1.0.0"]
        );
    }

    #[test]
    fn max_age_never_takes_the_newest_version() {
        let all: Vec<Version> = (0..3).map(|i| version(i, false, false)).collect();
        let policy = Retention {
            max_age_days: Some(1),
            ..Default::default()
        };
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(5000);
        assert_eq!(names(doomed(&policy, &all, now)), ["1.0.1", "1.0.0"]);
        let fresh = OffsetDateTime::UNIX_EPOCH + Duration::days(1001) + Duration::hours(12);
        assert_eq!(names(doomed(&policy, &all, fresh)), ["1.0.0"]);
        assert!(doomed(&Retention::default(), &all, now).is_empty());
    }

    #[test]
    fn a_pinned_newest_version_still_protects_nothing_else() {
        let all: Vec<Version> = (0..3).map(|i| version(i, i == 2, false)).collect();
        let policy = Retention {
            keep_last: Some(1),
            ..Default::default()
        };
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(2000);
        // 1.0.2 is pinned (and newest); 1.0.1 is the one unpinned version kept.
        assert_eq!(names(doomed(&policy, &all, now)), ["1.0.0"]);
    }
}
