//! One moto server per test binary, and per-test AWS fixtures on it (a table, a bucket, a
//! secret prefix of its own, so tests run in parallel).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_s3::config::Credentials;
use trove_aws::{AwsConfig, AwsSecrets, DynamoTable, S3Blobs, s3_client};
use trove_core::ports::{Blobs, Secrets, Table};

use crate::{Fixture, unique};

const START_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Moto {
    child: Child,
    /// The wrapper shell kills moto when this pipe closes (see `spawn`).
    stdin: Option<ChildStdin>,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

/// The endpoint of this binary's moto, started on first use.
pub fn endpoint() -> &'static str {
    match MOTO.get_or_init(|| start("moto.log")) {
        Ok(moto) => &moto.endpoint,
        Err(message) => panic!("{message}"),
    }
}

fn moto_server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("TROVE_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server")
}

/// Starts a moto of its own, logging to `log_name` beside the test binary.
pub(crate) fn start(log_name: &str) -> Result<Moto, String> {
    let path = moto_server_path();
    if !path.exists() {
        return Err(format!(
            "moto_server not found at {} (set TROVE_MOTO_SERVER, or run scripts/test.sh, which \
             installs moto[server] into .venv); the AWS contract tests never skip silently",
            path.display()
        ));
    }
    // A free port may be taken between probing and binding; a few attempts cover that.
    let mut last_error = String::new();
    for _ in 0..3 {
        match spawn(&path, log_name) {
            Ok(moto) => return Ok(moto),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// moto runs through `moto_server.py` (a fix moto 5.2's S3 needs; see that file) with the
/// virtualenv's Python beside `moto_server`; a `moto_server` without one runs as it is.
fn launcher(moto_server: &std::path::Path) -> (PathBuf, Option<String>) {
    let python = moto_server.with_file_name("python");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto_server.py");
    if python.exists() && script.exists() {
        (python, Some(script.display().to_string()))
    } else {
        (moto_server.to_path_buf(), None)
    }
}

/// Beside the test binary, one fixed name per server, so runs do not pile up logs: the last
/// run's requests are there (cargo runs test binaries one at a time).
pub(crate) fn log_path(log_name: &str) -> PathBuf {
    crate::target_tmp().join(log_name)
}

fn spawn(path: &std::path::Path, log_name: &str) -> Result<Moto, String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let log_path = log_path(log_name);
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    // The static that holds moto is never dropped, so `Drop` alone would leave moto running
    // after the test binary exits. The wrapper waits for its stdin to close — which happens
    // however this process ends — then kills exactly the moto it started.
    let (program, script) = launcher(path);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" ${2:+"$2"} -H 127.0.0.1 -p "$1" & moto=$!; cat >/dev/null; kill "$moto"; wait "$moto""#)
        .arg(&program)
        .arg(port.to_string())
        .arg(script.unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", path.display()))?;
    let stdin = child.stdin.take();
    let mut moto = Moto {
        child,
        stdin,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if answers(addr) {
            return Ok(moto);
        }
        if let Ok(Some(status)) = moto.child.try_wait() {
            return Err(format!(
                "moto_server exited early ({status}); see {}",
                log_path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(moto.stdin.take());
    Err(format!(
        "moto_server did not answer on {addr} within {START_TIMEOUT:?}"
    ))
}

/// Whether an HTTP server answers on the address.
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// SDK configuration for moto: the production loader (region, endpoint override) with dummy
/// static credentials.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_for(
        endpoint(),
        Credentials::new("test", "test", None, None, "test"),
    )
    .await
}

/// The production loader pointed at a moto `endpoint` with these credentials.
pub async fn sdk_config_for(endpoint: &str, credentials: Credentials) -> SdkConfig {
    let cfg = AwsConfig {
        region: "us-east-1".to_owned(),
        endpoint_url: Some(endpoint.to_owned()),
        table_name: String::new(),
        bucket: String::new(),
        secret_prefix: String::new(),
    };
    cfg.loader().credentials_provider(credentials).load().await
}

/// A fresh table of its own.
pub async fn table() -> Fixture<dyn Table> {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let name = unique("trove-test");
    DynamoTable::create_table(&client, &name)
        .await
        .expect("moto creates the table");
    Fixture::new(Arc::new(DynamoTable::new(client, name)), None)
}

/// A fresh bucket of its own.
pub async fn blobs() -> Fixture<dyn Blobs> {
    let client = s3_client(&sdk_config().await);
    let bucket = unique("trove-test");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("moto creates the bucket");
    Fixture::new(Arc::new(S3Blobs::new(client, bucket)), None)
}

/// A secrets client and a prefix of its own.
pub async fn secrets() -> (aws_sdk_secretsmanager::Client, String) {
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config().await);
    (client, format!("{}/", unique("trove-test")))
}

/// An `AwsSecrets` over a fresh prefix.
pub async fn secrets_port() -> (Arc<dyn Secrets>, aws_sdk_secretsmanager::Client, String) {
    let (client, prefix) = secrets().await;
    let port = Arc::new(AwsSecrets::new(client.clone(), &prefix));
    (port, client, prefix)
}
