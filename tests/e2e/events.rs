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

/// The webhook's delivery once its log records it as succeeded.
async fn recorded_success(server: &TestServer, hook: &str) -> Value {
    let deadline = Instant::now() + POLL_TIMEOUT;
    loop {
        let log = server
            .get_ok(&format!("/v1/webhooks/{hook}/deliveries"))
            .await;
        let items = log["items"]
            .as_array()
            .unwrap_or_else(|| panic!("deliveries without items: {log}"));
        if let Some(done) = items.iter().find(|d| d["status"] == "succeeded") {
            return done.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no delivery recorded as succeeded: {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_publish_reaches_a_signed_webhook_once_after_a_failed_attempt() {
    let (addr, received) = receiver(1).await;
    let server = TestServer::start_with_env(&[("TROVE_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")]).await;
    server.create_repo("hooked").await;
    let created = server
        .create_webhook(&format!("http://{addr}/hook"), &["package.published"])
        .await;
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
    // Once the success is recorded the delivery is over: nothing more is scheduled, so
    // the receiver's count is final.
    let delivery = recorded_success(&server, &id).await;
    assert!(
        delivery["next_attempt_at"].is_null(),
        "a succeeded delivery has another attempt scheduled: {delivery}"
    );
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

    // The deliveries log shows both attempts, with the receiver's answers.
    assert_eq!(
        delivery["id"].as_str(),
        Some(header(headers, "x-trove-delivery")),
        "{delivery}"
    );
    let attempts = delivery["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("delivery without attempts: {delivery}"));
    let answers: Vec<(Option<u64>, Option<u64>, Option<bool>)> = attempts
        .iter()
        .map(|a| {
            (
                a["number"].as_u64(),
                a["status_code"].as_u64(),
                a["success"].as_bool(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            (Some(1), Some(500), Some(false)),
            (Some(2), Some(204), Some(true))
        ],
        "attempts as (number, status_code, success): {delivery}"
    );

    // The same traffic is visible to Prometheus.
    let metrics = server.metrics().await;
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

/// `trove admin run-job <args> --data-dir <the server's>`: whether it succeeded, and what
/// it printed on stdout and stderr.
fn run_job(server: &TestServer, args: &[&str]) -> (bool, String, String) {
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
}

/// A job's summary: it must succeed and print one JSON document.
fn job_summary(server: &TestServer, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = run_job(server, args);
    assert!(ok, "run-job {args:?} failed: {stderr}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("run-job {args:?} printed no JSON ({e}): {stdout}"))
}

/// What a cleanup summary says of the repository `jobs` of the default tenant.
fn jobs_repository(summary: &Value) -> Value {
    summary["tenants"]
        .as_array()
        .and_then(|tenants| tenants.iter().find(|t| t["tenant"] == "default"))
        .and_then(|t| t["repositories"].as_array())
        .and_then(|repos| repos.iter().find(|r| r["repository"] == "jobs"))
        .cloned()
        .unwrap_or_else(|| panic!("the cleanup summary has nothing for jobs: {summary}"))
}

/// Where cleanup's effects show through the API: (is 1.0.0 readable, the upload's status).
async fn cleanup_targets(server: &TestServer, abandoned: &str) -> (StatusCode, Value) {
    let (old, _) = server
        .get_json("/v1/repositories/jobs/packages/pkg/versions/1.0.0")
        .await;
    (old, server.upload_status("jobs", abandoned).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_run_job_cleanup_and_report_change_the_data_dir_as_their_summaries_say() {
    let mut server = TestServer::start().await;
    server.create_repo("jobs").await;
    let resp = server
        .api(Method::PUT, "/v1/repositories/jobs/retention")
        .json(&json!({"keep_last": 1}))
        .send()
        .await
        .expect("PUT retention");
    expect_json(resp, StatusCode::OK, "set retention keep_last 1").await;
    let old = pseudo_random_bytes(62, 2048);
    let new = pseudo_random_bytes(63, 3000);
    server.publish("jobs", "pkg", "1.0.0", "a.bin", &old).await;
    server.publish("jobs", "pkg", "1.0.1", "a.bin", &new).await;
    assert!(
        server.download("jobs", "pkg", "1.0.1", "a.bin").await == new,
        "1.0.1 downloads as published"
    );

    // Upload URLs that expire as they are issued: an upload whose bytes never come is
    // abandoned at once, with no clock to wait for.
    server
        .restart_with_env(&[("TROVE_UPLOAD_URL_TTL_SECS", "0")])
        .await;
    let ticket = server
        .request_upload("jobs", "never", "1.0.0", "a.bin", b"never sent")
        .await;
    let abandoned = ticket["upload_id"].as_str().expect("upload_id").to_owned();

    // A dry run reports both, and changes nothing.
    let dry = job_summary(&server, &["cleanup", "--dry-run"]);
    assert_eq!(dry["dry_run"], true, "{dry}");
    let would = jobs_repository(&dry);
    assert_eq!(
        would["versions_removed"],
        json!([{"package": "pkg", "version": "1.0.0"}]),
        "{dry}"
    );
    assert_eq!(would["uploads_expired"].as_u64(), Some(1), "{dry}");
    let (old_status, upload) = cleanup_targets(&server, &abandoned).await;
    assert_eq!(old_status, StatusCode::OK, "the dry run removed 1.0.0");
    assert_eq!(upload["status"], "pending", "the dry run expired: {upload}");

    let (ok, _, stderr) = run_job(&server, &["backup"]);
    assert!(!ok && stderr.contains("unknown job"), "{stderr}");

    // The real run does what the dry run said.
    let done = job_summary(&server, &["cleanup"]);
    assert_eq!(done["dry_run"], false, "{done}");
    assert_eq!(
        jobs_repository(&done),
        would,
        "the run did other than the dry run said"
    );
    let (old_status, upload) = cleanup_targets(&server, &abandoned).await;
    assert_eq!(
        old_status,
        StatusCode::NOT_FOUND,
        "1.0.0 outlived keep_last 1"
    );
    assert_eq!(upload["status"], "rejected", "{upload}");
    let why = upload["reason"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("upload expired: no bytes arrived before"),
        "the abandoned upload's reason: {upload}"
    );
    assert!(
        server.download("jobs", "pkg", "1.0.1", "a.bin").await == new,
        "the newest version lost its bytes to the cleanup"
    );

    // Today's report counts what happened, and is readable through the API.
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let summary = job_summary(&server, &["report", "--date", &today]);
    assert_eq!(summary["failed"], json!([]), "{summary}");
    let totals = summary["reports"]
        .as_array()
        .and_then(|reports| reports.iter().find(|r| r["tenant"] == "default"))
        .map(|r| r["totals"].clone())
        .unwrap_or_else(|| panic!("no report for the default tenant: {summary}"));
    let expected = json!({
        "repositories": 1,
        "storage_bytes": new.len(),
        "versions": 1,
        "files": 1,
        // 1.0.1, before the cleanup and after it.
        "downloads": 2,
        "download_bytes": 2 * new.len(),
        "uploads_accepted": 2,
        "uploads_rejected": 0,
        "stale_grants": 0,
        "stale_api_keys": 0,
    });
    assert_eq!(totals, expected, "the report's totals: {summary}");

    let report = server.get_ok(&format!("/v1/reports/{today}")).await;
    assert_eq!(report["date"], today.as_str(), "{report}");
    assert_eq!(
        report["summary"], expected,
        "the stored report differs from the run's"
    );
    let files = report["files"]
        .as_array()
        .unwrap_or_else(|| panic!("report without files: {report}"));
    let json_file = files
        .iter()
        .find(|f| f["name"] == "report.json")
        .unwrap_or_else(|| panic!("no report.json: {report}"));
    let url = server.resolve(json_file["url"].as_str().expect("report.json url"));
    let resp = server
        .client
        .get(url)
        .send()
        .await
        .expect("GET report.json");
    assert_eq!(resp.status(), StatusCode::OK, "report.json link");
    let written: Value = resp.json().await.expect("report.json is JSON");
    assert_eq!(written["tenant"], "default", "{written}");
    assert_eq!(written["date"], today.as_str(), "{written}");
    assert_eq!(written["totals"], expected, "report.json totals: {written}");
    let repositories = written["repositories"].as_array().expect("repositories");
    assert_eq!(repositories.len(), 1, "{written}");
    assert_eq!(repositories[0]["name"], "jobs", "{written}");
    assert_eq!(
        repositories[0]["top_packages"],
        json!([{"package": "pkg", "downloads": 2}]),
        "{written}"
    );
}
