//! A deployment of the template's resources on moto, one per test: table, bucket, events
//! queue, secrets and the pipeline's state machine, each with a unique name so
//! tests run in parallel on one emulator. Functions start with the template's settings and
//! this stack's names in their environment, and sign their calls as their role: an IAM user
//! holding the role's policies as SAM expands them, on a moto that enforces IAM
//! ([`crate::iam`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;
use aws_sdk_s3::config::Credentials;
use trove_aws::{AwsConfig, SqsEvents, StepFunctions};
use trove_core::config::Settings;
use trove_core::domain::names::TenantName;
use trove_core::ports::SystemClock;
use trove_core::services::Context;
use trove_core::services::access::authn::{Authorizer, Decision};
use trove_core::services::bootstrap::DEFAULT_TENANT;
use trove_core::services::tenants;

use super::intrinsics::Names;
use super::runtime_api::{Function, FunctionSpec};
use super::template::{self, FunctionDef, function_for};
use crate::iam::{self, ACCOUNT};

/// The variables every function reads (trove_aws::context_from_env); the
/// contract test checks the template's Globals set exactly these.
pub const TROVE_ENV: &[&str] = &[
    "TROVE_TABLE",
    "TROVE_BUCKET",
    "TROVE_STATE_MACHINE_ARN",
    "TROVE_EVENTS_QUEUE_URL",
    "TROVE_SECRET_PREFIX",
];

/// The secrets the code reads (`TROVE_SECRET_PREFIX` + name); the contract test checks the
/// template creates exactly these.
pub const SECRETS: &[&str] = &["token-signing", "pii-key"];

pub const REGION: &str = "us-east-1";

pub struct Stack {
    pub sdk: SdkConfig,
    pub table: String,
    pub bucket: String,
    pub queue_url: String,
    /// Where the dispatcher sends deliveries that failed every attempt.
    pub webhook_dlq_url: String,
    pub state_machine_arn: String,
    pub secret_prefix: String,
    /// The same ports the functions use, for seeding and checking from the test.
    pub ctx: Arc<Context>,
    /// Tells this test's function processes (and their logs) apart; the stack's `Stage`.
    tag: String,
    /// The enforcing moto the stack lives on.
    endpoint: String,
    /// What the template's references name on this stack.
    names: Names,
    /// One IAM user per role of the template, made when a function of that role first starts.
    principals: tokio::sync::Mutex<HashMap<String, Credentials>>,
    /// Refusals the test expects (a part of each logged line), which do not fail it.
    expected_refusals: std::sync::Mutex<Vec<String>>,
    /// The table's stream, read as Lambda's event source mapping reads it.
    pub stream: super::stream::StreamReader,
}

