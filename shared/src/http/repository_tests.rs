//! A repository's life: created and deleted, each announced; a repository still holding
//! versions is not deleted.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::tests::TestApp;
use crate::ports::DomainEvent;

fn events_of(app: &TestApp, kind: &str) -> Vec<DomainEvent> {
    app.host
        .events
        .published()
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

async fn create(app: &TestApp, name: &str) {
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(json!({"name": name, "format": "generic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn delete(app: &TestApp, uri: &str) -> (StatusCode, String, Value) {
    app.call(Method::DELETE, uri, Some(&app.admin), None).await
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_a_repository_announces_it() {
    let app = TestApp::new().await;
    create(&app, "libs").await;
    let created = events_of(&app, "repository.created");
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0].tenant, "default");
    assert_eq!(
        created[0].data,
        json!({"repository": "libs", "format": "generic"})
    );
    // A refused duplicate announces nothing.
    let (status, _, _) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(json!({"name": "libs", "format": "generic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(events_of(&app, "repository.created").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_repository_is_deleted_and_announced() {
    let app = TestApp::new().await;
    create(&app, "libs").await;
    let (status, _, body) = delete(&app, "/v1/repositories/libs").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, _) = app
        .call(Method::GET, "/v1/repositories/libs", Some(&app.admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let deleted = events_of(&app, "repository.deleted");
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(
        deleted[0].data,
        json!({"repository": "libs", "format": "generic"})
    );
    // The name is free again.
    create(&app, "libs").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_holding_versions_is_kept_until_they_are_deleted() {
    let app = TestApp::new().await;
    create(&app, "libs").await;
    let admin = app.admin.clone();
    let up = app
        .publish(&admin, "libs", "acme-core", "1.0.0", "a.bin", b"abc")
        .await;
    assert_eq!(up["status"], "published", "{up}");

    let (status, ctype, body) = delete(&app, "/v1/repositories/libs").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(ctype, "application/problem+json");
    let detail = body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("acme-core 1.0.0") && detail.contains("delete them first"),
        "{detail}"
    );
    assert!(events_of(&app, "repository.deleted").is_empty());

    let (status, _, body) = delete(
        &app,
        "/v1/repositories/libs/packages/acme-core/versions/1.0.0",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, body) = delete(&app, "/v1/repositories/libs").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(events_of(&app, "repository.deleted").len(), 1);

    // Recreated, it starts empty, and the deleted version's number stays spent.
    create(&app, "libs").await;
    let (_, _, packages) = app
        .call(
            Method::GET,
            "/v1/repositories/libs/packages",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(packages["items"], json!([]), "{packages}");
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories/libs/uploads",
            Some(&admin),
            Some(json!({"package": "acme-core", "version": "1.0.0", "filename": "a.bin", "size": 3, "sha256": "a".repeat(64)})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_unknown_repository_is_not_found() {
    let app = TestApp::new().await;
    let (status, ctype, body) = delete(&app, "/v1/repositories/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(ctype, "application/problem+json");
    let (status, _, _) = delete(&app, "/v1/repositories/Not%20A%20Name").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(events_of(&app, "repository.deleted").is_empty());
}
