//! The API in-process (tower `oneshot`) over the embedded host: tenant isolation, the
//! problem+json shape of router-level errors, and credentials.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt as _;

use trove_core::config::Settings;
use trove_core::domain::names::TenantName;
use trove_core::ports::SystemClock;
use trove_core::services::tenants;
use trove_embedded::Embedded;

pub(super) struct TestApp {
    pub(super) router: Router,
    pub(super) host: Embedded,
    pub(super) admin: String,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub(super) async fn new() -> Self {
        Self::with_settings(Settings::for_testing()).await
    }

    pub(super) async fn with_settings(settings: Settings) -> Self {
        Self::with_clock(settings, Arc::new(SystemClock)).await
    }

    pub(super) async fn with_clock(
        settings: Settings,
        clock: Arc<dyn trove_core::ports::Clock>,
    ) -> Self {
        let (dir, host) = trove_testkit::host_with(settings, clock).await;
        let admin = host
            .bootstrap(|_| Ok(()))
            .await
            .expect("bootstrap")
            .expect("new key");
        Self {
            router: host.router(),
            host,
            admin,
            _dir: dir,
        }
    }

    pub(super) async fn tenant_key(&self, name: &str) -> String {
        let tenant = TenantName::parse(name).expect("valid tenant");
        tenants::ensure(&self.host.ctx, &tenant, |_| Ok(()))
            .await
            .expect("tenant created")
            .expect("new key")
    }

