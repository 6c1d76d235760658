//! Events, webhooks, jobs and metrics on a real `trove serve`: a signed delivery of a real
//! publish to a receiver on 127.0.0.1, a retry after a failed attempt, `trove admin run-job`
//! against the data dir, and `GET /metrics`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{POLL_TIMEOUT, TestServer, expect_json, pseudo_random_bytes, sha256_hex};

/// What the receiver got: each request's headers and body, and the status it answered.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, Bytes, u16)>>>);

impl Received {
    fn all(&self) -> Vec<(HeaderMap, Bytes, u16)> {
        self.0.lock().expect("receiver log").clone()
    }
}

/// A webhook receiver on 127.0.0.1 that answers 500 to its first `failures` requests, then
/// 204.
async fn receiver(failures: usize) -> (SocketAddr, Received) {
    let received = Received::default();
    let log = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                let mut all = log.0.lock().expect("receiver log");
                let status = if all.len() < failures { 500 } else { 204 };
                all.push((headers, body, status));
                AxumStatus::from_u16(status).unwrap_or(AxumStatus::INTERNAL_SERVER_ERROR)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver on loopback");
    let addr = listener.local_addr().expect("receiver address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, received)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("delivery lacks {name}"))
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + POLL_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_publish_reaches_a_signed_webhook_once_after_a_failed_attempt() {
    let (addr, received) = receiver(1).await;
    let server = TestServer::start_with_env(&[("TROVE_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")]).await;
    server.create_repo("hooked").await;
    let resp = server
        .api(Method::POST, "/v1/webhooks")
        .json(&json!({"url": format!("http://{addr}/hook"), "events": ["package.published"]}))
        .send()
        .await
        .expect("POST /v1/webhooks");
    let created = expect_json(resp, StatusCode::CREATED, "create webhook").await;
    let id = created["id"].as_str().expect("webhook id").to_owned();
    let secret = created["secret"]
        .as_str()
        .expect("webhook secret")
        .to_owned();

    let bytes = pseudo_random_bytes(61, 4096);
    server
        .publish("hooked", "pkg", "1.0.0", "a.bin", &bytes)
        .await;
    wait_for("a successful delivery", || {
        received.all().iter().any(|(_, _, status)| *status == 204)
    })
    .await;
    // Nothing more arrives once an attempt succeeded.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = received.all();
    assert_eq!(all.len(), 2, "one failed attempt, then one success");
    assert_eq!(all.iter().filter(|(_, _, s)| *s == 204).count(), 1);

    let (headers, body, _) = &all[1];
    assert_eq!(header(headers, "content-type"), "application/json");
    assert_eq!(header(headers, "x-trove-event"), "package.published");
    assert_eq!(
        header(headers, "x-trove-delivery"),
        header(&all[0].0, "x-trove-delivery"),
        "a retry is the same delivery"
    );
    let timestamp = header(headers, "x-trove-timestamp");
    let sent_at: i64 = timestamp.parse().expect("unix seconds");
    assert!((time::OffsetDateTime::now_utc().unix_timestamp() - sent_at).abs() < 120);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header(headers, "x-trove-signature-256"), expected);

    let event: Value = serde_json::from_slice(body).expect("the body is JSON");
    assert_eq!(event["type"], "package.published");
    assert_eq!(event["tenant"], "default");
    assert!(event["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(event["occurred_at"].as_str().is_some());
    assert_eq!(event["data"]["repository"], "hooked");
    assert_eq!(event["data"]["package"], "pkg");
    assert_eq!(event["data"]["version"], "1.0.0");
    assert_eq!(event["data"]["sha256"], sha256_hex(&bytes));

    // The deliveries log shows both attempts.
    let log = server
        .get_ok(&format!("/v1/webhooks/{id}/deliveries"))
        .await;
    let text = log.to_string();
    assert!(
        text.contains("500") && text.contains("204"),
        "deliveries: {log}"
    );

    // The same traffic is visible to Prometheus.
    let metrics = server
        .anon(Method::GET, "/metrics")
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains("trove_http_requests_total") && metrics.contains("route=\"/v1/webhooks\""),
        "metrics:\n{metrics}"
    );
    assert!(
        metrics.contains("trove_webhook_deliveries_total"),
        "metrics:\n{metrics}"
    );
    assert!(
        metrics.contains("trove_pipeline_outcomes_total"),
        "metrics:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_run_job_runs_cleanup_and_report_against_the_data_dir() {
    let server = TestServer::start().await;
    server.create_repo("jobs").await;
    let bytes = pseudo_random_bytes(62, 2048);
    server
        .publish("jobs", "pkg", "1.0.0", "a.bin", &bytes)
        .await;

    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_trove"))
            .args(["admin", "run-job"])
            .args(args)
            .arg("--data-dir")
            .arg(server.data_dir())
            .env_remove("TROVE_DATA_DIR")
            .output()
            .expect("run trove admin run-job");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (ok, stdout, stderr) = run(&["cleanup", "--dry-run"]);
    assert!(ok, "cleanup --dry-run failed: {stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("cleanup prints JSON");
    assert!(summary.is_object(), "{summary}");

    let (ok, _, stderr) = run(&["backup"]);
    assert!(!ok && stderr.contains("unknown job"), "{stderr}");

    let today = time::OffsetDateTime::now_utc().date().to_string();
    let (ok, stdout, stderr) = run(&["report", "--date", &today]);
    assert!(ok, "report failed: {stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("report prints JSON");
    assert!(summary.is_object(), "{summary}");
    let reports = server.get_ok("/v1/reports").await;
    let listed = reports.to_string();
    assert!(listed.contains(&today), "reports: {reports}");
}
