//! A moto that enforces IAM, for the Lambda harness: each function process signs its calls
//! with the access key of an IAM user that holds exactly its role's policies (as SAM expands
//! them), so a permission the template forgot fails a test instead of a deployment.
//!
//! moto's own enforcement mode (`INITIAL_NO_AUTH_ACTION_COUNT`, switched on by `POST
//! /moto-api/reset-auth`) checks only part of what IAM checks; `moto_server.py` and
//! `moto_iam.py` beside this crate's manifest replace its decision with one that names the
//! resources and condition keys IAM evaluates (table and index ARNs, `dynamodb:LeadingKeys`,
//! `s3:prefix`, each item of a transaction, the signer of a presigned URL) and answer a
//! missing object with 403 to whoever may not list the bucket, as S3 does.
//!
//! Its own server, apart from [`crate::moto`]'s, because enforcement is global to a moto:
//! the contract suites that speak to moto as a plain emulator keep theirs.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::config::Credentials;
use tokio::sync::OnceCell;

use crate::moto::{self, Moto};
use crate::unique;

/// The account moto serves (its default), and the one the SAM transform is given.
pub const ACCOUNT: &str = "123456789012";

struct Enforcing {
    moto: Moto,
    /// A user allowed everything: the tests' own seeding and checking.
    admin: Credentials,
}

static ENFORCING: OnceCell<Enforcing> = OnceCell::const_new();

async fn enforcing() -> &'static Enforcing {
    ENFORCING
        .get_or_init(|| async {
            let moto = moto::start(LOG_NAME).unwrap_or_else(|message| panic!("{message}"));
            // Before enforcement starts, any signature is accepted: the first user is made
            // with dummy keys, as every call of the plain emulator is.
            let bootstrap = moto::sdk_config_for(
                &moto.endpoint,
                Credentials::new("test", "test", None, None, "test"),
            )
            .await;
            let admin = create_user(
                &aws_sdk_iam::Client::new(&bootstrap),
                "trove-harness-admin",
                &[serde_json::json!({
                    "Version": "2012-10-17",
                    "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }]
                })],
            )
            .await;
            reset_auth(&moto.endpoint, "0");
            Enforcing { moto, admin }
        })
        .await
}

/// moto's log, where `moto_iam.py` writes one line per refused call:
/// `moto_iam: DENY principal=<arn> action=<action> resource=<arn> context={…} reason=…`.
pub fn log_path() -> std::path::PathBuf {
    moto::log_path(LOG_NAME)
}

const LOG_NAME: &str = "moto-iam.log";

/// The refusals logged for principals whose name holds `marker`.
pub fn denials_of(marker: &str) -> Vec<String> {
    std::fs::read_to_string(log_path())
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("moto_iam: DENY") && line.contains(marker))
        .map(str::to_owned)
        .collect()
}

/// The enforcing moto's endpoint.
pub async fn endpoint() -> &'static str {
    &enforcing().await.moto.endpoint
}

/// SDK configuration for the enforcing moto with the administrator's key.
pub async fn admin_sdk_config() -> SdkConfig {
    let enforcing = enforcing().await;
    moto::sdk_config_for(&enforcing.moto.endpoint, enforcing.admin.clone()).await
}

/// A new IAM user (name from `prefix`) holding these policy documents, and its access key.
pub async fn principal(prefix: &str, documents: &[serde_json::Value]) -> Credentials {
    let iam = aws_sdk_iam::Client::new(&admin_sdk_config().await);
    // IAM user names are at most 64 characters.
    let mut name = unique(prefix);
    name.truncate(64);
    create_user(&iam, &name, documents).await
}

async fn create_user(
    iam: &aws_sdk_iam::Client,
    name: &str,
    documents: &[serde_json::Value],
) -> Credentials {
    iam.create_user()
        .user_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto creates the IAM user {name}: {e:?}"));
    for (i, document) in documents.iter().enumerate() {
        iam.put_user_policy()
            .user_name(name)
            .policy_name(format!("policy-{i}"))
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto puts policy {i} on {name}: {e:?}\n{document}"));
    }
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto creates an access key for {name}: {e:?}"))
        .access_key
        .unwrap_or_else(|| panic!("no access key in moto's answer for {name}"));
    Credentials::new(
        key.access_key_id,
        key.secret_access_key,
        None,
        None,
        "trove-harness",
    )
}

/// `POST /moto-api/reset-auth`: from now on moto checks every call after `count` more.
fn reset_auth(endpoint: &str, count: &str) {
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("connecting to moto at {addr} to enforce IAM: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let request = format!(
        "POST /moto-api/reset-auth HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{count}",
        count.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("moto takes the reset-auth request");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "moto refused to enforce IAM: {answer}"
    );
}
