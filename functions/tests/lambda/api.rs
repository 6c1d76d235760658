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
        .invoke(&api_event("create_repository", &key))
        .await
        .response();
    let (status, body) = http_answer(&response);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "libs");

    let mut get = stack.function("api", "get_repository").await;
    let (status, body) = http_answer(
        &get.invoke(&api_event("get_repository", &key))
            .await
            .response(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "libs");
    assert_eq!(body["format"], "generic");

    // Invoked without the authorizer's context, the function authenticates its caller
    // itself: a wrong key is a problem+json 401, and the function keeps serving.
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
            .invoke(&api_event("list_repositories", &key))
            .await
            .response(),
    );
    assert_eq!(status, 404, "{body}");

    // A read route's function sent a write: refused before anything is stored.
    let mut get = stack.function("api", "get_repository").await;
    let (status, body) = http_answer(
        &get.invoke(&api_event("create_repository", &key))
            .await
            .response(),
    );
    assert_eq!(status, 404, "{body}");
    let mut list = stack.function("api", "list_repositories").await;
    let (status, body) = http_answer(
        &list
            .invoke(&api_event("list_repositories", &key))
            .await
            .response(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], serde_json::json!([]), "{body}");
}
