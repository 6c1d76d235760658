//! A repository's life: created and deleted, each announced; a repository still holding
//! versions is not deleted.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::app::TestApp;
use trove_core::ports::DomainEvent;

/// The events of `kind` announced so far (relayed from the outbox first).
async fn events_of(app: &TestApp, kind: &str) -> Vec<DomainEvent> {
    app.host.settle_events().await.expect("outbox relayed");
    app.host
        .events
        .published()
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

async fn create(app: &TestApp, name: &str) {
    app.create_repository(name).await;
}

async fn delete(app: &TestApp, uri: &str) -> (StatusCode, String, Value) {
    app.call(Method::DELETE, uri, Some(&app.admin), None).await
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_a_repository_announces_it() {
    let app = TestApp::new().await;
    create(&app, "libs").await;
    let created = events_of(&app, "repository.created").await;
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
    assert_eq!(events_of(&app, "repository.created").await.len(), 1);
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
    let deleted = events_of(&app, "repository.deleted").await;
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
    assert!(events_of(&app, "repository.deleted").await.is_empty());

    let (status, _, body) = delete(
        &app,
        "/v1/repositories/libs/packages/acme-core/versions/1.0.0",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, body) = delete(&app, "/v1/repositories/libs").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(events_of(&app, "repository.deleted").await.len(), 1);

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
    assert!(events_of(&app, "repository.deleted").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_accepted_before_the_repository_was_deleted_is_rejected() {
    let app = TestApp::new().await;
    create(&app, "libs").await;
    let bytes = b"late bytes";
    let (status, _, ticket) = app
        .request_upload(&app.admin, "libs", "late", "1.0.0", "a.bin", bytes)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let (status, _, body) = delete(&app, "/v1/repositories/libs").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    app.put_ticket(&ticket, bytes).await;

    let tenant = trove_core::domain::names::TenantName::parse("default").expect("tenant");
    let id = trove_core::domain::keys::UploadId::parse(ticket["upload_id"].as_str().expect("id"))
        .expect("upload id");
    let mut upload = None;
    for _ in 0..200 {
        let now = trove_core::services::catalog::uploads::load(&app.host.ctx, &tenant, &id)
            .await
            .expect("load")
            .expect("upload");
        if !now.status.is_open() {
            upload = Some(now);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let upload = upload.expect("the upload finished");
    // Validate finds the repository gone; Persist's own check covers a delete that lands
    // between the two.
    assert_eq!(
        upload.status,
        trove_core::domain::model::UploadStatus::Rejected
    );
    let reason = upload.reason.unwrap_or_default();
    assert_eq!(
        reason, "repository libs was deleted after this upload was accepted",
        "{reason}"
    );
    // Nothing came back: the name is free and the recreated repository is empty.
    create(&app, "libs").await;
    let (_, _, packages) = app
        .call(
            Method::GET,
            "/v1/repositories/libs/packages",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(packages["items"], json!([]), "{packages}");
}

#[tokio::test(flavor = "multi_thread")]
async fn persist_refuses_an_upload_whose_repository_went_away_after_validation() {
    use trove_core::domain::keys::{BlobKey, UploadId};
    use trove_core::domain::names::{Sha256Hex, TenantName};
    use trove_core::pipeline::{StepError, StepInput, persist};

    let app = TestApp::new().await;
    create(&app, "libs").await;
    let sha = "c".repeat(64);
    let (status, _, ticket) = app
        .call(
            Method::POST,
            "/v1/repositories/libs/uploads",
            Some(&app.admin),
            Some(json!({"package": "late", "version": "1.0.0", "filename": "a.bin", "size": 3, "sha256": sha})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    // The bytes are in place, as Scan and Validate would have left them.
    let ctx = &app.host.ctx;
    let content = BlobKey::content(&Sha256Hex::parse(&sha).expect("sha"));
    ctx.blobs
        .put(
            &content,
            bytes::Bytes::from_static(b"abc"),
            "application/octet-stream",
        )
        .await
        .expect("content stored");
    let (status, _, body) = delete(&app, "/v1/repositories/libs").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let input = StepInput {
        tenant: TenantName::parse("default").expect("tenant"),
        upload_id: UploadId::parse(ticket["upload_id"].as_str().expect("id")).expect("id"),
        execution_id: None,
        reason: None,
    };
    let outcome = persist::run(ctx, &input).await;
    assert_eq!(
        outcome,
        Err(StepError::Rejected(
            "repository libs was deleted after this upload was accepted".into()
        ))
    );
    create(&app, "libs").await;
    let (_, _, packages) = app
        .call(
            Method::GET,
            "/v1/repositories/libs/packages",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(packages["items"], json!([]), "{packages}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_in_flight_does_not_land_in_a_repository_recreated_under_its_name() {
    use trove_core::domain::keys::{BlobKey, UploadId};
    use trove_core::domain::model::UploadStatus;
    use trove_core::domain::names::TenantName;
    use trove_core::pipeline::{StepError, StepInput, persist, quarantine, validate};

    let app = TestApp::new().await;
    create(&app, "libs").await;
    let bytes = b"ten bytes!";
    let (status, _, ticket) = app
        .request_upload(&app.admin, "libs", "big", "1.0.0", "a.bin", bytes)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let id = ticket["upload_id"].as_str().expect("id").to_owned();
    let ctx = &app.host.ctx;
    let tenant = TenantName::parse("default").expect("tenant");
    let upload_id = UploadId::parse(&id).expect("upload id");
    // The bytes land without a storage event: the test runs the steps itself, holding the
    // upload in the pipeline while the repository is replaced.
    ctx.blobs
        .put(
            &BlobKey::incoming(&tenant, &upload_id),
            bytes::Bytes::from_static(bytes),
            "application/octet-stream",
        )
        .await
        .expect("bytes landed");
    let input = StepInput {
        tenant: tenant.clone(),
        upload_id: upload_id.clone(),
        execution_id: None,
        reason: None,
    };
    assert_eq!(validate::run(ctx, &input).await, Ok(()));

    let (status, _, body) = delete(&app, "/v1/repositories/libs").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(json!({"name": "libs", "format": "generic", "max_file_size": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let gone = "repository libs was deleted after this upload was accepted";
    assert_eq!(
        persist::run(ctx, &input).await,
        Err(StepError::Rejected(gone.into()))
    );
    // Validate, which checks sizes against the repository's limit, refuses it as well.
    assert_eq!(
        validate::run(ctx, &input).await,
        Err(StepError::Rejected(gone.into()))
    );
    let refused = StepInput {
        reason: Some(gone.into()),
        ..input
    };
    quarantine::run(ctx, &refused).await.expect("quarantined");
    let upload = trove_core::services::catalog::uploads::load(ctx, &tenant, &upload_id)
        .await
        .expect("load")
        .expect("upload");
    assert_eq!(upload.status, UploadStatus::Rejected);
    assert_eq!(upload.reason.as_deref(), Some(gone));

    let (_, _, packages) = app
        .call(
            Method::GET,
            "/v1/repositories/libs/packages",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(packages["items"], json!([]), "{packages}");
    let (status, ctype, body) = app
        .call(
            Method::GET,
            &format!("/v1/repositories/libs/uploads/{id}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(ctype, "application/problem+json");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_created_again_under_its_name_has_a_new_id() {
    let app = TestApp::new().await;
    create(&app, "libs").await;
    let (_, _, first) = app
        .call(Method::GET, "/v1/repositories/libs", Some(&app.admin), None)
        .await;
    let first_id = first["id"].as_str().expect("an id").to_owned();
    let (status, _, body) = delete(&app, "/v1/repositories/libs").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    create(&app, "libs").await;
    let (_, _, second) = app
        .call(Method::GET, "/v1/repositories/libs", Some(&app.admin), None)
        .await;
    assert_ne!(second["id"].as_str().expect("an id"), first_id);
}

/// Stores `repo` as a repository created before ids were given (no `id`).
async fn make_legacy(app: &TestApp, repo: &str) -> trove_core::domain::model::Repository {
    use trove_core::domain::model::{from_item, to_item};
    use trove_core::domain::names::{RepoName, TenantName};
    let key = trove_core::domain::keys::repo(
        &TenantName::parse("default").expect("tenant"),
        &RepoName::parse(repo).expect("repo"),
    );
    let ctx = &app.host.ctx;
    let item = ctx.table.get(&key).await.expect("get").expect("repository");
    let mut legacy: trove_core::domain::model::Repository = from_item(item).expect("record");
    legacy.id = None;
    ctx.table
        .put(to_item(&key, &legacy).expect("item"), None)
        .await
        .expect("stored");
    legacy
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_conditioned_on_a_deleted_repository_fails_on_its_successor() {
    use trove_core::domain::model::{from_item, to_item};
    use trove_core::domain::names::{RepoName, TenantName};
    use trove_core::ports::TableError;
    use trove_core::services::catalog::repositories::is_instance;

    let app = TestApp::new().await;
    let ctx = &app.host.ctx;
    let key = trove_core::domain::keys::repo(
        &TenantName::parse("default").expect("tenant"),
        &RepoName::parse("libs").expect("repo"),
    );
    create(&app, "libs").await;
    let with_id: trove_core::domain::model::Repository =
        from_item(ctx.table.get(&key).await.expect("get").expect("repo")).expect("record");
    let item = to_item(&key, &with_id).expect("item");
    ctx.table
        .put(item.clone(), Some(is_instance(&with_id)))
        .await
        .expect("the same repository");
    // One created before ids were given is told apart by its creation time.
    let legacy = make_legacy(&app, "libs").await;
    let legacy_item = to_item(&key, &legacy).expect("item");
    ctx.table
        .put(legacy_item.clone(), Some(is_instance(&legacy)))
        .await
        .expect("the same legacy repository");

    let (status, _, body) = delete(&app, "/v1/repositories/libs").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    create(&app, "libs").await;
    for (old, item) in [(&with_id, item), (&legacy, legacy_item)] {
        let outcome = ctx.table.put(item, Some(is_instance(old))).await;
        assert!(
            matches!(outcome, Err(TableError::ConditionFailed)),
            "{outcome:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_of_a_repository_created_before_ids_still_publish() {
    let app = TestApp::new().await;
    create(&app, "libs").await;
    make_legacy(&app, "libs").await;
    let admin = app.admin.clone();
    let up = app
        .publish(&admin, "libs", "old-style", "1.0.0", "a.bin", b"abc")
        .await;
    assert_eq!(up["status"], "published", "{up}");
    // An upload record stored before ids were given carries none: still its repository's.
    let tenant = trove_core::domain::names::TenantName::parse("default").expect("tenant");
    let id = trove_core::domain::keys::UploadId::parse(up["upload_id"].as_str().expect("id"))
        .expect("upload id");
    let key = trove_core::domain::keys::upload(&tenant, id.as_str());
    let item = app
        .host
        .ctx
        .table
        .get(&key)
        .await
        .expect("get")
        .expect("upload");
    assert!(!item.contains_key("repository_id"), "{item:?}");
    let uri = format!("/v1/repositories/libs/uploads/{id}");
    let (status, _, body) = app.call(Method::GET, &uri, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
