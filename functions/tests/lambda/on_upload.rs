//! The on-upload function: an S3 `ObjectCreated` event under `incoming/` for an open upload
//! starts the upload's execution in Step Functions (moto), named by the upload id; a repeated
//! event starts nothing new; an object for no known upload starts nothing.

use aws_lambda_events::event::s3::S3Event;

use crate::pipeline::upload;
use crate::stack::{Stack, sample_event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_event_starts_one_execution_named_by_the_upload() {
    let stack = Stack::new().await;
    let mut on_upload = stack.function("on-upload", "on_upload").await;

    // The sample event names an upload this stack does not know: nothing starts.
    let mut event = sample_event("s3-object-created.json");
    let unknown = on_upload.invoke(&event).await.response();
    assert_eq!(unknown, serde_json::json!({ "started": [] }));

    let key = stack.admin_key().await;
    let bytes = b"bytes for the pipeline\n";
    let upload_id = upload(&stack, &key, bytes, bytes).await;
    let parsed: S3Event = serde_json::from_value(event.clone()).expect("an S3 event");
    assert!(parsed.records[0].s3.object.key.is_some());
    event["Records"][0]["s3"]["object"]["key"] = format!("incoming/default/{upload_id}").into();
    event["Records"][0]["s3"]["bucket"]["name"] = stack.bucket.as_str().into();
    let first = on_upload.invoke(&event).await.response();
    let started = first["started"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no execution started: {first}"))
        .to_owned();
    assert!(started.ends_with(&format!(":{upload_id}")), "{started}");

    let sfn = aws_sdk_sfn::Client::new(&stack.sdk);
    let execution = sfn
        .describe_execution()
        .execution_arn(&started)
        .send()
        .await
        .expect("the execution exists");
    assert_eq!(execution.state_machine_arn, stack.state_machine_arn);
    assert_eq!(execution.name.as_deref(), Some(upload_id.as_str()));
    let input: serde_json::Value =
        serde_json::from_str(execution.input.as_deref().unwrap_or("null")).expect("JSON input");
    assert_eq!(
        input,
        serde_json::json!({ "tenant": "default", "upload_id": upload_id })
    );

    // At-least-once delivery: the same event again names the same execution.
    let second = on_upload.invoke(&event).await.response();
    assert_eq!(second["started"][0].as_str(), Some(started.as_str()));
    let executions = sfn
        .list_executions()
        .state_machine_arn(&stack.state_machine_arn)
        .send()
        .await
        .expect("list executions")
        .executions;
    assert_eq!(executions.len(), 1, "{executions:?}");
}
