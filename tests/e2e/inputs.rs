//! Bad inputs: every one is a problem+json 4xx naming what is wrong, and changes nothing.

use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

use crate::harness::{
    ANY_4XX, TestServer, assert_problem, detail, pseudo_random_bytes, sha256_hex, ticket_headers,
};

const INVALID: &[u16] = &[400, 422];

async fn post_json(server: &TestServer, path: &str, body: &Value) -> reqwest::Response {
    server
        .api(Method::POST, path)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

fn upload_body(package: &str, version: &str, filename: &str) -> Value {
    json!({
        "package": package,
        "version": version,
        "filename": filename,
        "size": 3,
        "sha256": sha256_hex(b"abc"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_names_are_refused_with_the_field_named() {
    let server = TestServer::start().await;
    server.create_repo("names").await;

    for bad in [
        "Upper",
        "-lead",
        "_lead",
        ".lead",
        "a b",
        "a/b",
        "a#b",
        "",
        "é",
        &"a".repeat(65),
    ] {
        let resp = post_json(
            &server,
            "/v1/repositories",
            &json!({"name": bad, "format": "generic"}),
        )
        .await;
        let problem = assert_problem(resp, INVALID, &format!("repository name {bad:?}")).await;
        // Over the length the document states, the edge refuses it naming the body field.
        let named = detail(&problem).contains("repository name")
            || detail(&problem).contains("invalid name: use at most 64 characters");
        assert!(
            named,
            "detail for repository name {bad:?} does not name the field: {problem}"
        );
    }
    // Boundaries that are valid.
    for good in ["a", "0-x.y_z", &"r".repeat(64)] {
        server.create_repo(good).await;
    }

    let unknown_format = post_json(
        &server,
        "/v1/repositories",
        &json!({"name": "fmt", "format": "no-such-format"}),
    )
    .await;
    assert_problem(unknown_format, INVALID, "unknown repository format").await;

    let long_pkg = "p".repeat(129);
    for bad in [
        "",
        "-pkg",
        ".pkg",
        "a/b",
        "a b",
        "a#b",
        "pkg@1",
        long_pkg.as_str(),
    ] {
        let resp = post_json(
            &server,
            "/v1/repositories/names/uploads",
            &upload_body(bad, "1.0.0", "f.bin"),
        )
        .await;
        let problem = assert_problem(resp, INVALID, &format!("package {bad:?}")).await;
        let named = detail(&problem).contains("invalid package name")
            || detail(&problem).contains("invalid package: use at most 128 characters");
        assert!(named, "detail for package {bad:?}: {problem}");
    }

    let long_version = "1".repeat(65);
    for bad in [
        "",
        "-1",
        ".1",
        "1 0",
        "1/0",
        "1#0",
        "1:0",
        long_version.as_str(),
    ] {
        let resp = post_json(
            &server,
            "/v1/repositories/names/uploads",
            &upload_body("pkg", bad, "f.bin"),
        )
        .await;
        let problem = assert_problem(resp, INVALID, &format!("version {bad:?}")).await;
        assert!(
            detail(&problem).contains("invalid version"),
            "detail for version {bad:?}: {problem}"
        );
    }

    let long_file = "f".repeat(256);
    for bad in [
        "",
        "../etc/passwd",
        "a/b",
        "a\\b",
        ".hidden",
        "-f",
        "a b",
        "a%2Fb",
        long_file.as_str(),
    ] {
        let resp = post_json(
            &server,
            "/v1/repositories/names/uploads",
            &upload_body("pkg", "1.0.0", bad),
        )
        .await;
        let problem = assert_problem(resp, INVALID, &format!("filename {bad:?}")).await;
        assert!(
            detail(&problem).contains("invalid filename"),
            "detail for filename {bad:?}: {problem}"
        );
    }

    // Longest valid names are accepted.
    let pkg = "P".repeat(128);
    let version = "9".repeat(64);
    let file = "F".repeat(255);
    let resp = post_json(
        &server,
        "/v1/repositories/names/uploads",
        &upload_body(&pkg, &version, &file),
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "longest valid names: {}",
        resp.text().await.unwrap_or_default()
    );

    // Invalid names in the path.
    for path in [
        "/v1/repositories/UPPER",
        "/v1/repositories/names/packages/-bad",
        "/v1/repositories/names/packages/pkg/versions/-bad",
        "/v1/repositories/names/packages/pkg/versions/1.0.0/files/.bad",
    ] {
        let resp = server
            .api(Method::GET, path)
            .send()
            .await
            .expect("GET invalid path name");
        assert_problem(resp, &[400, 404, 422], &format!("GET {path}")).await;
    }

    // Nothing invalid was stored.
    let (listed, _) = server.list_all("/v1/repositories", 2).await;
    assert_eq!(
        listed.len(),
        4,
        "repositories after invalid creates: {listed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_requests_are_problem_4xx() {
    let server = TestServer::start().await;
    let repo = server.create_repo("bad").await;
    let max = repo["max_file_size"].as_u64().expect("max_file_size");

    // Malformed JSON.
    for raw in [
        "{\"name\":",
        "not json",
        "[]",
        "null",
        "{\"name\": 5, \"format\": \"generic\"}",
    ] {
        let resp = server
            .api(Method::POST, "/v1/repositories")
            .header(CONTENT_TYPE, "application/json")
            .body(raw)
            .send()
            .await
            .expect("POST malformed JSON");
        assert_problem(resp, INVALID, &format!("malformed body {raw:?}")).await;
    }
    let resp = server
        .api(Method::POST, "/v1/repositories/bad/uploads")
        .header(CONTENT_TYPE, "application/json")
        .body("{\"package\": \"p\", ")
        .send()
        .await
        .expect("POST malformed upload JSON");
    assert_problem(resp, INVALID, "malformed upload request").await;

    // Wrong or missing content type.
    let body = json!({"name": "ctype", "format": "generic"}).to_string();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = server
            .api(Method::POST, "/v1/repositories")
            .body(body.clone());
        if let Some(ct) = ct {
            req = req.header(CONTENT_TYPE, ct);
        }
        let resp = req.send().await.expect("POST with wrong content type");
        assert_problem(resp, &[400, 415], &format!("content-type {ct:?}")).await;
    }

    // Missing fields.
    let full = json!({
        "package": "p", "version": "1", "filename": "f", "size": 3, "sha256": sha256_hex(b"abc"),
    });
    for field in ["package", "version", "filename", "size", "sha256"] {
        let mut body = full.clone();
        body.as_object_mut().expect("object").remove(field);
        let resp = post_json(&server, "/v1/repositories/bad/uploads", &body).await;
        let problem = assert_problem(resp, INVALID, &format!("missing {field}")).await;
        assert!(
            detail(&problem).contains(field),
            "detail for missing {field} does not name it: {problem}"
        );
    }
    let resp = post_json(&server, "/v1/repositories", &json!({"format": "generic"})).await;
    assert_problem(resp, INVALID, "repository without a name").await;

    // Sizes.
    for size in [json!(0), json!(-1), json!(1.5), json!("3"), json!(u64::MAX)] {
        let mut body = full.clone();
        body["size"] = size.clone();
        let resp = post_json(&server, "/v1/repositories/bad/uploads", &body).await;
        assert_problem(resp, &[400, 413, 422], &format!("size {size}")).await;
    }
    let mut body = full.clone();
    body["size"] = json!(max + 1);
    let resp = post_json(&server, "/v1/repositories/bad/uploads", &body).await;
    assert_problem(resp, &[400, 413, 422], "size over max_file_size").await;

    // SHA-256.
    for sha in [
        "".to_owned(),
        "xyz".to_owned(),
        "a".repeat(63),
        "a".repeat(65),
        "g".repeat(64),
        format!("sha256:{}", sha256_hex(b"abc")),
    ] {
        let mut body = full.clone();
        body["sha256"] = json!(sha);
        let resp = post_json(&server, "/v1/repositories/bad/uploads", &body).await;
        let problem = assert_problem(resp, INVALID, &format!("sha256 {sha:?}")).await;
        assert!(
            detail(&problem).contains("sha256") || detail(&problem).contains("sha-256"),
            "detail for sha256 {sha:?}: {problem}"
        );
    }

    // Bodies over 64 KiB.
    let huge = json!({"name": "huge", "format": "generic", "description": "x".repeat(70 * 1024)});
    let resp = post_json(&server, "/v1/repositories", &huge).await;
    assert_problem(resp, &[413], "repository body over 64 KiB").await;
    let mut huge = full.clone();
    huge["padding"] = json!("y".repeat(100 * 1024));
    let resp = post_json(&server, "/v1/repositories/bad/uploads", &huge).await;
    assert_problem(resp, &[413], "upload body over 64 KiB").await;

    // Unknown things.
    for (method, path) in [
        (Method::GET, "/v1/repositories/nope"),
        (Method::GET, "/v1/repositories/nope/packages"),
        (Method::GET, "/v1/repositories/nope/packages/p/versions"),
        (Method::GET, "/v1/repositories/bad/packages/nope"),
        (Method::GET, "/v1/repositories/bad/packages/nope/versions"),
        (
            Method::GET,
            "/v1/repositories/bad/packages/nope/versions/1.0",
        ),
        (
            Method::GET,
            "/v1/repositories/bad/packages/nope/versions/1.0/files/f",
        ),
        (
            Method::DELETE,
            "/v1/repositories/bad/packages/nope/versions/1.0",
        ),
        (
            Method::GET,
            "/v1/repositories/bad/uploads/01arz3ndektsv4rrffq69g5fav",
        ),
        (
            Method::GET,
            "/v1/repositories/nope/uploads/01arz3ndektsv4rrffq69g5fav",
        ),
        (Method::GET, "/v1/no-such-route"),
        (Method::GET, "/nothing/here"),
    ] {
        let resp = server
            .api(method.clone(), path)
            .send()
            .await
            .expect("request unknown thing");
        assert_problem(resp, &[404], &format!("{method} {path}")).await;
    }
    let resp = post_json(
        &server,
        "/v1/repositories/nope/uploads",
        &upload_body("p", "1", "f"),
    )
    .await;
    assert_problem(resp, &[404], "upload into an unknown repository").await;
    let resp = server
        .api(Method::GET, "/v1/repositories/bad/uploads/not-an-id")
        .send()
        .await
        .expect("GET garbage upload id");
    assert_problem(resp, &[400, 404], "garbage upload id").await;

    // Wrong method on a known route.
    let resp = server
        .api(Method::PATCH, "/v1/repositories")
        .send()
        .await
        .expect("PATCH /v1/repositories");
    assert_problem(resp, &[405], "PATCH /v1/repositories").await;

    // Bad paging parameters.
    for query in [
        "limit=abc",
        "limit=-1",
        "cursor=%%%garbage",
        "cursor=bm90LWEtY3Vyc29y",
    ] {
        let path = format!("/v1/repositories/bad/packages?{query}");
        let resp = server
            .api(Method::GET, &path)
            .send()
            .await
            .expect("GET bad paging");
        assert_problem(resp, INVALID, &format!("GET {path}")).await;
    }
}

/// Replaces one query parameter's value (matched case-insensitively) in a URL.
fn with_query_param(
    url: &Url,
    name_matches: impl Fn(&str) -> bool,
    edit: impl Fn(&str) -> String,
) -> Option<Url> {
    let mut found = false;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            if !found && name_matches(&k.to_lowercase()) {
                found = true;
                (k.into_owned(), edit(&v))
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect();
    if !found {
        return None;
    }
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presigned_upload_url_is_bound_to_its_bytes() {
    let server = TestServer::start().await;
    server.create_repo("signed").await;
    let bytes = pseudo_random_bytes(42, 4096);

    // Tampered signature, tampered path, edited expiry: 403 and nothing stored.
    let ticket = server
        .request_upload("signed", "pkg", "1.0.0", "f.bin", &bytes)
        .await;
    let upload_id = ticket["upload_id"].as_str().expect("upload_id").to_owned();
    let url = server.resolve(ticket["url"].as_str().expect("url"));
    let headers = ticket_headers(&ticket, true);

    let flip = |v: &str| {
        let mut chars: Vec<char> = v.chars().collect();
        if let Some(c) = chars.first_mut() {
            *c = if *c == 'A' || *c == '0' { 'B' } else { '0' };
        }
        chars.into_iter().collect::<String>()
    };
    let mut tampered = Vec::new();
    if let Some(u) = with_query_param(&url, |k| k.contains("sig"), flip) {
        tampered.push(("tampered signature", u));
    }
    let expiry = with_query_param(
        &url,
        |k| k == "x-trove-expires",
        |v| {
            let n: i64 = v.parse().unwrap_or(0);
            (n + 3600).to_string()
        },
    );
    let expiry = expiry.expect("the upload URL carries an X-Trove-Expires query parameter");
    tampered.push(("expiry moved later", expiry));
    let past = with_query_param(&url, |k| k == "x-trove-expires", |_| "1000000000".into())
        .expect("X-Trove-Expires present");
    tampered.push(("expiry in the past", past));
    // Swap the content: edit the signed size and digest to another body's and send that.
    let other = pseudo_random_bytes(45, 100);
    let swapped = with_query_param(&url, |k| k == "x-trove-size", |_| other.len().to_string())
        .and_then(|u| with_query_param(&u, |k| k == "x-trove-sha256", |_| sha256_hex(&other)));
    if let Some(u) = swapped {
        let resp = server
            .client
            .put(u.clone())
            .headers(ticket_headers(&ticket, false))
            .body(other.clone())
            .send()
            .await
            .expect("PUT swapped content");
        assert_problem(resp, &[403], &format!("PUT with size/sha256 edited: {u}")).await;
    }
    let mut other_path = url.clone();
    let path = other_path.path().to_owned();
    other_path.set_path(&format!("{path}x"));
    tampered.push(("path changed", other_path));
    assert!(
        tampered.iter().any(|(l, _)| *l == "tampered signature"),
        "found no signature query parameter in {url}"
    );
    for (label, u) in tampered {
        let resp = server
            .client
            .put(u.clone())
            .headers(headers.clone())
            .body(bytes.clone())
            .send()
            .await
            .expect("PUT tampered URL");
        assert_problem(resp, &[403], &format!("PUT with {label}: {u}")).await;
    }
    let status = server.upload_status("signed", &upload_id).await;
    assert_eq!(status["status"], "pending", "after refused PUTs: {status}");

    // Wrong bytes of the right length: refused, never published.
    let wrong = pseudo_random_bytes(43, 4096);
    let resp = server.put_ticket(&ticket, wrong).await;
    assert_problem(resp, ANY_4XX, "PUT of bytes with another sha256").await;

    // Wrong length, shorter and longer (declared Content-Length follows the body).
    for len in [4095, 4097, 0] {
        let body = pseudo_random_bytes(42, len);
        let resp = server
            .client
            .put(url.clone())
            .headers(ticket_headers(&ticket, false))
            .header(CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await
            .expect("PUT wrong length");
        assert_problem(resp, ANY_4XX, &format!("PUT of {len} bytes")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = server.upload_status("signed", &upload_id).await;
    assert_ne!(
        status["status"], "published",
        "bad bytes published: {status}"
    );
    let (code, _) = server
        .get_json("/v1/repositories/signed/packages/pkg/versions/1.0.0")
        .await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "version visible after refused PUTs"
    );

    // The presigned PUT needs no API key, and the right bytes still go through.
    let resp = server.put_ticket(&ticket, bytes.clone()).await;
    assert!(
        resp.status().is_success(),
        "correct PUT after refusals: {}",
        resp.status()
    );
    let done = server.wait_upload("signed", &upload_id).await;
    assert_eq!(done["status"], "published", "{done}");
    let got = server.download("signed", "pkg", "1.0.0", "f.bin").await;
    assert!(got == bytes, "downloaded bytes differ");

    // Write-once: a published (package, version, filename) is 409, whatever the content.
    for content in [bytes.clone(), pseudo_random_bytes(44, 10)] {
        let resp = server
            .request_upload_raw("signed", "pkg", "1.0.0", "f.bin", &content)
            .await;
        assert_problem(resp, &[409], "re-upload of a published file").await;
    }
    let got = server.download("signed", "pkg", "1.0.0", "f.bin").await;
    assert!(got == bytes, "bytes changed after refused re-upload");

    // Another file in the same version is fine.
    server
        .publish("signed", "pkg", "1.0.0", "g.bin", b"second file")
        .await;
    let version = server
        .get_ok("/v1/repositories/signed/packages/pkg/versions/1.0.0")
        .await;
    assert_eq!(
        version["files"].as_array().map(Vec::len),
        Some(2),
        "two files: {version}"
    );
}

/// Real expiry, with the URL lifetimes shortened through the server's settings
/// (`TROVE_UPLOAD_URL_TTL_SECS`, `TROVE_DOWNLOAD_URL_TTL_SECS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_presigned_urls_are_refused() {
    let mut server = TestServer::start().await;
    server.create_repo("expiry").await;

    let published = pseudo_random_bytes(50, 500);
    server
        .publish("expiry", "pkg", "1.0.0", "ok.bin", &published)
        .await;
    // Short lifetimes only for the URLs under test: a publish on a busy machine may take
    // longer than one second, and its own URL must not be what expires.
    server
        .restart_with_env(&[
            ("TROVE_UPLOAD_URL_TTL_SECS", "1"),
            ("TROVE_DOWNLOAD_URL_TTL_SECS", "1"),
        ])
        .await;
    let resp = server
        .api(
            Method::GET,
            "/v1/repositories/expiry/packages/pkg/versions/1.0.0/files/ok.bin?redirect=false",
        )
        .send()
        .await
        .expect("GET download link");
    let link: Value = resp.json().await.expect("download link JSON");
    let download_url = server.resolve(link["url"].as_str().expect("url"));

    let late = pseudo_random_bytes(51, 500);
    let ticket = server
        .request_upload("expiry", "pkg", "2.0.0", "late.bin", &late)
        .await;
    let upload_id = ticket["upload_id"].as_str().expect("upload_id").to_owned();

    // Expiry is checked in whole seconds (valid while now <= issued + 1): any wait of two
    // seconds or more passes it, however slow the machine.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let resp = server.put_ticket(&ticket, late).await;
    assert_problem(
        resp,
        &[403],
        "PUT to an expired upload URL (TROVE_UPLOAD_URL_TTL_SECS=1)",
    )
    .await;
    let status = server.upload_status("expiry", &upload_id).await;
    assert_ne!(
        status["status"], "published",
        "expired PUT published: {status}"
    );

    let resp = server
        .client
        .get(download_url)
        .send()
        .await
        .expect("GET expired download URL");
    assert_problem(
        resp,
        &[403],
        "GET of an expired download URL (TROVE_DOWNLOAD_URL_TTL_SECS=1)",
    )
    .await;

    // A fresh link still works.
    let got = server.download("expiry", "pkg", "1.0.0", "ok.bin").await;
    assert!(got == published, "fresh download differs");
}

/// Path parameters that hold names or a date (400 when malformed); every other one is an
/// id, which names nothing when it has the wrong shape (404).
const NAME_PARAMS: &[&str] = &["repo", "package", "version", "filename", "date"];

fn benign(param: &str) -> &'static str {
    match param {
        "repo" => "sweep",
        "package" => "widget",
        "version" => "1.0.0",
        "filename" => "widget-1.0.0.tar.gz",
        "date" => "2026-01-01",
        _ => "x",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_answers_a_2_kb_path_parameter_with_a_short_problem_never_a_5xx() {
    let server = TestServer::start().await;
    server.create_repo("sweep").await;
    let doc = server.get_ok("/openapi.json").await;
    let long = "a".repeat(2048);
    let mut probes = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let params: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(p, _)| p))
            .collect();
        for method in item.as_object().expect("path item").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            for param in &params {
                let mut uri = path.clone();
                for other in &params {
                    let value = if other == param { &long } else { benign(other) };
                    uri = uri.replace(&format!("{{{other}}}"), value);
                }
                let mut req = server.api(method.clone(), &uri);
                if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                    req = req.json(&json!({}));
                }
                let resp = req.send().await.expect("send");
                let allowed: &[u16] = if NAME_PARAMS.contains(param) {
                    &[400, 404]
                } else {
                    &[404]
                };
                let what = format!("{method} {path} with a 2 KB {param}");
                let said = if path.starts_with("/npm/") || path.starts_with("/cargo/") {
                    package_manager_error(resp, allowed, &what).await
                } else {
                    detail(&assert_problem(resp, allowed, &what).await)
                };
                assert!(said.chars().count() <= 600, "{what}: a long detail");
                probes += 1;
            }
        }
    }
    assert!(probes >= 30, "only {probes} probes");
}

/// A package manager's route answers in the shape its client prints (npm `{"error"}`, cargo
/// `{"errors": [{"detail"}]}`), not problem+json: the status must be one of `allowed` and
/// the message there. Returns the message.
async fn package_manager_error(resp: reqwest::Response, allowed: &[u16], what: &str) -> String {
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert!(allowed.contains(&status), "{what}: {status} {body}");
    assert_eq!(ctype, "application/json", "{what}");
    body["error"]
        .as_str()
        .or(body["errors"][0]["detail"].as_str())
        .unwrap_or_else(|| panic!("{what}: no message in {body}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_60_kb_upload_id_with_line_breaks_nul_and_rlm_is_echoed_short_and_escaped() {
    let server = TestServer::start().await;
    server.create_repo("echo").await;
    let hostile = format!("%0D%0Ax%00%E2%80%8F{}", "y".repeat(60 * 1024));
    let resp = server
        .api(
            Method::GET,
            &format!("/v1/repositories/echo/uploads/{hostile}"),
        )
        .send()
        .await
        .expect("send");
    let problem = assert_problem(resp, &[404], "60 KB upload id").await;
    let text = detail(&problem);
    assert!(text.chars().count() < 120, "{text}");
    assert!(
        !text.chars().any(|c| c.is_control() || c == '\u{200F}'),
        "{text:?}"
    );
    assert!(text.contains("\\u{d}\\u{a}x\\u{0}\\u{200f}"), "{text}");
}
