//! The scheduled jobs and the webhook dispatcher as Lambda runs them, against moto: the
//! report function writes its files to S3 and announces them (through the outbox); the
//! cleanup function lists the bucket; the dispatcher takes an SQS batch and signs a delivery
//! to a receiver on 127.0.0.1.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::stack::{Stack, http_answer, sample_event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_function_writes_to_s3_and_announces_it() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    stack.create_repository(&key).await;

    let mut report = stack.function("jobs", "report").await;
    let summary = report
        .invoke(&sample_event("jobs/report.json"))
        .await
        .response();
    let date = summary["date"]
        .as_str()
        .unwrap_or_else(|| panic!("{summary}"))
        .to_owned();
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");

    let s3 = trove_aws::s3_client(&stack.sdk);
    let listed = s3
        .list_objects_v2()
        .bucket(&stack.bucket)
        .prefix(format!("reports/default/{date}/"))
        .send()
        .await
        .expect("list reports");
    let mut names: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("reports/default/{date}/report.csv"),
            format!("reports/default/{date}/report.json"),
            format!("reports/default/{date}/stale-access.csv"),
        ]
    );
    let json = s3
        .get_object()
        .bucket(&stack.bucket)
        .key(format!("reports/default/{date}/report.json"))
        .send()
        .await
        .expect("report.json")
        .body
        .collect()
        .await
        .expect("read report.json")
        .into_bytes();
    let json: serde_json::Value = serde_json::from_slice(&json).expect("report.json is JSON");
    assert!(json.to_string().contains("\"libs\""), "{json}");

    // report.ready reaches the events queue through the outbox, for the dispatcher.
    let (_, relayed) = stack.relay_outbox().await;
    assert_eq!(
        relayed.expect("the outbox relayed")["batchItemFailures"],
        serde_json::json!([])
    );
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let mut kinds = Vec::new();
    for _ in 0..5 {
        let received = sqs
            .receive_message()
            .queue_url(&stack.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        for m in received.messages() {
            let event: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or("null")).unwrap_or_default();
            kinds.push(event["type"].as_str().unwrap_or_default().to_owned());
        }
        if kinds.iter().any(|k| k == "report.ready") {
            break;
        }
    }
    assert!(kinds.iter().any(|k| k == "report.ready"), "{kinds:?}");

    // The cleanup function walks the same stack; a dry run changes nothing.
    let mut cleanup = stack.function("jobs", "cleanup").await;
    let mut event = sample_event("jobs/cleanup.json");
    event["detail"] = serde_json::json!({"dry_run": true});
    let summary = cleanup.invoke(&event).await.response();
    assert_eq!(summary["dry_run"], true, "{summary}");
    let again = s3
        .list_objects_v2()
        .bucket(&stack.bucket)
        .prefix("reports/")
        .send()
        .await
        .expect("list");
    assert_eq!(again.key_count(), Some(3));
}

