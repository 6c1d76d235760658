//! The daily report: per tenant and repository, storage (bytes, versions, files of live
//! versions), the day's usage counters (downloads, uploads accepted and refused, top
//! packages), and stale access (grants and API keys unused for a number of days). Written as
//! JSON and CSV under `reports/<tenant>/<date>/`, recorded for `GET /v1/reports`, announced
//! by `report.ready`.
//!
//! Storage figures are a snapshot taken when the job runs; usage figures are the counters of
//! the report's day. A re-run for a date overwrites that date's files and record.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, UtcOffset};

use crate::config::Settings;
use crate::domain::access::{Permission, Role, Scope};
use crate::domain::event_kind::EventKind;
use crate::domain::keys::{self, BlobKey};
use crate::domain::model::{FileRecord, Package, Repository, Version, from_item, to_item};
use crate::domain::names::{PackageName, RepoName, TenantName};
use crate::jobs::cursor::{Step, TenantWalk};
use crate::jobs::schedule::Job;
use crate::pipeline::events;
use crate::ports::table::query_all;
use crate::ports::{Index, Query, Write};
use crate::services::access::api_keys::ApiKeyRecord;
use crate::services::access::grants::Grant;
use crate::services::records::figures::Figures;
use crate::services::records::reports::{ReportFile, ReportRecord, ReportTotals, format_date};
use crate::services::records::usage;
use crate::services::tenants::TenantRecord;
use crate::services::{Context, Error};

/// How many packages a repository's top list names.
const TOP_PACKAGES: usize = 10;

pub const JSON_FILE: &str = "report.json";
pub const CSV_FILE: &str = "report.csv";
pub const STALE_CSV_FILE: &str = "stale-access.csv";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// Compute and return the reports; write and announce nothing.
    pub dry_run: bool,
    /// The day whose usage is counted; `None`: yesterday (UTC).
    pub date: Option<Date>,
    /// Grants and keys unused for more than this many days are stale.
    pub stale_after_days: u32,
    /// When the run must stop starting another tenant's report (none: it goes to the end);
    /// the next run goes on with the tenant after the last one written (`jobs::cursor`).
    pub deadline: Option<OffsetDateTime>,
}

impl ReportOptions {
    /// A real run for yesterday with the configured threshold (`TROVE_STALE_ACCESS_DAYS`).
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            dry_run: false,
            date: None,
            stale_after_days: settings.stale_access_days,
            deadline: None,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    pub date: String,
    pub dry_run: bool,
    /// One per tenant reported, in tenant order.
    pub reports: Vec<Report>,
    /// Tenants whose report failed (logged); the others were still written.
    pub failed: Vec<String>,
    /// The run ran out of time after this tenant's report: the next run of the same day
    /// goes on with the tenant after it.
    pub resume_after: Option<TenantName>,
}