impl Stack {
    pub async fn new() -> Self {
        let sdk = iam::admin_sdk_config().await;
        let sdk_for_streams = sdk.clone();
        let endpoint = iam::endpoint().await.to_owned();
        let tag = stage();
        let table = format!("trove-{tag}");
        // The template's names, so that its policies' ARNs name this stack's resources.
        let bucket = format!("trove-{tag}-artifacts-{ACCOUNT}-{REGION}");
        let secret_prefix = format!("trove/{tag}/");

        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        trove_aws::DynamoTable::create_table(&dynamo, &table)
            .await
            .expect("moto creates the table");
        // As the template's StreamSpecification: the outbox's relay reads it.
        let stream_arn = dynamo
            .update_table()
            .table_name(&table)
            .stream_specification(
                aws_sdk_dynamodb::types::StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewImage)
                    .build()
                    .expect("a stream specification"),
            )
            .send()
            .await
            .expect("moto streams the table")
            .table_description
            .and_then(|t| t.latest_stream_arn)
            .expect("the table's stream");
        let s3 = trove_aws::s3_client(&sdk);
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("moto creates the bucket");
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("trove-events-{tag}"))
            .send()
            .await
            .expect("moto creates the queue")
            .queue_url
            .expect("queue url");
        let webhook_dlq_url = sqs
            .create_queue()
            .queue_name(format!("trove-webhook-dlq-{tag}"))
            .send()
            .await
            .expect("moto creates the webhook dead-letter queue")
            .queue_url
            .expect("queue url");
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let mut secret_arns = HashMap::new();
        for name in SECRETS {
            // Both need at least 32 bytes; a unique name is 27 more than its prefix.
            let arn = secrets
                .create_secret()
                .name(format!("{secret_prefix}{name}"))
                .secret_string(crate::unique(&format!("secret-{name}")))
                .send()
                .await
                .expect("moto creates the secret")
                .arn
                .expect("a secret's ARN");
            secret_arns.insert(*name, arn);
        }
        let state_machine_arn = aws_sdk_sfn::Client::new(&sdk)
            .create_state_machine()
            .name(format!("trove-{tag}-artifact-pipeline"))
            .definition(pipeline_definition())
            .role_arn("arn:aws:iam::123456789012:role/trove-pipeline")
            .send()
            .await
            .expect("moto creates the state machine")
            .state_machine_arn;

        let config = AwsConfig {
            region: REGION.to_owned(),
            endpoint_url: Some(endpoint.clone()),
            table_name: table.clone(),
            bucket: bucket.clone(),
            secret_prefix: secret_prefix.clone(),
        };
        let adapters = config.adapters(&sdk);
        let ctx = Arc::new(Context {
            table: Arc::new(adapters.table),
            blobs: Arc::new(adapters.blobs),
            events: Arc::new(SqsEvents::new(sqs, queue_url.clone())),
            secrets: Arc::new(adapters.secrets),
            clock: Arc::new(SystemClock),
            workflow: Arc::new(StepFunctions::new(
                aws_sdk_sfn::Client::new(&sdk),
                state_machine_arn.clone(),
            )),
            scanner: None,
            settings: Arc::new(Settings::for_testing()),
            index_pages: Default::default(),
        });
        let queue_arn = |url: &str| {
            let name = url.rsplit('/').next().unwrap_or_default();
            format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
        };
        let mut names = Names::new(REGION, ACCOUNT);
        names
            .with_ref("Stage", &tag)
            .with_ref("Table", &table)
            .with_attribute(
                "Table",
                "Arn",
                format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"),
            )
            .with_ref("ArtifactBucket", &bucket)
            .with_attribute("Table", "StreamArn", &stream_arn)
            .with_attribute("ArtifactBucket", "Arn", format!("arn:aws:s3:::{bucket}"))
            .with_ref("ArtifactPipeline", &state_machine_arn)
            .with_ref("TokenSigningSecret", &secret_arns["token-signing"])
            .with_ref("PiiKeySecret", &secret_arns["pii-key"]);
        for (queue, url) in [
            ("EventsQueue", &queue_url),
            ("WebhookDeadLetterQueue", &webhook_dlq_url),
        ] {
            let arn = queue_arn(url);
            let name = arn.rsplit(':').next().unwrap_or_default().to_owned();
            names
                .with_ref(queue, url.as_str())
                .with_attribute(queue, "Arn", arn)
                .with_attribute(queue, "QueueName", name);
        }
        Self {
            sdk,
            table,
            bucket,
            queue_url,
            webhook_dlq_url,
            state_machine_arn,
            secret_prefix,
            ctx,
            tag,
            endpoint,
            names,
            principals: Default::default(),
            expected_refusals: Default::default(),
            stream: super::stream::StreamReader::new(
                aws_sdk_dynamodbstreams::Client::new(&sdk_for_streams),
                stream_arn,
            ),
        }
    }

    /// An API route's sample event as its function receives it on AWS. A route behind the
    /// authorizer gets the identity the authorizer decides for `key` (decided here, in
    /// process, with the stack's own rights: the authorizer's role and its writes are the
    /// authorizer tests' subject); a route that authenticates its callers itself (the
    /// package managers' families) gets `key` as it was sent.
    pub async fn api_event(&self, operation_id: &str, key: &str) -> serde_json::Value {
        let authenticates_itself = trove_core::http::families::rule_of_handler(operation_id)
            .is_some_and(|rule| rule.challenges_clients);
        if authenticates_itself {
            return api_event(operation_id, key);
        }
        let decision = Authorizer::new(&self.ctx.settings)
            .decide(&self.ctx, Some(key), None)
            .await
            .unwrap_or_else(|e| panic!("the authorizer's decision for {operation_id}: {e}"));
        match decision {
            Decision::Allowed(identity) => {
                let identity = serde_json::to_string(identity.as_ref()).expect("identity JSON");
                gateway_event(operation_id, &identity)
            }
            other => panic!("the authorizer refused the key for {operation_id}: {other:?}"),
        }
    }

    /// Refusals whose logged line contains `part` are the test's subject, not a fault.
    pub fn expect_refused(&self, part: &str) {
        self.expected_refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(part.to_owned());
    }

    /// The access key of the IAM user standing for `function`'s role on this stack: its
    /// policies, as SAM expands them, with this stack's names in their ARNs.
    pub async fn credentials_of(&self, function: &str) -> Credentials {
        let role = template::role_of(template::transformed(), function);
        let mut principals = self.principals.lock().await;
        if let Some(credentials) = principals.get(&role) {
            return credentials.clone();
        }
        let credentials = iam::principal(
            &format!("{role}-{}", self.tag),
            &self.role_policies(function),
        )
        .await;
        principals.insert(role, credentials.clone());
        credentials
    }

    /// Starts the function that runs `handler` on `binary` with its role's policies as
    /// `edit` leaves them (a test of what a missing permission does).
    pub async fn function_with_role(
        &self,
        binary: &str,
        handler: &str,
        edit: impl FnOnce(&mut Vec<serde_json::Value>),
    ) -> Function {
        let def = function_for(binary, handler);
        let mut policies = self.role_policies(&def.logical_id);
        edit(&mut policies);
        let role = template::role_of(template::transformed(), &def.logical_id);
        let mut spec = self.spec(&def, binary_path(&def.binary)).await;
        spec.credentials =
            Some(iam::principal(&format!("{role}-{}-edited", self.tag), &policies).await);
        Function::start(spec).await
    }

    /// `function`'s role's policy documents, resolved for this stack.
    fn role_policies(&self, function: &str) -> Vec<serde_json::Value> {
        template::role_documents(template::transformed(), function)
            .into_iter()
            .map(|document| {
                let mut document = self.names.resolve(document);
                // SAM leaves the Version out of a policy written as statements (IAM then
                // reads it as 2008-10-17, which differs only in policy variables, unused
                // here); moto accepts only 2012-10-17.
                if document.get("Version").is_none() {
                    document["Version"] = "2012-10-17".into();
                }
                document
            })
            .collect()
    }

    /// The value of one of the template's global variables on this stack.
    pub fn env_value(&self, name: &str) -> String {
        match name {
            "TROVE_TABLE" => self.table.clone(),
            "TROVE_BUCKET" => self.bucket.clone(),
            "TROVE_STATE_MACHINE_ARN" => self.state_machine_arn.clone(),
            "TROVE_EVENTS_QUEUE_URL" => self.queue_url.clone(),
            "TROVE_SECRET_PREFIX" => self.secret_prefix.clone(),
            "TROVE_WEBHOOK_DLQ_URL" => self.webhook_dlq_url.clone(),
            other => panic!("the harness does not know the template's variable {other}"),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = TROVE_ENV
            .iter()
            .map(|name| ((*name).to_owned(), self.env_value(name)))
            .collect();
        env.push(("TROVE_AWS_ENDPOINT_URL".to_owned(), self.endpoint.clone()));
        env
    }

    /// Starts the template's function that runs `handler` on `binary`, as Lambda would.
    pub async fn function(&self, binary: &str, handler: &str) -> Function {
        self.function_with_env(binary, handler, &[]).await
    }

    /// Like `function`, with extra variables (settings a test needs, such as hosts webhooks
    /// may reach on loopback).
    pub async fn function_with_env(
        &self,
        binary: &str,
        handler: &str,
        extra: &[(&str, &str)],
    ) -> Function {
        let def = function_for(binary, handler);
        let mut spec = self.spec(&def, binary_path(&def.binary)).await;
        spec.env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Function::start(spec).await
    }

    pub async fn spec(&self, def: &FunctionDef, binary: PathBuf) -> FunctionSpec {
        let credentials = self.credentials_of(&def.logical_id).await;
        FunctionSpec {
            name: format!("{}-{}", def.logical_id, self.tag),
            credentials: Some(credentials),
            binary,
            handler: def.handler.clone(),
            memory_mb: def.memory_mb,
            env: {
                let mut env = self.env();
                env.extend(
                    def.env
                        .iter()
                        .map(|name| (name.clone(), self.env_value(name))),
                );
                env
            },
        }
    }

    /// A pipeline step's sample input (events/pipeline/) for `upload_id`, run by an execution
    /// of this stack's state machine, as the state machine passes it.
    pub fn step_input(&self, step: &str, upload_id: &str) -> serde_json::Value {
        let mut input = sample_event(&format!("pipeline/{step}.json"));
        input["upload_id"] = upload_id.into();
        input["execution_id"] = self.ctx.workflow.id_of(upload_id).into();
        input
    }

    /// The tenant `default` with a fresh admin key, as `trove serve` bootstraps it.
    pub async fn admin_key(&self) -> String {
        let tenant = TenantName::parse(DEFAULT_TENANT).expect("valid tenant name");
        tenants::ensure(&self.ctx, &tenant, |_| Ok(()))
            .await
            .expect("tenant bootstrap")
            .expect("a new tenant gets a key")
    }

    /// Creates the sample event's repository through the `create_repository` function.
    /// What Lambda's mapping of the table's stream does: the records written since the last
    /// call that the template's filter keeps, handed to the function it names (signing as its
    /// role). Returns the batch and the function's answer (none for an empty batch).
    pub async fn relay_outbox(&self) -> (serde_json::Value, Option<serde_json::Value>) {
        let (consumer, pattern) = template::stream_consumer();
        let batch = self.stream.batch(&pattern).await;
        if batch["Records"].as_array().is_none_or(|r| r.is_empty()) {
            return (batch, None);
        }
        let mut function = self.function(&consumer.binary, &consumer.handler).await;
        let answer = function.invoke(&batch).await.response();
        (batch, Some(answer))
    }

    pub async fn create_repository(&self, key: &str) {
        let mut create = self.function("api", "create_repository").await;
        let answer = create
            .invoke(&self.api_event("create_repository", key).await)
            .await
            .response();
        let (status, body) = http_answer(&answer);
        assert_eq!(status, 201, "{body}");
    }
}

