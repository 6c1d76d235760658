//! Uploads in parts over the embedded host: URLs a batch at a time, parts in any order,
//! completion checked against the layout, the pipeline on the joined file, cancel, expiry,
//! rights, and every refusal of a bad layout.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;

use crate::app::TestApp;
use crate::pypi::granted;
use trove_core::config::Settings;
use trove_core::jobs::cleanup::{self, CleanupOptions};
use trove_core::ports::clock::ShiftedClock;

const MIB: usize = 1024 * 1024;
const PART: usize = 5 * MIB;
const UPLOADS: &str = "/v1/repositories/big/uploads";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Two whole parts and a short last one, bytes that differ at every offset.
fn file() -> Vec<u8> {
    (0..2 * PART + 1234)
        .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
        .collect()
}

fn part(bytes: &[u8], number: usize) -> &[u8] {
    let start = (number - 1) * PART;
    &bytes[start..(start + PART).min(bytes.len())]
}

fn asks(bytes: &[u8], numbers: &[usize]) -> Value {
    Value::Array(
        numbers
            .iter()
            .map(|n| json!({"number": n, "sha256": sha(part(bytes, *n))}))
            .collect(),
    )
}

async fn app() -> TestApp {
    let app = TestApp::new().await;
    app.create_repository("big").await;
    app
}

