//! `trove serve`: the same routers, steps and storage semantics as the AWS deployment, on
//! embedded adapters (SQLite, files, in-process workflow and queue) in one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use trove_core::config::Settings;
use trove_core::ports::SystemClock;
use trove_embedded::Embedded;

mod listen;
mod stall;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080", env = "TROVE_LISTEN")]
    listen: SocketAddr,
    /// Where the database, blobs and secrets live.
    #[arg(long, default_value = ".trove", env = "TROVE_DATA_DIR")]
    data_dir: PathBuf,
    /// Base URL clients use to reach this server, for presigned URLs (default: the listen
    /// address).
    #[arg(long, env = "TROVE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long)]
    log_json: bool,
    /// A host webhooks may reach although it is internal (loopback, private, ...), e.g. a
    /// receiver on this machine. Repeatable; adds to `TROVE_WEBHOOK_ALLOW_HOSTS`.
    #[arg(long = "allow-webhook-host", value_name = "HOST")]
    allow_webhook_hosts: Vec<String>,
    #[command(flatten)]
    limits: listen::Limits,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    init_logging(args.log_json);
    let metrics = trove_embedded::prometheus::install().map_err(anyhow::Error::msg)?;
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        bail!("trove serve uses embedded storage and refuses to run inside AWS Lambda");
    }
    let listener =
        listen::bind(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let base_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"))
        .trim_end_matches('/')
        .to_owned();

    let mut settings = Settings::from_env().map_err(anyhow::Error::msg)?;
    settings
        .webhook_allow_hosts
        .extend(args.allow_webhook_hosts.iter().cloned());
    let host = Embedded::open(
        &args.data_dir,
        &base_url,
        settings,
        Arc::new(SystemClock),
        Some(trove_scan::YaraScanner::shared()),
    )
    .await?;
    let token_path = args.data_dir.join("admin-token");
    if let Some(key) = host
        .bootstrap(|key| write_secret_file(&token_path, key))
        .await?
    {
        eprintln!(
            "Created tenant 'default' with an admin API key (shown once; also in {}):\n\n    {key}\n",
            token_path.display()
        );
    }
    let recovered = host.recover().await?;
    if recovered > 0 {
        tracing::info!(recovered, "picked up unfinished uploads");
    }

    // The same timetable EventBridge keeps in the deployment.
    let _jobs = trove_embedded::scheduler::spawn(Arc::clone(&host.ctx));

    let app = host
        .router()
        .merge(trove_embedded::prometheus::router(metrics));
    tracing::info!(%local, %base_url, data_dir = %args.data_dir.display(), limits = ?args.limits, "trove serving");
    listen::serve(listener, app, args.limits, shutdown_signal()).await;
    Ok(())
}

/// Writes a file only its owner can read, atomically.
fn write_secret_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TROVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
