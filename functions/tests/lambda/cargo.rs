//! The Cargo registry's two functions as API Gateway invokes them: greedy routes, no
//! authorizer in front, cargo's bare token. cargo's publish body base64-encoded by the
//! gateway, the pipeline's steps, then config.json, the index file, the download link and
//! a yank (the sample event), against moto.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use trove_testkit::archives::fixtures::{cargo_crate, cargo_publish_body};

use crate::registries;
use crate::stack::{Stack, api_event, http_answer};

/// A cargo request through API Gateway: `method` on the `rest` of the registry path.
fn cargo_event(function: &str, key: &str, method: &str, rest: &str) -> serde_json::Value {
    let mut event = api_event(function, key);
    event["headers"]["authorization"] = key.into();
    let route = format!("{method} /cargo/{{tenant}}/{{repo}}/{{proxy+}}");
    let path = format!("/cargo/default/crates/{rest}");
    event["routeKey"] = route.clone().into();
    event["requestContext"]["routeKey"] = route.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["rawPath"] = path.clone().into();
    event["requestContext"]["http"]["path"] = path.into();
    event["pathParameters"]["proxy"] = rest.into();
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_publish_goes_through_the_pipeline_and_the_read_function_serves_the_index() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    registries::create_repository(&stack, &key, "crates", "cargo").await;

    let krate = cargo_crate("widget", "1.0.0", "");
    let mut publish = cargo_event("cargo_write", &key, "PUT", "api/v1/crates/new");
    publish["body"] = base64::engine::general_purpose::STANDARD
        .encode(cargo_publish_body("widget", "1.0.0", &krate))
        .into();
    publish["isBase64Encoded"] = true.into();
    let mut write = stack
        .function_with_env("api", "cargo_write", &[("TROVE_PUBLISH_WAIT_SECS", "1")])
        .await;
    // moto's Step Functions does not run the steps: the publish waits its second and
    // answers with a warning naming the upload; the steps run below.
    let (status, said) = http_answer(&write.invoke(&publish).await.response());
    assert_eq!(status, 200, "{said}");
    let warning = said["warnings"]["other"][0].as_str().unwrap_or_default();
    let upload_id = warning
        .strip_prefix("stored as upload ")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no upload id in {said}"))
        .to_owned();
    registries::run_pipeline(&stack, &upload_id).await;

    let mut read = stack.function("api", "cargo_read").await;
    let (status, config) = http_answer(
        &read
            .invoke(&cargo_event("cargo_read", &key, "GET", "index/config.json"))
            .await
            .response(),
    );
    assert_eq!(status, 200, "{config}");
    assert_eq!(
        config["dl"],
        "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/cargo/default/crates/api/v1/crates"
    );
    assert_eq!(config["auth-required"], true);

    let index = read
        .invoke(&cargo_event(
            "cargo_read",
            &key,
            "GET",
            "index/wi/dg/widget",
        ))
        .await
        .response();
    assert_eq!(index["statusCode"], 200, "{index}");
    let line: serde_json::Value =
        serde_json::from_str(index["body"].as_str().unwrap_or_default().trim()).expect("a line");
    assert_eq!(line["vers"], "1.0.0");
    assert_eq!(line["cksum"], hex::encode(Sha256::digest(&krate)));
    assert_eq!(line["yanked"], false);

    let download = read
        .invoke(&cargo_event(
            "cargo_read",
            &key,
            "GET",
            "api/v1/crates/widget/1.0.0/download",
        ))
        .await
        .response();
    assert_eq!(download["statusCode"], 302, "{download}");

    // The sample event: a yank, which the index then shows.
    let mut yank = api_event("cargo_write", &key);
    yank["headers"]["authorization"] = key.as_str().into();
    let (status, body) = http_answer(&write.invoke(&yank).await.response());
    assert_eq!(status, 200, "{body}");
    let index = read
        .invoke(&cargo_event(
            "cargo_read",
            &key,
            "GET",
            "index/wi/dg/widget",
        ))
        .await
        .response();
    assert!(
        index["body"]
            .as_str()
            .unwrap_or_default()
            .contains("\"yanked\":true"),
        "{index}"
    );
    // The read function writes nothing; without a token cargo gets its error shape.
    let (status, _) = http_answer(&read.invoke(&yank).await.response());
    assert_eq!(status, 404);
    let mut anonymous = cargo_event("cargo_read", &key, "GET", "index/config.json");
    if let Some(h) = anonymous["headers"].as_object_mut() {
        h.remove("authorization");
    }
    let (status, body) = http_answer(&read.invoke(&anonymous).await.response());
    assert_eq!(status, 401, "{body}");
    assert!(body["errors"][0]["detail"].is_string(), "{body}");
}
