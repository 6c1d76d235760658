//! An upload in parts through its route functions against moto: create with part URLs,
//! the parts PUT to S3's presigned URLs, URLs issued again, the view listing the parts,
//! completion, the storage event and the steps; and a cancel that drops the parts.

use sha2::{Digest as _, Sha256};

use crate::registries::run_pipeline;
use crate::stack::{Stack, http_answer};

const PART: usize = 5 * 1024 * 1024;

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A route's sample event for upload `id`, with `body`.
async fn event_for(
    stack: &Stack,
    operation: &str,
    key: &str,
    id: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut event = stack.api_event(operation, key).await;
    let sample_id = event["pathParameters"]["upload_id"]
        .as_str()
        .expect("sample id")
        .to_owned();
    let path = event["rawPath"]
        .as_str()
        .expect("path")
        .replace(&sample_id, id);
    event["rawPath"] = path.clone().into();
    event["requestContext"]["http"]["path"] = path.into();
    event["pathParameters"]["upload_id"] = id.into();
    if let Some(body) = body {
        event["body"] = body.to_string().into();
    }
    event
}

/// Sends a part to its presigned S3 URL with exactly its headers.
async fn put(ticket: &serde_json::Value, bytes: &[u8]) {
    let mut request = reqwest::Client::new().put(ticket["url"].as_str().expect("url"));
    for (name, value) in ticket["headers"].as_object().expect("headers") {
        request = request.header(name.as_str(), value.as_str().expect("value"));
    }
    let response = request.body(bytes.to_vec()).send().await.expect("PUT");
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_in_parts_goes_through_the_route_functions_and_the_pipeline() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    stack.create_repository(&key).await;
    let bytes: Vec<u8> = (0..PART + 4321).map(|i| (i % 253) as u8).collect();
    let (first, last) = bytes.split_at(PART);

    let mut create = stack.api_event("create_upload", &key).await;
    create["body"] = serde_json::json!({
        "package": "widget", "version": "1.0.0", "filename": "widget.bin",
        "size": bytes.len(), "sha256": sha(&bytes), "part_size": PART,
        "parts": [{"number": 1, "sha256": sha(first)}],
    })
    .to_string()
    .into();
    let mut function = stack.function("api", "create_upload").await;
    let (status, ticket) = http_answer(&function.invoke(&create).await.response());
    assert_eq!(status, 201, "{ticket}");
    let id = ticket["upload_id"].as_str().expect("id").to_owned();
    assert_eq!(ticket["multipart"]["part_count"], 2);
    put(&ticket["multipart"]["parts"][0], first).await;

    let mut parts = stack.function("api", "presign_upload_parts").await;
    let asked = serde_json::json!({"parts": [{"number": 2, "sha256": sha(last)}]});
    let (status, more) = http_answer(
        &parts
            .invoke(&event_for(&stack, "presign_upload_parts", &key, &id, Some(asked)).await)
            .await
            .response(),
    );
    assert_eq!(status, 200, "{more}");
    put(&more["parts"][0], last).await;

    let mut get = stack.function("api", "get_upload").await;
    let (status, view) = http_answer(
        &get.invoke(&event_for(&stack, "get_upload", &key, &id, None).await)
            .await
            .response(),
    );
    assert_eq!(status, 200, "{view}");
    let sizes: Vec<_> = view["multipart"]["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| (p["number"].clone(), p["size"].clone()))
        .collect();
    assert_eq!(
        sizes,
        [
            (1.into(), PART.into()),
            (2.into(), (bytes.len() - PART).into())
        ]
    );

    let mut complete = stack.function("api", "complete_upload").await;
    let (status, done) = http_answer(
        &complete
            .invoke(&event_for(&stack, "complete_upload", &key, &id, None).await)
            .await
            .response(),
    );
    assert_eq!(status, 202, "{done}");
    assert_eq!(done["multipart"]["completed"], true, "{done}");
    let stored = trove_aws::s3_client(&stack.sdk)
        .get_object()
        .bucket(&stack.bucket)
        .key(format!("incoming/default/{id}"))
        .send()
        .await
        .expect("the joined object")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert!(stored[..] == bytes[..], "the joined object differs");

    // The storage event of the completion starts the same steps as any upload.
    run_pipeline(&stack, &id).await;
    let (_, view) = http_answer(
        &get.invoke(&event_for(&stack, "get_upload", &key, &id, None).await)
            .await
            .response(),
    );
    assert_eq!(view["status"], "published", "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_in_parts_is_dropped_from_storage() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    stack.create_repository(&key).await;
    let bytes = vec![7u8; 1000];
    let mut create = stack.api_event("create_upload", &key).await;
    create["body"] = serde_json::json!({
        "package": "widget", "version": "2.0.0", "filename": "widget.bin",
        "size": bytes.len(), "sha256": sha(&bytes), "part_size": PART,
        "parts": [{"number": 1, "sha256": sha(&bytes)}],
    })
    .to_string()
    .into();
    let mut function = stack.function("api", "create_upload").await;
    let (status, ticket) = http_answer(&function.invoke(&create).await.response());
    assert_eq!(status, 201, "{ticket}");
    let id = ticket["upload_id"].as_str().expect("id").to_owned();
    put(&ticket["multipart"]["parts"][0], &bytes).await;

    let mut cancel = stack.function("api", "cancel_upload").await;
    let (status, body) = http_answer(
        &cancel
            .invoke(&event_for(&stack, "cancel_upload", &key, &id, None).await)
            .await
            .response(),
    );
    assert_eq!(status, 204, "{body}");
    let uploads = trove_aws::s3_client(&stack.sdk)
        .list_multipart_uploads()
        .bucket(&stack.bucket)
        .send()
        .await
        .expect("list uploads");
    assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
    let mut get = stack.function("api", "get_upload").await;
    let (_, view) = http_answer(
        &get.invoke(&event_for(&stack, "get_upload", &key, &id, None).await)
            .await
            .response(),
    );
    assert_eq!(view["status"], "cancelled", "{view}");
}
