//! The upload pipeline (Scan → Validate → Persist, Quarantine on refusal) as a client and an
//! operator see it: malware and bombs refused with a reason, bytes that bypass the signed
//! endpoint caught, the step record of each execution, injected retries, repeated storage
//! events and a `kill -9` in the middle of Persist.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use trove_testkit::archives::fixtures::{TarEntry, deflated, eicar, tar_gz, zip, zip_of_zeros};

use crate::harness::{TestServer, pseudo_random_bytes, sha256_hex};

const REPO: &str = "pipe";
/// How long one upload may take to settle before the test calls it hung: a guard, not a
/// speed claim, so a debug build on a busy machine stays well within it.
const SETTLE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(20);
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

// ---- helpers --------------------------------------------------------------------------

fn upload_id(ticket: &Value) -> String {
    ticket["upload_id"]
        .as_str()
        .expect("ticket upload_id")
        .to_owned()
}

/// Polls until the upload is published or rejected AND its execution has ended (the upload
/// record changes inside the last step, a moment before the execution is stored as ended).
async fn wait_settled(server: &TestServer, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let status = server.upload_status(REPO, id).await;
        let outcome = matches!(status["status"].as_str(), Some("published" | "rejected"));
        let ended = matches!(
            status["execution"]["status"].as_str(),
            Some("SUCCEEDED" | "FAILED")
        );
        if outcome && ended {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "upload {id} not settled within {within:?}; last view: {status}\nserver log tail:\n{}",
            log_tail(server)
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Request, one PUT, wait until settled; returns (upload id, final view).
async fn upload_and_settle(
    server: &TestServer,
    package: &str,
    filename: &str,
    bytes: &[u8],
) -> (String, Value) {
    let ticket = server
        .request_upload(REPO, package, "1.0.0", filename, bytes)
        .await;
    let put = server.put_ticket(&ticket, bytes.to_vec()).await;
    assert!(
        put.status().is_success(),
        "PUT of {filename}: {}",
        put.status()
    );
    let id = upload_id(&ticket);
    let view = wait_settled(server, &id, SETTLE).await;
    (id, view)
}

/// The execution's steps as (state, status).
fn steps(view: &Value) -> Vec<(String, String)> {
    view["execution"]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("upload view has no execution steps: {view}"))
        .iter()
        .map(|s| {
            (
                s["state"].as_str().unwrap_or("?").to_owned(),
                s["status"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

fn expect_steps(view: &Value, expected: &[(&str, &str)]) {
    let got = steps(view);
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(got, want, "execution steps of {view}");
}

fn rejected_steps(view: &Value) {
    expect_steps(view, &[("Scan", "FAILED"), ("Quarantine", "SUCCEEDED")]);
    assert_eq!(view["execution"]["status"], "FAILED", "{view}");
}

fn published_steps(view: &Value) {
    expect_steps(
        view,
        &[
            ("Scan", "SUCCEEDED"),
            ("Validate", "SUCCEEDED"),
            ("Persist", "SUCCEEDED"),
        ],
    );
    assert_eq!(view["execution"]["status"], "SUCCEEDED", "{view}");
    let steps = view["execution"]["steps"].as_array().expect("steps");
    let mut last_end: Option<OffsetDateTime> = None;
    for step in steps {
        assert!(
            step.get("error").is_none_or(Value::is_null),
            "a succeeded step keeps an error: {step}"
        );
        let started = timestamp(&step["started_at"]);
        let ended = timestamp(&step["ended_at"]);
        assert!(ended >= started, "step ends before it starts: {step}");
        if let Some(prev) = last_end {
            assert!(started >= prev, "steps overlap or are out of order: {view}");
        }
        last_end = Some(ended);
    }
}

fn timestamp(v: &Value) -> OffsetDateTime {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {v}"));
    OffsetDateTime::parse(s, &Rfc3339).unwrap_or_else(|e| panic!("timestamp {s:?}: {e}"))
}

fn reason(view: &Value) -> String {
    view["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("rejected upload without a reason: {view}"))
        .to_owned()
}

/// A rejected upload leaves nothing to list or download.
async fn assert_not_visible(server: &TestServer, package: &str, filename: &str) {
    let base = format!("/v1/repositories/{REPO}/packages/{package}");
    for path in [
        base.clone(),
        format!("{base}/versions/1.0.0"),
        format!("{base}/versions/1.0.0/files/{filename}?redirect=false"),
    ] {
        let (code, body) = server.get_json(&path).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "GET {path}: {body}");
    }
}

/// The refused bytes moved from incoming/ to quarantine/.
fn assert_quarantined(server: &TestServer, id: &str, bytes: &[u8]) {
    let incoming = server.blob_path("incoming", id);
    assert!(!incoming.exists(), "{} is still there", incoming.display());
    let quarantined = server.blob_path("quarantine", id);
    let kept = std::fs::read(&quarantined)
        .unwrap_or_else(|e| panic!("read {}: {e}", quarantined.display()));
    assert!(kept == bytes, "quarantined bytes differ from the upload");
}

/// Peak resident set of a process, in KiB (`VmHWM` of /proc/PID/status).
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status"))
}

/// Server log lines that contain every one of `needles`.
fn log_lines(server: &TestServer, needles: &[&str]) -> Vec<String> {
    server
        .log()
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_owned)
        .collect()
}

fn log_tail(server: &TestServer) -> String {
    let log = server.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Settings for every server here: plain log lines (no colour codes between field names).
const PLAIN_LOG: (&str, &str) = ("NO_COLOR", "1");

// ---- tests ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eicar_plain_and_nested_is_rejected_naming_rule_and_path() {
    let server = TestServer::start_with_env(&[PLAIN_LOG]).await;
    server.create_repo(REPO).await;

    // A plain file.
    let mut plain = eicar();
    plain.extend_from_slice(b"\r\n");
    let (id, view) = upload_and_settle(&server, "tool", "eicar.com", &plain).await;
    assert_eq!(view["status"], "rejected", "{view}");
    let why = reason(&view);
    assert!(
        why.contains("EICAR_Test_File") && why.contains("eicar.com"),
        "reason names the rule and the file: {why}"
    );
    assert_eq!(
        view["scan"]["findings"],
        json!([{"rule": "EICAR_Test_File", "category": "malware", "path": "eicar.com"}]),
        "{view}"
    );
    assert!(
        view["scan"]["engine"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{view}"
    );
    assert!(
        view["scan"]["rules_version"]
            .as_str()
            .is_some_and(|v| v.len() == 12 && v.bytes().all(|b| b.is_ascii_hexdigit())),
        "{view}"
    );
    assert_eq!(view["execution"]["id"], id.as_str(), "{view}");
    rejected_steps(&view);
    let scan_error = view["execution"]["steps"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        scan_error.contains("EICAR_Test_File"),
        "the Scan step's error names the rule: {view}"
    );
    assert_not_visible(&server, "tool", "eicar.com").await;
    assert_quarantined(&server, &id, &plain);

    // In a zip inside a zip: the reason names the entry's whole path.
    let inner = zip(&[("inner/eicar.com", &eicar())], deflated());
    let outer = zip(&[("README", b"hi"), ("inner.zip", &inner)], deflated());
    let nested_path = "nested.zip/inner.zip/inner/eicar.com";
    let (id, view) = upload_and_settle(&server, "bundle", "nested.zip", &outer).await;
    assert_eq!(view["status"], "rejected", "{view}");
    let why = reason(&view);
    assert!(
        why.contains("EICAR_Test_File") && why.contains(nested_path),
        "reason names the rule and the nested path {nested_path}: {why}"
    );
    assert_eq!(
        view["scan"]["findings"],
        json!([{"rule": "EICAR_Test_File", "category": "malware", "path": nested_path}]),
        "{view}"
    );
    rejected_steps(&view);
    assert_not_visible(&server, "bundle", "nested.zip").await;
    assert_quarantined(&server, &id, &outer);

    // The server keeps publishing clean files.
    server
        .publish(REPO, "tool", "1.0.1", "clean.txt", b"nothing to see")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zip_bomb_is_refused_after_inflating_a_few_mib_with_modest_memory() {
    // 2 GiB of zeros in ~2 MB, built while the server starts.
    let generate = tokio::task::spawn_blocking(|| {
        let started = Instant::now();
        let bomb = zip_of_zeros("zeros.bin", 2 * GIB);
        (bomb, started.elapsed())
    });
    let server = TestServer::start_with_env(&[PLAIN_LOG]).await;
    server.create_repo(REPO).await;
    let (bomb, took) = generate.await.expect("bomb generation");
    eprintln!("zip bomb: {} bytes, built in {took:?}", bomb.len());
    assert!(
        bomb.len() < 4 * MIB as usize,
        "bomb is {} bytes",
        bomb.len()
    );

    let pid = server.pid().expect("server runs");
    let hwm_before = vm_hwm_kib(pid);

    let (_, view) = upload_and_settle(&server, "bomb", "bomb.zip", &bomb).await;
    assert_eq!(view["status"], "rejected", "{view}");
    let why = reason(&view);
    assert!(
        why.starts_with("zip bomb: bomb.zip/zeros.bin expands") && why.contains("more than 100:1"),
        "zip bomb reason: {why}"
    );
    rejected_steps(&view);
    // What the scanner inflated before it stopped, as the reason states it: a bomb is
    // refused at the ratio limit, not after its 2 GiB were expanded and counted.
    let inflated = inflated_bytes(&why)
        .unwrap_or_else(|| panic!("the reason does not say how much was inflated: {why}"));
    assert!(
        inflated <= 64 * MIB,
        "the bomb was inflated to {inflated} bytes before it was refused: {why}"
    );

    let hwm_after = vm_hwm_kib(pid);
    eprintln!(
        "zip bomb refused after inflating {inflated} bytes; server VmHWM {hwm_before} kB before, \
         {hwm_after} kB after"
    );
    assert!(
        hwm_after < 200 * 1024,
        "server peak RSS {hwm_after} kB after the bomb (was {hwm_before} kB before)"
    );
    assert_not_visible(&server, "bomb", "bomb.zip").await;
}

/// The output size of a bomb refusal ("… expands 1000:1 (8.0 MiB from 8.2 KiB), …").
fn inflated_bytes(reason: &str) -> Option<u64> {
    let (_, after) = reason.split_once('(')?;
    let (amount, _) = after.split_once(" from ")?;
    let (number, unit) = amount.split_once(' ')?;
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => MIB,
        "GiB" => GIB,
        _ => return None,
    };
    Some((number * scale as f64) as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tar_gz_with_path_traversal_is_rejected() {
    let server = TestServer::start_with_env(&[PLAIN_LOG]).await;
    server.create_repo(REPO).await;
    let tgz = tar_gz(&[
        TarEntry::File("w/README", b"hi"),
        TarEntry::File("../../etc/evil", b"x"),
    ]);
    let (id, view) = upload_and_settle(&server, "evil", "evil.tar.gz", &tgz).await;
    assert_eq!(view["status"], "rejected", "{view}");
    let why = reason(&view);
    assert!(
        why.contains("path traversal") && why.contains("../../etc/evil"),
        "reason names the traversal and the entry: {why}"
    );
    rejected_steps(&view);
    assert_not_visible(&server, "evil", "evil.tar.gz").await;
    assert_quarantined(&server, &id, &tgz);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bytes_written_straight_to_storage_are_checked_against_the_declaration() {
    let mut server = TestServer::start_with_env(&[PLAIN_LOG]).await;
    server.create_repo(REPO).await;

    struct Case {
        package: &'static str,
        declared: Vec<u8>,
        stored: Vec<u8>,
        id: String,
    }
    let declared = |seed| pseudo_random_bytes(seed, 10_000);
    let mut cases = vec![
        Case {
            package: "same-size",
            declared: declared(41),
            stored: pseudo_random_bytes(141, 10_000),
            id: String::new(),
        },
        Case {
            package: "shorter",
            declared: declared(42),
            stored: pseudo_random_bytes(142, 4_000),
            id: String::new(),
        },
        Case {
            package: "longer",
            declared: declared(43),
            stored: pseudo_random_bytes(143, 20_000),
            id: String::new(),
        },
    ];
    for case in &mut cases {
        let ticket = server
            .request_upload(REPO, case.package, "1.0.0", "f.bin", &case.declared)
            .await;
        case.id = upload_id(&ticket);
        // The embedded store's layout: <data-dir>/blobs/incoming/<tenant>/<upload id>.
        let path = server.blob_path("incoming", &case.id);
        std::fs::create_dir_all(path.parent().expect("blob dir")).expect("create blob dir");
        std::fs::write(&path, &case.stored).expect("write the object behind the server's back");
    }
    // No storage event: nothing happens until the restart reconciles.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for case in &cases {
        let view = server.upload_status(REPO, &case.id).await;
        assert_eq!(view["status"], "pending", "{}: {view}", case.package);
    }

    server.restart().await;

    for case in &cases {
        let view = wait_settled(&server, &case.id, SETTLE).await;
        assert_eq!(view["status"], "rejected", "{}: {view}", case.package);
        let why = reason(&view);
        eprintln!("{}: {why}", case.package);
        let (declared_sha, stored_sha) = (sha256_hex(&case.declared), sha256_hex(&case.stored));
        let (declared_len, stored_len) = (case.declared.len(), case.stored.len());
        match case.package {
            "same-size" => assert!(
                why.contains("checksum mismatch")
                    && why.contains(&declared_sha)
                    && why.contains(&stored_sha),
                "reason names both digests ({declared_sha}, {stored_sha}): {why}"
            ),
            "shorter" => assert!(
                why.contains("mismatch")
                    && why.contains(&declared_len.to_string())
                    && why.contains(&stored_len.to_string()),
                "reason names both sizes ({declared_len}, {stored_len}): {why}"
            ),
            _ => assert!(
                why.contains("size mismatch") && why.contains(&declared_len.to_string()),
                "reason names the declared size {declared_len}: {why}"
            ),
        }
        assert!(
            view.get("scan").is_none_or(Value::is_null),
            "{}: bytes that are not the declared ones got a scan verdict: {view}",
            case.package
        );
        rejected_steps(&view);
        assert_not_visible(&server, case.package, "f.bin").await;
        assert_quarantined(&server, &case.id, &case.stored);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clean_archives_are_published_through_scan_validate_persist() {
    let server = TestServer::start_with_env(&[PLAIN_LOG]).await;
    server.create_repo(REPO).await;
    let lots = b"all work and no play ".repeat(20_000);
    let tgz = tar_gz(&[
        TarEntry::File("widget-1.0/README", b"hello"),
        TarEntry::File("widget-1.0/src/lib.rs", b"pub fn widget() {}\n"),
        TarEntry::File("widget-1.0/big.txt", &lots),
    ]);
    let jar = zip(
        &[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
            ("com/acme/App.class", &[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52]),
        ],
        deflated(),
    );
    let files = [("widget-1.0.tar.gz", &tgz), ("widget-1.0.zip", &jar)];
    for (filename, bytes) in files {
        let (id, view) = upload_and_settle(&server, "widget", filename, bytes).await;
        assert_eq!(view["status"], "published", "{filename}: {view}");
        assert!(view.get("reason").is_none_or(Value::is_null), "{view}");
        assert_eq!(view["scan"]["findings"], json!([]), "{filename}: {view}");
        assert_eq!(view["execution"]["id"], id.as_str(), "{view}");
        published_steps(&view);
    }
    let version = server
        .get_ok(&format!(
            "/v1/repositories/{REPO}/packages/widget/versions/1.0.0"
        ))
        .await;
    let listed = version["files"].as_array().expect("files");
    assert_eq!(listed.len(), 2, "{version}");
    for (filename, bytes) in files {
        let got = server.download(REPO, "widget", "1.0.0", filename).await;
        assert!(got == *bytes, "{filename}: downloaded bytes differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn persist_failing_twice_is_retried_and_publishes() {
    let server = TestServer::start_with_env(&[("TROVE_FAULTS", "Persist=fail:2"), PLAIN_LOG]).await;
    server.create_repo(REPO).await;
    let bytes = pseudo_random_bytes(60, 50_000);
    let ticket = server
        .request_upload(REPO, "flaky", "1.0.0", "f.bin", &bytes)
        .await;
    let put = server.put_ticket(&ticket, bytes.clone()).await;
    assert!(put.status().is_success(), "PUT: {}", put.status());
    let id = upload_id(&ticket);

    // Watch the running Persist step: between attempts it shows the last error.
    let deadline = Instant::now() + SETTLE;
    let mut seen_retry_error = None;
    let view = loop {
        let view = server.upload_status(REPO, &id).await;
        if let Some(step) = view["execution"]["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["state"] == "Persist"))
            && step["status"] == "RUNNING"
            && let Some(e) = step["error"].as_str()
        {
            seen_retry_error = Some(e.to_owned());
        }
        let done = matches!(view["status"].as_str(), Some("published" | "rejected"))
            && matches!(
                view["execution"]["status"].as_str(),
                Some("SUCCEEDED" | "FAILED")
            );
        if done {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "not settled within {SETTLE:?}: {view}\n{}",
            log_tail(&server)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };

    assert_eq!(view["status"], "published", "{view}");
    published_steps(&view);
    // Retries stay in one step record.
    let persist = &view["execution"]["steps"][2];
    let elapsed = timestamp(&persist["ended_at"]) - timestamp(&persist["started_at"]);

    // The server's log has each failed attempt and the wait it chose: IntervalSeconds 1,
    // BackoffRate 2 with full jitter, so at most 1 s, then at most 2 s (read from the log,
    // not from the wall clock, which a busy machine stretches).
    let retries = log_lines(&server, &["state failed; retrying", &id, "Persist"]);
    assert_eq!(
        retries.len(),
        2,
        "two failed Persist attempts logged for {id}: {retries:#?}"
    );
    assert!(
        retries.iter().all(|l| l.contains("injected fault")),
        "{retries:#?}"
    );
    for (line, most_ms) in retries.iter().zip([1_000, 2_000]) {
        let waited: u64 = line
            .split_once("delay_ms=")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("no delay_ms in {line}"));
        assert!(
            waited <= most_ms,
            "waited {waited} ms, at most {most_ms}: {line}"
        );
    }
    eprintln!(
        "Persist took {elapsed} with 2 injected failures; error seen on the running step: {seen_retry_error:?}"
    );
    if let Some(e) = &seen_retry_error {
        assert!(e.contains("Trove.Retryable"), "running step error: {e}");
    }

    let got = server.download(REPO, "flaky", "1.0.0", "f.bin").await;
    assert!(got == bytes, "downloaded bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_storage_events_for_one_object_run_one_execution() {
    const DELIVERIES: usize = 10;
    let server = TestServer::start_with_env(&[PLAIN_LOG]).await;
    server.create_repo(REPO).await;
    let bytes = pseudo_random_bytes(70, 300_000);
    let ticket = server
        .request_upload(REPO, "echo", "1.0.0", "f.bin", &bytes)
        .await;
    let id = upload_id(&ticket);

    // Every PUT raises an ObjectCreated event.
    let puts = join_all((0..DELIVERIES).map(|_| server.put_ticket(&ticket, bytes.clone()))).await;
    for (i, put) in puts.iter().enumerate() {
        assert!(put.status().is_success(), "PUT {i}: {}", put.status());
    }
    let view = wait_settled(&server, &id, SETTLE).await;
    assert_eq!(view["status"], "published", "{view}");
    assert_eq!(view["execution"]["id"], id.as_str(), "{view}");
    published_steps(&view);

    // All ten events reached the handler ...
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // An event arriving after the upload settled removes the re-sent object instead.
        let handled = log_lines(&server, &["pipeline started", &id]).len()
            + log_lines(&server, &["removing object re-sent", &id]).len();
        if handled >= DELIVERIES {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {handled} of {DELIVERIES} storage events handled:\n{}",
            log_tail(&server)
        );
        tokio::time::sleep(POLL).await;
    }
    // ... and one execution ran, once.
    let ended = log_lines(&server, &["execution ended", &id]);
    assert_eq!(ended.len(), 1, "executions ended for {id}: {ended:#?}");

    let version = server
        .get_ok(&format!(
            "/v1/repositories/{REPO}/packages/echo/versions/1.0.0"
        ))
        .await;
    let files = version["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "{version}");
    assert_eq!(files[0]["sha256"], sha256_hex(&bytes).as_str());
    let got = server.download(REPO, "echo", "1.0.0", "f.bin").await;
    assert!(got == bytes, "downloaded bytes differ");

    // Still so a moment later: no late execution changes the outcome.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = server.upload_status(REPO, &id).await;
    assert_eq!(later["status"], "published", "{later}");
    assert_eq!(later["execution"], view["execution"], "execution changed");
    let ended = log_lines(&server, &["execution ended", &id]);
    assert_eq!(ended.len(), 1, "executions ended for {id}: {ended:#?}");

    // The URL is still valid: bytes sent again after the upload settled are accepted by
    // storage, then removed, since no pipeline will ever take them.
    let again = server.put_ticket(&ticket, bytes.clone()).await;
    assert!(again.status().is_success(), "late PUT: {}", again.status());
    let incoming = server.blob_path("incoming", &id);
    let deadline = Instant::now() + Duration::from_secs(10);
    while incoming.exists() {
        assert!(
            Instant::now() < deadline,
            "{} lingers after a late PUT",
            incoming.display()
        );
        tokio::time::sleep(POLL).await;
    }
    let after = server.upload_status(REPO, &id).await;
    assert_eq!(
        after["execution"], view["execution"],
        "a late PUT changed the execution"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_during_persist_resumes_to_exactly_one_outcome() {
    let mut server =
        TestServer::start_with_env(&[("TROVE_FAULTS", "Persist=delay:3000"), PLAIN_LOG]).await;
    server.create_repo(REPO).await;
    let bytes = pseudo_random_bytes(80, 200_000);
    let ticket = server
        .request_upload(REPO, "crashy", "1.0.0", "f.bin", &bytes)
        .await;
    let put = server.put_ticket(&ticket, bytes.clone()).await;
    assert!(put.status().is_success(), "PUT: {}", put.status());
    let id = upload_id(&ticket);

    // Wait until the execution stands in Persist (held there by the injected delay).
    let deadline = Instant::now() + SETTLE;
    let before = loop {
        let view = server.upload_status(REPO, &id).await;
        let last = view["execution"]["steps"]
            .as_array()
            .and_then(|steps| steps.last().cloned())
            .unwrap_or(Value::Null);
        if last["state"] == "Persist" && last["status"] == "RUNNING" {
            break view;
        }
        assert_ne!(
            view["status"], "published",
            "published before the kill: {view}"
        );
        assert_ne!(view["status"], "rejected", "{view}");
        assert!(
            Instant::now() < deadline,
            "Persist never seen running: {view}"
        );
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(before["status"], "scanning", "{before}");

    server.kill9();
    server.restart_with_env(&[PLAIN_LOG]).await;

    let view = wait_settled(&server, &id, SETTLE).await;
    assert_eq!(view["status"], "published", "{view}");
    assert_eq!(view["execution"]["id"], id.as_str(), "{view}");
    // The restart resumed the step left running: one record per state, all succeeded.
    published_steps(&view);
    assert_eq!(
        view["execution"]["steps"][2]["started_at"], before["execution"]["steps"][2]["started_at"],
        "the resumed Persist step is the one that was running"
    );
    assert_eq!(
        log_lines(&server, &["resuming execution", &id]).len(),
        1,
        "the restart resumed the execution:\n{}",
        log_tail(&server)
    );
    assert_eq!(
        log_lines(&server, &["execution ended", &id]).len(),
        1,
        "one execution end for {id}"
    );

    let version = server
        .get_ok(&format!(
            "/v1/repositories/{REPO}/packages/crashy/versions/1.0.0"
        ))
        .await;
    let files = version["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "file listed once: {version}");
    assert_eq!(files[0]["sha256"], sha256_hex(&bytes).as_str());
    let got = server.download(REPO, "crashy", "1.0.0", "f.bin").await;
    assert!(got == bytes, "downloaded bytes differ");
    assert!(
        !server.blob_path("incoming", &id).exists(),
        "the incoming object outlived the publish"
    );

    // And it stays the one outcome.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = server.upload_status(REPO, &id).await;
    assert_eq!(later["status"], "published", "{later}");
    assert_eq!(later["execution"], view["execution"], "execution changed");
}

/// A step whose infrastructure keeps failing outlives its retries: the execution ends
/// `Unfinished` and the upload stays open, neither quarantined nor published. Once the
/// fault is gone, recovery (the next start of `trove serve` here; the hourly cleanup
/// too) gives the upload a new execution, `<upload>-r2`, which publishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unfinished_execution_is_followed_by_a_new_one_that_publishes() {
    // Validate's first attempt and its four retries fail.
    let mut server =
        TestServer::start_with_env(&[("TROVE_FAULTS", "Validate=fail:5"), PLAIN_LOG]).await;
    server.create_repo(REPO).await;
    let bytes = pseudo_random_bytes(64, 10_000);
    let ticket = server
        .request_upload(REPO, "stuck", "1.0.0", "s.bin", &bytes)
        .await;
    let put = server.put_ticket(&ticket, bytes.clone()).await;
    assert!(put.status().is_success(), "PUT: {}", put.status());
    let id = upload_id(&ticket);

    let deadline = Instant::now() + SETTLE;
    let failed = loop {
        let view = server.upload_status(REPO, &id).await;
        if view["execution"]["status"] == "FAILED" {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "the execution did not end within {SETTLE:?}: {view}\n{}",
            log_tail(&server)
        );
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(failed["status"], "scanning", "left open: {failed}");
    let validate = &failed["execution"]["steps"][1];
    assert_eq!(validate["state"], "Validate", "{failed}");
    assert!(
        validate["error"]
            .as_str()
            .is_some_and(|e| e.contains("Trove.Retryable")),
        "{failed}"
    );

    server.restart_with_env(&[PLAIN_LOG]).await;
    let deadline = Instant::now() + SETTLE;
    // Published by Persist's transaction, then the execution records its end: wait for both.
    let view = loop {
        let view = server.upload_status(REPO, &id).await;
        if view["status"] == "published" && view["execution"]["status"] != "RUNNING" {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "not published within {SETTLE:?} of the restart: {view}\n{}",
            log_tail(&server)
        );
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(
        view["execution"]["id"],
        format!("{id}-r2"),
        "the new execution is the one shown: {view}"
    );
    assert_eq!(view["execution"]["status"], "SUCCEEDED", "{view}");
    assert!(
        server.download(REPO, "stuck", "1.0.0", "s.bin").await == bytes,
        "the published bytes are the uploaded ones"
    );
}
