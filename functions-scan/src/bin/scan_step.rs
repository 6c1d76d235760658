//! The pipeline step Scan (the function's `Handler`): the pipeline-step host of functions/,
//! built with trove-shared's `scan` feature (YARA, the archive walkers).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::run_pipeline_step().await
}
