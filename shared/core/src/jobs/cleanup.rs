//! The hourly cleanup: per repository, the retention policy (and deletions a crashed run
//! left half done); abandoned uploads; stale `incoming/` and expired `quarantine/` objects;
//! then garbage collection of content blobs no file references any more
//! (`services::catalog::blob_refs` holds that protocol).
//!
//! Every step is idempotent and decided from what is stored, so a run that stops midway is
//! finished by the next one. A dry run reads the same things and changes nothing.
//!
//! A run given a deadline (the function's own, less a margin) walks tenants for at most half
//! of the time left, from where the last run stopped (`jobs::cursor`), and keeps the other
//! half for the phases after the walk; a phase that would start past the deadline is left to
//! the next run, which the walk's order and the phases' stored state make progress.

mod retention;
mod storage;

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::keys;
use crate::domain::model::{Repository, from_item};
use crate::domain::names::{PackageName, RepoName, Sha256Hex, TenantName, VersionName};
use crate::jobs::cursor::{self, Step, TenantWalk};
use crate::jobs::schedule::Job;
use crate::ports::Query;
use crate::services::catalog::blob_refs;
use crate::services::tenants::TenantRecord;
use crate::services::{Context, Error};

/// The actor of the job's audit records.
pub const ACTOR: &str = "cleanup";

