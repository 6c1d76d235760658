//! What every Lambda binary shares: logging and the AWS context, built once per cold start.

use std::sync::Arc;

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
