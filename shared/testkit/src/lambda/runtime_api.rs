//! The Lambda Runtime API on 127.0.0.1, and a function process under it: `sam local invoke`
//! without Docker. One emulator per function process, as Lambda gives each sandbox its own.
//!
//! Implemented: `GET /2018-06-01/runtime/invocation/next` (long poll, with the documented
//! `Lambda-Runtime-*` headers), `POST …/invocation/{id}/response`, `POST …/invocation/{id}/error`
//! and `POST /2018-06-01/runtime/init/error`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Notify, oneshot};

const API: &str = "/2018-06-01/runtime";
/// How long one invocation may take before the harness gives up (the function's timeout).
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
const ACCOUNT: &str = "123456789012";

/// What the function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST …/{id}/response`: the handler's result.
    Response(serde_json::Value),
    /// `POST …/{id}/error`: `{"errorType", "errorMessage"}`.
    Error {
        error_type: String,
        error_message: String,
    },
    /// `POST /init/error`, or the process exited before answering.
    InitFailed(String),
}

impl Outcome {
    /// The response, or a panic naming what happened instead (tests only).
    pub fn response(self) -> serde_json::Value {
        match self {
            Outcome::Response(v) => v,
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

struct Invocation {
    id: String,
    event: Vec<u8>,
    function_arn: String,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<VecDeque<Invocation>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// When the runtime first asked for work: the end of its init phase.
    first_next: Mutex<Option<Instant>>,
    polled: Notify,
    init_error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The emulator: a Runtime API endpoint for one function process.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route(&format!("{API}/invocation/next"), get(next))
            .route(&format!("{API}/invocation/{{id}}/response"), post(response))
            .route(&format!("{API}/invocation/{{id}}/error"), post(error))
            .route(&format!("{API}/init/error"), post(init_error))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Runtime API on loopback");
        let addr = listener.local_addr().expect("local address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    fn enqueue(&self, function_name: &str, event: Vec<u8>) -> oneshot::Receiver<Outcome> {
        let id = ulid::Ulid::new().to_string().to_ascii_lowercase();
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.waiting).insert(id.clone(), tx);
        lock(&self.shared.pending).push_back(Invocation {
            id,
            event,
            function_arn: format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function_name}"),
        });
        self.shared.queued.notify_one();
        rx
    }

    fn first_next(&self) -> Option<Instant> {
        *lock(&self.shared.first_next)
    }

    fn init_error(&self) -> Option<String> {
        lock(&self.shared.init_error).clone()
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    {
        let mut first = lock(&shared.first_next);
        if first.is_none() {
            *first = Some(Instant::now());
            shared.polled.notify_waiters();
        }
    }
    let invocation = loop {
        if let Some(inv) = lock(&shared.pending).pop_front() {
            break inv;
        }
        shared.queued.notified().await;
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + INVOKE_TIMEOUT;
    let random = format!("{:032x}", ulid::Ulid::new().0);
    let trace = format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        deadline.as_secs(),
        &random[..24],
        &random[16..],
    );
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("lambda-runtime-aws-request-id", invocation.id),
        (
            "lambda-runtime-deadline-ms",
            deadline.as_millis().to_string(),
        ),
        (
            "lambda-runtime-invoked-function-arn",
            invocation.function_arn,
        ),
        ("lambda-runtime-trace-id", trace),
    ];
    let mut response = invocation.event.into_response();
    for (name, value) in headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn settle(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match lock(&shared.waiting).remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()));
    settle(&shared, &id, Outcome::Response(value))
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(rename = "errorType", default)]
    error_type: String,
    #[serde(rename = "errorMessage", default)]
    error_message: String,
}