/// A test that made a call its function's role does not allow fails, even when the code
/// carried on (a best-effort write logged and dropped): on AWS that call fails the same way.
impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let refused = self.unexpected_refusals();
        assert!(
            refused.is_empty(),
            "calls refused by the roles' policies (as IAM would refuse them on AWS):\n{}",
            refused.join("\n")
        );
    }
}

impl Stack {
    /// The calls refused so far to this stack's functions, as moto logged them (each role's
    /// user is named `<Role>-<Stage>-…`).
    pub fn refusals(&self) -> Vec<String> {
        iam::denials_of(&format!("-{}-", self.tag))
    }

    /// The refusals the test did not expect ([`Stack::expect_refused`]).
    pub fn unexpected_refusals(&self) -> Vec<String> {
        let expected = self
            .expected_refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        self.refusals()
            .into_iter()
            .filter(|line| !expected.iter().any(|part| line.contains(part.as_str())))
            .collect()
    }
}

/// A stack's `Stage`: short enough that the template's bucket name
/// (`trove-{Stage}-artifacts-{account}-{region}`) keeps within S3's 63 characters.
fn stage() -> String {
    let ulid = ulid::Ulid::new().to_string().to_ascii_lowercase();
    // The last 12 characters of a ULID are random (60 bits).
    format!("t{}", &ulid[ulid.len() - 12..])
}

