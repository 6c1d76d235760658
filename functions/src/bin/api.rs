//! Every API route's function: the shared router under `lambda_http`. API Gateway sends
//! each function only its own route.

use shared::http::{AppState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    trove_functions::init_tracing();
    let ctx = trove_functions::context().await?;
    lambda_http::run(router(AppState::new(ctx))).await
}