type Seen = Arc<Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatcher_function_signs_a_delivery_from_an_sqs_batch() {
    let stack = Stack::new().await;
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                async move {
                    log.lock().expect("log").push((headers, body));
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver on loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    // The webhook is created through its route function, allowed to reach loopback.
    let key = stack.admin_key().await;
    let mut event = stack.api_event("create_webhook", &key).await;
    event["body"] = serde_json::json!({
        "url": format!("http://{addr}/hook"), "events": ["package.published"]
    })
    .to_string()
    .into();
    let allow = [("TROVE_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")];
    let mut create = stack
        .function_with_env("api", "create_webhook", &allow)
        .await;
    let (status, created) = http_answer(&create.invoke(&event).await.response());
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().expect("secret").to_owned();

    let mut batch = sample_event("webhook-dispatcher.json");
    // The sample's first record is a package.published event; make it this stack's tenant.
    let records = batch["Records"].as_array_mut().expect("records");
    records.truncate(1);
    let mut body: serde_json::Value =
        serde_json::from_str(records[0]["body"].as_str().expect("body")).expect("event");
    body["tenant"] = "default".into();
    records[0]["body"] = body.to_string().into();
    let mut dispatcher = stack
        .function_with_env("webhook-dispatcher", "dispatch", &allow)
        .await;
    let response = dispatcher.invoke(&batch).await.response();
    assert_eq!(
        response["batchItemFailures"],
        serde_json::json!([]),
        "{response}"
    );
    assert!(
        seen.lock().expect("log").is_empty(),
        "fan-out only queues the delivery"
    );

    // The fan-out queued one delivery job on the events queue; SQS hands it back to the
    // dispatcher as Lambda's event source would.
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let received = sqs
        .receive_message()
        .queue_url(&stack.queue_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive the delivery job");
    let jobs: Vec<serde_json::Value> = received
        .messages()
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, serde_json::Value> = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(name, a)| {
                    let value = serde_json::json!({
                        "stringValue": a.string_value(), "dataType": a.data_type(),
                        "stringListValues": [], "binaryListValues": []
                    });
                    (name.clone(), value)
                })
                .collect();
            serde_json::json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                "body": m.body(), "attributes": {}, "messageAttributes": attributes,
                "eventSource": "aws:sqs", "awsRegion": "us-east-1",
            })
        })
        .collect();
    assert_eq!(jobs.len(), 1, "one delivery job: {jobs:?}");
    let response = dispatcher
        .invoke(&serde_json::json!({ "Records": jobs }))
        .await
        .response();
    assert_eq!(
        response["batchItemFailures"],
        serde_json::json!([]),
        "{response}"
    );

    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen.len(), 1, "exactly one delivery");
    let (headers, delivered) = &seen[0];
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let timestamp = header("x-trove-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(delivered);
    assert_eq!(
        header("x-trove-signature-256"),
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    assert_eq!(header("x-trove-event"), "package.published");
    let delivered: serde_json::Value = serde_json::from_slice(delivered).expect("JSON");
    assert_eq!(delivered["id"], body["id"]);
    assert_eq!(delivered["data"]["package"], "acme-core");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_event_gives_a_tenant_an_admin_key_again() {
    let stack = Stack::new().await;
    stack.admin_key().await;
    let mut cleanup = stack.function("jobs", "cleanup").await;
    let reset = cleanup
        .invoke(&serde_json::json!({
            "operator": {"action": "reset-admin", "tenant": "default"}
        }))
        .await
        .response();
    let key = reset["api_key"]
        .as_str()
        .unwrap_or_else(|| panic!("{reset}"))
        .to_owned();
    assert!(
        reset["principal"]
            .as_str()
            .is_some_and(|p| p.starts_with("user_"))
    );
    // The new key acts as a tenant admin through the API's own function.
    stack.create_repository(&key).await;
}

/// S3 invokes on-upload asynchronously; an event Lambda dropped after its retries leaves the
/// upload pending. The hourly cleanup starts its pipeline, named by the upload like on-upload
/// would, and a second run while the first holds the lease does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cleanup_function_starts_the_pipeline_of_an_upload_whose_event_was_lost() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    let bytes = b"bytes whose storage event was lost\n";
    // Stored in moto's S3 with no notification: the lost event.
    let upload_id = crate::pipeline::upload(&stack, &key, bytes, bytes).await;

    let mut cleanup = stack.function("jobs", "cleanup").await;
    let summary = cleanup
        .invoke(&sample_event("jobs/cleanup.json"))
        .await
        .response();
    assert_eq!(summary["dry_run"], false, "{summary}");
    assert_eq!(summary["recovered"]["uploads_restarted"], 1, "{summary}");
    assert_eq!(
        summary["recovered"]["webhook_deliveries_requeued"], 0,
        "the AWS cleanup sweeps webhook deliveries: {summary}"
    );

    let sfn = aws_sdk_sfn::Client::new(&stack.sdk);
    let executions = sfn
        .list_executions()
        .state_machine_arn(&stack.state_machine_arn)
        .send()
        .await
        .expect("list executions")
        .executions;
    let names: Vec<&str> = executions.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, [upload_id.as_str()]);

    // Another run while a lease is held: the table's lease item, as a live run leaves it.
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let until_ms = (std::time::SystemTime::now() + std::time::Duration::from_secs(600))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    dynamo
        .put_item()
        .table_name(&stack.table)
        .item("pk", AttributeValue::S("JOB#cleanup".into()))
        .item("sk", AttributeValue::S("LEASE".into()))
        .item("holder", AttributeValue::S("another-run".into()))
        .item("until_ms", AttributeValue::N(until_ms.to_string()))
        .send()
        .await
        .expect("lease stored");
    let skipped = cleanup
        .invoke(&sample_event("jobs/cleanup.json"))
        .await
        .response();
    assert_eq!(
        skipped["skipped"], "another run of this job is in progress",
        "{skipped}"
    );
    assert_eq!(skipped["lease_holder"], "another-run", "{skipped}");
}

/// An execution that ended without settling its upload (here: stopped, which Step Functions
/// reports as ABORTED, a failure like `Unfinished`) is followed by a new one, named
/// `<upload>-r2`: the cleanup's role may read how the upload's executions ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cleanup_function_gives_an_upload_whose_execution_failed_a_new_one() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    let bytes = b"bytes whose first execution never finished\n";
    let upload_id = crate::pipeline::upload(&stack, &key, bytes, bytes).await;
    let sfn = aws_sdk_sfn::Client::new(&stack.sdk);
    let first = sfn
        .start_execution()
        .state_machine_arn(&stack.state_machine_arn)
        .name(&upload_id)
        .input(serde_json::json!({"tenant": "default", "upload_id": upload_id}).to_string())
        .send()
        .await
        .expect("the first execution")
        .execution_arn;
    sfn.stop_execution()
        .execution_arn(&first)
        .send()
        .await
        .expect("stopped");

    let mut cleanup = stack.function("jobs", "cleanup").await;
    let summary = cleanup
        .invoke(&sample_event("jobs/cleanup.json"))
        .await
        .response();
    assert_eq!(
        summary["recovered"]["failed_executions_restarted"], 1,
        "{summary}"
    );
    let mut names: Vec<String> = sfn
        .list_executions()
        .state_machine_arn(&stack.state_machine_arn)
        .send()
        .await
        .expect("list executions")
        .executions
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names, [upload_id.clone(), format!("{upload_id}-r2")]);
}
