//! `trove admin`: operator commands against a data dir, without a running server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use trove_core::config::Settings;
use trove_core::domain::names::TenantName;
use trove_core::jobs::schedule::{self, Job};
use trove_core::ports::SystemClock;
use trove_core::services::tenants;
use trove_embedded::Embedded;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Runs a scheduled job now (`cleanup` or `report`) and prints its summary as JSON.
    RunJob(RunJobArgs),
    /// Gives a tenant that lost its admins an admin again: the user `recovery-admin` with
    /// the admin role on the tenant and a new API key (valid 7 days), printed once as JSON.
    /// Works on the data dir, so it needs the machine, not the API. Audited.
    ResetAdmin(ResetAdminArgs),
    /// Writes the search entries of every live version of a tenant (a catalogue published
    /// before search existed); idempotent, safe beside publishes. Prints the count as JSON.
    ReindexSearch(ResetAdminArgs),
}

#[derive(clap::Args, Debug)]
pub struct ResetAdminArgs {
    /// The tenant (whose admin access to restore, or whose catalogue to reindex).
    #[arg(long, default_value = trove_core::services::bootstrap::DEFAULT_TENANT)]
    tenant: String,
    /// The data dir of the installation (as given to `trove serve`).
    #[arg(long, default_value = ".trove", env = "TROVE_DATA_DIR")]
    data_dir: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RunJobArgs {
    /// `cleanup` (retention, abandoned uploads, stale incoming objects, quarantine purge,
    /// blob garbage collection) or `report` (yesterday's usage and stale-access report).
    job: String,
    /// Report what the job would do, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// The report's day (YYYY-MM-DD, UTC; default yesterday). Only for `report`.
    #[arg(long, value_parser = parse_date)]
    date: Option<time::Date>,
    /// The data dir of the installation (as given to `trove serve`).
    #[arg(long, default_value = ".trove", env = "TROVE_DATA_DIR")]
    data_dir: PathBuf,
    /// Base URL of the installation's server, for links the job writes.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "TROVE_PUBLIC_URL"
    )]
    public_url: String,
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::RunJob(args) => run_job(args).await,
        Command::ResetAdmin(args) => reset_admin(args).await,
        Command::ReindexSearch(args) => reindex_search(args).await,
    }
}

/// The installation in `data_dir`, refusing a folder that holds none (rather than
/// creating an empty one).
async fn open(data_dir: &Path, public_url: &str) -> anyhow::Result<Embedded> {
    if !data_dir.join("trove.db").exists() {
        bail!(
            "{} holds no Trove data (no trove.db); pass --data-dir of an installation",
            data_dir.display()
        );
    }
    let settings = Settings::from_env().map_err(anyhow::Error::msg)?;
    Embedded::open(
        data_dir,
        public_url,
        settings,
        Arc::new(SystemClock),
        Some(trove_scan::YaraScanner::shared()),
    )
    .await
    .with_context(|| format!("cannot open {}", data_dir.display()))
}

async fn reset_admin(args: ResetAdminArgs) -> anyhow::Result<()> {
    let tenant = TenantName::parse(&args.tenant)?;
    let host = open(&args.data_dir, "http://127.0.0.1:8080").await?;
    let reset = tenants::reset_admin(&host.ctx, &tenant)
        .await
        .with_context(|| format!("cannot reset the admin of tenant {tenant}"))?;
    println!("{}", serde_json::to_string_pretty(&reset)?);
    Ok(())
}

async fn reindex_search(args: ResetAdminArgs) -> anyhow::Result<()> {
    let tenant = TenantName::parse(&args.tenant)?;
    let host = open(&args.data_dir, "http://127.0.0.1:8080").await?;
    let versions = trove_core::services::search::maintain::reindex(&host.ctx, &tenant)
        .await
        .with_context(|| format!("cannot reindex tenant {tenant}"))?;
    println!(
        "{}",
        serde_json::json!({ "tenant": tenant, "versions": versions })
    );
    Ok(())
}

async fn run_job(args: RunJobArgs) -> anyhow::Result<()> {
    let Some(job) = Job::parse(&args.job) else {
        bail!("unknown job {:?}: expected cleanup or report", args.job);
    };
    let host = open(&args.data_dir, &args.public_url).await?;
    let options = schedule::RunOptions {
        dry_run: args.dry_run,
        date: args.date,
        deadline: None,
    };
    let summary = schedule::run(&host.ctx, job, options)
        .await
        .with_context(|| format!("job {} failed", job.name()))?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn parse_date(text: &str) -> Result<time::Date, String> {
    trove_core::services::records::reports::parse_date(text).map_err(|e| e.to_string())
}
