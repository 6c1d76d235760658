//! The whole `Context` over AWS, as every Lambda function builds it once at cold start.

use std::sync::Arc;

use crate::env::{events_queue_url, required};
use crate::{AwsConfig, SqsEvents, StepFunctions};
use trove_core::breaker::BreakerTable;
use trove_core::config::Settings;
use trove_core::pipeline::Scanner;
use trove_core::ports::SystemClock;
use trove_core::services::Context;

/// Reads the adapters' configuration (see `AwsConfig::from_env`) plus
/// `TROVE_STATE_MACHINE_ARN` and `TROVE_EVENTS_QUEUE_URL`. `scanner` is the Scan step's
/// engine, in the one function that carries it (functions-scan).
pub async fn context_from_env(scanner: Option<Arc<dyn Scanner>>) -> Result<Arc<Context>, String> {
    let config = AwsConfig::from_env().map_err(|e| e.to_string())?;
    let state_machine = required(
        "TROVE_STATE_MACHINE_ARN",
        "the artifact pipeline's state machine",
    )
    .map_err(|e| e.to_string())?;
    let queue_url = events_queue_url().map_err(|e| e.to_string())?;
    let sdk = config.sdk_config();
    let adapters = config.adapters(&sdk);
    let settings = Settings::from_env()?;
    let clock = Arc::new(SystemClock);
    let table = BreakerTable::new(
        Arc::new(adapters.table),
        settings.table_breaker,
        clock.clone(),
    );
    Ok(Arc::new(Context {
        table: Arc::new(table),
        blobs: Arc::new(adapters.blobs),
        events: Arc::new(SqsEvents::new(crate::meter::sqs(&sdk), queue_url)),
        secrets: Arc::new(adapters.secrets),
        clock,
        workflow: Arc::new(StepFunctions::new(crate::meter::sfn(&sdk), state_machine)),
        scanner,
        settings: Arc::new(settings),
        index_pages: Default::default(),
    }))
}
