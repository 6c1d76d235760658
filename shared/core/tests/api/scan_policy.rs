//! `PUT /v1/repositories/{repo}/scan-policy`: the repository's archive limits, checked,
//! applied by the Scan step, and shown on the upload and on the published file.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::app::TestApp;
use trove_testkit::archives::noise::tar_gz_of_noise;

const MIB: u64 = 1024 * 1024;

/// An app with repository `big` of 1 MiB files.
async fn app() -> TestApp {
    let app = TestApp::new().await;
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(json!({"name": "big", "format": "generic", "max_file_size": MIB})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app
}

async fn put_policy(app: &TestApp, policy: Value) -> (StatusCode, String, Value) {
    app.call(
        Method::PUT,
        "/v1/repositories/big/scan-policy",
        Some(&app.admin),
        Some(policy),
    )
    .await
}

/// 512 KiB of incompressible data in a `.tar.gz`: it expands about 1:1.
fn archive() -> Vec<u8> {
    tar_gz_of_noise(Vec::new(), "data.bin", MIB / 2, 11).expect("tar.gz")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scan_policy_is_set_checked_and_shown_on_the_repository() {
    let app = app().await;
    let (status, _, repo) = app
        .call(Method::GET, "/v1/repositories/big", Some(&app.admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(repo.get("scan_policy").is_none(), "defaults: {repo}");

    let policy = json!({"max_expanded_bytes": 1 << 30, "max_ratio": 50, "max_entries": 500,
        "max_depth": 2, "oversize": "partial"});
    let (status, _, repo) = put_policy(&app, policy.clone()).await;
    assert_eq!(status, StatusCode::OK, "{repo}");
    assert_eq!(repo["scan_policy"], policy);
    let (_, _, repo) = app
        .call(Method::GET, "/v1/repositories/big", Some(&app.admin), None)
        .await;
    assert_eq!(repo["scan_policy"], policy);

    for (bad, field) in [
        (json!({"max_ratio": 0}), "scan_policy.max_ratio"),
        (json!({"max_depth": 17}), "scan_policy.max_depth"),
        (json!({"max_entries": 0}), "scan_policy.max_entries"),
        (
            json!({"max_expanded_bytes": 1u64 << 50}),
            "scan_policy.max_expanded_bytes",
        ),
    ] {
        let (status, ctype, body) = put_policy(&app, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(ctype, "application/problem+json");
        assert!(
            body["detail"].as_str().unwrap_or("").contains(field),
            "{body}"
        );
    }
    for bad in [
        json!({"oversize": "ignore"}),
        json!({"max_ratio": -1}),
        json!({"max_bytes": 5}),
    ] {
        let (status, ctype, body) = put_policy(&app, bad.clone()).await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
        assert_eq!(ctype, "application/problem+json");
    }
    // An empty policy restores the defaults.
    let (status, _, repo) = put_policy(&app, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(repo.get("scan_policy").is_none(), "{repo}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_big_archive_of_ordinary_data_publishes_under_the_default_policy() {
    let app = app().await;
    let upload = app
        .publish(&app.admin, "big", "data", "1.0.0", "data.tgz", &archive())
        .await;
    assert_eq!(upload["status"], "published", "{upload}");
    assert_eq!(upload["scan"]["status"], "complete", "{upload}");
    assert!(upload["scan"].get("limit").is_none(), "{upload}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lowered_cap_refuses_the_archive_with_a_reason_naming_the_setting() {
    let app = app().await;
    let (status, _, _) = put_policy(&app, json!({"max_expanded_bytes": 65536})).await;
    assert_eq!(status, StatusCode::OK);
    let upload = app
        .publish(&app.admin, "big", "data", "1.0.0", "data.tgz", &archive())
        .await;
    assert_eq!(upload["status"], "rejected", "{upload}");
    let reason = upload["reason"].as_str().expect("reason");
    for part in [
        "archive too large to scan: data.tgz expands past 64.0 KiB",
        "max_expanded_bytes = 65536 bytes",
        "PUT /v1/repositories/big/scan-policy",
        "\"oversize\": \"partial\"",
    ] {
        assert!(reason.contains(part), "{part:?} not in {reason}");
    }
    assert_eq!(upload["scan"]["status"], "refused", "{upload}");
    assert_eq!(
        upload["scan"]["limit"]["setting"], "max_expanded_bytes",
        "{upload}"
    );
    assert_eq!(upload["scan"]["limit"]["value"], 65536);
    assert_eq!(upload["scan"]["limit"]["reason"], reason);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_scan_is_shown_on_the_upload_and_on_the_published_file() {
    let app = app().await;
    let (status, _, _) = put_policy(
        &app,
        json!({"max_expanded_bytes": 65536, "oversize": "partial"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let upload = app
        .publish(&app.admin, "big", "data", "1.0.0", "data.tgz", &archive())
        .await;
    assert_eq!(upload["status"], "published", "{upload}");
    assert_eq!(upload["scan"]["status"], "partial", "{upload}");
    assert_eq!(upload["scan"]["limit"]["setting"], "max_expanded_bytes");
    let reason = upload["scan"]["limit"]["reason"].as_str().expect("reason");
    assert!(reason.contains("published with a partial scan"), "{reason}");
    assert!(
        reason.contains("max_expanded_bytes = 65536 bytes"),
        "{reason}"
    );

    let (status, _, version) = app
        .call(
            Method::GET,
            "/v1/repositories/big/packages/data/versions/1.0.0",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{version}");
    assert_eq!(
        version["files"][0]["scan"]["status"], "partial",
        "{version}"
    );
    assert_eq!(
        version["files"][0]["scan"]["limit"]["setting"],
        "max_expanded_bytes"
    );
}
