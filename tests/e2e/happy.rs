//! The happy path: repository, upload, publish, list, download, paginate.

use std::collections::BTreeSet;

use futures::future::join_all;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{
    TestServer, assert_problem, expect_json, header_str, pseudo_random_bytes, sha256_hex,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn happy_path_upload_publish_list_download() {
    let server = TestServer::start().await;

    // Repository: create, read back, list, duplicate.
    let repo = server.create_repo("happy").await;
    assert_eq!(repo["name"], "happy");
    assert_eq!(repo["format"], "generic");
    assert_eq!(repo["description"], "e2e happy");
    assert!(
        repo["max_file_size"].as_u64().is_some_and(|n| n > 0),
        "max_file_size is a positive integer: {repo}"
    );
    assert!(repo["created_at"].is_string(), "created_at: {repo}");

    let got = server.get_ok("/v1/repositories/happy").await;
    assert_eq!(got["name"], "happy");
    assert_eq!(got["format"], "generic");

    let listed = server.get_ok("/v1/repositories").await;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .expect("repository listing has items")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"happy"), "repository listed: {listed}");

    let dup = server
        .api(Method::POST, "/v1/repositories")
        .json(&json!({"name": "happy", "format": "generic"}))
        .send()
        .await
        .expect("POST duplicate repository");
    assert_problem(dup, &[409], "duplicate repository").await;

    // Upload: request, status pending, PUT, poll to published.
    let bytes = pseudo_random_bytes(1, 100_000);
    let sha = sha256_hex(&bytes);
    let ticket = server
        .request_upload("happy", "widget", "1.0.0", "widget-1.0.0.bin", &bytes)
        .await;
    let upload_id = ticket["upload_id"].as_str().expect("upload_id").to_owned();

    let before = server.upload_status("happy", &upload_id).await;
    assert_eq!(before["upload_id"], upload_id.as_str());
    assert_eq!(before["status"], "pending", "before the PUT: {before}");

    // A version is listed only once it has a published file.
    let (code, versions) = server
        .get_json("/v1/repositories/happy/packages/widget/versions")
        .await;
    if code == StatusCode::OK {
        let listed: Vec<&Value> = versions["items"]
            .as_array()
            .expect("versions items")
            .iter()
            .filter(|v| v["version"] == "1.0.0")
            .collect();
        assert!(
            listed.is_empty(),
            "version listed before its file was published: {versions}"
        );
    } else {
        assert_eq!(
            code,
            StatusCode::NOT_FOUND,
            "versions of an unpublished package"
        );
    }
    let (code, _) = server
        .get_json("/v1/repositories/happy/packages/widget/versions/1.0.0")
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "unpublished version GET");

    let put = server.put_ticket(&ticket, bytes.clone()).await;
    assert!(put.status().is_success(), "PUT answered {}", put.status());
    let done = server.wait_upload("happy", &upload_id).await;
    assert_eq!(done["status"], "published", "final upload status: {done}");

    // Package and version are listed with the file's size and sha256.
    let package = server
        .get_ok("/v1/repositories/happy/packages/widget")
        .await;
    assert_eq!(package["name"], "widget");

    let versions = server
        .get_ok("/v1/repositories/happy/packages/widget/versions")
        .await;
    let items = versions["items"].as_array().expect("versions items");
    assert_eq!(items.len(), 1, "one version: {versions}");
    assert_eq!(items[0]["version"], "1.0.0");
    assert_eq!(items[0]["status"], "published");

    let version = server
        .get_ok("/v1/repositories/happy/packages/widget/versions/1.0.0")
        .await;
    assert_eq!(version["version"], "1.0.0");
    assert_eq!(version["status"], "published");
    assert!(version["created_at"].is_string(), "created_at: {version}");
    assert!(version["updated_at"].is_string(), "updated_at: {version}");
    let files = version["files"].as_array().expect("version has files");
    assert_eq!(files.len(), 1, "one file: {version}");
    assert_eq!(files[0]["filename"], "widget-1.0.0.bin");
    assert_eq!(files[0]["size"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(files[0]["sha256"], sha.as_str());
    assert!(
        files[0]["created_at"].is_string(),
        "file created_at: {version}"
    );

    // Download through the 302: exact bytes.
    let downloaded = server
        .download("happy", "widget", "1.0.0", "widget-1.0.0.bin")
        .await;
    assert_eq!(downloaded.len(), bytes.len(), "downloaded length");
    assert!(
        downloaded == bytes,
        "downloaded bytes differ from the upload"
    );

    // redirect=false: JSON with the URL, size and sha256.
    let resp = server
        .api(
            Method::GET,
            "/v1/repositories/happy/packages/widget/versions/1.0.0/files/widget-1.0.0.bin?redirect=false",
        )
        .send()
        .await
        .expect("GET redirect=false");
    let link = expect_json(resp, StatusCode::OK, "download with redirect=false").await;
    assert_eq!(link["size"].as_u64(), Some(bytes.len() as u64), "{link}");
    assert_eq!(link["sha256"], sha.as_str(), "{link}");
    assert!(link["expires_at"].is_string(), "{link}");
    let url = server.resolve(link["url"].as_str().expect("url is a string"));
    let blob = server.client.get(url).send().await.expect("GET link url");
    assert_eq!(blob.status(), StatusCode::OK);
    let body = blob.bytes().await.expect("read link body");
    assert!(
        body.as_ref() == bytes.as_slice(),
        "redirect=false URL bytes differ"
    );

    // A file that does not exist.
    let resp = server
        .api(
            Method::GET,
            "/v1/repositories/happy/packages/widget/versions/1.0.0/files/nope.bin",
        )
        .send()
        .await
        .expect("GET missing file");
    assert_problem(resp, &[404], "download of a missing file").await;

    // Packages: prefix and pagination. Five `lib-*` packages, one other.
    let mut names: Vec<String> = (0..5).map(|i| format!("lib-{i}")).collect();
    names.push("other".into());
    let publishes = names.iter().enumerate().map(|(i, name)| {
        let server = &server;
        async move {
            let data = pseudo_random_bytes(100 + i as u64, 1000 + i);
            server
                .publish("happy", name, "0.1.0", "data.bin", &data)
                .await;
        }
    });
    join_all(publishes).await;

    let (items, pages) = server
        .list_all("/v1/repositories/happy/packages?prefix=lib-", 2)
        .await;
    let listed: Vec<String> = items
        .iter()
        .map(|p| p["name"].as_str().expect("package name").to_owned())
        .collect();
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a package listed twice: {listed:?}"
    );
    let expected: BTreeSet<String> = (0..5).map(|i| format!("lib-{i}")).collect();
    assert_eq!(
        listed.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "prefix listing"
    );
    assert!(pages >= 3, "5 items with limit=2 took only {pages} pages");

    let (all, _) = server.list_all("/v1/repositories/happy/packages", 4).await;
    let all: BTreeSet<String> = all
        .iter()
        .map(|p| p["name"].as_str().expect("package name").to_owned())
        .collect();
    assert_eq!(
        all.len(),
        7,
        "all packages (widget, lib-0..4, other): {all:?}"
    );
    assert!(all.contains("widget") && all.contains("other"));

    // Versions paginate too.
    let more = ["0.2.0", "0.3.0", "1.0.0"]
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let server = &server;
            async move {
                let data = pseudo_random_bytes(200 + i as u64, 500);
                server.publish("happy", "lib-0", v, "data.bin", &data).await;
            }
        });
    join_all(more).await;
    let (versions, _) = server
        .list_all("/v1/repositories/happy/packages/lib-0/versions", 2)
        .await;
    let versions: BTreeSet<String> = versions
        .iter()
        .map(|v| v["version"].as_str().expect("version").to_owned())
        .collect();
    let expected: BTreeSet<String> = ["0.1.0", "0.2.0", "0.3.0", "1.0.0"]
        .map(String::from)
        .into_iter()
        .collect();
    assert_eq!(versions, expected, "paginated versions of lib-0");

    // JSON answers say so.
    let resp = server
        .api(Method::GET, "/v1/repositories/happy")
        .send()
        .await
        .expect("GET repository");
    assert!(header_str(&resp, CONTENT_TYPE).starts_with("application/json"));
}
