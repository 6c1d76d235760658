//! One pipeline step per function; the function's `Handler` setting (`_HANDLER`) names it
//! (`Scan`, `Validate`, `Persist`, `Quarantine`). Errors carry the stable names the state machine's
//! Retry and Catch match on.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use shared::pipeline::{StepInput, run_step};

#[derive(Debug)]
struct StepFailure(shared::pipeline::StepError);

impl From<StepFailure> for Diagnostic {
    fn from(f: StepFailure) -> Self {
        Diagnostic {
            error_type: f.0.name().to_owned(),
            error_message: f.0.to_string(),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::init_tracing();
    let step = std::env::var("_HANDLER").map_err(|_| "_HANDLER names the pipeline step")?;
    let ctx = trove_functions::context().await?;
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
