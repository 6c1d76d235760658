//! The pipeline step functions (`_HANDLER` = Scan on `scan-step`; Validate, Persist and
//! Quarantine on `pipeline-step`) on an upload requested through the API functions and stored in S3 (moto), fed the Task inputs of
//! events/pipeline/.

use sha2::{Digest, Sha256};

use crate::runtime_api::Outcome;
use crate::stack::{Stack, http_answer};

const FILENAME: &str = "widget-1.0.0.txt";

/// Creates the repository and asks for an upload declaring `declared` (through the API
/// functions), then stores `stored` under the upload's incoming/ key as the presigned PUT
/// would (moto does not enforce the signed checksum: Validate is the guarantee). Returns the
/// upload id.
pub async fn upload(stack: &Stack, key: &str, declared: &[u8], stored: &[u8]) -> String {
    stack.create_repository(key).await;

    let mut event = stack.api_event("create_upload", key).await;
    event["body"] = serde_json::json!({
        "package": "widget",
        "version": "1.0.0",
        "filename": FILENAME,
        "size": declared.len(),
        "sha256": hex::encode(Sha256::digest(declared)),
    })
    .to_string()
    .into();
    let mut request = stack.function("api", "create_upload").await;
    let (status, ticket) = http_answer(&request.invoke(&event).await.response());
    assert_eq!(status, 201, "{ticket}");
    let upload_id = ticket["upload_id"].as_str().expect("upload_id").to_owned();

    trove_aws::s3_client(&stack.sdk)
        .put_object()
        .bucket(&stack.bucket)
        .key(format!("incoming/default/{upload_id}"))
        .content_type("application/octet-stream")
        .body(stored.to_vec().into())
        .send()
        .await
        .expect("moto stores the upload");
    upload_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_upload_is_scanned_validated_and_published() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    let bytes = b"hello from the Runtime API harness\n";
    let upload_id = upload(&stack, &key, bytes, bytes).await;

    // Scan runs the binary with the scanner (functions-scan), the others `pipeline-step`.
    for (binary, step) in [
        ("scan-step", "Scan"),
        ("pipeline-step", "Validate"),
        ("pipeline-step", "Persist"),
    ] {
        let mut function = stack.function(binary, step).await;
        let input = stack.step_input(step, &upload_id);
        // Each step answers its input: the state machine passes it on.
        assert_eq!(function.invoke(&input).await, Outcome::Response(input));
    }

    let sha = hex::encode(Sha256::digest(bytes));
    trove_aws::s3_client(&stack.sdk)
        .head_object()
        .bucket(&stack.bucket)
        .key(format!("blobs/sha256/{sha}"))
        .send()
        .await
        .expect("the bytes are at their content address");

    let mut get = stack.function("api", "get_version").await;
    let (status, version) = http_answer(
        &get.invoke(&stack.api_event("get_version", &key).await)
            .await
            .response(),
    );
    assert_eq!(status, 200, "{version}");
    assert_eq!(version["status"], "published", "{version}");
    assert_eq!(version["files"][0]["filename"], FILENAME, "{version}");
    assert_eq!(version["files"][0]["sha256"], sha.as_str(), "{version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_bytes_that_differ_from_the_declared_ones_are_rejected_and_quarantined() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    let upload_id = upload(&stack, &key, b"the declared bytes\n", b"other bytes\n").await;

    let mut validate = stack.function("pipeline-step", "Validate").await;
    let outcome = validate
        .invoke(&stack.step_input("Validate", &upload_id))
        .await;
    let Outcome::Error {
        error_type,
        error_message,
    } = outcome
    else {
        panic!("Validate accepted a mismatch: {outcome:?}");
    };
    // The name the state machine's Catch (not its Retry) matches.
    assert_eq!(error_type, "Trove.Rejected");
    assert!(error_message.contains("mismatch"), "{error_message}");

    // The Catch hands the error to Quarantine as Step Functions would: Cause = the JSON body.
    let mut input = stack.step_input("Quarantine", &upload_id);
    input["reason"] = serde_json::json!({ "errorType": error_type, "errorMessage": error_message })
        .to_string()
        .into();
    let mut quarantine = stack.function("pipeline-step", "Quarantine").await;
    quarantine.invoke(&input).await.response();

    let s3 = trove_aws::s3_client(&stack.sdk);
    s3.head_object()
        .bucket(&stack.bucket)
        .key(format!("quarantine/default/{upload_id}"))
        .send()
        .await
        .expect("the refused bytes are kept under quarantine/");

    let view = upload_view(&stack, &key, &upload_id).await;
    assert_eq!(view["status"], "rejected", "{view}");
    assert_eq!(view["reason"], error_message.as_str(), "{view}");
}

/// S3 answers a HEAD of a missing key with 403 to a role that may not list the bucket, and
/// the harness's moto does the same. Persist, run with its role less `s3:ListBucket`, must
/// stop as misdeployed (not retried, not quarantined): the upload stays open for a redrive
/// once the permission is back, and the bytes are not published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persist_refused_the_bucket_listing_stops_as_misdeployed_and_keeps_the_upload() {
    let stack = Stack::new().await;
    stack.expect_refused("action=s3:ListBucket");
    let key = stack.admin_key().await;
    let bytes = b"bytes whose content address is not stored yet\n";
    let upload_id = upload(&stack, &key, bytes, bytes).await;
    for (binary, step) in [("scan-step", "Scan"), ("pipeline-step", "Validate")] {
        let mut function = stack.function(binary, step).await;
        let input = stack.step_input(step, &upload_id);
        assert_eq!(function.invoke(&input).await, Outcome::Response(input));
    }

    let mut persist = stack
        .function_with_role("pipeline-step", "Persist", |policies| {
            for policy in policies.iter_mut() {
                if let Some(statements) = policy["Statement"].as_array_mut() {
                    statements.retain(|s| !s["Action"].to_string().contains("s3:ListBucket"));
                }
            }
        })
        .await;
    let outcome = persist
        .invoke(&stack.step_input("Persist", &upload_id))
        .await;
    let Outcome::Error { error_type, .. } = &outcome else {
        panic!("Persist went on without seeing the blob: {outcome:?}");
    };
    assert_eq!(error_type, "Trove.Misdeployed", "{outcome:?}");
    assert!(
        stack
            .refusals()
            .iter()
            .any(|line| line.contains("action=s3:ListBucket") && line.contains("-edited-")),
        "the HEAD was refused for want of s3:ListBucket: {:?}",
        stack.refusals()
    );

    let view = upload_view(&stack, &key, &upload_id).await;
    assert!(
        view["status"] != "rejected" && view["status"] != "published",
        "{view}"
    );
}

/// The upload as the get_upload function shows it.
async fn upload_view(stack: &Stack, key: &str, upload_id: &str) -> serde_json::Value {
    let mut event = stack.api_event("get_upload", key).await;
    event["rawPath"] = format!("/v1/repositories/libs/uploads/{upload_id}").into();
    event["requestContext"]["http"]["path"] = event["rawPath"].clone();
    event["pathParameters"]["upload_id"] = upload_id.into();
    let mut get = stack.function("api", "get_upload").await;
    let (status, view) = http_answer(&get.invoke(&event).await.response());
    assert_eq!(status, 200, "{view}");
    view
}
