//! `trove serve`: the same routers, steps and storage semantics as the AWS deployment, on
//! embedded adapters (SQLite, files, in-process workflow and queue) in one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use anyhow::{Context as _, bail};
use shared::adapters::local::{FileBlobs, FileSecrets, LocalEvents, SqliteTable};
use shared::config::Settings;
use shared::domain::names::TenantName;
use shared::http::{self, AppState};
use shared::pipeline::on_upload;
use shared::ports::{Clock, Secrets, SystemClock, Workflow};
use shared::services::{Context, bootstrap};
use shared::workflow::LocalWorkflow;
use tokio::net::TcpListener;

/// The secret that signs the embedded blob endpoint's URLs.
const BLOB_SIGNING_SECRET: &str = "blob-url-signing";

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
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    init_logging(args.log_json);
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        bail!("trove serve uses embedded storage and refuses to run inside AWS Lambda");
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let base_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"))
        .trim_end_matches('/')
        .to_owned();

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let secrets = Arc::new(FileSecrets::new(args.data_dir.join("secrets")));
    let signing_key = secrets.get(BLOB_SIGNING_SECRET).await?;
    let table = Arc::new(SqliteTable::open(&args.data_dir.join("trove.db"))?);
    let blobs = Arc::new(FileBlobs::new(
        args.data_dir.join("blobs"),
        base_url.clone(),
        signing_key,
        Arc::clone(&clock),
    ));
    let workflow = LocalWorkflow::new(table.clone());
    let ctx = Arc::new(Context {
        table,
        blobs: blobs.clone(),
        events: Arc::new(LocalEvents::new()),
        secrets,
        clock,
        workflow: Arc::new(Arc::clone(&workflow)) as Arc<dyn Workflow>,
        settings: Arc::new(Settings::from_env().map_err(anyhow::Error::msg)?),
    });
    workflow.attach(&ctx);
    blobs.on_object_created(storage_event_hook(Arc::downgrade(&ctx)));

    bootstrap_default_tenant(&ctx, &args.data_dir).await?;
    let resumed = workflow.resume().await?;
    let restarted = on_upload::reconcile_open_uploads(&ctx).await?;
    if resumed + restarted > 0 {
        tracing::info!(resumed, restarted, "picked up unfinished uploads");
    }

    let app = http::router(AppState::new(Arc::clone(&ctx)))
        .merge(FileBlobs::router(blobs))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    tracing::info!(%local, %base_url, data_dir = %args.data_dir.display(), "trove serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// Storage events reach the same handler the on-upload function runs in AWS.
fn storage_event_hook(
    ctx: Weak<Context>,
) -> Arc<dyn Fn(aws_lambda_events::event::s3::S3Event) + Send + Sync> {
    Arc::new(move |event| {
        let Some(ctx) = ctx.upgrade() else { return };
        tokio::spawn(async move {
            if let Err(e) = on_upload::handle(&ctx, &event).await {
                // The object stays under incoming/; the next start reconciles it.
                tracing::error!(error = %e, "storage event not handled");
            }
        });
    })
}

async fn bootstrap_default_tenant(ctx: &Context, data_dir: &Path) -> anyhow::Result<()> {
    let tenant = TenantName::parse(bootstrap::DEFAULT_TENANT)?;
    let token_path = data_dir.join("admin-token");
    let created = bootstrap::ensure_tenant(ctx, &tenant, |key| write_secret_file(&token_path, key))
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap failed: {e}"))?;
    if let Some(key) = created {
        eprintln!(
            "Created tenant '{tenant}' with an admin API key (shown once; also in {}):\n\n    {key}\n",
            token_path.display()
        );
    }
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