/// The built binary for a template `Binary` (this test's build of `functions/`, or of
/// `functions-scan/` for `scan-step`), or the one in `TROVE_LAMBDA_BIN_DIR` (the benchmark
/// points it at release builds): `DIR/<binary>` (`target/release`) or `DIR/<binary>/bootstrap`
/// (`target/lambda`, what `sam build` ships).
pub fn binary_path(binary: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("TROVE_LAMBDA_BIN_DIR") {
        let dir = PathBuf::from(dir);
        let packaged = dir.join(binary).join("bootstrap");
        return if packaged.is_file() {
            packaged
        } else {
            dir.join(binary)
        };
    }
    match binary {
        "scan-step" => scan_step(),
        "api" | "on-upload" | "pipeline-step" | "authorizer" | "jobs" | "webhook-dispatcher"
        | "deploy-hook" => {
            // functions/'s own binaries: cargo builds them before its tests and benches.
            let built = crate::profile_dir().join(binary);
            assert!(built.is_file(), "{} is not built", built.display());
            built
        }
        other => {
            panic!("no binary {other} in functions/ or functions-scan/ (see the contract test)")
        }
    }
}

/// `scan-step`, the Scan function's binary. It is functions-scan's, a package of its own (so
/// that only it links the scanner), and Cargo builds and names (`CARGO_BIN_EXE_*`) only the
/// tested package's binaries for an integration test; a dev-dependency would not build it
/// either, and would turn the scanner on for this package's binaries. So the first test that
/// needs it builds it, once per run: `cargo build -p trove-functions-scan --bin scan-step`
/// with the cargo running the tests, in the profile of this test binary, and takes its path
/// from cargo's own report. Fresh, that is a no-op of a fraction of a second.
fn scan_step() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| cargo_build_bin("trove-functions-scan", "scan-step"))
        .clone()
}

