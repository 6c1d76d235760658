//! Seeds a `trove serve` data directory (server stopped) with a catalogue for the search
//! benchmark (`bench/search.sh`): versions committed by Persist's own transaction, without
//! bytes, into the tenant `default`.
//!
//!   cargo run --release -p trove-testkit --features host --example seed_search -- DATA_DIR FROM TO
//!
//! Adds versions FROM..TO of the layout: 5 repositories `libs0`..`libs4`, packages
//! `pkg-00000`.. of 10 versions each (`1.0`..`1.9`), by `user_ci` or `user_dev` in turn;
//! every 1,000th file holds the same bytes as the first.

use std::sync::Arc;

use futures::StreamExt as _;
use trove_core::config::Settings;
use trove_core::domain::model::Format;
use trove_core::domain::names::{RepoName, TenantName};
use trove_core::ports::SystemClock;
use trove_core::services::access::caller::Caller;
use trove_core::services::catalog::repositories::{self, CreateRepository};
use trove_embedded::Embedded;
use trove_testkit::catalogue::{self, Publish, sha_of};

const REPOS: usize = 5;
const VERSIONS_PER_PACKAGE: usize = 10;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, from, to] = args.as_slice() else {
        anyhow::bail!("usage: seed_search DATA_DIR FROM TO");
    };
    let (from, to): (usize, usize) = (from.parse()?, to.parse()?);
    let host = Embedded::open(
        std::path::Path::new(dir),
        "http://127.0.0.1:0",
        Settings::from_env().map_err(anyhow::Error::msg)?,
        Arc::new(SystemClock),
        None,
    )
    .await?;
    let ctx = host.ctx.clone();
    let tenant = TenantName::parse("default")?;
    let admin = Caller::tenant_admin_for_tests(tenant.clone());
    for r in 0..REPOS {
        let name = format!("libs{r}");
        if repositories::find(&ctx, &tenant, &RepoName::parse(&name)?)
            .await
            .is_ok()
        {
            continue;
        }
        let request = CreateRepository {
            name,
            format: Format::Generic,
            description: None,
            max_file_size: None,
            retention: None,
        };
        repositories::create(&ctx, &admin, request).await?;
    }
    let started = std::time::Instant::now();
    let results = futures::stream::iter(from..to)
        .map(|i| {
            let (ctx, tenant) = (ctx.clone(), tenant.clone());
            async move {
                let package = format!("pkg-{:05}", i / VERSIONS_PER_PACKAGE);
                let version = format!("1.{}", i % VERSIONS_PER_PACKAGE);
                let repo = format!("libs{}", (i / VERSIONS_PER_PACKAGE) % REPOS);
                let filename = format!("{package}-{version}.bin");
                let sha = if i % 1000 == 0 {
                    sha_of("shared")
                } else {
                    sha_of(&format!("f{i}"))
                };
                let by = if i % 2 == 0 { "user_ci" } else { "user_dev" };
                let publish = Publish {
                    repo: &repo,
                    package: &package,
                    version: &version,
                    filename: &filename,
                    sha256: &sha,
                    size: 1024,
                    by,
                };
                catalogue::publish(&ctx, &tenant, &publish).await
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("first failure: {e:#}");
    }
    eprintln!(
        "seeded versions {from}..{to} in {:.1} s ({failed} failed)",
        started.elapsed().as_secs_f64()
    );
    anyhow::ensure!(failed == 0, "{failed} publishes failed");
    Ok(())
}
