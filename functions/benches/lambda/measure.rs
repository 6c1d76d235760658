//! Per function: binary size, init time (process spawn → first `/next`, the cold start's
//! init phase) and resident memory at that point, under the Runtime API harness; then warm
//! handler times of a metadata read and of a publish, priced at AWS list prices. The
//! `lambda` bench of trove-functions (bench/lambda.sh runs it on release binaries).

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::runtime_api::Function;
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
    pub const S3_PUT_COPY: f64 = 0.005 / 1e3;
    pub const S3_GET_HEAD: f64 = 0.0004 / 1e3;
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    pub const SFN_STANDARD_TRANSITION: f64 = 0.025 / 1e3;
}

/// Lambda's charge for one invocation: billed per ms at the function's memory size.
fn lambda_cost(handler_ms: f64, memory_mb: u32) -> f64 {
    price::LAMBDA_REQUEST
        + handler_ms.ceil() / 1000.0 * f64::from(memory_mb) / 1024.0 * price::LAMBDA_GB_SECOND
}

/// Median warm handler time of `runs` invocations of one event.
async fn warm_ms(function: &mut Function, event: &serde_json::Value, runs: usize) -> f64 {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let answer = function.invoke(event).await;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        assert!(
            !matches!(answer, crate::runtime_api::Outcome::InitFailed(_)),
            "{answer:?}"
        );
    }
    median(times)
}

/// The template's function running `handler` on `binary`, started on `stack`, and its memory.
async fn start(stack: &Stack, binary: &str, handler: &str) -> (u32, Function) {
    let def = function_for(binary, handler);
    let spec = stack.spec(&def, binary_path(binary)).await;
    (def.memory_mb, Function::start(spec).await)
}

/// Cost per million operations from measured warm handler times (moto on loopback stands in
/// for DynamoDB and S3, so these include its latency) and the requests each operation makes,
/// counted from the code paths (the adapters do not report consumed capacity yet).
pub async fn cost_per_million_operations() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    let runs = runs();
    let (create_mb, mut create) = start(&stack, "api", "create_repository").await;
    let (status, body) = http_answer(
        &create
            .invoke(&stack.api_event("create_repository", &key).await)
            .await
            .response(),
    );
    assert_eq!(status, 201, "{body}");
    let (read_mb, mut get) = start(&stack, "api", "get_repository").await;
    let read_event = stack.api_event("get_repository", &key).await;
    let read_ms = warm_ms(&mut get, &read_event, runs).await;
    let _ = create_mb;

    // A publish: create_upload (API), the client's PUT, on-upload, Scan, Validate, Persist.
    let (upload_mb, mut request) = start(&stack, "api", "create_upload").await;
    let (on_upload_mb, mut on_upload) = start(&stack, "on-upload", "on_upload").await;
    let mut steps = Vec::new();
    for (binary, step) in [
        ("scan-step", "Scan"),
        ("pipeline-step", "Validate"),
        ("pipeline-step", "Persist"),
    ] {
        let (mb, f) = start(&stack, binary, step).await;
        steps.push((step, mb, f, Vec::new()));
    }
    let s3 = trove_aws::s3_client(&stack.sdk);
    let (mut upload_ms, mut on_upload_ms) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let bytes = format!("artifact {i} of the cost benchmark\n").into_bytes();
        let mut event = stack.api_event("create_upload", &key).await;
        event["body"] = serde_json::json!({
            "package": "widget", "version": format!("1.0.{i}"), "filename": "widget.txt",
            "size": bytes.len(), "sha256": hex::encode(Sha256::digest(&bytes)),
        })
        .to_string()
        .into();
        let t = Instant::now();
        let (status, ticket) = http_answer(&request.invoke(&event).await.response());
        upload_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 201, "{ticket}");
        let upload_id = ticket["upload_id"].as_str().expect("upload_id").to_owned();
        let object = format!("incoming/default/{upload_id}");
        s3.put_object()
            .bucket(&stack.bucket)
            .key(&object)
            .content_type("application/octet-stream")
            .body(bytes.into())
            .send()
            .await
            .expect("moto stores the upload");
        let mut s3_event = crate::stack::sample_event("s3-object-created.json");
        s3_event["Records"][0]["s3"]["object"]["key"] = object.into();
        let t = Instant::now();
        on_upload.invoke(&s3_event).await.response();
        on_upload_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        for (step, _, function, times) in &mut steps {
            let input = stack.step_input(step, &upload_id);
            let t = Instant::now();
            function.invoke(&input).await.response();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }

    // Metadata read: HTTP API + Lambda; the key lookup (cached 10 s per container) and the
    // repository item: at most 2 strongly consistent reads.
    let read = price::HTTP_API_REQUEST + lambda_cost(read_ms, read_mb) + 2.0 * price::DYNAMO_RRU;
    // Publish, counted from the code: create_upload reads repository, version, file and key
    // (4 RRU) and writes the upload with its open-uploads index entry (2 WRU); the client's
    // PUT; on-upload reads the upload (1 RRU); Scan and Validate read the upload and the
    // object (2 GET, 3 RRU) and write its status and scan result (4 WRU with the index);
    // Persist HEADs and COPYs the object, reads version and package (3 RRU) and writes four
    // items in a transaction (8 WRU) plus the index (1 WRU), sends one event; the client
    // polls the upload once (an API read). Standard workflow: 4 state transitions.
    let mut publish = price::HTTP_API_REQUEST * 2.0
        + lambda_cost(median(upload_ms.clone()), upload_mb)
        + lambda_cost(median(on_upload_ms.clone()), on_upload_mb)
        + lambda_cost(read_ms, read_mb)
        + price::DYNAMO_RRU * (4.0 + 1.0 + 3.0 + 3.0 + 1.0)
        + price::DYNAMO_WRU * (2.0 + 4.0 + 9.0)
        + price::S3_PUT_COPY * 2.0
        + price::S3_GET_HEAD * 3.0
        + price::SQS_REQUEST;
    let transitions = 4.0 * price::SFN_STANDARD_TRANSITION;
    println!("\n\n| operation | warm handler ms (median) | memory MB |");
    println!("|---|---:|---:|");
    println!("| get_repository | {read_ms:.1} | {read_mb} |");
    println!("| create_upload | {:.1} | {upload_mb} |", median(upload_ms));
    println!(
        "| on-upload | {:.1} | {on_upload_mb} |",
        median(on_upload_ms)
    );
    for (step, mb, _, times) in steps {
        let ms = median(times);
        publish += lambda_cost(ms, mb);
        println!("| {step} | {ms:.1} | {mb} |");
    }
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