#[derive(Debug, Clone, Copy, Default)]
pub struct CleanupOptions {
    /// Report what would go; change nothing.
    pub dry_run: bool,
    /// When the run must have stopped starting new work (none: it goes to the end).
    pub deadline: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CleanupReport {
    pub dry_run: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub ran_at: OffsetDateTime,
    pub tenants: Vec<TenantCleanup>,
    /// Content blobs deleted because no file references them any more (shared by all
    /// tenants, hence counted once here).
    pub blobs_collected: u64,
    pub blob_bytes_freed: u64,
    /// Everything freed: blobs, incoming and quarantine objects.
    pub bytes_freed: u64,
    /// What went wrong without stopping the run; the next run tries again.
    pub errors: Vec<String>,
    /// The run ran out of time after this tenant: the next run goes on with the one after.
    pub resume_after: Option<TenantName>,
    /// Phases left to the next run for want of time.
    pub deferred: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantCleanup {
    pub tenant: TenantName,
    pub repositories: Vec<RepositoryCleanup>,
    /// Landed bytes no open upload waits for any more.
    pub incoming_objects_removed: u64,
    pub incoming_bytes_freed: u64,
    /// Refused uploads kept past their repository's `quarantine_days`.
    pub quarantine_objects_removed: u64,
    pub quarantine_bytes_freed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepositoryCleanup {
    pub repository: RepoName,
    /// Versions the retention policy removed (or would remove).
    pub versions_removed: Vec<RemovedVersion>,
    /// File records removed with them (and with earlier deletions not finished before).
    pub files_released: u64,
    /// Open uploads whose bytes never arrived before their URL expired.
    pub uploads_expired: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedVersion {
    pub package: PackageName,
    pub version: VersionName,
}

impl RepositoryCleanup {
    fn new(repository: RepoName) -> Self {
        Self {
            repository,
            versions_removed: Vec::new(),
            files_released: 0,
            uploads_expired: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.versions_removed.is_empty() && self.files_released == 0 && self.uploads_expired == 0
    }
}

impl TenantCleanup {
    fn new(tenant: TenantName) -> Self {
        Self {
            tenant,
            repositories: Vec::new(),
            incoming_objects_removed: 0,
            incoming_bytes_freed: 0,
            quarantine_objects_removed: 0,
            quarantine_bytes_freed: 0,
        }
    }

    fn repository(&mut self, repo: &RepoName) -> &mut RepositoryCleanup {
        if let Some(i) = self.repositories.iter().position(|r| r.repository == *repo) {
            return &mut self.repositories[i];
        }
        self.repositories.push(RepositoryCleanup::new(repo.clone()));
        let last = self.repositories.len() - 1;
        &mut self.repositories[last]
    }
}

/// One run over every tenant. Fails only when the tenants themselves cannot be listed;
/// anything narrower is reported in `errors` and retried by the next run.
pub async fn run(ctx: &Context, options: CleanupOptions) -> Result<CleanupReport, Error> {
    let mut report = CleanupReport {
        dry_run: options.dry_run,
        ran_at: ctx.clock.now(),
        tenants: Vec::new(),
        blobs_collected: 0,
        blob_bytes_freed: 0,
        bytes_freed: 0,
        errors: Vec::new(),
        resume_after: None,
        deferred: Vec::new(),
    };
    // References a dry run would have dropped, so its blob count says what would go.
    let mut pending: BTreeMap<Sha256Hex, u64> = BTreeMap::new();
    let mut tenants: BTreeMap<TenantName, TenantCleanup> = BTreeMap::new();
    let walk_until = options
        .deadline
        .map(|deadline| cursor::walk_until(ctx.clock.now(), deadline));
    let mut walk =
        TenantWalk::resume(ctx.table.as_ref(), Job::Cleanup.name(), "", walk_until).await?;
    let mut query = Query::new(keys::tenants_partition()).limit(100);
    'walk: loop {
        let page = ctx.table.query(&query).await?;
        for item in page.items {
            let tenant: TenantRecord = from_item(item)?;
            match walk.step(&tenant.name, ctx.clock.now()) {
                Step::Skip => continue,
                Step::Stop => break 'walk,
                Step::Take => {}
            }
            let mut done = TenantCleanup::new(tenant.name.clone());
            if let Err(e) = clean_tenant(
                ctx,
                options,
                &tenant.name,
                &mut done,
                &mut pending,
                &mut report.errors,
            )
            .await
            {
                report.errors.push(format!("tenant {}: {e}", tenant.name));
            }
            tenants.insert(tenant.name, done);
        }
        match page.cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    report.resume_after = walk.stopped_after().cloned();
    if !options.dry_run
        && let Err(e) = walk.save(ctx.table.as_ref(), ctx.clock.now()).await
    {
        report.errors.push(format!("resume cursor: {e}"));
    }
    let out_of_time = |report: &mut CleanupReport, phase: &str| {
        let late = cursor::past(options.deadline, ctx.clock.now());
        if late {
            report.deferred.push(phase.to_owned());
        }
        late
    };
    if !out_of_time(&mut report, "abandoned uploads")
        && let Err(e) = storage::expire_uploads(ctx, options, &mut tenants).await
    {
        report.errors.push(format!("abandoned uploads: {e}"));
    }
    if !out_of_time(&mut report, "incoming objects")
        && let Err(e) = storage::stale_incoming(ctx, options, &mut tenants).await
    {
        report.errors.push(format!("incoming objects: {e}"));
    }
    if !out_of_time(&mut report, "blob collection") {
        match blob_refs::collect(ctx, options.dry_run, &pending).await {
            Ok(collected) => {
                report.blobs_collected = collected.blobs;
                report.blob_bytes_freed = collected.bytes;
            }
            Err(e) => report.errors.push(format!("blob collection: {e}")),
        }
    }
    for (_, mut t) in tenants {
        t.repositories.retain(|r| !r.is_empty());
        report.bytes_freed += t.incoming_bytes_freed + t.quarantine_bytes_freed;
        report.tenants.push(t);
    }
    report.bytes_freed += report.blob_bytes_freed;
    for e in &report.errors {
        tracing::warn!(error = %e, "cleanup left something for the next run");
    }
    tracing::info!(
        dry_run = options.dry_run,
        blobs = report.blobs_collected,
        bytes = report.bytes_freed,
        resume_after = ?report.resume_after,
        deferred = ?report.deferred,
        "cleanup finished"
    );
    Ok(report)
}

async fn clean_tenant(
    ctx: &Context,
    options: CleanupOptions,
    tenant: &TenantName,
    done: &mut TenantCleanup,
    pending: &mut BTreeMap<Sha256Hex, u64>,
    errors: &mut Vec<String>,
) -> Result<(), Error> {
    let mut repositories = BTreeMap::new();
    let mut query = Query::new(keys::repos_partition(tenant)).limit(100);
    loop {
        let page = ctx.table.query(&query).await?;
        for item in page.items {
            let repo: Repository = from_item(item)?;
            let mut result = RepositoryCleanup::new(repo.name.clone());
            // One repository's trouble does not hold up the others.
            if let Err(e) =
                retention::apply(ctx, options, tenant, &repo, &mut result, pending).await
            {
                errors.push(format!("repository {tenant}/{}: {e}", repo.name));
            }
            done.repositories.push(result);
            repositories.insert(repo.name.clone(), repo);
        }
        match page.cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    storage::expired_quarantine(ctx, options, tenant, &repositories, done).await
}
