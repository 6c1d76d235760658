//! Crash safety: `kill -9` while PUTs stream and the pipeline runs, restart on the same data
//! dir, and nothing is half-published, lost or corrupted: every upload whose PUT was
//! acknowledged before the kill ends published.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::header::CONTENT_LENGTH;
use reqwest::{Body, StatusCode};
use serde_json::Value;
use trove_testkit::seed::test_seed;

use crate::harness::{Rng, TestServer, pseudo_random_bytes, sha256_hex, ticket_headers};

/// How long the uploads may take to settle after the restart before the test calls them
/// stuck: a hang guard for a busy machine, not a speed claim.
const SETTLE_BOUND: Duration = Duration::from_secs(120);

struct Attempt {
    package: String,
    bytes: Vec<u8>,
    ticket: Value,
    /// How the PUT ended, as the client saw it.
    put: PutOutcome,
}

enum PutOutcome {
    /// Not sent: the upload was only requested.
    NotSent,
    /// Answered with this status.
    Answered(StatusCode),
    /// The connection broke before an answer (the kill).
    Broken(String),
}

impl std::fmt::Display for PutOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PutOutcome::NotSent => f.write_str("not sent"),
            PutOutcome::Answered(status) => write!(f, "answered {status}"),
            PutOutcome::Broken(error) => write!(f, "broken ({error})"),
        }
    }
}

impl PutOutcome {
    /// The server took the bytes: a 2xx came back before the kill.
    fn acknowledged(&self) -> bool {
        matches!(self, PutOutcome::Answered(status) if status.is_success())
    }
}

impl Attempt {
    fn upload_id(&self) -> &str {
        self.ticket["upload_id"].as_str().expect("ticket upload_id")
    }
}

/// A PUT whose body trickles in, so the kill lands mid-transfer.
async fn slow_put(
    client: reqwest::Client,
    url: reqwest::Url,
    ticket: Value,
    bytes: Vec<u8>,
) -> PutOutcome {
    let len = bytes.len();
    let chunks: Vec<Vec<u8>> = bytes.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    let stream = futures::stream::unfold(chunks.into_iter(), |mut it| async move {
        let chunk = it.next()?;
        tokio::time::sleep(Duration::from_millis(40)).await;
        Some((Ok::<_, std::io::Error>(chunk), it))
    });
    let result = client
        .put(url)
        .headers(ticket_headers(&ticket, false))
        .header(CONTENT_LENGTH, len)
        .body(Body::wrap_stream(stream))
        .send()
        .await;
    match result {
        Ok(resp) => PutOutcome::Answered(resp.status()),
        Err(e) => PutOutcome::Broken(e.without_url().to_string()),
    }
}

/// Whether the upload's view is final for this attempt. Published and rejected are; an
/// acknowledged upload must get there. One whose PUT was not acknowledged may also stay
/// pending for good, once nothing can move it: no bytes landed under `incoming/` (the
/// restart reconciles those that did) and no execution runs.
fn settled(server: &TestServer, attempt: &Attempt, view: &Value) -> bool {
    match view["status"].as_str() {
        Some("published" | "rejected") => true,
        Some("pending") if !attempt.put.acknowledged() => {
            view["execution"].is_null()
                && !server.blob_path("incoming", attempt.upload_id()).exists()
        }
        _ => false,
    }
}

