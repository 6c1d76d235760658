//! Crash safety: `kill -9` while PUTs stream and the pipeline runs, restart on the same data
//! dir, and nothing is half-published, lost or corrupted.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::header::CONTENT_LENGTH;
use reqwest::{Body, StatusCode};
use serde_json::Value;

use crate::harness::{TestServer, pseudo_random_bytes, sha256_hex, ticket_headers};

struct Attempt {
    package: String,
    bytes: Vec<u8>,
    ticket: Value,
    /// The PUT answered 2xx before the kill: the bytes were accepted.
    acknowledged: bool,
}

/// A PUT whose body trickles in, so the kill lands mid-transfer.
async fn slow_put(
    client: reqwest::Client,
    url: reqwest::Url,
    ticket: Value,
    bytes: Vec<u8>,
) -> bool {
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
    matches!(result, Ok(resp) if resp.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_during_uploads_loses_nothing_and_publishes_nothing_broken() {
    let mut server = TestServer::start().await;
    server.create_repo("crash").await;
    let token_before = server.token.clone();

    // Published before the crash.
    let mut before = Vec::new();
    for i in 0..3 {
        let bytes = pseudo_random_bytes(300 + i, 10_000 + i as usize);
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
            let bytes = pseudo_random_bytes(400 + attempts.len() as u64, size + i);
            let ticket = server
                .request_upload("crash", &package, "1.0.0", "f.bin", &bytes)
                .await;
            attempts.push(Attempt {
                package,
                bytes,
                ticket,
                acknowledged: false,
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
            "fast PUT {i} before the kill: {status}"
        );
        attempts[i].acknowledged = true;
    }
    for (i, task) in slow {
        let acknowledged = task.await.expect("slow PUT task did not panic");
        attempts[i].acknowledged = acknowledged;
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

    // In-flight uploads: acknowledged ones finish; others settle; none is published broken.
    let settle = Duration::from_secs(5);
    let outcomes = join_all(attempts.iter().map(|a| {
        let server = &server;
        async move {
            let id = a.ticket["upload_id"].as_str().expect("upload_id");
            if a.acknowledged {
                return server.wait_upload("crash", id).await;
            }
            let deadline = Instant::now() + settle;
            loop {
                let status = server.upload_status("crash", id).await;
                let done = matches!(status["status"].as_str(), Some("published" | "rejected"));
                if done || Instant::now() > deadline {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }))
    .await;

    let mut published = 0;
    for (a, status) in attempts.iter().zip(&outcomes) {
        let state = status["status"].as_str().unwrap_or("");
        let path = format!(
            "/v1/repositories/crash/packages/{}/versions/1.0.0",
            a.package
        );
        match state {
            "published" => {
                published += 1;
                let version = server.get_ok(&path).await;
                let file = &version["files"][0];
                assert_eq!(
                    file["sha256"],
                    sha256_hex(&a.bytes).as_str(),
                    "{}",
                    a.package
                );
                assert_eq!(file["size"].as_u64(), Some(a.bytes.len() as u64));
                let got = server.download("crash", &a.package, "1.0.0", "f.bin").await;
                assert!(
                    got == a.bytes,
                    "{}: published bytes are not the uploaded ones",
                    a.package
                );
            }
            "rejected" => {
                let (code, _) = server.get_json(&path).await;
                assert_eq!(
                    code,
                    StatusCode::NOT_FOUND,
                    "{}: rejected but visible",
                    a.package
                );
            }
            "pending" => {
                assert!(
                    !a.acknowledged,
                    "{}: PUT was acknowledged before the kill, still pending after restart",
                    a.package
                );
                let (code, _) = server.get_json(&path).await;
                assert_eq!(
                    code,
                    StatusCode::NOT_FOUND,
                    "{}: pending but visible",
                    a.package
                );
                let (code, _) = server
                    .get_json(&format!("{path}/files/f.bin?redirect=false"))
                    .await;
                assert_eq!(
                    code,
                    StatusCode::NOT_FOUND,
                    "{}: pending but downloadable",
                    a.package
                );
            }
            other => panic!(
                "{}: status {other:?} after restart (acknowledged: {}): {status}",
                a.package, a.acknowledged
            ),
        }
    }
    let summary: Vec<String> = attempts
        .iter()
        .zip(&outcomes)
        .map(|(a, s)| {
            let ack = if a.acknowledged { "ack" } else { "unacked" };
            format!(
                "{}:{ack}:{}",
                a.package,
                s["status"].as_str().unwrap_or("?")
            )
        })
        .collect();
    eprintln!("crash outcomes: {summary:?}");
    for line in server.log().lines().filter(|l| l.contains("unfinished")) {
        eprintln!("server: {line}");
    }
    let acknowledged = attempts.iter().filter(|a| a.acknowledged).count();
    assert!(
        published >= acknowledged.min(1),
        "no acknowledged upload was published after restart"
    );

    // The restarted server still takes new work.
    server
        .publish("crash", "after", "1.0.0", "f.bin", b"after the crash")
        .await;
    let got = server.download("crash", "after", "1.0.0", "f.bin").await;
    assert_eq!(got, b"after the crash");
}
