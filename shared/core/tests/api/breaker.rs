//! The table's circuit seen from a client: while it is open every request answers 503 with
//! the cool-down left in Retry-After, as problem+json, and the service recovers by itself.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode, header};

use crate::app::TestApp;
use crate::table_breaker::{FAILING, Faults, HEALTHY, ManualClock, settings};
use trove_core::breaker::BreakerTable;
use trove_core::http::{self, AppState};
use trove_core::services::Context;

#[tokio::test(flavor = "multi_thread")]
async fn an_open_circuit_answers_503_with_retry_after_then_recovers() {
    let mut app = TestApp::new().await;
    let faulty = Faults::wrap(Arc::clone(&app.host.ctx.table));
    let clock = ManualClock::new();
    let ctx = Context {
        table: Arc::new(BreakerTable::new(faulty.clone(), settings(), clock.clone())),
        ..(*app.host.ctx).clone()
    };
    app.router = http::router(AppState::new(Arc::new(ctx)));
    let admin = app.admin.clone();
    let uri = "/v1/repositories";

    let (status, _, body) = app.call(Method::GET, uri, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    faulty.set(FAILING);
    for _ in 0..3 {
        let (status, headers, body) = app.send(Method::GET, uri, Some(&admin), None, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(headers[header::RETRY_AFTER], "1");
    }

    let reached = faulty.calls();
    faulty.set(HEALTHY);
    let (status, headers, body) = app.send(Method::GET, uri, Some(&admin), None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "10");
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["status"], 503);
    assert_eq!(
        body["detail"],
        "the service is temporarily unavailable; retry shortly"
    );
    clock.advance(Duration::from_secs(4));
    let (status, headers, _) = app
        .send(
            Method::POST,
            uri,
            Some(&admin),
            Some(serde_json::json!({"name": "libs", "format": "generic"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "6");
    assert_eq!(
        faulty.calls(),
        reached,
        "refused without touching the table"
    );

    clock.advance(Duration::from_secs(6));
    let (status, _, body) = app.call(Method::GET, uri, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = app.call(Method::GET, uri, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