/// Polls the status route until the attempt has settled (see `settled`) or `SETTLE_BOUND`
/// has passed; returns the last view either way, for the assertions to name.
async fn settle(server: &TestServer, attempt: &Attempt) -> Value {
    let deadline = Instant::now() + SETTLE_BOUND;
    loop {
        let view = server.upload_status("crash", attempt.upload_id()).await;
        if settled(server, attempt, &view) || Instant::now() > deadline {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A published upload serves exactly the bytes that were uploaded.
async fn assert_published_intact(server: &TestServer, attempt: &Attempt) {
    let path = format!(
        "/v1/repositories/crash/packages/{}/versions/1.0.0",
        attempt.package
    );
    let version = server.get_ok(&path).await;
    let file = &version["files"][0];
    assert_eq!(
        file["sha256"],
        sha256_hex(&attempt.bytes).as_str(),
        "{}: {version}",
        attempt.package
    );
    assert_eq!(
        file["size"].as_u64(),
        Some(attempt.bytes.len() as u64),
        "{}: {version}",
        attempt.package
    );
    let got = server
        .download("crash", &attempt.package, "1.0.0", "f.bin")
        .await;
    assert!(
        got == attempt.bytes,
        "{}: published bytes are not the uploaded ones",
        attempt.package
    );
}

/// An upload that did not publish leaves no version to read and no file to download.
async fn assert_invisible(server: &TestServer, attempt: &Attempt, state: &str) {
    let path = format!(
        "/v1/repositories/crash/packages/{}/versions/1.0.0",
        attempt.package
    );
    let (code, body) = server.get_json(&path).await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "{}: {state} but visible: {body}",
        attempt.package
    );
    let (code, body) = server
        .get_json(&format!("{path}/files/f.bin?redirect=false"))
        .await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "{}: {state} but downloadable: {body}",
        attempt.package
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_during_uploads_loses_no_acknowledged_upload_and_publishes_nothing_broken() {
    let mut rng = Rng::new(test_seed(
        "kill9_during_uploads_loses_no_acknowledged_upload_and_publishes_nothing_broken",
    ));
    let mut server = TestServer::start().await;
    server.create_repo("crash").await;
    let token_before = server.token.clone();

    // Published before the crash.
    let mut before = Vec::new();
    for i in 0..3 {
        let bytes = pseudo_random_bytes(rng.next_u64(), 10_000 + rng.below(1000));
        let package = format!("before-{i}");
        server
            .publish("crash", &package, "1.0.0", "f.bin", &bytes)
            .await;
        before.push((package, bytes));
    }

    // In flight at the crash: slow PUTs (mid-body), fast PUTs (pipeline running), no PUT.
    let mut attempts = Vec::new();
    for (kind, count, size) in [
        ("slow", 4, 2 << 20),
        ("fast", 8, 256 << 10),
        ("idle", 2, 1000),
    ] {
        for i in 0..count {
            let package = format!("{kind}-{i}");
            let bytes = pseudo_random_bytes(rng.next_u64(), size + rng.below(4096));
            let ticket = server
                .request_upload("crash", &package, "1.0.0", "f.bin", &bytes)
                .await;
            attempts.push(Attempt {
                package,
                bytes,
                ticket,
                put: PutOutcome::NotSent,
            });
        }
    }

    let slow: Vec<_> = attempts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.package.starts_with("slow-"))
        .map(|(i, a)| {
            let url = server.resolve(a.ticket["url"].as_str().expect("url"));
            let task = tokio::spawn(slow_put(
                server.client.clone(),
                url,
                a.ticket.clone(),
                a.bytes.clone(),
            ));
            (i, task)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let fast_idx: Vec<usize> = attempts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.package.starts_with("fast-"))
        .map(|(i, _)| i)
        .collect();
    let fast = join_all(fast_idx.iter().map(|&i| {
        let a = &attempts[i];
        let server = &server;
        async move { server.put_ticket(&a.ticket, a.bytes.clone()).await.status() }
    }))
    .await;

    server.kill9();

    for (&i, status) in fast_idx.iter().zip(&fast) {
        assert!(
            status.is_success(),
            "{}: fast PUT before the kill answered {status}",
            attempts[i].package
        );
        attempts[i].put = PutOutcome::Answered(*status);
    }
    for (i, task) in slow {
        attempts[i].put = task.await.expect("slow PUT task did not panic");
    }

    server.restart().await;
    assert_eq!(
        server.token, token_before,
        "the admin key changed across restart"
    );

    // Everything published before the crash is intact.
    for (package, bytes) in &before {
        let version = server
            .get_ok(&format!(
                "/v1/repositories/crash/packages/{package}/versions/1.0.0"
            ))
            .await;
        assert_eq!(
            version["status"], "published",
            "{package} after restart: {version}"
        );
        let got = server.download("crash", package, "1.0.0", "f.bin").await;
        assert!(got == *bytes, "{package}: bytes changed across the crash");
    }

    let outcomes = join_all(attempts.iter().map(|a| settle(&server, a))).await;
    let summary: Vec<String> = attempts
        .iter()
        .zip(&outcomes)
        .map(|(a, view)| {
            format!(
                "{}: PUT {} -> {}",
                a.package,
                a.put,
                view["status"].as_str().unwrap_or("?")
            )
        })
        .collect();
    eprintln!("crash outcomes: {summary:#?}");
    for line in server.log().lines().filter(|l| l.contains("unfinished")) {
        eprintln!("server: {line}");
    }

    for (a, view) in attempts.iter().zip(&outcomes) {
        assert!(
            settled(&server, a, view),
            "{} (upload {}, PUT {}) did not settle within {SETTLE_BOUND:?} of the \
             restart: {view}",
            a.package,
            a.upload_id(),
            a.put
        );
        let state = view["status"].as_str().unwrap_or("");
        // The bytes match their declaration and hold nothing a scan refuses: an accepted
        // PUT of them has no reason to end anything but published.
        if a.put.acknowledged() {
            assert_eq!(
                state,
                "published",
                "{} (upload {}): its PUT was acknowledged before the kill, yet after the \
                 restart it is {state}: {view}",
                a.package,
                a.upload_id()
            );
        }
        match state {
            "published" => assert_published_intact(&server, a).await,
            "rejected" | "pending" => assert_invisible(&server, a, state).await,
            other => panic!("{}: status {other:?} after restart: {view}", a.package),
        }
    }

    // The restarted server still takes new work.
    server
        .publish("crash", "after", "1.0.0", "f.bin", b"after the crash")
        .await;
    let got = server.download("crash", "after", "1.0.0", "f.bin").await;
    assert_eq!(got, b"after the crash");
}
