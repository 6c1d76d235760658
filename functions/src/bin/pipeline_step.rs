//! The pipeline steps Validate, Persist and Quarantine (the function's `Handler`); Scan runs
//! `scan-step` (functions-scan/), the one binary that carries the scanning engine.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::run_pipeline_step(None).await
}