fn cargo_build_bin(package: &str, bin: &str) -> PathBuf {
    // The test binary's profile directory names its profile; `debug` is the `dev` profile's.
    let profile_dir = crate::profile_dir();
    let profile = profile_dir
        .file_name()
        .and_then(|d| d.to_str())
        .map(|d| if d == "debug" { "dev" } else { d })
        .unwrap_or("dev")
        .to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .current_dir(super::template::root())
        .args(["build", "--message-format=json-render-diagnostics"])
        .args(["--profile", &profile, "-p", package, "--bin", bin])
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running cargo to build {bin}: {e}"));
    assert!(
        output.status.success(),
        "cargo build -p {package} --bin {bin} failed (its errors are above)"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo built no executable {bin}"))
}

/// The pipeline definition with placeholder function ARNs, as the template substitutes them.
pub fn pipeline_definition() -> String {
    let mut asl = super::template::read("statemachines/artifact-pipeline.asl.json");
    for step in ["Scan", "Validate", "Persist", "Quarantine"] {
        asl = asl.replace(
            &format!("${{{step}FunctionArn}}"),
            &format!("arn:aws:lambda:{REGION}:123456789012:function:trove-{step}:live"),
        );
    }
    asl
}

/// A sample event from events/, as JSON.
pub fn sample_event(relative: &str) -> serde_json::Value {
    serde_json::from_str(&super::template::read(&format!("events/{relative}")))
        .unwrap_or_else(|e| panic!("events/{relative}: {e}"))
}

/// An API route's sample event as the function gets it when invoked directly, not through
/// the authorizer: `key` as its bearer credential and no authorizer context, so the function
/// decides the caller's identity itself.
pub fn api_event(operation_id: &str, key: &str) -> serde_json::Value {
    let mut event = sample_event(&format!("api/{operation_id}.json"));
    event["headers"]["authorization"] = format!("Bearer {key}").into();
    without_authorizer_context(&mut event);
    event
}

/// An API route's sample event as API Gateway forwards it after the authorizer allowed it:
/// the authorizer's context carries `identity` (the `Identity` as a JSON string). Without an
/// Authorization header, so that the identity can only come from the context.
pub fn gateway_event(operation_id: &str, identity: &str) -> serde_json::Value {
    let mut event = sample_event(&format!("api/{operation_id}.json"));
    without_authorization(&mut event);
    event["requestContext"]["authorizer"] = serde_json::json!({
        "lambda": { trove_core::http::guard::IDENTITY_CONTEXT_KEY: identity }
    });
    event
}

pub fn without_authorizer_context(event: &mut serde_json::Value) {
    if let Some(context) = event["requestContext"].as_object_mut() {
        context.remove("authorizer");
    }
}

pub fn without_authorization(event: &mut serde_json::Value) {
    if let Some(headers) = event["headers"].as_object_mut() {
        headers.remove("authorization");
    }
}

/// The authorizer's sample request with this `Authorization` header (none: no header), as
/// API Gateway sends it: the identity sources repeat the header and the source address.
pub fn authorizer_event(authorization: Option<&str>) -> serde_json::Value {
    let mut event = sample_event("authorizer.json");
    without_authorization(&mut event);
    let ip = event["requestContext"]["http"]["sourceIp"].clone();
    event["identitySource"] = match authorization {
        Some(value) => {
            event["headers"]["authorization"] = value.into();
            serde_json::json!([value, ip])
        }
        None => serde_json::json!([ip]),
    };
    event
}

/// `(status, JSON body)` of an API Gateway v2 response.
pub fn http_answer(response: &serde_json::Value) -> (u16, serde_json::Value) {
    let status = response["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or_else(|| panic!("no statusCode in {response}"));
    let body = response["body"].as_str().unwrap_or_default();
    let body = serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.to_owned()));
    (status, body)
}
