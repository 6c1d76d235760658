//! Look-alike names: a new package, version or file whose canonical form an existing one
//! already has (`domain::canonical`) is refused with a 409 naming the existing one, both
//! when the upload is requested and when it is published; the first spelling is kept.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::app::TestApp;

async fn app_with_libs() -> TestApp {
    let app = TestApp::new().await;
    app.create_repository("libs").await;
    app
}

/// Asks to upload `bytes` as `filename` of `package` `version` to libs.
async fn request(
    app: &TestApp,
    package: &str,
    version: &str,
    filename: &str,
    bytes: &[u8],
) -> (StatusCode, String, Value) {
    app.request_upload(&app.admin, "libs", package, version, filename, bytes)
        .await
}

async fn publish(app: &TestApp, package: &str, version: &str, filename: &str) -> Value {
    let admin = app.admin.clone();
    let bytes = format!("{package} {version} {filename}");
    let up = app
        .publish(&admin, "libs", package, version, filename, bytes.as_bytes())
        .await;
    assert_eq!(up["status"], "published", "{up}");
    up
}

/// Asserts a 409 problem whose detail names the existing name (`names`).
fn assert_refused(answer: (StatusCode, String, Value), names: &str) {
    let (status, ctype, body) = answer;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(ctype, "application/problem+json");
    let detail = body["detail"].as_str().expect("detail");
    assert!(detail.contains(names), "{detail}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_package_name_that_looks_like_an_existing_one_is_refused() {
    let app = app_with_libs().await;
    publish(&app, "widget", "1.0.0", "a.bin").await;
    publish(&app, "acme-core", "1.0.0", "a.bin").await;
    for name in ["Widget", "WIDGET", "wIdGeT"] {
        let answer = request(&app, name, "2.0.0", "a.bin", b"x").await;
        assert_refused(answer, "existing package widget");
    }
    for name in ["acme_core", "Acme.Core", "acme--core", "ACME_-_CORE"] {
        let answer = request(&app, name, "2.0.0", "a.bin", b"x").await;
        assert_refused(answer, "existing package acme-core");
    }
    // The existing spelling itself is welcome.
    let (status, _, body) = request(&app, "widget", "2.0.0", "a.bin", b"x").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_name_must_end_with_a_letter_or_digit() {
    let app = app_with_libs().await;
    for (package, version, filename) in [
        ("widget.", "1.0.0", "a.bin"),
        ("widget_", "1.0.0", "a.bin"),
        ("widget", "1.0.0-", "a.bin"),
        ("widget", "1.0.0", "a.bin."),
    ] {
        let (status, ctype, body) = request(&app, package, version, filename, b"x").await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{package} {version} {filename}: {body}"
        );
        assert_eq!(ctype, "application/problem+json");
        let detail = body["detail"].as_str().expect("detail");
        assert!(detail.contains("end it with a letter or digit"), "{detail}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_that_differs_only_in_case_is_refused() {
    let app = app_with_libs().await;
    publish(&app, "widget", "1.0.0-RC1", "a.bin").await;
    let answer = request(&app, "widget", "1.0.0-rc1", "a.bin", b"x").await;
    assert_refused(answer, "existing version 1.0.0-RC1");

    // Deleted, its number is still spent, in every spelling.
    let (status, _, body) = app
        .call(
            Method::DELETE,
            "/v1/repositories/libs/packages/widget/versions/1.0.0-RC1",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let answer = request(&app, "widget", "1.0.0-Rc1", "a.bin", b"x").await;
    assert_refused(answer, "existing version 1.0.0-RC1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_name_that_differs_only_in_case_is_refused() {
    let app = app_with_libs().await;
    publish(&app, "widget", "1.0.0", "a.bin").await;
    let answer = request(&app, "widget", "1.0.0", "A.BIN", b"x").await;
    assert_refused(answer, "looks like a.bin");
    // Another file, or the same name in another version, is fine.
    let (status, _, body) = request(&app, "widget", "1.0.0", "b.bin", b"x").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, body) = request(&app, "widget", "2.0.0", "A.BIN", b"x").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_spelling_is_kept() {
    let app = app_with_libs().await;
    publish(&app, "Widget", "1.0.0", "a.bin").await;
    publish(&app, "Widget", "2.0.0", "a.bin").await;
    let (_, _, packages) = app
        .call(
            Method::GET,
            "/v1/repositories/libs/packages",
            Some(&app.admin),
            None,
        )
        .await;
    let names: Vec<_> = packages["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Widget")], "{packages}");
    let answer = request(&app, "widget", "3.0.0", "a.bin", b"x").await;
    assert_refused(answer, "existing package Widget");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_created_again_keeps_its_package_spellings() {
    let app = app_with_libs().await;
    publish(&app, "widget", "1.0.0", "a.bin").await;
    for uri in [
        "/v1/repositories/libs/packages/widget/versions/1.0.0",
        "/v1/repositories/libs",
    ] {
        let (status, _, body) = app.call(Method::DELETE, uri, Some(&app.admin), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{uri}: {body}");
    }
    app.create_repository("libs").await;
    // Otherwise `Widget 1.0.0` would bring back the deleted `widget 1.0.0` in a new spelling.
    let answer = request(&app, "Widget", "1.0.0", "a.bin", b"x").await;
    assert_refused(answer, "existing package widget");
    let (status, _, body) = request(&app, "widget", "2.0.0", "a.bin", b"x").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn outcome(app: &TestApp, ticket: &Value) -> Value {
    let id = ticket["upload_id"].as_str().expect("id");
    let uri = format!("/v1/repositories/libs/uploads/{id}");
    for _ in 0..500 {
        let (_, _, upload) = app.call(Method::GET, &uri, Some(&app.admin), None).await;
        if upload["status"] == "published" || upload["status"] == "rejected" {
            return upload;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("upload {id} did not finish");
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_concurrent_lookalike_uploads_exactly_one_is_published() {
    let app = app_with_libs().await;
    // Both are accepted: neither name exists yet when they are requested.
    let (status, _, upper) = request(&app, "Widget", "1.0.0", "a.bin", b"upper").await;
    assert_eq!(status, StatusCode::CREATED, "{upper}");
    let (status, _, lower) = request(&app, "widget", "1.0.0", "a.bin", b"lower").await;
    assert_eq!(status, StatusCode::CREATED, "{lower}");
    tokio::join!(
        app.put_ticket(&upper, b"upper"),
        app.put_ticket(&lower, b"lower")
    );
    let (upper, lower) = tokio::join!(outcome(&app, &upper), outcome(&app, &lower));

    let published: Vec<_> = [&upper, &lower]
        .into_iter()
        .filter(|u| u["status"] == "published")
        .collect();
    assert_eq!(published.len(), 1, "{upper}\n{lower}");
    let winner = published[0]["package"].as_str().expect("package");
    let loser = if winner == "Widget" { &lower } else { &upper };
    assert_eq!(loser["status"], "rejected", "{loser}");
    let reason = loser["reason"].as_str().expect("reason");
    assert!(
        reason.contains(&format!("existing package {winner}")),
        "{reason}"
    );
    let (_, _, packages) = app
        .call(
            Method::GET,
            "/v1/repositories/libs/packages",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(
        packages["items"].as_array().map(Vec::len),
        Some(1),
        "{packages}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lookalikes_of_packages_stored_before_name_claims_are_refused() {
    use trove_core::domain::model::{Package, Repository, from_item, to_item};
    use trove_core::domain::names::{PackageName, RepoName, TenantName};

    let app = app_with_libs().await;
    let ctx = &app.host.ctx;
    let tenant = TenantName::parse("default").expect("tenant");
    let libs = RepoName::parse("libs").expect("repo");
    // A repository and a package as stored before ids and name claims.
    let key = trove_core::domain::keys::repo(&tenant, &libs);
    let mut repo: Repository =
        from_item(ctx.table.get(&key).await.expect("get").expect("repo")).expect("record");
    repo.id = None;
    ctx.table
        .put(to_item(&key, &repo).expect("item"), None)
        .await
        .expect("stored");
    let now = ctx.clock.now();
    let name = PackageName::parse("widget").expect("name");
    let package = Package {
        name: name.clone(),
        repository: libs.clone(),
        latest_version: None,
        dist_tags: Default::default(),
        rev: 1,
        created_at: now,
        updated_at: now,
    };
    let item = to_item(
        &trove_core::domain::keys::package(&tenant, &libs, &name),
        &package,
    );
    ctx.table
        .put(item.expect("item"), None)
        .await
        .expect("stored");

    let answer = request(&app, "Widget", "1.0.0", "a.bin", b"x").await;
    assert_refused(answer, "existing package widget");
    // The old package itself still takes new versions, and then holds its name's claim.
    publish(&app, "widget", "1.0.0", "a.bin").await;
    let answer = request(&app, "WIDGET", "1.0.0", "a.bin", b"x").await;
    assert_refused(answer, "existing package widget");
}
