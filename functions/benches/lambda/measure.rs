//! Per function: binary size, init time (process spawn → first `/next`, the cold start's
//! init phase) and resident memory at that point, under the Runtime API harness; then warm
//! handler times of a metadata read and of a publish and what the functions' adapters
//! metered meanwhile (the EMF lines each invocation prints), priced at AWS list prices. The
//! `lambda` bench of trove-functions (bench/lambda.sh runs it on release binaries).

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::runtime_api::{Function, Outcome};
use crate::stack::{Stack, binary_path, http_answer};
use crate::template::{function_for, functions, template};

fn runs() -> usize {
    std::env::var("TROVE_LAMBDA_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// Resident set size of a process in KiB (Linux).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub async fn init_time_and_size_per_function() {
    let stack = Stack::new().await;
    let runs = runs();
    println!(
        "\n\n| function | binary | handler | size MB | init median ms | init p90 ms | RSS at init MB |"
    );
    println!("|---|---|---|---:|---:|---:|---:|");
    for def in functions(&template()).values() {
        let binary = binary_path(&def.binary);
        let size = std::fs::metadata(&binary)
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()))
            .len();
        let mut init = Vec::with_capacity(runs);
        let mut rss = Vec::with_capacity(runs);
        for _ in 0..runs {
            let mut function = Function::start(stack.spec(def, binary.clone()).await).await;
            let took: Duration = function
                .init_duration()
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", def.logical_id));
            init.push(took.as_secs_f64() * 1000.0);
            if let Some(kib) = rss_kib(function.pid()) {
                rss.push(kib as f64 / 1024.0);
            }
        }
        let p90 = {
            let mut sorted = init.clone();
            sorted.sort_by(f64::total_cmp);
            sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)]
        };
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            def.logical_id,
            def.binary,
            def.handler,
            size as f64 / 1_000_000.0,
            median(init),
            p90,
            if rss.is_empty() { 0.0 } else { median(rss) },
        );
    }
}

/// us-east-1 list prices (USD), x86_64 Lambda.
mod price {
    pub const LAMBDA_GB_SECOND: f64 = 0.000_016_666_7;
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
    pub const DYNAMO_RRU: f64 = 0.125 / 1e6;
    pub const DYNAMO_WRU: f64 = 0.625 / 1e6;
    pub const S3_PUT_COPY_POST_LIST: f64 = 0.005 / 1e3;
    pub const S3_GET_HEAD_OTHER: f64 = 0.0004 / 1e3;
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    pub const SFN_STANDARD_TRANSITION: f64 = 0.025 / 1e3;
    pub const SECRETS_API_CALL: f64 = 0.05 / 1e4;
}

/// Lambda's charge for one invocation: billed per ms at the function's memory size.
fn lambda_cost(handler_ms: f64, memory_mb: u32) -> f64 {
    price::LAMBDA_REQUEST
        + handler_ms.ceil() / 1000.0 * f64::from(memory_mb) / 1024.0 * price::LAMBDA_GB_SECOND
}

/// The price of one request an adapter sent, by service and operation (S3 bills writes and
/// lists at the PUT rate, reads and the rest at the GET rate; deletes are free; DynamoDB
/// bills capacity, priced from its own meter).
fn request_price(service: &str, operation: &str) -> f64 {
    match service {
        "S3" => match operation {
            "DeleteObject" | "DeleteObjects" | "AbortMultipartUpload" => 0.0,
            "PutObject"
            | "CopyObject"
            | "UploadPart"
            | "UploadPartCopy"
            | "CreateMultipartUpload"
            | "CompleteMultipartUpload"
            | "ListObjectsV2"
            | "ListParts"
            | "ListMultipartUploads" => price::S3_PUT_COPY_POST_LIST,
            _ => price::S3_GET_HEAD_OTHER,
        },
        "SQS" => price::SQS_REQUEST,
        "Secrets Manager" => price::SECRETS_API_CALL,
        _ => 0.0,
    }
}

/// What a set of invocations consumed: Lambda from the harness's clock, everything else
/// from the meters the functions printed (`trove_aws_requests_total`,
/// `trove_dynamodb_consumed_capacity_units`).
#[derive(Debug, Default)]
struct Bill {
    invocations: f64,
    lambda: f64,
    requests: std::collections::BTreeMap<(String, String), f64>,
    read_units: f64,
    write_units: f64,
    estimated_units: f64,
}

