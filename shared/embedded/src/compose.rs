//! The embedded composition `trove serve` runs: SQLite table, file blobs behind signed URLs,
//! file secrets, in-process events and workflow, wired to the same services and steps as the
//! AWS deployment. Tests build the very same thing on a temporary directory.

use std::path::Path;
use std::sync::{Arc, Weak};

use aws_lambda_events::event::s3::S3Event;
use axum::Router;

use crate::LocalWorkflow;
use crate::relay::Relay;
use crate::{FileBlobs, FileSecrets, LocalEvents, SqliteTable};
use trove_core::breaker::BreakerTable;
use trove_core::config::Settings;
use trove_core::domain::names::TenantName;
use trove_core::faults::Faults;
use trove_core::http::{self, AppState};
use trove_core::pipeline::{Scanner, on_upload};
use trove_core::ports::{Clock, Secrets, Workflow};
use trove_core::services::{Context, Error, bootstrap, tenants};

/// The secret that signs the embedded blob endpoint's URLs.
const BLOB_SIGNING_SECRET: &str = "blob-url-signing";

pub struct Embedded {
    pub ctx: Arc<Context>,
    pub events: Arc<LocalEvents>,
    blobs: Arc<FileBlobs>,
    workflow: Arc<LocalWorkflow>,
    relay: Arc<Relay>,
    /// Runs while the host lives.
    _webhooks: Arc<trove_core::webhooks::Dispatcher>,
}

impl Embedded {
    /// Opens (creating on first use) the data dir. `base_url` is where clients reach the
    /// blob endpoint, i.e. this server; `scanner` is the Scan step's engine (trove-scan's
    /// for `trove serve`; without one, every upload stops at Scan as misdeployed).
    pub async fn open(
        data_dir: &Path,
        base_url: &str,
        settings: Settings,
        clock: Arc<dyn Clock>,
        scanner: Option<Arc<dyn Scanner>>,
    ) -> Result<Self, Error> {
        // A new data dir is the owner's alone: it holds the database, the blobs and the
        // secrets. An existing one keeps the permissions its owner gave it.
        {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)
                .map_err(|e| {
                    Error::Internal(format!(
                        "cannot create data dir {}: {e}",
                        data_dir.display()
                    ))
                })?;
        }
        let secrets = Arc::new(FileSecrets::new(data_dir.join("secrets")));
        let signing_key = secrets.get(BLOB_SIGNING_SECRET).await?;
        let table = Arc::new(SqliteTable::open(&data_dir.join("trove.db"))?);
        let outbox_committed = table.watch(trove_core::domain::keys::OUTBOX_PREFIX);
        let blobs = Arc::new(FileBlobs::new(
            data_dir.join("blobs"),
            base_url.trim_end_matches('/').to_owned(),
            signing_key,
            Arc::clone(&clock),
        ));
        let events = Arc::new(LocalEvents::new());
        // The workflow's own bookkeeping goes straight to the table: a pipeline step already
        // sees the circuit through the context, and retries on its own schedule.
        let workflow = LocalWorkflow::new(table.clone())?;
        let table = Arc::new(BreakerTable::new(
            table,
            settings.table_breaker,
            Arc::clone(&clock),
        ));
        let ctx = Arc::new(Context {
            table,
            blobs: blobs.clone(),
            events: events.clone(),
            secrets,
            clock,
            workflow: Arc::clone(&workflow) as Arc<dyn Workflow>,
            scanner,
            settings: Arc::new(settings),
            index_pages: Default::default(),
        });
        let faults = Faults::from_env().map_err(Error::Invalid)?;
        if !faults.is_empty() {
            tracing::warn!("TROVE_FAULTS is set: pipeline steps fail or stall on purpose");
        }
        workflow.attach_with_faults(&ctx, faults);
        blobs.on_object_created(storage_event_hook(Arc::downgrade(&ctx)));
        let webhooks = crate::dispatcher::start(
            Arc::clone(&ctx),
            &events,
            &data_dir.join("webhook-dispatchers"),
            Faults::from_env().map_err(Error::Invalid)?,
        )?;
        // After the dispatcher: what the relay hands over goes to it.
        let relay = Relay::start(
            &ctx,
            outbox_committed,
            Faults::from_env().map_err(Error::Invalid)?,
        );
        Ok(Self {
            ctx,
            events,
            blobs,
            workflow,
            relay,
            _webhooks: webhooks,
        })
    }

    /// Creates the tenant `default` with an admin key on first start; `keep` stores the key
    /// before it becomes valid. Returns the key when it was created.
    pub async fn bootstrap(
        &self,
        keep: impl FnOnce(&str) -> std::io::Result<()>,
    ) -> Result<Option<String>, Error> {
        let tenant = TenantName::parse(bootstrap::DEFAULT_TENANT)?;
        tenants::ensure(&self.ctx, &tenant, keep).await
    }

    /// Picks up what a previous process left unfinished: running executions, and objects
    /// that landed without their storage event being handled. Returns how many.
    pub async fn recover(&self) -> Result<usize, Error> {
        let resumed = self.workflow.resume().await?;
        let reconciled = on_upload::reconcile_open_uploads(&self.ctx).await?;
        Ok(resumed + reconciled.started)
    }

    /// Relays the events waiting in the outbox now (the relay does on its own, a moment
    /// after each commit): what was announced before this call has been handed over, and
    /// its webhook deliveries stored, when it returns.
    pub async fn settle_events(&self) -> Result<usize, Error> {
        Ok(self.relay.pass().await?.relayed)
    }

    /// The API and the blob endpoint on one router.
    pub fn router(&self) -> Router {
        http::router(AppState::new(Arc::clone(&self.ctx)))
            .merge(FileBlobs::router(self.blobs.clone()))
    }
}

/// Storage events reach the same handler the on-upload function runs in AWS.
fn storage_event_hook(ctx: Weak<Context>) -> Arc<dyn Fn(S3Event) + Send + Sync> {
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use trove_core::ports::SystemClock;

    #[tokio::test]
    async fn a_new_data_dir_is_the_owners_alone() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("fresh").join(".trove");
        Embedded::open(
            &dir,
            "http://trove.test",
            Settings::for_testing(),
            Arc::new(SystemClock),
            None,
        )
        .await
        .expect("opens");
        let mode = std::fs::metadata(&dir)
            .expect("created")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "data dir mode {:o}", mode & 0o777);
    }
}
