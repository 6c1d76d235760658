//! The pipeline step Scan (the function's `Handler`): the pipeline-step host of functions/,
//! with trove-scan's engine (YARA, the archive walkers) in its context.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::run_pipeline_step(Some(trove_scan::YaraScanner::shared())).await
}