/// One tenant's report, exactly as `report.json` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tenant: TenantName,
    pub date: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub stale_after_days: u32,
    pub totals: ReportTotals,
    pub repositories: Vec<RepositoryReport>,
    pub stale_access: StaleAccess,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryReport {
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
    /// By downloads on the day, most first (ties by name); packages without downloads are
    /// left out.
    pub top_packages: Vec<PackageDownloads>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageDownloads {
    pub package: String,
    pub downloads: u64,
}

/// Access nobody has used for `stale_after_days`: candidates for revocation. Principal ids
/// and scopes only, never a secret, a key's name or an email.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleAccess {
    pub grants: Vec<StaleGrant>,
    pub api_keys: Vec<StaleApiKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleGrant {
    pub id: String,
    pub principal: String,
    pub role: Role,
    pub scope: Scope,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleApiKey {
    pub id: String,
    pub owner: String,
    /// `None`: the key acts with all its owner's rights.
    pub scopes: Option<Vec<Permission>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// Reports every tenant for the day. A tenant that fails is logged and listed in `failed`;
/// the others are still reported.
pub async fn run(ctx: &Context, options: ReportOptions) -> Result<ReportSummary, Error> {
    let now = ctx.clock.now().to_offset(UtcOffset::UTC);
    let date = match options.date {
        Some(d) => d,
        None => now
            .date()
            .previous_day()
            .ok_or_else(|| Error::Internal("no day before today".into()))?,
    };
    let query = Query::new(keys::tenants_partition()).begins_with("T#");
    let tenants = query_all(ctx.table.as_ref(), query)
        .await?
        .into_iter()
        .map(from_item::<TenantRecord>)
        .collect::<Result<Vec<_>, _>>()?;
    let mut summary = ReportSummary {
        date: format_date(date),
        dry_run: options.dry_run,
        reports: Vec::with_capacity(tenants.len()),
        failed: Vec::new(),
        resume_after: None,
    };
    // Each day is a walk of its own: a run for another day starts from the first tenant.
    let mut walk = TenantWalk::resume(
        ctx.table.as_ref(),
        Job::Report.name(),
        &summary.date,
        options.deadline,
    )
    .await?;
    for tenant in tenants {
        match walk.step(&tenant.name, ctx.clock.now()) {
            Step::Skip => continue,
            Step::Stop => break,
            Step::Take => {}
        }
        let result = async {
            let report = compute(ctx, &tenant.name, date, now, options.stale_after_days).await?;
            if !options.dry_run {
                write(ctx, &report).await?;
            }
            Ok::<_, Error>(report)
        }
        .await;
        match result {
            Ok(report) => summary.reports.push(report),
            Err(e) => {
                tracing::error!(error = %e, tenant = %tenant.name, "tenant report failed");
                summary.failed.push(tenant.name.to_string());
            }
        }
    }
    summary.resume_after = walk.stopped_after().cloned();
    if !options.dry_run {
        walk.save(ctx.table.as_ref(), now).await?;
    }
    tracing::info!(
        date = %summary.date,
        dry_run = options.dry_run,
        tenants = summary.reports.len(),
        failed = summary.failed.len(),
        resume_after = ?summary.resume_after,
        "report run finished"
    );
    Ok(summary)
}

/// One tenant's figures.
pub async fn compute(
    ctx: &Context,
    tenant: &TenantName,
    date: Date,
    now: OffsetDateTime,
    stale_after_days: u32,
) -> Result<Report, Error> {
    let repos = query_all(
        ctx.table.as_ref(),
        Query::new(keys::repos_partition(tenant)).begins_with("R#"),
    )
    .await?;
    let mut repositories = Vec::with_capacity(repos.len());
    for item in repos {
        let repo: Repository = from_item(item)?;
        repositories.push(repository(ctx, tenant, &repo.name, date).await?);
    }
    let cutoff = now - Duration::days(i64::from(stale_after_days));
    let stale_access = StaleAccess {
        grants: stale_grants(ctx, tenant, cutoff).await?,
        api_keys: stale_keys(ctx, tenant, cutoff, now).await?,
    };
    let mut totals = ReportTotals {
        repositories: repositories.len() as u64,
        stale_grants: stale_access.grants.len() as u64,
        stale_api_keys: stale_access.api_keys.len() as u64,
        ..ReportTotals::default()
    };
    for r in &repositories {
        totals.figures.add(&r.figures);
    }
    Ok(Report {
        tenant: tenant.clone(),
        date: format_date(date),
        generated_at: now,
        stale_after_days,
        totals,
        repositories,
        stale_access,
    })
}

async fn repository(
    ctx: &Context,
    tenant: &TenantName,
    repo: &RepoName,
    date: Date,
) -> Result<RepositoryReport, Error> {
    let table = ctx.table.as_ref();
    let mut report = RepositoryReport {
        name: repo.to_string(),
        ..RepositoryReport::default()
    };
    let packages = query_all(
        table,
        Query::new(keys::packages_partition(tenant, repo)).begins_with(keys::PACKAGE_SK_PREFIX),
    )
    .await?;
    for item in packages {
        let package: Package = from_item(item)?;
        let versions = query_all(
            table,
            Query::new(keys::versions_partition(tenant, repo, &package.name)).begins_with("V#"),
        )
        .await?;
        for item in versions {
            let version: Version = from_item(item)?;
            if version.deleted {
                continue;
            }
            report.figures.versions += 1;
            let files = query_all(
                table,
                Query::new(keys::files_partition(
                    tenant,
                    repo,
                    &package.name,
                    &version.version,
                ))
                .begins_with("F#"),
            )
            .await?;
            for item in files {
                let file: FileRecord = from_item(item)?;
                report.figures.files += 1;
                report.figures.storage_bytes += file.size;
            }
        }
    }
    let mut downloads: BTreeMap<PackageName, u64> = BTreeMap::new();
    for u in usage::of_day(ctx, tenant, repo, date).await? {
        report.figures.downloads += u.downloads;
        report.figures.download_bytes += u.download_bytes;
        report.figures.uploads_accepted += u.uploads_accepted;
        report.figures.uploads_rejected += u.uploads_rejected;
        if u.downloads > 0 {
            downloads.insert(u.package, u.downloads);
        }
    }
    report.top_packages = top_packages(downloads);
    Ok(report)
}

/// The most downloaded first; ties by name (the map's order, kept by a stable sort).
fn top_packages(downloads: BTreeMap<PackageName, u64>) -> Vec<PackageDownloads> {
    let mut top: Vec<PackageDownloads> = downloads
        .into_iter()
        .map(|(package, downloads)| PackageDownloads {
            package: package.to_string(),
            downloads,
        })
        .collect();
    top.sort_by_key(|p| std::cmp::Reverse(p.downloads));
    top.truncate(TOP_PACKAGES);
    top
}

async fn stale_grants(
    ctx: &Context,
    tenant: &TenantName,
    cutoff: OffsetDateTime,
) -> Result<Vec<StaleGrant>, Error> {
    let items = query_all(
        ctx.table.as_ref(),
        Query::new(keys::grants_partition(tenant)).begins_with("G#"),
    )
    .await?;
    let mut stale = Vec::new();
    for item in items {
        let g: Grant = from_item(item)?;
        if g.last_used_at.unwrap_or(g.created_at) < cutoff {
            stale.push(StaleGrant {
                id: g.id,
                principal: g.principal,
                role: g.role,
                scope: g.scope,
                created_at: g.created_at,
                last_used_at: g.last_used_at,
            });
        }
    }
    Ok(stale)
}

/// Keys that still work (not revoked, not expired) but were not used since `cutoff`.
async fn stale_keys(
    ctx: &Context,
    tenant: &TenantName,
    cutoff: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Vec<StaleApiKey>, Error> {
    let query = Query::new(keys::api_keys_index(tenant)).index(Index::Gsi1);
    let items = query_all(ctx.table.as_ref(), query).await?;
    let mut stale = Vec::new();
    for item in items {
        let k: ApiKeyRecord = from_item(item)?;
        let live = !k.revoked && k.expires_at.is_none_or(|at| at > now);
        if live && k.last_used_at.unwrap_or(k.created_at) < cutoff {
            stale.push(StaleApiKey {
                id: k.id,
                owner: k.owner,
                scopes: k.scopes,
                created_at: k.created_at,
                last_used_at: k.last_used_at,
            });
        }
    }
    Ok(stale)
}

/// Files first, then the record that lists them, then the event: whatever is listed or
/// announced is there to fetch.
async fn write(ctx: &Context, report: &Report) -> Result<(), Error> {
    let tenant = &report.tenant;
    let files = [
        (JSON_FILE, "application/json", json_body(report)?),
        (CSV_FILE, "text/csv", repositories_csv(report)?),
        (STALE_CSV_FILE, "text/csv", stale_csv(report)?),
    ];
    let mut listed = Vec::with_capacity(files.len());
    let mut blob_keys = Vec::with_capacity(files.len());
    for (name, content_type, body) in files {
        let key = BlobKey::report(tenant, &report.date, name);
        let size = body.len() as u64;
        ctx.blobs.put(&key, body, content_type).await?;
        listed.push(ReportFile {
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            size,
        });
        blob_keys.push(key.to_string());
    }
    let record = ReportRecord {
        date: report.date.clone(),
        generated_at: report.generated_at,
        files: listed,
        summary: report.totals.clone(),
    };
    let event = events::event(
        ctx,
        tenant,
        EventKind::ReportReady,
        serde_json::json!({
            "date": report.date, "keys": blob_keys, "summary": report.totals,
        }),
    );
    ctx.table
        .transact(vec![
            Write::Put {
                item: to_item(&keys::report(tenant, &report.date), &record)?,
                condition: None,
            },
            crate::outbox::entry(&event)?,
        ])
        .await?;
    Ok(())
}

fn json_body(report: &Report) -> Result<Bytes, Error> {
    serde_json::to_vec_pretty(report)
        .map(Bytes::from)
        .map_err(|e| Error::Internal(format!("report does not serialise: {e}")))
}

/// One row per stale grant or key of `stale-access.csv`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StaleRow {
    /// `grant` or `api_key`.
    pub kind: String,
    pub id: String,
    /// The grant's principal, or the key's owner.
    pub principal: String,
    /// `role@scope`, `;`-separated for a key's scopes; `*` for a key with all its owner's
    /// rights.
    pub access: String,
    pub created_at: String,
    /// Empty when never used.
    pub last_used_at: String,
}

/// One row per repository: `repository`, the counters of [`Figures::NAMES`], and
/// `top_packages` (`name=downloads` pairs, most downloaded first, separated by `;`).
fn repositories_csv(report: &Report) -> Result<Bytes, Error> {
    let rows = report.repositories.iter().map(|r| {
        let top = r
            .top_packages
            .iter()
            .map(|p| format!("{}={}", p.package, p.downloads))
            .collect::<Vec<_>>()
            .join(";");
        (r.name.as_str(), r.figures.values(), top)
    });
    csv_body(&repository_columns(), rows)
}

fn repository_columns() -> Vec<&'static str> {
    let mut columns = vec!["repository"];
    columns.extend(Figures::NAMES);
    columns.push("top_packages");
    columns
}

const STALE_COLUMNS: &[&str] = &[
    "kind",
    "id",
    "principal",
    "access",
    "created_at",
    "last_used_at",
];

fn stale_csv(report: &Report) -> Result<Bytes, Error> {
    let time = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let grants = report.stale_access.grants.iter().map(|g| StaleRow {
        kind: "grant".into(),
        id: g.id.clone(),
        principal: g.principal.clone(),
        access: access_text(g.role, &g.scope),
        created_at: time(g.created_at),
        last_used_at: g.last_used_at.map(time).unwrap_or_default(),
    });
    let api_keys = report.stale_access.api_keys.iter().map(|k| StaleRow {
        kind: "api_key".into(),
        id: k.id.clone(),
        principal: k.owner.clone(),
        access: match &k.scopes {
            None => "*".into(),
            Some(scopes) => scopes
                .iter()
                .map(|p| access_text(p.role, &p.scope))
                .collect::<Vec<_>>()
                .join(";"),
        },
        created_at: time(k.created_at),
        last_used_at: k.last_used_at.map(time).unwrap_or_default(),
    });
    csv_body(STALE_COLUMNS, grants.chain(api_keys))
}

/// `admin@tenant`, `writer@libs`, `reader@libs/acme-*`.
fn access_text(role: Role, scope: &Scope) -> String {
    let on = match (&scope.repository, &scope.package) {
        (None, _) => "tenant".to_owned(),
        (Some(r), None) => r.to_string(),
        (Some(r), Some(p)) => format!("{r}/{}", p.as_str()),
    };
    format!("{role}@{on}")
}

/// The header line comes from `columns` so a file without rows still names its columns;
/// the tests read rows back by these names, which keeps them in step with the row types.
fn csv_body<T: Serialize>(columns: &[&str], rows: impl Iterator<Item = T>) -> Result<Bytes, Error> {
    let failed = |e: &dyn std::fmt::Display| Error::Internal(format!("report CSV: {e}"));
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record(columns).map_err(|e| failed(&e))?;
    for row in rows {
        writer.serialize(row).map_err(|e| failed(&e))?;
    }
    writer.into_inner().map(Bytes::from).map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_packages_are_the_ten_most_downloaded_ties_by_name() {
        let downloads: BTreeMap<PackageName, u64> = (0..14u64)
            .map(|i| {
                let name = PackageName::parse(&format!("p{i:02}")).expect("valid");
                (name, if i % 2 == 0 { 5 } else { i })
            })
            .collect();
        let top: Vec<(String, u64)> = top_packages(downloads)
            .into_iter()
            .map(|p| (p.package, p.downloads))
            .collect();
        let want = [
            ("p13", 13),
            ("p11", 11),
            ("p09", 9),
            ("p07", 7),
            ("p00", 5),
            ("p02", 5),
            ("p04", 5),
            // p05 ties with the even ones at 5.
            ("p05", 5),
            ("p06", 5),
            ("p08", 5),
        ];
        let want: Vec<(String, u64)> = want.iter().map(|(n, d)| ((*n).into(), *d)).collect();
        assert_eq!(top, want);
    }

    #[test]
    fn an_empty_csv_still_names_its_columns() {
        let body = csv_body(&repository_columns(), std::iter::empty::<StaleRow>()).expect("csv");
        assert_eq!(
            body.as_ref(),
            "repository,storage_bytes,versions,files,downloads,download_bytes,\
             uploads_accepted,uploads_rejected,top_packages\n"
                .as_bytes()
        );
        assert_eq!(access_text(Role::Admin, &Scope::tenant()), "admin@tenant");
    }
}