impl Bill {
    fn add_metrics(&mut self, docs: &[serde_json::Value]) {
        use trove_core::metrics::{AWS_REQUESTS, DYNAMODB_CAPACITY};
        for doc in docs {
            if let Some(n) = doc[AWS_REQUESTS].as_f64() {
                let key = (
                    doc["service"].as_str().unwrap_or("?").to_owned(),
                    doc["operation"].as_str().unwrap_or("?").to_owned(),
                );
                *self.requests.entry(key).or_default() += n;
            }
            if let Some(values) = doc[DYNAMODB_CAPACITY].as_array() {
                let units: f64 = values.iter().filter_map(serde_json::Value::as_f64).sum();
                match doc["kind"].as_str() {
                    Some("read") => self.read_units += units,
                    _ => self.write_units += units,
                }
                if doc["source"] == "estimated" {
                    self.estimated_units += units;
                }
            }
        }
    }

    /// USD for everything billed, divided over `operations`.
    fn per_operation(&self, operations: f64) -> f64 {
        let requests: f64 = self
            .requests
            .iter()
            .map(|((service, operation), n)| n * request_price(service, operation))
            .sum();
        (self.lambda
            + requests
            + self.read_units * price::DYNAMO_RRU
            + self.write_units * price::DYNAMO_WRU)
            / operations
    }

    fn print_meters(&self, title: &str, operations: f64) {
        println!("\n| {title}: per operation | count |");
        println!("|---|---:|");
        println!(
            "| Lambda invocations | {:.2} |",
            self.invocations / operations
        );
        for ((service, operation), n) in &self.requests {
            println!("| {service} {operation} | {:.2} |", n / operations);
        }
        println!(
            "| DynamoDB read units | {:.2} |",
            self.read_units / operations
        );
        println!(
            "| DynamoDB write units (estimated: {:.2}) | {:.2} |",
            self.estimated_units / operations,
            self.write_units / operations
        );
    }
}

/// A function of the template under the harness, metered: each invocation's handler time
/// (priced at the function's memory) and the meters it printed go on a [`Bill`].
struct Metered {
    function: Function,
    memory_mb: u32,
    log_at: u64,
    times: Vec<f64>,
}

impl Metered {
    /// The template's function running `handler` on `binary`, started on `stack`.
    async fn start(stack: &Stack, binary: &str, handler: &str) -> Self {
        let def = function_for(binary, handler);
        let spec = stack.spec(&def, binary_path(binary)).await;
        Self {
            function: Function::start(spec).await,
            memory_mb: def.memory_mb,
            log_at: 0,
            times: Vec::new(),
        }
    }

    async fn invoke(&mut self, event: &serde_json::Value, bill: &mut Bill) -> Outcome {
        let start = Instant::now();
        let answer = self.function.invoke(event).await;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        assert!(!matches!(answer, Outcome::InitFailed(_)), "{answer:?}");
        self.times.push(ms);
        bill.invocations += 1.0;
        bill.lambda += lambda_cost(ms, self.memory_mb);
        let (docs, end) = self.function.metrics_since(self.log_at);
        self.log_at = end;
        bill.add_metrics(&docs);
        answer
    }

    fn median_ms(&self) -> f64 {
        median(self.times.clone())
    }
}

