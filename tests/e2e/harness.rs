//! The test harness: a real `trove serve` child process on a free loopback port with a fresh
//! data dir, and small helpers that speak its HTTP API.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, RngCore as _};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode, Url};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use trove_testkit::seed::rng;

/// How long any poll may take before the test fails.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Pseudo-random bytes a seed decides, so failures reproduce.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    rng(seed).fill_bytes(&mut out);
    out
}

/// The seeded generator of fuzzing and payloads: `trove_testkit::seed`'s, with the few
/// draws the tests name.
pub struct Rng(StdRng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(rng(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn chance(&mut self, percent: u32) -> bool {
        self.0.random_ratio(percent, 100)
    }
    /// Every order equally likely, so the seed alone decides it.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        items.shuffle(&mut self.0);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener
        .local_addr()
        .expect("ephemeral listener has an address")
        .port()
}

fn http_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("build reqwest client")
}

/// A running `trove serve`, killed (SIGKILL, by PID) when dropped.
pub struct TestServer {
    pub base: String,
    pub token: String,
    pub client: Client,
    port: u16,
    child: Option<Child>,
    data_dir: TempDir,
    log_dir: TempDir,
    env: Vec<(String, String)>,
}

impl TestServer {
    /// Starts a server on a fresh data dir and waits until it is ready.
    pub async fn start() -> Self {
        Self::start_with_env(&[]).await
    }

    /// Like `start`, with extra environment variables for the server (settings).
    pub async fn start_with_env(env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::Builder::new()
            .prefix("trove-e2e-data-")
            .tempdir()
            .expect("create data tempdir");
        let log_dir = tempfile::Builder::new()
            .prefix("trove-e2e-log-")
            .tempdir()
            .expect("create log tempdir");
        let port = free_port();
        let mut server = TestServer {
            base: format!("http://127.0.0.1:{port}"),
            token: String::new(),
            client: http_client(),
            port,
            child: None,
            data_dir,
            log_dir,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        server.spawn_and_wait().await;
        server
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Where the embedded store keeps the default tenant's object of an upload in `area`
    /// (`incoming`, `quarantine`): tests look behind the API at what storage holds.
    pub fn blob_path(&self, area: &str, upload_id: &str) -> PathBuf {
        self.data_dir()
            .join("blobs")
            .join(area)
            .join("default")
            .join(upload_id)
    }

    pub fn log_path(&self) -> PathBuf {
        self.log_dir.path().join("server.log")
    }

    /// Everything the server printed so far (stdout and stderr, all starts).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        log[start..].to_owned()
    }

    async fn spawn_and_wait(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open server log");
        let log_err = log.try_clone().expect("clone server log handle");
        let mut command = Command::new(env!("CARGO_BIN_EXE_trove"));
        // Settings from the developer's shell must not leak into the test.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TROVE_") {
                command.env_remove(&key);
            }
        }
        command.env_remove("AWS_LAMBDA_FUNCTION_NAME");
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .env(
                "RUST_LOG",
                std::env::var("TROVE_E2E_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .expect("spawn the trove binary");
        self.child = Some(child);
        self.client = http_client();

        let deadline = Instant::now() + POLL_TIMEOUT;
        loop {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!(
                    "trove serve exited during startup ({status}); log:\n{}",
                    self.log_tail()
                );
            }
            let ready = self
                .client
                .get(format!("{}/healthz", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .map(|r| r.status() == StatusCode::OK)
                .unwrap_or(false);
            if ready {
                break;
            }
            if Instant::now() > deadline {
                panic!(
                    "trove serve did not answer /healthz 200 within {POLL_TIMEOUT:?}; log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }

        let token_path = self.data_dir.path().join("admin-token");
        let token = std::fs::read_to_string(&token_path)
            .unwrap_or_else(|e| panic!("read {}: {e}", token_path.display()));
        let token = token.trim().to_owned();
        assert!(!token.is_empty(), "admin-token file is empty");
        self.token = token;
    }

    /// SIGKILL the server (no graceful shutdown) and wait for it to die.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // std's Child::kill sends SIGKILL to this child's PID on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data dir and port, and waits until it is ready.
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn_and_wait().await;
    }

    /// Like `restart`, with these environment variables instead of the ones given so far.
    pub async fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.restart().await;
    }

    /// The process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request carrying the admin key.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// A request without any Authorization header.
    pub fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .api(Method::GET, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status();
        let body = resp.bytes().await.expect("read response body");
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, value)
    }

    /// GET that must answer 200 with a JSON body.
    pub async fn get_ok(&self, path: &str) -> Value {
        let resp = self
            .api(Method::GET, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        expect_json(resp, StatusCode::OK, &format!("GET {path}")).await
    }

    pub async fn create_repo(&self, name: &str) -> Value {
        self.create_repo_of(name, "generic").await
    }

    /// A repository of `format` (`generic`, `pypi`, `npm`, `cargo`).
    pub async fn create_repo_of(&self, name: &str, format: &str) -> Value {
        let resp = self
            .api(Method::POST, "/v1/repositories")
            .json(&json!({"name": name, "format": format, "description": format!("e2e {name}")}))
            .send()
            .await
            .expect("POST /v1/repositories");
        expect_json(
            resp,
            StatusCode::CREATED,
            &format!("create repository {name}"),
        )
        .await
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        self.anon(Method::GET, "/metrics")
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// A new tenant; returns its first admin's API key.
    pub async fn create_tenant(&self, name: &str) -> String {
        let resp = self
            .api(Method::POST, "/v1/tenants")
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("POST /v1/tenants");
        let tenant = expect_json(resp, StatusCode::CREATED, &format!("create tenant {name}")).await;
        tenant["admin_api_key"]
            .as_str()
            .expect("the new tenant's admin key")
            .to_owned()
    }

    /// A tenant-wide webhook to `url` for these event types; returns it (its id and, this
    /// once, its secret).
    pub async fn create_webhook(&self, url: &str, events: &[&str]) -> Value {
        let resp = self
            .api(Method::POST, "/v1/webhooks")
            .json(&json!({"url": url, "events": events}))
            .send()
            .await
            .expect("POST /v1/webhooks");
        expect_json(resp, StatusCode::CREATED, "create webhook").await
    }

    /// POST an upload request for exactly these bytes; returns the raw response.
    pub async fn request_upload_raw(
        &self,
        repo: &str,
        package: &str,
        version: &str,
        filename: &str,
        bytes: &[u8],
    ) -> Response {
        self.api(Method::POST, &format!("/v1/repositories/{repo}/uploads"))
            .json(&json!({
                "package": package,
                "version": version,
                "filename": filename,
                "size": bytes.len(),
                "sha256": sha256_hex(bytes),
            }))
            .send()
            .await
            .expect("POST uploads")
    }

    /// POST an upload request that must succeed (201); returns the ticket.
    pub async fn request_upload(
        &self,
        repo: &str,
        package: &str,
        version: &str,
        filename: &str,
        bytes: &[u8],
    ) -> Value {
        let resp = self
            .request_upload_raw(repo, package, version, filename, bytes)
            .await;
        let ticket = expect_json(
            resp,
            StatusCode::CREATED,
            &format!("upload request {repo}/{package}/{version}/{filename}"),
        )
        .await;
        assert!(
            ticket["upload_id"].as_str().is_some_and(|s| !s.is_empty()),
            "ticket has upload_id: {ticket}"
        );
        assert!(ticket["url"].is_string(), "ticket has url: {ticket}");
        assert_eq!(ticket["method"], "PUT", "ticket method: {ticket}");
        assert!(
            ticket["headers"].is_object(),
            "ticket has headers: {ticket}"
        );
        assert!(
            ticket["expires_at"].is_string(),
            "ticket has expires_at: {ticket}"
        );
        ticket
    }

    /// PUTs `bytes` to the ticket's URL with exactly the ticket's headers.
    pub async fn put_ticket(&self, ticket: &Value, bytes: Vec<u8>) -> Response {
        let url = self.resolve(ticket["url"].as_str().expect("ticket url is a string"));
        self.client
            .put(url)
            .headers(ticket_headers(ticket, true))
            .body(bytes)
            .send()
            .await
            .expect("PUT to the presigned upload URL")
    }

    /// Resolves a URL the server returned (absolute, or relative to the server).
    pub fn resolve(&self, url: &str) -> Url {
        let base = Url::parse(&self.base).expect("server base URL parses");
        base.join(url)
            .unwrap_or_else(|e| panic!("server returned an unusable URL {url:?}: {e}"))
    }

    pub async fn upload_status(&self, repo: &str, upload_id: &str) -> Value {
        self.get_ok(&format!("/v1/repositories/{repo}/uploads/{upload_id}"))
            .await
    }

    /// Polls an upload until it is published or rejected; fails the test after POLL_TIMEOUT.
    pub async fn wait_upload(&self, repo: &str, upload_id: &str) -> Value {
        let deadline = Instant::now() + POLL_TIMEOUT;
        loop {
            let status = self.upload_status(repo, upload_id).await;
            match status["status"].as_str() {
                Some("published" | "rejected") => return status,
                Some("pending" | "scanning") => {}
                other => panic!("upload {upload_id}: unexpected status {other:?} in {status}"),
            }
            if Instant::now() > deadline {
                panic!("upload {upload_id} not finished after {POLL_TIMEOUT:?}: {status}");
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Request → PUT → poll; returns (ticket, final upload status).
    pub async fn full_upload(
        &self,
        repo: &str,
        package: &str,
        version: &str,
        filename: &str,
        bytes: &[u8],
    ) -> (Value, Value) {
        let ticket = self
            .request_upload(repo, package, version, filename, bytes)
            .await;
        let put = self.put_ticket(&ticket, bytes.to_vec()).await;
        let put_status = put.status();
        assert!(
            put_status.is_success(),
            "PUT of {repo}/{package}/{version}/{filename} answered {put_status}: {}",
            put.text().await.unwrap_or_default()
        );
        let upload_id = ticket["upload_id"].as_str().expect("upload_id is a string");
        let status = self.wait_upload(repo, upload_id).await;
        (ticket, status)
    }

    /// A full upload that must end published.
    pub async fn publish(
        &self,
        repo: &str,
        package: &str,
        version: &str,
        filename: &str,
        bytes: &[u8],
    ) -> Value {
        let (_, status) = self
            .full_upload(repo, package, version, filename, bytes)
            .await;
        assert_eq!(
            status["status"], "published",
            "upload of {repo}/{package}/{version}/{filename} did not publish: {status}"
        );
        status
    }

    /// Downloads a file through the 302 redirect; returns the bytes.
    pub async fn download(
        &self,
        repo: &str,
        package: &str,
        version: &str,
        filename: &str,
    ) -> Vec<u8> {
        let path = format!(
            "/v1/repositories/{repo}/packages/{package}/versions/{version}/files/{filename}"
        );
        let resp = self
            .api(Method::GET, &path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(
            resp.status(),
            StatusCode::FOUND,
            "download {path} should redirect: {}",
            resp.text().await.unwrap_or_default()
        );
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .expect("302 carries a Location header")
            .to_str()
            .expect("Location is ASCII")
            .to_owned();
        // The presigned URL must work on its own, without the API key.
        let blob = self
            .client
            .get(self.resolve(&location))
            .send()
            .await
            .expect("GET presigned download URL");
        assert_eq!(blob.status(), StatusCode::OK, "presigned GET of {location}");
        blob.bytes().await.expect("read download body").to_vec()
    }

    /// Follows `next_cursor` over a paginated listing; returns every item.
    pub async fn list_all(&self, path_with_query: &str, limit: usize) -> (Vec<Value>, usize) {
        let sep = if path_with_query.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(
                pages <= 1000,
                "pagination of {path_with_query} does not end"
            );
            let mut path = format!("{path_with_query}{sep}limit={limit}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", encode_query(c)));
            }
            let page = self.get_ok(&path).await;
            let page_items = page["items"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: items is not an array: {page}"));
            assert!(
                page_items.len() <= limit,
                "{path}: page has {} items, over the limit {limit}",
                page_items.len()
            );
            items.extend(page_items.iter().cloned());
            match page.get("next_cursor") {
                None | Some(Value::Null) => break,
                Some(Value::String(c)) => {
                    assert!(
                        !page_items.is_empty(),
                        "{path}: empty page with a next_cursor"
                    );
                    cursor = Some(c.clone());
                }
                Some(other) => panic!("{path}: next_cursor is not a string: {other}"),
            }
        }
        (items, pages)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode_query(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The ticket's headers as a HeaderMap; `with_length` keeps a Content-Length header if the
/// server listed one (drop it to send a body of another length).
pub fn ticket_headers(ticket: &Value, with_length: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let obj = ticket["headers"]
        .as_object()
        .expect("ticket headers is an object");
    for (name, value) in obj {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("ticket header name {name:?}: {e}"));
        if !with_length && name == CONTENT_LENGTH {
            continue;
        }
        let value = value
            .as_str()
            .unwrap_or_else(|| panic!("ticket header {name} is not a string: {value}"));
        headers.insert(
            name,
            HeaderValue::from_str(value).expect("ticket header value is valid"),
        );
    }
    headers
}

/// Reads a response that must have `expected` status and a JSON body.
pub async fn expect_json(resp: Response, expected: StatusCode, what: &str) -> Value {
    let status = resp.status();
    let content_type = header_str(&resp, CONTENT_TYPE);
    let body = resp.bytes().await.expect("read response body");
    assert_eq!(
        status,
        expected,
        "{what}: expected {expected}, got {status}; body: {}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content-type {content_type:?} is not application/json"
    );
    serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{what}: body is not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    })
}

pub fn header_str(resp: &Response, name: HeaderName) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// For `assert_problem`: any 4xx will do.
pub const ANY_4XX: &[u16] = &[];

/// Checks a problem+json error answer; `allowed` lists acceptable statuses (all 4xx; empty:
/// any 4xx).
/// Returns the parsed problem document.
pub async fn assert_problem(resp: Response, allowed: &[u16], what: &str) -> Value {
    let status = resp.status();
    let content_type = header_str(&resp, CONTENT_TYPE);
    let body = resp.bytes().await.expect("read error body");
    let text = String::from_utf8_lossy(&body);
    assert!(
        allowed.is_empty() || allowed.contains(&status.as_u16()),
        "{what}: expected status in {allowed:?}, got {status}; body: {text}"
    );
    assert!(
        status.is_client_error(),
        "{what}: {status} is not a 4xx; body: {text}"
    );
    check_problem_body(status, &content_type, &body)
        .unwrap_or_else(|e| panic!("{what}: {e}; body: {text}"))
}

/// Whether an error body is a well-formed problem+json document for `status`.
pub fn check_problem_body(
    status: StatusCode,
    content_type: &str,
    body: &[u8],
) -> Result<Value, String> {
    if !content_type.starts_with("application/problem+json") {
        return Err(format!(
            "{status}: content-type {content_type:?} is not application/problem+json"
        ));
    }
    let problem: Value =
        serde_json::from_slice(body).map_err(|e| format!("{status}: body is not JSON: {e}"))?;
    for field in ["type", "title", "detail"] {
        if !problem[field].is_string() {
            return Err(format!("{status}: problem has no string {field:?}"));
        }
    }
    if problem["status"].as_u64() != Some(u64::from(status.as_u16())) {
        return Err(format!(
            "{status}: problem status field {} differs from the HTTP status",
            problem["status"]
        ));
    }
    Ok(problem)
}

/// The problem's `detail`, lower-cased, for message checks.
pub fn detail(problem: &Value) -> String {
    problem["detail"].as_str().unwrap_or("").to_lowercase()
}
