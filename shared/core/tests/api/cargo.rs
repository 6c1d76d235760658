//! Cargo registries in-process: cargo's publish body through the whole pipeline, the
//! sparse index (lines from the crate's own Cargo.toml, cksum of the stored bytes, ETags),
//! config.json, downloads, yank, owners as grants, search, refusals in cargo's
//! `{"errors": [{"detail"}]}` shape, the bare token cargo sends, and who may do what.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;
use trove_testkit::archives::fixtures::{TarEntry, cargo_crate, cargo_publish_body, eicar, tar_gz};

use super::app::TestApp;

const HOST: &str = "registry.test";
const BASE: &str = "/cargo/default/crates";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn detail(&self) -> String {
        self.json()["errors"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Requests as cargo sends them: the token alone in `Authorization`, no scheme.
async fn cargo(
    app: &TestApp,
    key: Option<&str>,
    method: Method,
    path: &str,
    extra: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{BASE}{path}"))
        .header(header::HOST, HOST)
        .extension(trove_core::http::guard::SourceIp(None));
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, key);
    }
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(app: &TestApp, path: &str) -> Answer {
    cargo(app, Some(&app.admin), Method::GET, path, &[], Vec::new()).await
}

async fn registry(app: &TestApp) {
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(json!({"name": "crates", "format": "cargo"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn publish(app: &TestApp, key: &str, name: &str, version: &str, extra: &str) -> Answer {
    let krate = cargo_crate(name, version, extra);
    let body = cargo_publish_body(name, version, &krate);
    cargo(app, Some(key), Method::PUT, "/api/v1/crates/new", &[], body).await
}

fn lines(index: &Answer) -> Vec<Value> {
    index
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

const WIDGET_DEPS: &str = r#"[dependencies.h]
version = "^1.0"
features = ["extra"]
package = "helper"

[dev-dependencies.helper]
version = "1"

[features]
default = []
fast = ["dep:h"]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_published_crate_is_in_the_sparse_index_with_its_dependencies_and_checksum() {
    let app = TestApp::new().await;
    registry(&app).await;
    let config = get(&app, "/index/config.json").await;
    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(
        config.json(),
        json!({
            "dl": format!("http://{HOST}{BASE}/api/v1/crates"),
            "api": format!("http://{HOST}{BASE}"),
            "auth-required": true,
        })
    );

    let a = publish(&app, &app.admin, "helper", "1.0.0", "").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(a.json()["warnings"].is_object());
    let a = publish(&app, &app.admin, "widget", "1.0.0", WIDGET_DEPS).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());

    let index = get(&app, "/index/wi/dg/widget").await;
    assert_eq!(index.status, StatusCode::OK, "{}", index.text());
    let lines = lines(&index);
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!(line["name"], "widget");
    assert_eq!(line["vers"], "1.0.0");
    assert_eq!(line["yanked"], false);
    let krate = cargo_crate("widget", "1.0.0", WIDGET_DEPS);
    assert_eq!(line["cksum"], hex::encode(Sha256::digest(&krate)));
    let deps = line["deps"].as_array().expect("deps");
    let renamed = deps
        .iter()
        .find(|d| d["name"] == "h")
        .expect("the renamed dependency");
    assert_eq!(renamed["package"], "helper");
    assert_eq!(renamed["req"], "^1.0");
    assert_eq!(renamed["features"], json!(["extra"]));
    assert_eq!(renamed["kind"], "normal");
    let dev = deps
        .iter()
        .find(|d| d["kind"] == "dev")
        .expect("the dev dependency");
    assert_eq!(dev["name"], "helper");
    assert_eq!(line["features2"]["fast"], json!(["dep:h"]), "{line}");
    assert!(line["pubtime"].is_string());

    // One- and two-letter and three-letter layouts, and revalidation.
    assert_eq!(
        publish(&app, &app.admin, "ab", "0.1.0", "").await.status,
        StatusCode::OK
    );
    assert_eq!(
        publish(&app, &app.admin, "abc", "0.1.0", "").await.status,
        StatusCode::OK
    );
    assert_eq!(get(&app, "/index/2/ab").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/index/3/a/abc").await.status, StatusCode::OK);
    let etag = index
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .expect("etag");
    let again = cargo(
        &app,
        Some(&app.admin),
        Method::GET,
        "/index/wi/dg/widget",
        &[("if-none-match", etag)],
        Vec::new(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    // A path whose directories do not fit the name, or a crate that does not exist: 404.
    for path in [
        "/index/ab/cd/widget",
        "/index/wi/dg/nothing",
        "/index/1/widget",
    ] {
        let a = get(&app, path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!a.detail().is_empty(), "{path}: {}", a.text());
    }

    // The download link: a redirect to the bytes.
    let dl = get(&app, "/api/v1/crates/widget/1.0.0/download").await;
    assert_eq!(dl.status, StatusCode::FOUND);
    assert!(dl.headers.get(header::LOCATION).is_some());
    assert_eq!(
        get(&app, "/api/v1/crates/widget/9.9.9/download")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Search: exact match first.
    let found = get(&app, "/api/v1/crates?q=ab&per_page=5").await;
    assert_eq!(found.status, StatusCode::OK);
    let names: Vec<_> = found.json()["crates"]
        .as_array()
        .expect("crates")
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, [json!("ab"), json!("abc")]);
    assert_eq!(found.json()["meta"]["total"], 2);
    // What cargo itself never asks for is refused in its error shape: over 100 results, none,
    // or words longer than any crate's name.
    let long = "a".repeat(65);
    for bad in [
        "/api/v1/crates?q=ab&per_page=101".to_owned(),
        "/api/v1/crates?q=ab&per_page=0".to_owned(),
        format!("/api/v1/crates?q={long}"),
    ] {
        let a = get(&app, &bad).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(!a.detail().is_empty(), "{bad}: {}", a.text());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn yank_and_owners_change_what_the_index_and_the_grants_say() {
    let app = TestApp::new().await;
    registry(&app).await;
    assert_eq!(
        publish(&app, &app.admin, "widget", "1.0.0", "")
            .await
            .status,
        StatusCode::OK
    );
    let yank = cargo(
        &app,
        Some(&app.admin),
        Method::DELETE,
        "/api/v1/crates/widget/1.0.0/yank",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(yank.status, StatusCode::OK, "{}", yank.text());
    assert_eq!(
        lines(&get(&app, "/index/wi/dg/widget").await)[0]["yanked"],
        true
    );
    let undo = cargo(
        &app,
        Some(&app.admin),
        Method::PUT,
        "/api/v1/crates/widget/1.0.0/unyank",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(undo.status, StatusCode::OK);
    assert_eq!(
        lines(&get(&app, "/index/wi/dg/widget").await)[0]["yanked"],
        false
    );

    let owners = get(&app, "/api/v1/crates/widget/owners").await;
    assert_eq!(owners.json()["users"], json!([]));
    let (_, _, sa) = app
        .call(
            Method::POST,
            "/v1/service-accounts",
            Some(&app.admin),
            Some(json!({"name": "release-bot"})),
        )
        .await;
    let bot = sa["id"].as_str().expect("id").to_owned();
    let body = json!({"users": [bot]}).to_string().into_bytes();
    let add = cargo(
        &app,
        Some(&app.admin),
        Method::PUT,
        "/api/v1/crates/widget/owners",
        &[],
        body.clone(),
    )
    .await;
    assert_eq!(add.status, StatusCode::OK, "{}", add.text());
    assert_eq!(add.json()["ok"], true);
    let owners = get(&app, "/api/v1/crates/widget/owners").await.json();
    assert_eq!(owners["users"][0]["login"], bot.as_str());
    assert_eq!(owners["users"][0]["name"], "release-bot");
    // The grant is a maintainer's on exactly this crate.
    let (_, _, grants) = app
        .call(
            Method::GET,
            &format!("/v1/grants?principal={bot}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(grants["items"][0]["role"], "maintainer", "{grants}");
    assert_eq!(
        grants["items"][0]["scope"],
        json!({"repository": "crates", "package": "widget"})
    );
    let remove = cargo(
        &app,
        Some(&app.admin),
        Method::DELETE,
        "/api/v1/crates/widget/owners",
        &[],
        body.clone(),
    )
    .await;
    assert_eq!(remove.status, StatusCode::OK, "{}", remove.text());
    assert_eq!(
        get(&app, "/api/v1/crates/widget/owners").await.json()["users"],
        json!([])
    );
    let again = cargo(
        &app,
        Some(&app.admin),
        Method::DELETE,
        "/api/v1/crates/widget/owners",
        &[],
        body,
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.detail().contains("does not own"), "{}", again.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_publishes_are_refused_in_cargos_shape_and_rights_decide() {
    let app = TestApp::new().await;
    registry(&app).await;
    assert_eq!(
        publish(&app, &app.admin, "widget", "1.0.0", "")
            .await
            .status,
        StatusCode::OK
    );
    let again = publish(&app, &app.admin, "widget", "1.0.0", "").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.detail().contains("already uploaded"),
        "{}",
        again.text()
    );

    let other_name = cargo_publish_body("widget", "1.1.0", &cargo_crate("gadget", "1.1.0", ""));
    let root = "widget-1.2.0";
    let infected = tar_gz(&[
        TarEntry::File(
            &format!("{root}/Cargo.toml"),
            b"[package]\nname = \"widget\"\nversion = \"1.2.0\"\n",
        ),
        TarEntry::File(&format!("{root}/src/eicar.com"), &eicar()),
    ]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", vec![1, 0]),
        ("lengths past the end", vec![255, 255, 0, 0, b'{']),
        ("a crate whose Cargo.toml names another crate", other_name),
        (
            "malware inside",
            cargo_publish_body("widget", "1.2.0", &infected),
        ),
        (
            "not a version",
            cargo_publish_body("widget", "1.2", &cargo_crate("widget", "1.2", "")),
        ),
    ];
    for (what, body) in cases {
        let a = cargo(
            &app,
            Some(&app.admin),
            Method::PUT,
            "/api/v1/crates/new",
            &[],
            body,
        )
        .await;
        assert!(a.status.is_client_error(), "{what}: {}", a.status);
        assert!(!a.detail().is_empty(), "{what}: {}", a.text());
        if what == "malware inside" {
            assert!(a.detail().contains("EICAR"), "{what}: {}", a.detail());
        }
    }
    assert_eq!(
        lines(&get(&app, "/index/wi/dg/widget").await).len(),
        1,
        "nothing else was published"
    );

    let reader = super::pypi::granted(
        &app,
        "crate-reader",
        "reader",
        json!({"repository": "crates"}),
    )
    .await;
    let outsider = super::pypi::granted(
        &app,
        "crate-outsider",
        "admin",
        json!({"repository": "elsewhere"}),
    )
    .await;
    assert_eq!(
        cargo(
            &app,
            Some(&reader),
            Method::GET,
            "/index/wi/dg/widget",
            &[],
            Vec::new()
        )
        .await
        .status,
        StatusCode::OK
    );
    // The same key as a Bearer credential works too.
    let bearer = format!("Bearer {reader}");
    assert_eq!(
        cargo(
            &app,
            Some(&bearer),
            Method::GET,
            "/index/wi/dg/widget",
            &[],
            Vec::new()
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        cargo(
            &app,
            Some(&outsider),
            Method::GET,
            "/index/wi/dg/widget",
            &[],
            Vec::new()
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let anonymous = cargo(
        &app,
        None,
        Method::GET,
        "/index/config.json",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(!anonymous.detail().is_empty(), "{}", anonymous.text());
    let denied = publish(&app, &reader, "widget", "1.3.0", "").await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.text());
    let yank = cargo(
        &app,
        Some(&reader),
        Method::DELETE,
        "/api/v1/crates/widget/1.0.0/yank",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(yank.status, StatusCode::FORBIDDEN);
    let owners = cargo(
        &app,
        Some(&reader),
        Method::PUT,
        "/api/v1/crates/widget/owners",
        &[],
        br#"{"users":["sa_01jp5x7k3m2n4p6q8r0s2t4v6w"]}"#.to_vec(),
    )
    .await;
    assert_eq!(owners.status, StatusCode::FORBIDDEN, "{}", owners.text());
    // Another tenant finds nothing.
    let other = app.tenant_key("other").await;
    assert_eq!(
        cargo(
            &app,
            Some(&other),
            Method::GET,
            "/index/config.json",
            &[],
            Vec::new()
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}