async fn start(app: &TestApp, key: &str, bytes: &[u8], numbers: &[usize]) -> Value {
    let (status, _, ticket) = app
        .call(
            Method::POST,
            UPLOADS,
            Some(key),
            Some(json!({
                "package": "model", "version": "1.0.0", "filename": "model.bin",
                "size": bytes.len(), "sha256": sha(bytes), "part_size": PART,
                "parts": asks(bytes, numbers),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    ticket
}

/// PUTs one part to its URL with exactly its headers; the status storage answers.
async fn put_part(app: &TestApp, ticket: &Value, bytes: &[u8]) -> StatusCode {
    assert_eq!(ticket["method"], "PUT");
    let url = ticket["url"].as_str().expect("url");
    let path = url.strip_prefix("http://trove.test").expect("our base url");
    let mut put = Request::builder().method(Method::PUT).uri(path);
    for (name, value) in ticket["headers"].as_object().expect("headers") {
        put = put.header(name.as_str(), value.as_str().expect("header value"));
    }
    let res = app
        .router
        .clone()
        .oneshot(put.body(Body::from(bytes.to_vec())).expect("request"))
        .await
        .expect("infallible");
    res.status()
}

async fn more_parts(app: &TestApp, key: &str, id: &str, asked: Value) -> (StatusCode, Value) {
    let (status, _, body) = app
        .call(
            Method::POST,
            &format!("{UPLOADS}/{id}/parts"),
            Some(key),
            Some(json!({ "parts": asked })),
        )
        .await;
    (status, body)
}

async fn complete(app: &TestApp, key: &str, id: &str) -> (StatusCode, Value) {
    let (status, _, body) = app
        .call(
            Method::POST,
            &format!("{UPLOADS}/{id}/complete"),
            Some(key),
            None,
        )
        .await;
    (status, body)
}

async fn upload(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, _, body) = app
        .call(Method::GET, &format!("{UPLOADS}/{id}"), Some(key), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn settled(app: &TestApp, key: &str, id: &str) -> Value {
    for _ in 0..400 {
        let view = upload(app, key, id).await;
        if view["status"] != "pending" && view["status"] != "scanning" {
            return view;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("upload {id} never settled");
}

/// The stored file's bytes, through its download link.
async fn download(app: &TestApp, key: &str) -> Vec<u8> {
    let (status, _, link) = app
        .call(
            Method::GET,
            "/v1/repositories/big/packages/model/versions/1.0.0/files/model.bin?redirect=false",
            Some(key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let url = link["url"].as_str().expect("url");
    let path = url.strip_prefix("http://trove.test").expect("our base url");
    let res = app
        .router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    res.into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec()
}

fn part_tickets(body: &Value) -> Vec<Value> {
    body["parts"].as_array().expect("parts").clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_in_parts_is_published_like_any_upload() {
    let app = app().await;
    let key = app.admin.clone();
    let bytes = file();
    let ticket = start(&app, &key, &bytes, &[2]).await;
    assert!(ticket.get("url").is_none(), "{ticket}");
    assert_eq!(ticket["multipart"]["part_size"], PART);
    assert_eq!(ticket["multipart"]["part_count"], 3);
    let id = ticket["upload_id"].as_str().expect("id").to_owned();
    let first = part_tickets(&ticket["multipart"]);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["number"], 2);
    assert_eq!(first[0]["headers"]["content-length"], PART.to_string());

    let view = upload(&app, &key, &id).await;
    assert_eq!(view["status"], "pending");
    assert_eq!(view["multipart"]["completed"], false);
    assert_eq!(view["multipart"]["parts"], json!([]));

    // Out of order, and the rest asked for as the client goes.
    assert!(
        put_part(&app, &first[0], part(&bytes, 2))
            .await
            .is_success()
    );
    let (status, rest) = more_parts(&app, &key, &id, asks(&bytes, &[3, 1])).await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    for t in part_tickets(&rest) {
        let n = t["number"].as_u64().expect("number") as usize;
        assert!(put_part(&app, &t, part(&bytes, n)).await.is_success());
    }
    let view = upload(&app, &key, &id).await;
    let stored: Vec<(u64, u64, String)> = view["multipart"]["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| {
            (
                p["number"].as_u64().expect("n"),
                p["size"].as_u64().expect("size"),
                p["sha256"].as_str().expect("sha").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        stored,
        [1, 2, 3]
            .map(|n| (n as u64, part(&bytes, n).len() as u64, sha(part(&bytes, n))))
            .to_vec()
    );

    let (status, body) = complete(&app, &key, &id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let done = settled(&app, &key, &id).await;
    assert_eq!(done["status"], "published", "{done}");
    assert_eq!(done["multipart"]["completed"], true);
    assert_eq!(download(&app, &key).await, bytes);

    // A retried completion answers the upload as it is; its parts can no longer change.
    let (status, again) = complete(&app, &key, &id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["status"], "published");
    let (status, body) = more_parts(&app, &key, &id, asks(&bytes, &[1])).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (_, _, audit) = app
        .call(
            Method::GET,
            "/v1/audit?action=upload.complete",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        audit["items"][0]["target"], "upload/big/model/1.0.0/model.bin",
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn completion_names_the_missing_parts_and_a_resend_replaces_a_part() {
    let app = app().await;
    let key = app.admin.clone();
    let bytes = file();
    let ticket = start(&app, &key, &bytes, &[1, 2, 3]).await;
    let id = ticket["upload_id"].as_str().expect("id").to_owned();
    let tickets = part_tickets(&ticket["multipart"]);
    assert!(
        put_part(&app, &tickets[0], part(&bytes, 1))
            .await
            .is_success()
    );
    assert!(
        put_part(&app, &tickets[2], part(&bytes, 3))
            .await
            .is_success()
    );

    let (status, body) = complete(&app, &key, &id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let detail = body["detail"].as_str().expect("detail");
    assert!(detail.contains("parts missing: 2 (of 3)"), "{detail}");
    assert_eq!(upload(&app, &key, &id).await["status"], "pending");

    // Bytes that are not the part's are refused by storage itself.
    assert_eq!(
        put_part(&app, &tickets[1], part(&bytes, 1)).await,
        StatusCode::BAD_REQUEST
    );
    // Part 1 sent again, garbled but self-consistent: storage takes it, replacing the
    // first copy, and Validate refuses the joined file against the declared SHA-256.
    let mut garbled = part(&bytes, 1).to_vec();
    garbled[7] ^= 0xff;
    let again = json!([{"number": 1, "sha256": sha(&garbled)}]);
    let (status, reissued) = more_parts(&app, &key, &id, again).await;
    assert_eq!(status, StatusCode::OK, "{reissued}");
    assert!(
        put_part(&app, &part_tickets(&reissued)[0], &garbled)
            .await
            .is_success()
    );
    assert!(
        put_part(&app, &tickets[1], part(&bytes, 2))
            .await
            .is_success()
    );
    let (status, body) = complete(&app, &key, &id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let done = settled(&app, &key, &id).await;
    assert_eq!(done["status"], "rejected", "{done}");
    let reason = done["reason"].as_str().expect("reason");
    assert!(reason.contains("checksum mismatch"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn layouts_storage_cannot_take_are_refused() {
    let app = app().await;
    let key = app.admin.clone();
    let sha = "ab".repeat(32);
    let body = |extra: Value| {
        let mut b = json!({"package": "model", "version": "1.0.0", "filename": "model.bin",
            "size": 3 * PART, "sha256": sha});
        for (k, v) in extra.as_object().expect("object") {
            b[k] = v.clone();
        }
        b
    };
    let part_ask = |n: u64| json!({"number": n, "sha256": "cd".repeat(32)});
    for (extra, needle) in [
        (json!({"part_size": PART - 1}), "part_size"),
        (json!({"part_size": 6u64 << 30}), "part_size"),
        (
            json!({"part_size": PART, "size": 10_001u64 * PART as u64}),
            "at most 10000",
        ),
        (json!({"part_size": PART, "size": 0}), "empty"),
        (json!({"parts": [part_ask(1)]}), "part_size"),
        (
            json!({"part_size": PART, "parts": [part_ask(4)]}),
            "outside 1 to 3",
        ),
        (
            json!({"part_size": PART, "parts": [part_ask(1), part_ask(1)]}),
            "twice",
        ),
        (
            json!({"part_size": PART, "parts": (1..=101).map(|_| part_ask(1)).collect::<Vec<_>>()}),
            "at most 100",
        ),
        (
            json!({"part_size": PART, "parts": [{"number": 1, "sha256": "nope"}]}),
            "64 hex",
        ),
        (json!({"size": 6u64 << 30}), "upload it in parts"),
    ] {
        let (status, _, answer) = app
            .call(Method::POST, UPLOADS, Some(&key), Some(body(extra.clone())))
            .await;
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{needle}: {detail}");
        assert!(detail.contains(needle), "{needle}: {detail}");
    }
    // Over the repository's limit: 413, as for one PUT.
    let (status, _, answer) = app
        .call(
            Method::POST,
            UPLOADS,
            Some(&key),
            Some(body(json!({"part_size": 1u64 << 30, "size": 6u64 << 30}))),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");

    // A single PUT has no parts to ask for or to complete.
    let (status, _, single) = app
        .request_upload(&key, "big", "model", "1.0.0", "model.bin", b"small")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{single}");
    let id = single["upload_id"].as_str().expect("id");
    let (status, _) = more_parts(&app, &key, id, json!([part_ask(1)])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = complete(&app, &key, id).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_may_take_files_up_to_five_tebibytes() {
    let app = TestApp::new().await;
    let create = |max: u64| json!({"name": format!("r{}", max % 1000), "format": "generic", "max_file_size": max});
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(create(5 << 40)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(create((5 << 40) + 1)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_writers_of_the_package_continue_an_upload() {
    let app = app().await;
    let bytes = file();
    let ticket = start(&app, &app.admin, &bytes, &[]).await;
    let id = ticket["upload_id"].as_str().expect("id").to_owned();
    let reader = granted(&app, "reader", "reader", json!({"repository": "big"})).await;
    let other_package = granted(
        &app,
        "elsewhere",
        "writer",
        json!({"repository": "big", "package": "other"}),
    )
    .await;
    let stranger = app.tenant_key("stranger").await;

    // A reader sees the upload and its parts but changes nothing.
    assert_eq!(upload(&app, &reader, &id).await["status"], "pending");
    for (who, expected) in [
        (&reader, StatusCode::FORBIDDEN),
        (&other_package, StatusCode::NOT_FOUND),
        (&stranger, StatusCode::NOT_FOUND),
    ] {
        let (status, body) = more_parts(&app, who, &id, asks(&bytes, &[1])).await;
        assert_eq!(status, expected, "parts: {body}");
        let (status, body) = complete(&app, who, &id).await;
        assert_eq!(status, expected, "complete: {body}");
        let (status, _, body) = app
            .call(Method::DELETE, &format!("{UPLOADS}/{id}"), Some(who), None)
            .await;
        assert_eq!(status, expected, "cancel: {body}");
    }
    assert_eq!(upload(&app, &app.admin, &id).await["status"], "pending");
    // A hostile id is a 404, never a storage path.
    let (status, _) = complete(&app, &app.admin, "..%2F..%2Fetc").await;
    assert!(status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_upload_takes_no_more_parts() {
    let app = app().await;
    let key = app.admin.clone();
    let bytes = file();
    let ticket = start(&app, &key, &bytes, &[1, 2]).await;
    let id = ticket["upload_id"].as_str().expect("id").to_owned();
    let tickets = part_tickets(&ticket["multipart"]);
    assert!(
        put_part(&app, &tickets[0], part(&bytes, 1))
            .await
            .is_success()
    );

    let (status, _, body) = app
        .call(Method::DELETE, &format!("{UPLOADS}/{id}"), Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let view = upload(&app, &key, &id).await;
    assert_eq!(view["status"], "cancelled");
    assert_eq!(view["multipart"]["completed"], false);
    // Storage dropped the upload: a URL issued before finds nothing to add to.
    assert_eq!(
        put_part(&app, &tickets[1], part(&bytes, 2)).await,
        StatusCode::NOT_FOUND
    );
    let (status, _) = more_parts(&app, &key, &id, asks(&bytes, &[3])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = complete(&app, &key, &id).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A published upload is not cancelled: its version is deleted instead.
    let published = app
        .publish(&key, "big", "small", "1.0.0", "small.txt", b"bytes")
        .await;
    assert_eq!(published["status"], "published");
    let published_id = published["upload_id"].as_str().expect("id");
    let (status, _, body) = app
        .call(
            Method::DELETE,
            &format!("{UPLOADS}/{published_id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (_, _, audit) = app
        .call(
            Method::GET,
            "/v1/audit?action=upload.cancel",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_not_completed_in_time_expires_and_its_parts_go() {
    let clock = Arc::new(ShiftedClock::default());
    let settings = Settings {
        multipart_upload_ttl: std::time::Duration::from_secs(3600),
        ..Settings::for_testing()
    };
    let app = TestApp::with_clock(settings, clock.clone()).await;
    app.create_repository("big").await;
    let key = app.admin.clone();
    let bytes = file();
    let ticket = start(&app, &key, &bytes, &[1]).await;
    let id = ticket["upload_id"].as_str().expect("id").to_owned();
    // Part URLs never outlive their upload.
    let part_expiry = ticket["multipart"]["parts"][0]["expires_at"].clone();
    assert!(part_expiry.as_str() <= ticket["expires_at"].as_str());
    assert!(
        put_part(
            &app,
            &part_tickets(&ticket["multipart"])[0],
            part(&bytes, 1)
        )
        .await
        .is_success()
    );

    clock.advance(time::Duration::hours(2));
    let (status, body) = more_parts(&app, &key, &id, asks(&bytes, &[2])).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("expired")
    );
    let (status, body) = complete(&app, &key, &id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let report = cleanup::run(&app.host.ctx, CleanupOptions::default())
        .await
        .expect("cleanup");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let view = upload(&app, &key, &id).await;
    assert_eq!(view["status"], "rejected");
    let reason = view["reason"].as_str().expect("reason");
    assert!(reason.contains("parts were not completed"), "{reason}");
    // The parts are gone from storage, not merely forgotten.
    let storage_id = trove_core::services::catalog::uploads::load(
        &app.host.ctx,
        &trove_core::domain::names::TenantName::parse("default").expect("tenant"),
        &trove_core::domain::keys::UploadId::parse(&id).expect("id"),
    )
    .await
    .expect("load")
    .and_then(|u| u.multipart)
    .expect("multipart")
    .storage_id;
    let listed = app
        .host
        .ctx
        .blobs
        .list_parts(
            &trove_core::domain::keys::BlobKey::incoming(
                &trove_core::domain::names::TenantName::parse("default").expect("tenant"),
                &trove_core::domain::keys::UploadId::parse(&id).expect("id"),
            ),
            &storage_id,
        )
        .await;
    assert!(
        matches!(listed, Err(trove_core::ports::BlobError::NotFound)),
        "{listed:?}"
    );
}
