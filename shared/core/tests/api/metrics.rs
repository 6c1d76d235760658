//! Requests through the router show up in the Prometheus rendering `trove serve` answers at
//! `GET /metrics`, by route template and status class.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::json;
use tower::ServiceExt as _;

use crate::app::TestApp;
use trove_embedded::prometheus;

/// The sample line of `name` carrying every one of `labels`.
fn sample<'a>(text: &'a str, name: &str, labels: &[&str]) -> Option<&'a str> {
    text.lines().find(|l| {
        l.starts_with(&format!("{name}{{")) && labels.iter().all(|label| l.contains(label))
    })
}

fn value(line: &str) -> f64 {
    line.rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {line}"))
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status_class() {
    let recorder = prometheus::recorder().expect("recorder");
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let app = TestApp::new().await;

    let (status, _, _) = app
        .call(
            Method::GET,
            "/v1/repositories/secret-name",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(json!({"name": "libs", "format": "generic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for _ in 0..2 {
        let (status, _, _) = app
            .call(Method::GET, "/v1/repositories/libs", Some(&app.admin), None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _, _) = app.call(Method::GET, "/no/such/route", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let res = prometheus::router(handle)
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");

    let repo = r#"route="/v1/repositories/{repo}""#;
    let get = r#"method="GET""#;
    let ok = sample(
        &text,
        "trove_http_requests_total",
        &[repo, get, r#"status_class="2xx""#],
    )
    .unwrap_or_else(|| panic!("no 2xx line in\n{text}"));
    assert_eq!(value(ok), 2.0);
    let missing = sample(
        &text,
        "trove_http_requests_total",
        &[repo, get, r#"status_class="4xx""#],
    )
    .unwrap_or_else(|| panic!("no 4xx line in\n{text}"));
    assert_eq!(value(missing), 1.0);
    let created = sample(
        &text,
        "trove_http_requests_total",
        &[
            r#"route="/v1/repositories""#,
            r#"method="POST""#,
            r#"status_class="2xx""#,
        ],
    )
    .unwrap_or_else(|| panic!("no POST line in\n{text}"));
    assert_eq!(value(created), 1.0);
    assert!(
        sample(
            &text,
            "trove_http_requests_total",
            &[r#"route="unmatched""#, r#"status_class="4xx""#]
        )
        .is_some(),
        "{text}"
    );
    let latency = sample(
        &text,
        "trove_http_request_duration_seconds_count",
        &[repo, get],
    )
    .unwrap_or_else(|| panic!("no latency histogram in\n{text}"));
    assert_eq!(value(latency), 3.0);
    assert!(
        text.contains("trove_http_request_duration_seconds_bucket{"),
        "latency as a histogram: {text}"
    );
    // Paths as sent never become labels.
    for raw in ["secret-name", "/no/such/route", "libs\""] {
        assert!(!text.contains(raw), "{raw} leaked into\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn published_and_rejected_uploads_are_counted() {
    let recorder = trove_aws::emf::Emf::new();
    metrics::with_local_recorder(&recorder, || {
        trove_core::metrics::pipeline_outcome("published");
        trove_core::metrics::pipeline_outcome("rejected");
        trove_core::metrics::pipeline_outcome("rejected");
    });
    let docs = recorder.drain(0);
    let count = |outcome: &str| {
        docs.iter()
            .find(|d| d["outcome"] == outcome)
            .map(|d| d["trove_pipeline_outcomes_total"].clone())
    };
    assert_eq!(count("published"), Some(json!(1)));
    assert_eq!(count("rejected"), Some(json!(2)));
}
