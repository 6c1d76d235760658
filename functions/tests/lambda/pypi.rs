//! The PyPI route functions as API Gateway invokes them (no authorizer in front: they
//! authenticate the caller themselves): twine's upload as a base64 multipart body, the
//! pipeline's steps, then the index, the file link and the core metadata link, against moto.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use trove_testkit::archives::fixtures::PythonProject;

use crate::registries;
use crate::stack::{Stack, api_event, http_answer};

const BOUNDARY: &str = "----twine-boundary";

pub(crate) fn widget() -> PythonProject<'static> {
    PythonProject {
        dist: "widget",
        name: "widget",
        version: "1.0.0",
        extra_metadata: "Requires-Python: >=3.9\n",
        files: &[("widget/__init__.py", b"ANSWER = 42\n")],
    }
}

/// twine's form, base64-encoded as API Gateway hands a binary body to Lambda.
fn upload_event(key: &str, filename: &str, bytes: &[u8]) -> serde_json::Value {
    let mut body = Vec::new();
    let sha = hex::encode(Sha256::digest(bytes));
    for (name, value) in [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("name", "widget"),
        ("version", "1.0.0"),
        ("sha256_digest", sha.as_str()),
    ] {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let mut event = api_event("pypi_upload", key);
    event["headers"]["authorization"] = basic(key).into();
    event["body"] = base64::engine::general_purpose::STANDARD
        .encode(&body)
        .into();
    event["isBase64Encoded"] = true.into();
    event
}

pub(crate) fn basic(key: &str) -> String {
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("__token__:{key}"));
    format!("Basic {pair}")
}

pub(crate) fn header<'a>(response: &'a serde_json::Value, name: &str) -> &'a str {
    response["headers"][name].as_str().unwrap_or_default()
}

/// twine's upload of the widget wheel to repository `py` (created here), published by the
/// pipeline's steps; the upload function, to send it again.
pub(crate) async fn publish_widget(stack: &Stack, key: &str) -> crate::runtime_api::Function {
    registries::create_repository(stack, key, "py", "pypi").await;
    // moto's Step Functions does not run the steps: the upload waits its second, answers
    // 202 and names the upload; the steps run below as the state machine would run them.
    let project = widget();
    let wheel = project.wheel();
    let mut upload = stack
        .function_with_env("api", "pypi_upload", &[("TROVE_PUBLISH_WAIT_SECS", "1")])
        .await;
    let response = upload
        .invoke(&upload_event(key, &project.wheel_name(), &wheel))
        .await
        .response();
    let (status, said) = http_answer(&response);
    assert_eq!(status, 202, "{said}");
    let said = said.as_str().unwrap_or_default().to_owned();
    let upload_id = said
        .split("/uploads/")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .unwrap_or_else(|| panic!("no upload id in {said:?}"))
        .to_owned();
    registries::run_pipeline(stack, &upload_id).await;
    upload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twines_upload_is_published_by_the_pipeline_and_served_by_the_index_functions() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    let mut upload = publish_widget(&stack, &key).await;
    let project = widget();
    let wheel = project.wheel();

    // The same file again: 409, which `twine upload --skip-existing` skips.
    let (status, said) = http_answer(
        &upload
            .invoke(&upload_event(&key, &project.wheel_name(), &wheel))
            .await
            .response(),
    );
    assert_eq!(status, 409, "{said}");

    // The project page lists the wheel with its hash and its core metadata's.
    let mut page = stack.function("api", "pypi_read").await;
    let mut event = api_event("pypi_read", &key);
    event["headers"]["authorization"] = basic(&key).into();
    let response = page.invoke(&event).await.response();
    let (status, body) = http_answer(&response);
    assert_eq!(status, 200, "{body}");
    let metadata = project.metadata();
    let file = &body["files"][0];
    assert_eq!(file["filename"], project.wheel_name().as_str(), "{body}");
    assert_eq!(
        file["hashes"]["sha256"],
        hex::encode(Sha256::digest(&wheel))
    );
    assert_eq!(
        file["core-metadata"]["sha256"],
        hex::encode(Sha256::digest(metadata.as_bytes()))
    );
    assert_eq!(file["requires-python"], ">=3.9");

    // The same function serves the index of projects (one route family behind a greedy route).
    let mut index = api_event("pypi_read", &key);
    index["headers"]["authorization"] = basic(&key).into();
    index["rawPath"] = "/pypi/default/py/simple/".into();
    index["requestContext"]["http"]["path"] = "/pypi/default/py/simple/".into();
    index["pathParameters"]["proxy"] = "simple/".into();
    let (status, listing) = http_answer(&page.invoke(&index).await.response());
    assert_eq!(status, 200, "{listing}");
    assert_eq!(listing["projects"][0]["name"], "widget", "{listing}");

    // Without a credential: the function's own 401, with the challenge pip answers.
    let mut anonymous = event.clone();
    if let Some(headers) = anonymous["headers"].as_object_mut() {
        headers.remove("authorization");
    }
    let response = page.invoke(&anonymous).await.response();
    assert_eq!(http_answer(&response).0, 401);
    assert!(
        header(&response, "www-authenticate").contains("Basic"),
        "{response}"
    );

    // The file link and the core metadata link: 302s to presigned S3 GETs of exactly the
    // announced bytes.
    let download = &mut page;
    let client = reqwest::Client::new();
    for (suffix, expected) in [("", wheel.clone()), (".metadata", metadata.into_bytes())] {
        let mut event = api_event("pypi_read", &key);
        event["headers"]["authorization"] = basic(&key).into();
        let proxy = format!("files/widget/1.0.0/{}{suffix}", project.wheel_name());
        let path = format!("/pypi/default/py/{proxy}");
        event["rawPath"] = path.as_str().into();
        event["requestContext"]["http"]["path"] = path.as_str().into();
        event["pathParameters"]["proxy"] = proxy.into();
        let response = download.invoke(&event).await.response();
        assert_eq!(http_answer(&response).0, 302, "{path}: {response}");
        let location = header(&response, "location");
        let fetched = client.get(location).send().await.expect("presigned GET");
        assert!(fetched.status().is_success(), "{location}");
        let bytes = fetched.bytes().await.expect("body");
        assert_eq!(bytes.as_ref(), expected.as_slice(), "{path}");
    }
}
