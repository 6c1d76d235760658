//! The npm registry's two functions as API Gateway invokes them: greedy routes, the path
//! decoded (a scoped name arrives as two segments), no authorizer in front. npm's publish
//! document as a JSON body, the pipeline's steps, then the packument, the tarball link and a
//! dist-tag, against moto.

use sha2::Digest as _;
use trove_testkit::archives::fixtures::{npm_publish_document, npm_tarball};

use crate::registries;
use crate::stack::{Stack, api_event, http_answer};

const NAME: &str = "@acme/widget";

/// An npm request through API Gateway: `method` on the decoded `rest` of the registry path.
fn npm_event(
    function: &str,
    key: &str,
    method: &str,
    rest: &str,
    body: Option<String>,
) -> serde_json::Value {
    let mut event = api_event(function, key);
    let route = format!("{method} /npm/{{tenant}}/{{repo}}/{{proxy+}}");
    let path = format!("/npm/default/js/{rest}");
    event["routeKey"] = route.clone().into();
    event["requestContext"]["routeKey"] = route.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["rawPath"] = path.clone().into();
    event["requestContext"]["http"]["path"] = path.into();
    event["pathParameters"]["proxy"] = rest.into();
    match body {
        Some(b) => {
            event["body"] = b.into();
            event["headers"]["content-type"] = "application/json".into();
        }
        None => {
            if let Some(e) = event.as_object_mut() {
                e.remove("body");
            }
        }
    }
    event["isBase64Encoded"] = false.into();
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_publish_goes_through_the_pipeline_and_the_read_function_serves_it() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    registries::create_repository(&stack, &key, "js", "npm").await;

    let tarball = npm_tarball(
        r#"{"name":"@acme/widget","version":"1.0.0","main":"index.js"}"#,
        &[("index.js", b"module.exports = 42;\n")],
    );
    let doc = npm_publish_document(NAME, "1.0.0", "latest", &tarball);
    let mut write = stack
        .function_with_env("api", "npm_write", &[("TROVE_PUBLISH_WAIT_SECS", "1")])
        .await;
    // moto's Step Functions does not run the steps: the publish waits its second and
    // answers 202 naming the upload; the steps run below as the state machine would.
    let (status, said) = http_answer(
        &write
            .invoke(&npm_event("npm_write", &key, "PUT", NAME, Some(doc)))
            .await
            .response(),
    );
    assert_eq!(status, 202, "{said}");
    let pending = said["pending"].as_str().unwrap_or_default();
    let upload_id = pending
        .strip_prefix("stored as upload ")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no upload id in {said}"))
        .to_owned();
    registries::run_pipeline(&stack, &upload_id).await;

    let mut read = stack.function("api", "npm_read").await;
    let (status, doc) = http_answer(
        &read
            .invoke(&npm_event("npm_read", &key, "GET", NAME, None))
            .await
            .response(),
    );
    assert_eq!(status, 200, "{doc}");
    let v = &doc["versions"]["1.0.0"];
    let sha512 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        sha2::Sha512::digest(&tarball),
    );
    assert_eq!(v["dist"]["integrity"], format!("sha512-{sha512}"));
    assert_eq!(
        v["dist"]["tarball"],
        "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/npm/default/js/@acme/widget/-/widget-1.0.0.tgz",
        "the gateway's own address, https, under the registry prefix"
    );

    let response = read
        .invoke(&npm_event(
            "npm_read",
            &key,
            "GET",
            "@acme/widget/-/widget-1.0.0.tgz",
            None,
        ))
        .await
        .response();
    assert_eq!(response["statusCode"], 302, "{response}");
    let location = response["headers"]["location"].as_str().unwrap_or_default();
    assert!(location.contains("X-Amz-Signature"), "{location}");

    // The generic API names the scoped package too: API Gateway decodes its `%2F` into two
    // segments, and the function encodes the route's parameters again.
    let mut get_package = stack.function("api", "get_package").await;
    let mut event = stack.api_event("get_package", &key).await;
    event["rawPath"] = "/v1/repositories/js/packages/@acme/widget".into();
    event["requestContext"]["http"]["path"] = event["rawPath"].clone();
    event["pathParameters"] = serde_json::json!({"repo": "js", "package": NAME});
    let (status, package) = http_answer(&get_package.invoke(&event).await.response());
    assert_eq!(status, 200, "{package}");
    assert_eq!(package["name"], NAME);

    // The sample event: a dist-tag, decoded scoped path.
    let mut tag = api_event("npm_write", &key);
    tag["body"] = "\"1.0.0\"".into();
    let (status, tags) = http_answer(&write.invoke(&tag).await.response());
    assert_eq!(status, 201, "{tags}");
    assert_eq!(tags["beta"], "1.0.0");

    // The read function does not write, and without a credential npm gets its error shape.
    let (status, body) = http_answer(&read.invoke(&tag).await.response());
    assert_eq!(status, 404, "{body}");
    let mut anonymous = npm_event("npm_read", &key, "GET", NAME, None);
    if let Some(h) = anonymous["headers"].as_object_mut() {
        h.remove("authorization");
    }
    let (status, body) = http_answer(&read.invoke(&anonymous).await.response());
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].is_string(), "{body}");
}
