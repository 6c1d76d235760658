//! npm registries in-process: publish through the whole pipeline, packuments in both forms
//! with digests from the stored bytes, ETags, tarball links under the registry prefix,
//! dist-tags, deprecate and unpublish as npm sends them, refusals in npm's `{"error"}`
//! shape, who may do what, and the two Lambda functions' route families.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sha2::Digest as _;
use tower::ServiceExt as _;
use trove_testkit::archives::fixtures::{eicar, npm_publish_document, npm_tarball};

use super::app::TestApp;

const HOST: &str = "registry.test";
const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: header::HeaderName) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

async fn npm(
    router: &axum::Router,
    method: Method,
    path: &str,
    key: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<String>,
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST)
        .extension(trove_core::http::guard::SourceIp(None));
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b)
        }
        None => Body::empty(),
    };
    let res = router
        .clone()
        .oneshot(req.body(body).expect("request"))
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

/// Requests of one caller (`key`, or none) to a router, with the registry's `Host`.
struct As<'a> {
    router: &'a axum::Router,
    key: Option<&'a str>,
}

impl<'a> As<'a> {
    fn new(router: &'a axum::Router, key: &'a str) -> Self {
        Self {
            router,
            key: Some(key),
        }
    }
    async fn get(&self, path: &str) -> Answer {
        npm(self.router, Method::GET, path, self.key, &[], None).await
    }
    async fn put(&self, path: &str, body: impl Into<String>) -> Answer {
        npm(
            self.router,
            Method::PUT,
            path,
            self.key,
            &[],
            Some(body.into()),
        )
        .await
    }
    async fn delete(&self, path: &str) -> Answer {
        npm(self.router, Method::DELETE, path, self.key, &[], None).await
    }
}

fn manifest(name: &str, version: &str, extra: &str) -> String {
    format!(
        r#"{{"name":"{name}","version":"{version}","description":"A widget","main":"index.js","license":"MIT"{extra}}}"#
    )
}

