//! What every Lambda binary shares: logging and the AWS context, built once per cold start,
//! and the pipeline steps' host (`pipeline-step` here, `scan-step` in functions-scan/).

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use shared::pipeline::{StepError, StepInput, run_step, step_available};
use shared::services::Context;

/// JSON logs when Lambda asks for them (`AWS_LAMBDA_LOG_FORMAT=JSON`), at
/// `AWS_LAMBDA_LOG_LEVEL` (default info).
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(level.to_lowercase())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .without_time()
        .with_target(false);
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn context() -> Result<Arc<Context>, lambda_runtime::Error> {
    shared::adapters::aws::context_from_env()
        .await
        .map_err(lambda_runtime::Error::from)
}

/// A step's error as Lambda reports it: `errorType` is the stable name the state machine's
/// Retry and Catch match on.
#[derive(Debug)]
struct StepFailure(StepError);

impl From<StepFailure> for Diagnostic {
    fn from(f: StepFailure) -> Self {
        Diagnostic {
            error_type: f.0.name().to_owned(),
            error_message: f.0.to_string(),
        }
    }
}

/// One pipeline step per function; the function's `Handler` setting (`_HANDLER`) names it
/// (`Scan`, `Validate`, `Persist`, `Quarantine`). A step this binary cannot run (Scan without
/// the `scan` feature of trove-shared) fails the cold start, before any upload reaches it.
pub async fn run_pipeline_step() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let step = std::env::var("_HANDLER").map_err(|_| "_HANDLER names the pipeline step")?;
    step_available(&step).map_err(|e| format!("_HANDLER {step:?}: {e}"))?;
    let ctx = context().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<StepInput>| {
        let (ctx, step) = (ctx.clone(), step.clone());
        async move {
            run_step(&ctx, &step, &event.payload)
                .await
                .map_err(StepFailure)?;
            Ok::<_, StepFailure>(event.payload)
        }
    }))
    .await
}