async fn error(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let parsed: ErrorBody = serde_json::from_slice(&body).unwrap_or(ErrorBody {
        error_type: String::new(),
        error_message: String::from_utf8_lossy(&body).into(),
    });
    let error_type = if parsed.error_type.is_empty() {
        headers
            .get("lambda-runtime-function-error-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("Unhandled")
            .to_owned()
    } else {
        parsed.error_type
    };
    settle(
        &shared,
        &id,
        Outcome::Error {
            error_type,
            error_message: parsed.error_message,
        },
    )
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *lock(&shared.init_error) = Some(String::from_utf8_lossy(&body).into());
    StatusCode::ACCEPTED
}

/// How to run one function: its binary and the settings Lambda would give it.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    pub binary: PathBuf,
    /// The function's `Handler` (`_HANDLER`).
    pub handler: String,
    pub memory_mb: u32,
    /// The function's environment variables (the template's `Environment`).
    pub env: Vec<(String, String)>,
    /// The access key the function signs its calls with (its role's, as Lambda hands a role's
    /// session to the runtime); `None`: moto's dummy credentials.
    pub credentials: Option<aws_sdk_s3::config::Credentials>,
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and (when the key has one)
/// `AWS_SESSION_TOKEN`, as Lambda sets them from the function's role.
fn credential_env(
    credentials: Option<&aws_sdk_s3::config::Credentials>,
) -> Vec<(&'static str, String)> {
    match credentials {
        Some(c) => {
            let mut env = vec![
                ("AWS_ACCESS_KEY_ID", c.access_key_id().to_owned()),
                ("AWS_SECRET_ACCESS_KEY", c.secret_access_key().to_owned()),
            ];
            if let Some(token) = c.session_token() {
                env.push(("AWS_SESSION_TOKEN", token.to_owned()));
            }
            env
        }
        None => vec![
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_SESSION_TOKEN", "test".to_owned()),
        ],
    }
}

/// A function process running under its own Runtime API emulator. Killed (by its PID) on
/// drop.
pub struct Function {
    spec: FunctionSpec,
    api: RuntimeApi,
    child: Child,
    spawned_at: Instant,
    log: PathBuf,
}

impl Drop for Function {
    fn drop(&mut self) {
        // Child::kill signals exactly this process id.
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test keeps the function's log to read; a passing one leaves nothing.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

impl Function {
    /// Starts the binary the way Lambda starts a custom runtime: a clean environment with
    /// the runtime's variables, the function's configuration and (dummy) credentials.
    pub async fn start(spec: FunctionSpec) -> Self {
        let api = RuntimeApi::start().await;
        let log = crate::target_tmp().join(format!(
            "lambda-{}-{}.log",
            spec.name,
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        ));
        let out = std::fs::File::create(&log).expect("function log file");
        let err = out.try_clone().expect("function log file");
        let mut command = Command::new(&spec.binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.host_port())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[1]harness")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .env("_HANDLER", &spec.handler)
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("TZ", ":UTC")
            .envs(credential_env(spec.credentials.as_ref()))
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", spec.binary.display()));
        Self {
            spec,
            api,
            child,
            spawned_at,
            log,
        }
    }

    /// The process id, to read its memory from /proc.
    #[allow(dead_code)] // Read by the `lambda` bench (memory at init), not by the tests.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the runtime asks for its first event: spawn → first `/next`.
    pub async fn init_duration(&mut self) -> Result<Duration, String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let shared = Arc::clone(&self.api.shared);
        loop {
            let polled = shared.polled.notified();
            if let Some(at) = self.api.first_next() {
                return Ok(at - self.spawned_at);
            }
            if let Some(failure) = self.failure() {
                return Err(failure);
            }
            if Instant::now() > deadline {
                return Err(format!("no /next within 20 s; {}", self.log_tail()));
            }
            let _ = tokio::time::timeout(Duration::from_millis(20), polled).await;
        }
    }

    /// Why the process can no longer answer, if it cannot.
    fn failure(&mut self) -> Option<String> {
        if let Some(e) = self.api.init_error() {
            return Some(format!("init error: {e}; {}", self.log_tail()));
        }
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("exited ({status}); {}", self.log_tail())),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Feeds one event and waits for the function's answer.
    pub async fn invoke(&mut self, event: &serde_json::Value) -> Outcome {
        let body = serde_json::to_vec(event).expect("event serializes");
        let mut answer = self.api.enqueue(&self.spec.name, body);
        let deadline = Instant::now() + INVOKE_TIMEOUT;
        loop {
            match tokio::time::timeout(Duration::from_millis(50), &mut answer).await {
                Ok(Ok(outcome)) => return outcome,
                Ok(Err(_)) => return Outcome::InitFailed("emulator dropped the invocation".into()),
                Err(_) => {}
            }
            if let Some(failure) = self.failure() {
                return Outcome::InitFailed(failure);
            }
            if Instant::now() > deadline {
                return Outcome::InitFailed(format!(
                    "no answer within {INVOKE_TIMEOUT:?}; {}",
                    self.log_tail()
                ));
            }
        }
    }

    /// The CloudWatch EMF documents (lines with an `_aws` member) the function printed from
    /// byte `from` of its log on, and the byte where its log ends now: what a bench reads
    /// the adapters' meters from. A function prints them before it answers.
    #[allow(dead_code)] // Read by the `lambda` bench, not by the tests.
    pub fn metrics_since(&self, from: u64) -> (Vec<serde_json::Value>, u64) {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let start = usize::try_from(from).unwrap_or(usize::MAX).min(text.len());
        let docs = text[start..]
            .split(|b| *b == b'\n')
            .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
            .filter(|doc| doc.get("_aws").is_some())
            .collect();
        (docs, text.len() as u64)
    }

    /// The last lines the function logged, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 20)
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    format!(
        "log {} ends with:\n{}",
        path.display(),
        all[start..].join("\n")
    )
}