fn tarball(name: &str, version: &str) -> Vec<u8> {
    npm_tarball(
        &manifest(name, version, r#","dependencies":{"left-pad":"^1.0.0"}"#),
        &[("index.js", b"module.exports = 42;\n")],
    )
}

async fn registry(app: &TestApp, name: &str) {
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(json!({"name": name, "format": "npm"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// `npm publish` of `name@version` under `tag`: the answer.
async fn publish(app: &TestApp, key: &str, name: &str, version: &str, tag: &str) -> Answer {
    let bytes = tarball(name, version);
    let path = format!("/npm/default/js/{}", name.replace('/', "%2f"));
    let doc = npm_publish_document(name, version, tag, &bytes);
    npm(&app.router, Method::PUT, &path, Some(key), &[], Some(doc)).await
}

async fn packument(app: &TestApp, name: &str) -> Value {
    let path = format!("/npm/default/js/{}", name.replace('/', "%2f"));
    let a = As::new(&app.router, &app.admin).get(&path).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    a.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_published_package_shows_in_both_packument_forms_with_digests_of_its_bytes() {
    let app = TestApp::new().await;
    registry(&app, "js").await;
    let a = publish(&app, &app.admin, "@acme/widget", "1.0.0", "latest").await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(a.json()["ok"], true);

    // npm asks with the scope encoded; API Gateway hands over the decoded path: both work.
    for path in [
        "/npm/default/js/@acme%2fwidget",
        "/npm/default/js/@acme/widget",
    ] {
        let a = As::new(&app.router, &app.admin).get(path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.header(header::CONTENT_TYPE), "application/json");
        let doc = a.json();
        assert_eq!(doc["name"], "@acme/widget");
        assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
        assert_eq!(doc["description"], "A widget");
        let v = &doc["versions"]["1.0.0"];
        assert_eq!(v["dependencies"]["left-pad"], "^1.0.0");
        let bytes = tarball("@acme/widget", "1.0.0");
        let sha512 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&bytes));
        assert_eq!(v["dist"]["integrity"], format!("sha512-{sha512}"));
        assert_eq!(
            v["dist"]["shasum"],
            hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&bytes))
        );
        assert_eq!(
            v["dist"]["tarball"],
            format!("http://{HOST}/npm/default/js/@acme/widget/-/widget-1.0.0.tgz"),
            "under the registry prefix, where npm sends the token"
        );
        assert!(doc["time"]["1.0.0"].is_string(), "{doc}");
        assert!(doc["_rev"].as_str().is_some_and(|r| !r.is_empty()));
    }

    let a = npm(
        &app.router,
        Method::GET,
        "/npm/default/js/@acme%2fwidget",
        Some(&app.admin),
        &[(
            "accept",
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*",
        )],
        None,
    )
    .await;
    assert_eq!(a.header(header::CONTENT_TYPE), ABBREVIATED);
    let short = a.json();
    assert_eq!(
        short["versions"]["1.0.0"]["dependencies"]["left-pad"],
        "^1.0.0"
    );
    assert!(short["versions"]["1.0.0"].get("description").is_none());
    assert!(short.get("_rev").is_none());

    // Revalidation: the same ETag answers 304 without a body.
    let etag = a.header(header::ETAG);
    assert!(!etag.is_empty());
    let again = npm(
        &app.router,
        Method::GET,
        "/npm/default/js/@acme%2fwidget",
        Some(&app.admin),
        &[("accept", ABBREVIATED), ("if-none-match", &etag)],
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());

    // The tarball: a redirect to the stored bytes, under the same prefix, decoded or not.
    for path in [
        "/npm/default/js/@acme/widget/-/widget-1.0.0.tgz",
        "/npm/default/js/@acme%2fwidget/-/widget-1.0.0.tgz",
    ] {
        let t = As::new(&app.router, &app.admin).get(path).await;
        assert_eq!(t.status, StatusCode::FOUND, "{path}");
        assert!(!t.header(header::LOCATION).is_empty());
    }
    let missing = As::new(&app.router, &app.admin)
        .get("/npm/default/js/@acme/widget/-/widget-9.9.9.tgz")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["error"].is_string(), "npm prints `error`");
}

#[tokio::test(flavor = "multi_thread")]
async fn dist_tags_follow_releases_and_move_on_request() {
    let app = TestApp::new().await;
    registry(&app, "js").await;
    for (v, tag) in [
        ("1.0.0", "latest"),
        ("2.0.0-beta.1", "beta"),
        ("1.1.0", "latest"),
    ] {
        let a = publish(&app, &app.admin, "widget", v, tag).await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{v}: {}",
            String::from_utf8_lossy(&a.body)
        );
    }
    let tags_path = "/npm/default/js/-/package/widget/dist-tags";
    let tags = As::new(&app.router, &app.admin).get(tags_path).await;
    assert_eq!(
        tags.json(),
        json!({"latest": "1.1.0", "beta": "2.0.0-beta.1"})
    );

    let set = As::new(&app.router, &app.admin)
        .put(&format!("{tags_path}/stable"), "\"1.0.0\"")
        .await;
    assert_eq!(set.status, StatusCode::CREATED);
    assert_eq!(set.json()["stable"], "1.0.0");
    assert_eq!(
        packument(&app, "widget").await["dist-tags"]["stable"],
        "1.0.0"
    );

    // A tag that reads as a version range, or a version that does not exist, is refused.
    for (tag, body, want) in [
        ("v1", "\"1.0.0\"", StatusCode::BAD_REQUEST),
        ("next", "\"^1\"", StatusCode::NOT_FOUND),
        ("next", "\"9.9.9\"", StatusCode::NOT_FOUND),
        ("next", "not json", StatusCode::BAD_REQUEST),
    ] {
        let a = As::new(&app.router, &app.admin)
            .put(&format!("{tags_path}/{tag}"), body)
            .await;
        assert_eq!(a.status, want, "{tag} {body}");
        assert!(a.json()["error"].is_string(), "{tag} {body}");
    }

    let rm = As::new(&app.router, &app.admin)
        .delete(&format!("{tags_path}/stable"))
        .await;
    assert_eq!(rm.status, StatusCode::OK);
    let rm_latest = As::new(&app.router, &app.admin)
        .delete(&format!("{tags_path}/latest"))
        .await;
    assert_eq!(rm_latest.status, StatusCode::BAD_REQUEST);
    let tags = As::new(&app.router, &app.admin).get(tags_path).await;
    assert_eq!(
        tags.json(),
        json!({"latest": "1.1.0", "beta": "2.0.0-beta.1"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deprecate_and_unpublish_arrive_as_changed_packuments() {
    let app = TestApp::new().await;
    registry(&app, "js").await;
    for v in ["1.0.0", "1.1.0"] {
        assert_eq!(
            publish(&app, &app.admin, "@acme/widget", v, "latest")
                .await
                .status,
            StatusCode::OK
        );
    }
    let path = "/npm/default/js/@acme%2fwidget";
    // npm deprecate: the whole document back, with `deprecated` set on a version.
    let mut doc = packument(&app, "@acme/widget").await;
    doc["versions"]["1.0.0"]["deprecated"] = json!("use 1.1");
    let a = As::new(&app.router, &app.admin)
        .put(path, doc.to_string())
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let doc = packument(&app, "@acme/widget").await;
    assert_eq!(doc["versions"]["1.0.0"]["deprecated"], "use 1.1");
    assert!(doc["versions"]["1.1.0"].get("deprecated").is_none());
    // An empty message lifts it.
    let mut undo = doc.clone();
    undo["versions"]["1.0.0"]["deprecated"] = json!("");
    let a = As::new(&app.router, &app.admin)
        .put(path, undo.to_string())
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = packument(&app, "@acme/widget").await;
    assert!(
        doc["versions"]["1.0.0"].get("deprecated").is_none(),
        "{doc}"
    );

    // npm unpublish @acme/widget@1.0.0: the document without the version, at its _rev.
    let rev = doc["_rev"].as_str().expect("_rev").to_owned();
    let mut without = doc.clone();
    without["versions"]
        .as_object_mut()
        .expect("versions")
        .remove("1.0.0");
    let stale = As::new(&app.router, &app.admin)
        .put(
            &format!("{path}/-rev/0-stale"),
            json!({"name": "@acme/widget", "_rev": "0-stale", "versions": without["versions"]})
                .to_string(),
        )
        .await;
    assert_eq!(
        stale.status,
        StatusCode::CONFLICT,
        "a stale document changes nothing"
    );
    let a = As::new(&app.router, &app.admin)
        .put(&format!("{path}/-rev/{rev}"), without.to_string())
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let doc = packument(&app, "@acme/widget").await;
    assert!(doc["versions"].get("1.0.0").is_none(), "{doc}");
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0");
    // npm then deletes the tarball: already gone, so done.
    let rev = doc["_rev"].as_str().expect("_rev").to_owned();
    let a = As::new(&app.router, &app.admin)
        .delete(&format!(
            "/npm/default/js/@acme/widget/-/widget-1.0.0.tgz/-rev/{rev}"
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // A `_rev` longer than any the registry hands out, or a name no tarball could have, is
    // refused in npm's error shape, and nothing changes.
    let long_rev = "7".repeat(65);
    for bad in [
        format!("/npm/default/js/@acme/widget/-/widget-1.1.0.tgz/-rev/{long_rev}"),
        format!("/npm/default/js/@acme/widget/-/%C2%84/-rev/{rev}"),
        format!("{path}/-rev/{long_rev}"),
    ] {
        let a = As::new(&app.router, &app.admin).delete(&bad).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(a.json()["error"].is_string(), "{bad}: {}", a.json());
    }
    assert_eq!(
        packument(&app, "@acme/widget").await["dist-tags"]["latest"],
        "1.1.0"
    );
    // The number is never reused.
    let again = publish(&app, &app.admin, "@acme/widget", "1.0.0", "latest").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot publish over the previously published versions")),
        "{}",
        again.json()
    );
    // npm unpublish --force: everything.
    let a = As::new(&app.router, &app.admin)
        .delete(&format!("{path}/-rev/{rev}"))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let gone = As::new(&app.router, &app.admin).get(path).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_publishes_are_refused_with_npms_error_and_nothing_is_stored() {
    let app = TestApp::new().await;
    registry(&app, "js").await;
    let path = "/npm/default/js/widget";
    let bytes = tarball("widget", "1.0.0");
    let good = npm_publish_document("widget", "1.0.0", "latest", &bytes);
    let cases: Vec<(&str, String, &str)> = vec![
        ("another name in the URL", good.clone(), "other"),
        (
            "integrity that is not the bytes'",
            npm_publish_document("widget", "1.0.0", "latest", &bytes)
                .replace("sha512-", "sha512-AAAA"),
            "widget",
        ),
        (
            "a package.json naming another package",
            npm_publish_document("widget", "1.0.0", "latest", &tarball("gadget", "1.0.0")),
            "widget",
        ),
        (
            "malware inside",
            npm_publish_document(
                "widget",
                "1.0.0",
                "latest",
                &npm_tarball(&manifest("widget", "1.0.0", ""), &[("eicar.com", &eicar())]),
            ),
            "widget",
        ),
        (
            "not a version",
            npm_publish_document("widget", "1.0", "latest", &tarball("widget", "1.0")),
            "widget",
        ),
        (
            "a tag that is a range",
            npm_publish_document("widget", "1.0.0", "^1", &bytes),
            "widget",
        ),
        ("not JSON", "{".into(), "widget"),
    ];
    for (what, doc, name) in cases {
        let a = As::new(&app.router, &app.admin)
            .put(&format!("/npm/default/js/{name}"), doc)
            .await;
        assert!(a.status.is_client_error(), "{what}: {}", a.status);
        let error = a.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(
            !error.is_empty(),
            "{what}: {}",
            String::from_utf8_lossy(&a.body)
        );
        if what == "malware inside" {
            assert!(error.to_lowercase().contains("eicar"), "{what}: {error}");
        }
    }
    let nothing = As::new(&app.router, &app.admin).get(path).await;
    assert_eq!(
        nothing.status,
        StatusCode::NOT_FOUND,
        "nothing was published"
    );
    assert_eq!(
        publish(&app, &app.admin, "widget", "1.0.0", "latest")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rights_decide_who_reads_publishes_and_tags() {
    let app = TestApp::new().await;
    registry(&app, "js").await;
    assert_eq!(
        publish(&app, &app.admin, "@acme/widget", "1.0.0", "latest")
            .await
            .status,
        StatusCode::OK
    );
    let reader =
        super::pypi::granted(&app, "npm-reader", "reader", json!({"repository": "js"})).await;
    let writer =
        super::pypi::granted(&app, "npm-writer", "writer", json!({"repository": "js"})).await;
    let outsider = super::pypi::granted(
        &app,
        "npm-outsider",
        "admin",
        json!({"repository": "elsewhere"}),
    )
    .await;
    let other_tenant = app.tenant_key("other").await;
    let path = "/npm/default/js/@acme%2fwidget";

    let read = |key: String| {
        let router = app.router.clone();
        async move { As::new(&router, &key).get(path).await.status }
    };
    assert_eq!(read(reader.clone()).await, StatusCode::OK);
    assert_eq!(read(outsider.clone()).await, StatusCode::NOT_FOUND);
    assert_eq!(read(other_tenant.clone()).await, StatusCode::NOT_FOUND);
    let anonymous = npm(&app.router, Method::GET, path, None, &[], None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.json()["error"].is_string());

    let denied = publish(&app, &reader, "@acme/widget", "1.1.0", "latest").await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.json()["error"].is_string());
    assert_eq!(
        publish(&app, &outsider, "@acme/widget", "1.1.0", "latest")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        publish(&app, &writer, "@acme/widget", "1.1.0", "latest")
            .await
            .status,
        StatusCode::OK
    );

    let tag = "/npm/default/js/-/package/@acme%2fwidget/dist-tags/stable";
    let by_reader = As::new(&app.router, &reader).put(tag, "\"1.0.0\"").await;
    assert_eq!(by_reader.status, StatusCode::FORBIDDEN);
    let by_writer = As::new(&app.router, &writer).put(tag, "\"1.0.0\"").await;
    assert_eq!(by_writer.status, StatusCode::CREATED);
    // Unpublish takes a maintainer: a writer may not.
    let rev = packument(&app, "@acme/widget").await["_rev"]
        .as_str()
        .expect("rev")
        .to_owned();
    let by_writer = As::new(&app.router, &writer)
        .delete(&format!("{path}/-rev/{rev}"))
        .await;
    assert_eq!(by_writer.status, StatusCode::FORBIDDEN);

    // ping and whoami for whoever sees the registry; audit answers without advisories.
    let who = As::new(&app.router, &reader)
        .get("/npm/default/js/-/whoami")
        .await;
    assert_eq!(who.status, StatusCode::OK);
    assert!(
        who.json()["username"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );
    let ping = As::new(&app.router, &reader)
        .get("/npm/default/js/-/ping")
        .await;
    assert_eq!(ping.status, StatusCode::OK);
    let audit = npm(
        &app.router,
        Method::POST,
        "/npm/default/js/-/npm/v1/security/advisories/bulk",
        Some(&reader),
        &[("content-encoding", "gzip")],
        Some("\u{1f}".into()),
    )
    .await;
    assert_eq!(audit.status, StatusCode::OK);
    assert_eq!(audit.json(), json!({}));
    let elsewhere = As::new(&app.router, &outsider)
        .get("/npm/default/js/-/ping")
        .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_npm_function_serves_its_familys_routes_only() {
    let app = TestApp::new().await;
    registry(&app, "js").await;
    assert_eq!(
        publish(&app, &app.admin, "widget", "1.0.0", "latest")
            .await
            .status,
        StatusCode::OK
    );
    let state = trove_core::http::AppState::new(std::sync::Arc::clone(&app.host.ctx));
    let read = trove_core::http::router_for_route(state.clone(), "npm_read").expect("family");
    let write = trove_core::http::router_for_route(state, "npm_write").expect("family");
    let tags = "/npm/default/js/-/package/widget/dist-tags";
    let get = As::new(&read, &app.admin)
        .get("/npm/default/js/widget")
        .await;
    assert_eq!(get.status, StatusCode::OK);
    let ping = As::new(&read, &app.admin)
        .get("/npm/default/js/-/ping")
        .await;
    assert_eq!(ping.status, StatusCode::OK);
    let put_on_read = As::new(&read, &app.admin)
        .put(&format!("{tags}/next"), "\"1.0.0\"")
        .await;
    assert_eq!(put_on_read.status, StatusCode::NOT_FOUND);
    let put = As::new(&write, &app.admin)
        .put(&format!("{tags}/next"), "\"1.0.0\"")
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    let get_on_write = As::new(&write, &app.admin)
        .get("/npm/default/js/widget")
        .await;
    assert_eq!(get_on_write.status, StatusCode::NOT_FOUND);
    let other = As::new(&read, &app.admin).get("/v1/repositories").await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tarball_through_the_presigned_path_shows_in_the_packument_the_same_way() {
    let app = TestApp::new().await;
    registry(&app, "js").await;
    let bytes = tarball("@acme/gadget", "1.0.0");
    let up = app
        .publish(
            &app.admin,
            "js",
            "@acme/gadget",
            "1.0.0",
            "gadget-1.0.0.tgz",
            &bytes,
        )
        .await;
    assert_eq!(up["status"], "published", "{up}");
    let doc = packument(&app, "@acme/gadget").await;
    let v = &doc["versions"]["1.0.0"];
    assert_eq!(
        v["dependencies"]["left-pad"], "^1.0.0",
        "from package/package.json"
    );
    let sha512 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&bytes));
    assert_eq!(v["dist"]["integrity"], format!("sha512-{sha512}"));
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");

    // A filename that is not npm's for that name and version is refused at the door.
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories/js/uploads",
            Some(&app.admin),
            Some(json!({"package": "@acme/gadget", "version": "1.1.0", "filename": "@acme-gadget-1.1.0.tgz", "size": 3, "sha256": "a".repeat(64)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Scoped names are npm's: a generic repository refuses them.
    app.create_repository("libs").await;
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories/libs/uploads",
            Some(&app.admin),
            Some(json!({"package": "@acme/tool", "version": "1.0.0", "filename": "tool.bin", "size": 3, "sha256": "a".repeat(64)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("npm")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unpublishing_a_version_a_tag_still_names_is_refused_until_the_tag_moves() {
    let app = TestApp::new().await;
    registry(&app, "js").await;
    for v in ["1.0.0", "1.1.0"] {
        assert_eq!(
            publish(&app, &app.admin, "widget", v, "latest")
                .await
                .status,
            StatusCode::OK
        );
    }
    let tag = As::new(&app.router, &app.admin)
        .put(
            "/npm/default/js/-/package/widget/dist-tags/stable",
            "\"1.0.0\"",
        )
        .await;
    assert_eq!(tag.status, StatusCode::CREATED);
    let doc = packument(&app, "widget").await;
    let rev = doc["_rev"].as_str().expect("_rev").to_owned();
    let mut without = doc.clone();
    without["versions"]
        .as_object_mut()
        .expect("versions")
        .remove("1.0.0");
    let path = format!("/npm/default/js/widget/-rev/{rev}");
    let refused = As::new(&app.router, &app.admin)
        .put(&path, without.to_string())
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("stable")),
        "{}",
        refused.json()
    );
    assert!(
        packument(&app, "widget").await["versions"]
            .get("1.0.0")
            .is_some(),
        "nothing was removed"
    );
    // With the tag moved in the same document (as npm does), it goes.
    without["dist-tags"]["stable"] = json!("1.1.0");
    let done = As::new(&app.router, &app.admin)
        .put(&path, without.to_string())
        .await;
    assert_eq!(
        done.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&done.body)
    );
    let doc = packument(&app, "widget").await;
    assert!(doc["versions"].get("1.0.0").is_none());
    assert_eq!(
        doc["dist-tags"],
        json!({"latest": "1.1.0", "stable": "1.1.0"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_past_the_repositorys_limit_names_the_presigned_path() {
    let app = TestApp::new().await;
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(json!({"name": "js", "format": "npm", "max_file_size": 1024})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // 1.5 MB of tarball: its base64 is past 4/3 of the limit plus the document's 1 MiB.
    let big = vec![7u8; 1536 * 1024];
    let doc = npm_publish_document("widget", "1.0.0", "latest", &big);
    let a = As::new(&app.router, &app.admin)
        .put("/npm/default/js/widget", doc)
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    let error = a.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("/v1/repositories/js/uploads"), "{error}");
}
