//! API route functions: the `api` binary, one route per function (`_HANDLER` = operation id),
//! fed the sample API Gateway v2 events of events/api/.

use crate::stack::{Stack, api_event, http_answer, sample_event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_through_its_function() {
    let stack = Stack::new().await;
    let mut healthz = stack.function("api", "healthz").await;
    let response = healthz
        .invoke(&sample_event("api/healthz.json"))
        .await
        .response();
    assert_eq!(http_answer(&response), (200, "ok".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_created_by_one_function_is_read_by_another() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;

    let mut create = stack.function("api", "create_repository").await;
    let response = create
        .invoke(&stack.api_event("create_repository", &key).await)
        .await
        .response();
    let (status, body) = http_answer(&response);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "libs");

    let mut get = stack.function("api", "get_repository").await;
    let (status, body) = http_answer(
        &get.invoke(&stack.api_event("get_repository", &key).await)
            .await
            .response(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "libs");
    assert_eq!(body["format"], "generic");

    // Invoked without the authorizer's context, the function authenticates its caller
    // itself: a wrong key is a problem+json 401, and the function keeps serving. Recording
    // the key's last use is the authorizer's write (CallerLastUsePolicy): a read route's
    // role may not, and the request is served all the same.
    stack.expect_refused("action=dynamodb:PutItem");
    let (status, body) = http_answer(
        &get.invoke(&api_event("get_repository", "trove_not-a-key"))
            .await
            .response(),
    );
    assert_eq!(status, 401, "{body}");
    let (status, _) = http_answer(
        &get.invoke(&api_event("get_repository", &key))
            .await
            .response(),
    );
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_function_refuses_every_other_route() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;

    let mut healthz = stack.function("api", "healthz").await;
    let (status, body) = http_answer(
        &healthz
            .invoke(&stack.api_event("list_repositories", &key).await)
            .await
            .response(),
    );
    assert_eq!(status, 404, "{body}");

    // A read route's function sent a write: refused before anything is stored.
    let mut get = stack.function("api", "get_repository").await;
    let (status, body) = http_answer(
        &get.invoke(&stack.api_event("create_repository", &key).await)
            .await
            .response(),
    );
    assert_eq!(status, 404, "{body}");
    let mut list = stack.function("api", "list_repositories").await;
    let (status, body) = http_answer(
        &list
            .invoke(&stack.api_event("list_repositories", &key).await)
            .await
            .response(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], serde_json::json!([]), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_function_answers_its_pages_and_assets() {
    let stack = Stack::new().await;
    let mut console = stack
        .function("api", trove_core::http::console::HANDLER)
        .await;
    let event = sample_event("api/console.json");
    let response = console.invoke(&event).await.response();
    let (status, body) = http_answer(&response);
    assert_eq!(status, 200, "{body}");
    let html = body.as_str().unwrap_or_default();
    assert!(html.contains("id=\"sign-in\""), "{html}");
    let csp = response["headers"]["content-security-policy"]
        .as_str()
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{response}");

    // The stylesheet the page links, by its hashed name, kept for a year.
    let css = html
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|href| href.starts_with("/console/assets/") && href.ends_with(".css"))
        .expect("a stylesheet link")
        .to_owned();
    let mut asset = event.clone();
    asset["rawPath"] = css.clone().into();
    asset["requestContext"]["http"]["path"] = css.into();
    let response = console.invoke(&asset).await.response();
    assert_eq!(response["statusCode"], 200, "{response}");
    assert!(
        response["headers"]["cache-control"]
            .as_str()
            .unwrap_or_default()
            .contains("immutable"),
        "{response}"
    );

    // Not signed in, a page sends the person to sign in; the root leads to the console.
    let mut home = event.clone();
    home["rawPath"] = "/console/".into();
    home["requestContext"]["http"]["path"] = "/console/".into();
    let response = console.invoke(&home).await.response();
    assert_eq!(response["statusCode"], 303, "{response}");
    assert_eq!(response["headers"]["location"], "/console/sign-in");
}
