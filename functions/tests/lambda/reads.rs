//! The read door: ReadFunction as its Lambda function URL invokes it (payload 2.0, the
//! `$default` route, no authorizer in front). It serves downloads and the package managers'
//! reads with the caller's own credential, refuses callers without one, and serves nothing
//! else: no write, no other management route.

use crate::pypi::{basic, header, publish_widget, widget};
use crate::stack::{Stack, http_answer, sample_event};

/// A request to the function URL, as Lambda hands it to the function.
fn door_event(method: &str, path: &str, authorization: Option<&str>) -> serde_json::Value {
    let mut event = sample_event("api/reads.json");
    event["rawPath"] = path.into();
    event["rawQueryString"] = "".into();
    event["requestContext"]["http"]["path"] = path.into();
    event["requestContext"]["http"]["method"] = method.into();
    if let Some(event) = event.as_object_mut() {
        event.remove("queryStringParameters");
    }
    let headers = event["headers"].as_object_mut().expect("headers");
    headers.remove("authorization");
    if let Some(value) = authorization {
        headers.insert("authorization".into(), value.into());
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_door_serves_downloads_and_package_reads_to_callers_it_authenticates_itself() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    publish_widget(&stack, &key).await;
    let wheel_name = widget().wheel_name();
    let wheel = widget().wheel();
    let bearer = format!("Bearer {key}");
    let mut door = stack.function("api", "reads").await;

    // pip's project page, with the credential pip sends once challenged.
    let mut page = door_event("GET", "/pypi/default/py/simple/widget/", Some(&basic(&key)));
    page["headers"]["accept"] = "application/vnd.pypi.simple.v1+json".into();
    let (status, body) = http_answer(&door.invoke(&page).await.response());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["files"][0]["filename"], wheel_name.as_str(), "{body}");

    // The file redirect: a 302 to a presigned GET of exactly the published bytes.
    let file = format!("/v1/repositories/py/packages/widget/versions/1.0.0/files/{wheel_name}");
    let response = door
        .invoke(&door_event("GET", &file, Some(&bearer)))
        .await
        .response();
    assert_eq!(http_answer(&response).0, 302, "{response}");
    let fetched = reqwest::get(header(&response, "location"))
        .await
        .expect("presigned GET");
    assert!(fetched.status().is_success());
    assert_eq!(
        fetched.bytes().await.expect("body").as_ref(),
        wheel.as_slice()
    );

    // No credential: no gateway stands in front, the function refuses it itself, pip's
    // routes with the challenge pip answers.
    let response = door
        .invoke(&door_event("GET", &file, None))
        .await
        .response();
    assert_eq!(http_answer(&response).0, 401, "{response}");
    let response = door
        .invoke(&door_event("GET", "/pypi/default/py/simple/widget/", None))
        .await
        .response();
    assert_eq!(http_answer(&response).0, 401, "{response}");
    assert!(
        header(&response, "www-authenticate").contains("Basic"),
        "{response}"
    );
    // A key that does not exist is no better.
    let forged = "Bearer trove_0000000000000000000000000000000000000000000";
    let response = door
        .invoke(&door_event("GET", &file, Some(forged)))
        .await
        .response();
    assert_eq!(http_answer(&response).0, 401, "{response}");

    // Nothing but the door's reads, whatever the credential: not twine's upload, not the
    // management API (both stay behind the HTTP API).
    for (method, path) in [
        ("POST", "/pypi/default/py/legacy/"),
        ("GET", "/v1/repositories"),
        ("DELETE", "/v1/repositories/py"),
        ("GET", "/v1/repositories/py/packages/widget/versions/1.0.0"),
    ] {
        let response = door
            .invoke(&door_event(method, path, Some(&bearer)))
            .await
            .response();
        assert_eq!(http_answer(&response).0, 404, "{method} {path}: {response}");
    }
    // And the repository is still there.
    let (status, _) = http_answer(
        &door
            .invoke(&door_event("GET", &file, Some(&bearer)))
            .await
            .response(),
    );
    assert_eq!(status, 302);
}
