//! `GET /metrics`: what the server did, in Prometheus text, by route template; and a
//! repository's whole life over HTTP.

use reqwest::{Method, StatusCode};

use crate::harness::{TestServer, pseudo_random_bytes};

fn value_of(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_show_requests_and_pipeline_outcomes_without_credentials() {
    let server = TestServer::start().await;
    server.create_repo("mx").await;
    server
        .publish("mx", "pkg", "1.0.0", "a.bin", &pseudo_random_bytes(9, 500))
        .await;
    server.get_ok("/v1/repositories/mx").await;

    let resp = server
        .anon(Method::GET, "/metrics")
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), StatusCode::OK);
    let ctype = resp.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let text = resp.text().await.expect("body");

    let got = value_of(
        &text,
        "trove_http_requests_total",
        &[
            r#"route="/v1/repositories/{repo}""#,
            r#"method="GET""#,
            r#"status_class="2xx""#,
        ],
    );
    assert_eq!(got, Some(1.0), "{text}");
    let published = value_of(
        &text,
        "trove_pipeline_outcomes_total",
        &[r#"outcome="published""#],
    );
    assert_eq!(published, Some(1.0), "{text}");
    assert!(text.contains("trove_table_circuit_state 0"), "{text}");
    assert!(
        !text.contains("/v1/repositories/mx"),
        "raw paths leak: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repository_is_deleted_once_its_versions_are() {
    let server = TestServer::start().await;
    server.create_repo("short").await;
    server
        .publish(
            "short",
            "pkg",
            "1.0.0",
            "a.bin",
            &pseudo_random_bytes(3, 100),
        )
        .await;
    let refused = server
        .api(Method::DELETE, "/v1/repositories/short")
        .send()
        .await
        .expect("DELETE repository");
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let done = server
        .api(
            Method::DELETE,
            "/v1/repositories/short/packages/pkg/versions/1.0.0",
        )
        .send()
        .await
        .expect("DELETE version");
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    let gone = server
        .api(Method::DELETE, "/v1/repositories/short")
        .send()
        .await
        .expect("DELETE repository");
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let (status, _) = server.get_json("/v1/repositories/short").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
