//! Every API route's function: the shared router under `lambda_http`. The function's
//! `Handler` setting (`_HANDLER`) names its route's operation id, and the function then
//! serves that route only; without it the function serves the whole API.

use trove_core::http::{AppState, router, router_for_route};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    trove_functions::init_tracing();
    let ctx = trove_functions::context().await?;
    let state = AppState::new(ctx);
    let app = match std::env::var("_HANDLER").ok().filter(|h| !h.is_empty()) {
        Some(operation) => router_for_route(state, &operation)
            .ok_or_else(|| format!("_HANDLER {operation:?} names no route of the API"))?,
        None => router(state),
    };
    lambda_http::run(trove_functions::with_metrics_flush(
        trove_functions::with_gateway_identity(app),
    ))
    .await
}
