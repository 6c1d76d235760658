//! Deleting a version: gone from listings and downloads, and its number is never reused.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{TestServer, assert_problem, pseudo_random_bytes};

fn listed_versions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("versions items")
        .iter()
        .map(|v| v["version"].as_str().expect("version").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleted_version_disappears_and_is_not_reused() {
    let server = TestServer::start().await;
    server.create_repo("del").await;
    let one = pseudo_random_bytes(5, 3000);
    let two = pseudo_random_bytes(6, 3000);
    server.publish("del", "pkg", "1.0.0", "a.bin", &one).await;
    server.publish("del", "pkg", "2.0.0", "a.bin", &two).await;
    // Same bytes as 1.0.0: content-addressed storage must not lose them with 1.0.0.
    server.publish("del", "twin", "1.0.0", "a.bin", &one).await;

    let before = server
        .get_ok("/v1/repositories/del/packages/pkg/versions")
        .await;
    let mut listed = listed_versions(&before);
    listed.sort();
    assert_eq!(listed, ["1.0.0", "2.0.0"], "before delete");

    let base = "/v1/repositories/del/packages/pkg/versions/1.0.0";
    let resp = server
        .api(Method::DELETE, base)
        .send()
        .await
        .expect("DELETE version");
    assert_eq!(
        resp.status(),
        StatusCode::NO_CONTENT,
        "DELETE answered: {}",
        resp.text().await.unwrap_or_default()
    );

    let after = server
        .get_ok("/v1/repositories/del/packages/pkg/versions")
        .await;
    assert_eq!(listed_versions(&after), ["2.0.0"], "after delete: {after}");

    for path in [
        base.to_owned(),
        format!("{base}/files/a.bin"),
        format!("{base}/files/a.bin?redirect=false"),
    ] {
        let resp = server
            .api(Method::GET, &path)
            .send()
            .await
            .expect("GET deleted");
        assert_problem(resp, &[404], &format!("GET {path} after delete")).await;
    }

    // The version number is burnt: same file and another file are both refused.
    for filename in ["a.bin", "b.bin"] {
        let resp = server
            .request_upload_raw("del", "pkg", "1.0.0", filename, &one)
            .await;
        assert_problem(
            resp,
            &[409],
            &format!("new upload of {filename} into the deleted version"),
        )
        .await;
    }

    // The other version is untouched.
    let got = server.download("del", "pkg", "2.0.0", "a.bin").await;
    assert!(got == two, "version 2.0.0 bytes changed");
    let got = server.download("del", "twin", "1.0.0", "a.bin").await;
    assert!(got == one, "a file with the deleted file's bytes was lost");

    // A version that never existed.
    let resp = server
        .api(
            Method::DELETE,
            "/v1/repositories/del/packages/pkg/versions/9.9.9",
        )
        .send()
        .await
        .expect("DELETE unknown version");
    assert_problem(resp, &[404], "DELETE of an unknown version").await;
}
