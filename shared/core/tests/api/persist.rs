//! Persist's transaction holds its checks itself: what it read before committing may have
//! changed by the time it commits.

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use trove_core::domain::keys::{BlobKey, UploadId};
use trove_core::domain::model::{Format, Upload, UploadStatus};
use trove_core::domain::names::{
    FileName, PackageName, RepoName, Sha256Hex, TenantName, VersionName,
};
use trove_core::pipeline::persist::{NAME_CLAIM, REPOSITORY, publish_writes};
use trove_core::pipeline::{StepError, StepInput, persist};
use trove_core::ports::TableError;
use trove_core::services::Context;
use trove_core::services::access::caller::Caller;
use trove_core::services::catalog::repositories::{self, CreateRepository};
use trove_core::services::catalog::uploads;

fn tenant() -> TenantName {
    TenantName::parse("acme").expect("valid")
}

fn libs() -> RepoName {
    RepoName::parse("libs").expect("valid")
}

async fn create_libs(ctx: &Context, max_file_size: Option<u64>) {
    let request = CreateRepository {
        name: "libs".into(),
        format: Format::Generic,
        description: None,
        max_file_size,
        retention: None,
    };
    repositories::create(ctx, &Caller::tenant_admin_for_tests(tenant()), request)
        .await
        .expect("repository libs");
}

/// An upload of `widget 1.0.0 w.bin` to `libs`, under another `package` name.
async fn checked(ctx: &Context, package: &str, bytes: &'static [u8]) -> Upload {
    checked_as(ctx, (package, "1.0.0", "w.bin"), bytes).await
}

/// An upload to `libs` as the API accepts it, its bytes landed and checked.
async fn checked_as(
    ctx: &Context,
    (package, version, filename): (&str, &str, &str),
    bytes: &'static [u8],
) -> Upload {
    let repository_id = repositories::find(ctx, &tenant(), &libs())
        .await
        .expect("repository libs")
        .id;
    let now = ctx.clock.now();
    let upload = Upload {
        upload_id: UploadId::new(),
        tenant: tenant(),
        repository: libs(),
        repository_id,
        package: PackageName::parse(package).expect("valid"),
        version: VersionName::parse(version).expect("valid"),
        filename: FileName::parse(filename).expect("valid"),
        size: bytes.len() as u64,
        sha256: Sha256Hex::from_digest(&Sha256::digest(bytes)),
        status: UploadStatus::Scanning,
        reason: None,
        execution_id: None,
        created_at: now,
        expires_at: now + time::Duration::minutes(15),
        updated_at: now,
        scan: None,
        digests: Default::default(),
        multipart: None,
        created_by: None,
    };
    ctx.table
        .put(uploads::upload_item(&upload).expect("item"), None)
        .await
        .expect("upload stored");
    for key in [
        BlobKey::incoming(&upload.tenant, &upload.upload_id),
        BlobKey::content(&upload.sha256),
    ] {
        ctx.blobs
            .put(&key, Bytes::from_static(bytes), "application/octet-stream")
            .await
            .expect("bytes stored");
    }
    upload
}

fn input(upload: &Upload) -> StepInput {
    StepInput {
        tenant: upload.tenant.clone(),
        upload_id: upload.upload_id.clone(),
        execution_id: None,
        reason: None,
    }
}

fn failed_at(outcome: Result<(), TableError>) -> Vec<usize> {
    match outcome {
        Err(TableError::TransactionCanceled { failed }) => failed,
        other => panic!("expected a cancelled transaction, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_prepared_for_a_repository_does_not_commit_into_its_successor() {
    let (_dir, host) = trove_testkit::host().await;
    let ctx = &host.ctx;
    create_libs(ctx, None).await;
    let upload = checked(ctx, "widget", b"ten bytes!").await;
    let writes = publish_writes(ctx, &upload).await.expect("writes");

    // Between Persist's reads and its commit, libs is deleted and created again, smaller.
    let admin = Caller::tenant_admin_for_tests(tenant());
    repositories::delete(ctx, &admin, "libs")
        .await
        .expect("deleted");
    create_libs(ctx, Some(4)).await;

    let failed = failed_at(ctx.table.transact(writes).await);
    assert!(failed.contains(&REPOSITORY), "{failed:?}");
    assert_eq!(
        persist::run(ctx, &input(&upload)).await,
        Err(StepError::Rejected(
            "repository libs was deleted after this upload was accepted".into()
        ))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_lookalike_packages_published_at_once_only_the_first_commits() {
    let (_dir, host) = trove_testkit::host().await;
    let ctx = &host.ctx;
    create_libs(ctx, None).await;
    let upper = checked(ctx, "Widget", b"upper").await;
    let lower = checked(ctx, "widget", b"lower").await;
    // Both read before either commits: neither sees the other's package.
    let upper_writes = publish_writes(ctx, &upper).await.expect("writes");
    let lower_writes = publish_writes(ctx, &lower).await.expect("writes");
    ctx.table
        .transact(upper_writes)
        .await
        .expect("the first commits");
    let failed = failed_at(ctx.table.transact(lower_writes).await);
    assert_eq!(failed, vec![NAME_CLAIM]);

    let outcome = persist::run(ctx, &input(&lower)).await;
    let Err(StepError::Rejected(reason)) = outcome else {
        panic!("expected a rejection, got {outcome:?}");
    };
    assert!(
        reason.contains("package widget looks like the existing package Widget"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_lookalike_versions_or_files_published_at_once_only_the_first_commits() {
    let cases = [
        (
            ("widget", "1.0.0-RC1", "w.bin"),
            ("widget", "1.0.0-rc1", "w.bin"),
            "version 1.0.0-RC1",
        ),
        (
            ("widget", "1.0.0", "w.bin"),
            ("widget", "1.0.0", "W.BIN"),
            "like w.bin",
        ),
    ];
    for (first, second, named) in cases {
        let (_dir, host) = trove_testkit::host().await;
        let ctx = &host.ctx;
        create_libs(ctx, None).await;
        // The package exists already: both publishes rewrite it.
        let seed = checked_as(ctx, ("widget", "0.1.0", "w.bin"), b"seed").await;
        persist::run(ctx, &input(&seed)).await.expect("seeded");
        let first = checked_as(ctx, first, b"first").await;
        let second = checked_as(ctx, second, b"second").await;
        let first_writes = publish_writes(ctx, &first).await.expect("writes");
        let second_writes = publish_writes(ctx, &second).await.expect("writes");
        ctx.table
            .transact(first_writes)
            .await
            .expect("the first commits");
        let failed = failed_at(ctx.table.transact(second_writes).await);
        assert!(!failed.is_empty(), "{named}");

        let outcome = persist::run(ctx, &input(&second)).await;
        let Err(StepError::Rejected(reason)) = outcome else {
            panic!("expected a rejection, got {outcome:?}");
        };
        assert!(reason.contains(named), "{reason}");
    }
}