    pub(super) async fn call(
        &self,
        method: Method,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, String, Value) {
        let (status, headers, body) = self.send(method, uri, key, body, None).await;
        let ctype = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, ctype, body)
    }

    /// A request from `ip` (as the host would report the client's address).
    pub(super) async fn send(
        &self,
        method: Method,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
        ip: Option<std::net::IpAddr>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .extension(trove_core::http::guard::SourceIp(ip));
        if let Some(key) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let res = self
            .router
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A service account with one grant (`role` on `scope`) and an API key of it.
    pub(super) async fn key_with(&self, name: &str, role: &str, scope: Value) -> String {
        let sa = self
            .admin_post("/v1/service-accounts", json!({"name": name}))
            .await;
        let id = sa["id"].as_str().expect("id");
        self.admin_post(
            "/v1/grants",
            json!({"principal": id, "role": role, "scope": scope}),
        )
        .await;
        let key = self
            .admin_post("/v1/api-keys", json!({"owner": id, "name": name}))
            .await;
        key["key"].as_str().expect("key").to_owned()
    }

    /// POSTs `body` as the admin; anything but a success fails the test.
    async fn admin_post(&self, uri: &str, body: Value) -> Value {
        let (status, _, v) = self
            .call(Method::POST, uri, Some(&self.admin), Some(body))
            .await;
        assert!(status.is_success(), "POST {uri}: {status} {v}");
        v
    }

    /// Creates a generic repository as the admin; anything but 201 fails the test.
    pub(super) async fn create_repository(&self, name: &str) {
        let (status, _, body) = self
            .call(
                Method::POST,
                "/v1/repositories",
                Some(&self.admin),
                Some(json!({"name": name, "format": "generic"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Asks to upload `bytes` as `file` of `pkg` `version` to `repo`; the answer as it is.
    pub(super) async fn request_upload(
        &self,
        key: &str,
        repo: &str,
        pkg: &str,
        version: &str,
        file: &str,
        bytes: &[u8],
    ) -> (StatusCode, String, Value) {
        let sha = hex::encode(Sha256::digest(bytes));
        let body = json!({"package": pkg, "version": version, "filename": file, "size": bytes.len(), "sha256": sha});
        self.call(
            Method::POST,
            &format!("/v1/repositories/{repo}/uploads"),
            Some(key),
            Some(body),
        )
        .await
    }

    /// PUTs the bytes of an accepted upload to its presigned URL with the headers the ticket
    /// names, as a client would, through the blob endpoint.
    pub(super) async fn put_ticket(&self, ticket: &Value, bytes: &[u8]) {
        let url = ticket["url"].as_str().expect("url");
        let path = url.strip_prefix("http://trove.test").expect("our base url");
        let mut put = Request::builder().method(Method::PUT).uri(path);
        for (name, value) in ticket["headers"].as_object().expect("headers") {
            put = put.header(name.as_str(), value.as_str().expect("header value"));
        }
        let res = self
            .router
            .clone()
            .oneshot(put.body(Body::from(bytes.to_vec())).expect("request"))
            .await
            .expect("infallible");
        assert!(res.status().is_success(), "PUT answered {}", res.status());
    }

    /// Requests an upload, PUTs the bytes through the blob endpoint, waits for the outcome.
    pub(super) async fn publish(
        &self,
        key: &str,
        repo: &str,
        pkg: &str,
        version: &str,
        file: &str,
        bytes: &[u8],
    ) -> Value {
        let (status, _, ticket) = self
            .request_upload(key, repo, pkg, version, file, bytes)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ticket}");
        self.put_ticket(&ticket, bytes).await;
        let id = ticket["upload_id"].as_str().expect("id");
        for _ in 0..200 {
            let (_, _, upload) = self
                .call(
                    Method::GET,
                    &format!("/v1/repositories/{repo}/uploads/{id}"),
                    Some(key),
                    None,
                )
                .await;
            if upload["status"] == "published" || upload["status"] == "rejected" {
                return upload;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("upload {id} did not finish");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_route_crosses_tenants() {
    let app = TestApp::new().await;
    let other = app.tenant_key("other").await;
    let admin = app.admin.clone();
    let (status, _, _) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&admin),
            Some(json!({"name": "libs", "format": "generic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let upload = app
        .publish(
            &admin,
            "libs",
            "widget",
            "1.0.0",
            "w.bin",
            b"tenant default's bytes",
        )
        .await;
    assert_eq!(upload["status"], "published", "{upload}");
    let id = upload["upload_id"].as_str().expect("id").to_owned();

    let base = "/v1/repositories/libs/packages/widget";
    let reads = [
        "/v1/repositories/libs".to_owned(),
        "/v1/repositories/libs/packages".to_owned(),
        base.to_owned(),
        format!("{base}/versions"),
        format!("{base}/versions/1.0.0"),
        format!("{base}/versions/1.0.0/files/w.bin?redirect=false"),
        format!("/v1/repositories/libs/uploads/{id}"),
    ];
    for uri in &reads {
        let (status, _, _) = app.call(Method::GET, uri, Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "owner reads {uri}");
        let (status, ctype, body) = app.call(Method::GET, uri, Some(&other), None).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "other tenant reads {uri}: {body}"
        );
        assert_eq!(ctype, "application/problem+json");
    }
    let (_, _, list) = app
        .call(Method::GET, "/v1/repositories", Some(&other), None)
        .await;
    assert_eq!(list["items"], json!([]));
    let (status, _, _) = app
        .call(
            Method::DELETE,
            &format!("{base}/versions/1.0.0"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app
        .call(Method::POST, "/v1/repositories/libs/uploads", Some(&other),
            Some(json!({"package": "widget", "version": "1.0.0", "filename": "w.bin", "size": 1, "sha256": "0".repeat(64)})))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the other tenant has no repository libs"
    );

    // The other tenant's own repository of the same name is its own.
    let (status, _, _) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&other),
            Some(json!({"name": "libs", "format": "generic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _, pkgs) = app
        .call(
            Method::GET,
            "/v1/repositories/libs/packages",
            Some(&other),
            None,
        )
        .await;
    assert_eq!(pkgs["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_checked() {
    let app = TestApp::new().await;
    for key in [None, Some("trove_wrong"), Some("not-a-trove-key")] {
        let (status, ctype, body) = app.call(Method::GET, "/v1/repositories", key, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(ctype, "application/problem+json");
        assert_eq!(body["status"], 401);
    }
    let (status, _, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn router_level_errors_are_problems() {
    let app = TestApp::new().await;
    let (status, ctype, body) = app.call(Method::GET, "/nope", None, None).await;
    assert_eq!(
        (status, ctype.as_str()),
        (StatusCode::NOT_FOUND, "application/problem+json")
    );
    assert_eq!(body["status"], 404);
    let (status, ctype, _) = app
        .call(
            Method::PATCH,
            "/v1/repositories",
            Some(&app.admin.clone()),
            None,
        )
        .await;
    assert_eq!(
        (status, ctype.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "application/problem+json")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_covers_every_route_with_auth_and_problems() {
    let doc = serde_json::to_value(trove_core::http::openapi()).expect("serialises");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/healthz",
        "/v1/repositories",
        "/v1/repositories/{repo}",
        "/v1/repositories/{repo}/uploads",
        "/v1/repositories/{repo}/uploads/{upload_id}",
        "/v1/repositories/{repo}/packages",
        "/v1/repositories/{repo}/packages/{package}",
        "/v1/repositories/{repo}/packages/{package}/versions",
        "/v1/repositories/{repo}/packages/{package}/versions/{version}",
        "/v1/repositories/{repo}/packages/{package}/versions/{version}/files/{filename}",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let get_repo = &paths["/v1/repositories/{repo}"]["get"]["responses"];
    assert!(get_repo["401"]["content"]["application/problem+json"].is_object());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_function_serves_only_its_route() {
    let app = TestApp::new().await;
    let table = trove_core::http::route_table();
    assert!(table.len() >= 11, "{table:?}");
    let mut ids: Vec<_> = table.iter().map(|r| r.operation_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        table.len(),
        "operation ids are unique: {table:?}"
    );
    assert!(!ids.contains(&""));
    let state = trove_core::http::AppState::new(std::sync::Arc::clone(&app.host.ctx));
    assert!(trove_core::http::router_for_route(state.clone(), "no_such_route").is_none());
    let only_list =
        trove_core::http::router_for_route(state, "list_repositories").expect("route exists");
    let send = |method: Method, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"name":"x","format":"generic"}"#))
            .expect("request")
    };
    let res = only_list
        .clone()
        .oneshot(send(Method::GET, "/v1/repositories"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let res = only_list
        .oneshot(send(Method::POST, "/v1/repositories"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_carries_a_request_id() {
    let app = TestApp::new().await;
    let fresh = app
        .router
        .clone()
        .oneshot(Request::get("/nope").body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let id = fresh
        .headers()
        .get("x-request-id")
        .expect("a request id is set");
    assert_eq!(id.len(), 26, "a ULID: {id:?}");
    let given = app
        .router
        .clone()
        .oneshot(
            Request::get("/healthz")
                .header("x-request-id", "client-chosen-1")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(given.headers()["x-request-id"], "client-chosen-1");
}
