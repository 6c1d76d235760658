//! Write-once under contention: many concurrent uploads of one (package, version, filename).

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use trove_testkit::seed::test_seed;

use crate::harness::{Rng, TestServer, assert_problem, pseudo_random_bytes, sha256_hex};

const CONTENDERS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_of_one_file_exactly_one_wins() {
    let mut rng = Rng::new(test_seed("concurrent_uploads_of_one_file_exactly_one_wins"));
    let server = TestServer::start().await;
    server.create_repo("race").await;

    let bodies: Vec<Vec<u8>> = (0..CONTENDERS)
        .map(|_| pseudo_random_bytes(rng.next_u64(), 2000 + rng.below(4000)))
        .collect();

    // All upload requests at once.
    let requests = bodies.iter().map(|body| {
        let server = &server;
        async move {
            server
                .request_upload_raw("race", "contested", "1.0.0", "the-file.bin", body)
                .await
        }
    });
    let mut tickets: Vec<(usize, Value)> = Vec::new();
    let mut conflicts = 0;
    for (i, resp) in join_all(requests).await.into_iter().enumerate() {
        match resp.status() {
            StatusCode::CREATED => {
                let ticket: Value = resp.json().await.expect("ticket JSON");
                tickets.push((i, ticket));
            }
            StatusCode::CONFLICT => {
                assert_problem(resp, &[409], "conflicting upload request").await;
                conflicts += 1;
            }
            other => panic!(
                "upload request {i}: unexpected {other}: {}",
                resp.text().await.unwrap_or_default()
            ),
        }
    }
    assert!(!tickets.is_empty(), "every upload request was refused");

    // All PUTs at once, started in an order of the seed's choosing.
    rng.shuffle(&mut tickets);
    let puts = tickets.iter().map(|(i, ticket)| {
        let server = &server;
        let body = bodies[*i].clone();
        async move { server.put_ticket(ticket, body).await.status() }
    });
    let put_statuses = join_all(puts).await;

    // Every accepted PUT ends published or rejected; exactly one is published.
    let finals = tickets.iter().zip(&put_statuses).map(|((i, ticket), put)| {
        let server = &server;
        async move {
            let id = ticket["upload_id"].as_str().expect("upload_id");
            let status = if put.is_success() {
                server.wait_upload("race", id).await
            } else {
                assert!(
                    put.is_client_error(),
                    "PUT {i} answered {put}, neither 2xx nor 4xx"
                );
                server.upload_status("race", id).await
            };
            (*i, *put, status)
        }
    });
    let finals = join_all(finals).await;

    let winners: Vec<usize> = finals
        .iter()
        .filter(|(_, _, s)| s["status"] == "published")
        .map(|(i, _, _)| *i)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "published uploads: {winners:?} ({} tickets, {conflicts} conflicts at request time)",
        tickets.len()
    );
    for (i, put, status) in &finals {
        let state = status["status"].as_str().unwrap_or("");
        if put.is_success() {
            assert!(
                state == "published" || state == "rejected",
                "upload {i} (PUT {put}) ended {status}"
            );
        } else {
            assert_ne!(state, "published", "upload {i} published without a PUT");
        }
    }
    let rejected = finals
        .iter()
        .filter(|(_, _, s)| s["status"] == "rejected")
        .count();
    eprintln!(
        "race: {} tickets, {conflicts} conflicts at request time, {rejected} rejected, winner {:?}",
        tickets.len(),
        winners
    );
    let winner = winners[0];

    // The stored file is the winner's, and only it.
    let version = server
        .get_ok("/v1/repositories/race/packages/contested/versions/1.0.0")
        .await;
    let files = version["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "one file in the version: {version}");
    assert_eq!(files[0]["sha256"], sha256_hex(&bodies[winner]).as_str());
    assert_eq!(files[0]["size"].as_u64(), Some(bodies[winner].len() as u64));
    let got = server
        .download("race", "contested", "1.0.0", "the-file.bin")
        .await;
    assert!(
        got == bodies[winner],
        "downloaded bytes are not the winner's"
    );

    // And now the file is closed for good.
    let resp = server
        .request_upload_raw("race", "contested", "1.0.0", "the-file.bin", b"late")
        .await;
    assert_problem(resp, &[409], "upload after the race").await;
}