/// Cost per million operations at list prices: Lambda from measured warm handler times
/// (moto on loopback stands in for DynamoDB and S3, so they include its latency); DynamoDB,
/// S3, SQS and Secrets Manager from what the functions' adapters metered while they ran.
pub async fn cost_per_million_operations() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    let runs = runs();
    let mut setup = Bill::default();
    let mut create = Metered::start(&stack, "api", "create_repository").await;
    let (status, body) = http_answer(
        &create
            .invoke(
                &stack.api_event("create_repository", &key).await,
                &mut setup,
            )
            .await
            .response(),
    );
    assert_eq!(status, 201, "{body}");

    // A metadata read: the HTTP API, then the route function (the key lookup is cached per
    // container, as in a warm Lambda).
    let mut reads = Bill::default();
    let mut get = Metered::start(&stack, "api", "get_repository").await;
    let read_event = stack.api_event("get_repository", &key).await;
    for _ in 0..runs {
        get.invoke(&read_event, &mut reads).await;
    }

    // A publish: create_upload (API), the client's PUT to S3, on-upload, Scan, Validate,
    // Persist, and one status poll by the client (an API read).
    let mut publishes = Bill::default();
    let mut request = Metered::start(&stack, "api", "create_upload").await;
    let mut on_upload = Metered::start(&stack, "on-upload", "on_upload").await;
    let mut poll = Metered::start(&stack, "api", "get_upload").await;
    let mut steps = Vec::new();
    for (binary, step) in [
        ("scan-step", "Scan"),
        ("pipeline-step", "Validate"),
        ("pipeline-step", "Persist"),
    ] {
        steps.push((step, Metered::start(&stack, binary, step).await));
    }
    let s3 = trove_aws::s3_client(&stack.sdk);
    for i in 0..runs {
        let bytes = format!("artifact {i} of the cost benchmark\n").into_bytes();
        let mut event = stack.api_event("create_upload", &key).await;
        event["body"] = serde_json::json!({
            "package": "widget", "version": format!("1.0.{i}"), "filename": "widget.txt",
            "size": bytes.len(), "sha256": hex::encode(Sha256::digest(&bytes)),
        })
        .to_string()
        .into();
        let (status, ticket) =
            http_answer(&request.invoke(&event, &mut publishes).await.response());
        assert_eq!(status, 201, "{ticket}");
        let upload_id = ticket["upload_id"].as_str().expect("upload_id").to_owned();
        let object = format!("incoming/default/{upload_id}");
        // The client's PUT, through the presigned URL in AWS: one S3 PUT on the bill.
        s3.put_object()
            .bucket(&stack.bucket)
            .key(&object)
            .content_type("application/octet-stream")
            .body(bytes.into())
            .send()
            .await
            .expect("moto stores the upload");
        *publishes
            .requests
            .entry(("S3".into(), "PutObject".into()))
            .or_default() += 1.0;
        let mut s3_event = crate::stack::sample_event("s3-object-created.json");
        s3_event["Records"][0]["s3"]["object"]["key"] = object.into();
        on_upload.invoke(&s3_event, &mut publishes).await.response();
        for (step, function) in &mut steps {
            let input = stack.step_input(step, &upload_id);
            function.invoke(&input, &mut publishes).await.response();
        }
        let mut status_event = stack.api_event("get_upload", &key).await;
        status_event["pathParameters"]["upload_id"] = upload_id.clone().into();
        if let Some(path) = status_event["rawPath"].as_str() {
            let path = path
                .rsplit_once('/')
                .map_or(path.to_owned(), |(base, _)| format!("{base}/{upload_id}"));
            status_event["rawPath"] = path.clone().into();
            status_event["requestContext"]["http"]["path"] = path.into();
        }
        let (status, body) =
            http_answer(&poll.invoke(&status_event, &mut publishes).await.response());
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "published", "{body}");
    }
    let n = runs as f64;
    // The HTTP API bills each request; a Standard workflow bills each state entered (Scan,
    // Validate, Persist, Done: the steps that ran, and the end).
    let read = reads.per_operation(n) + price::HTTP_API_REQUEST;
    let publish = publishes.per_operation(n) + 2.0 * price::HTTP_API_REQUEST;
    let transitions = (steps.len() as f64 + 1.0) * price::SFN_STANDARD_TRANSITION;

    println!("\n\n| operation | warm handler ms (median) | memory MB |");
    println!("|---|---:|---:|");
    println!(
        "| get_repository | {:.1} | {} |",
        get.median_ms(),
        get.memory_mb
    );
    println!(
        "| create_upload | {:.1} | {} |",
        request.median_ms(),
        request.memory_mb
    );
    println!(
        "| on-upload | {:.1} | {} |",
        on_upload.median_ms(),
        on_upload.memory_mb
    );
    for (step, function) in &steps {
        println!(
            "| {step} | {:.1} | {} |",
            function.median_ms(),
            function.memory_mb
        );
    }
    println!(
        "| get_upload (status poll) | {:.1} | {} |",
        poll.median_ms(),
        poll.memory_mb
    );
    reads.print_meters("metadata read", n);
    publishes.print_meters("publish", n);
    println!("\n| per million | USD |");
    println!("|---|---:|");
    println!(
        "| metadata reads (GET /v1/repositories/{{repo}}) | {:.2} |",
        read * 1e6
    );
    println!(
        "| publishes, without Step Functions | {:.2} |",
        publish * 1e6
    );
    println!(
        "| publishes, with Standard Workflow transitions | {:.2} |",
        (publish + transitions) * 1e6
    );
}
