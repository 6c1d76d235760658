//! The blob protocol under races: garbage collection against a publish of the same bytes.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};

use rand::Rng as _;
use trove_core::domain::keys::{self, BlobKey, UploadId};
use trove_core::domain::model::{Upload, UploadStatus};
use trove_core::domain::names::{
    FileName, PackageName, RepoName, Sha256Hex, TenantName, VersionName,
};
use trove_core::pipeline::{StepError, StepInput, persist};
use trove_core::services::Context;
use trove_core::services::access::caller::Caller;
use trove_core::services::catalog::versions::{self, VersionRef};
use trove_core::services::catalog::{blob_refs, uploads};
use trove_testkit::seed::{rng, test_seed};

const BYTES: &[u8] = b"the same bytes, published again and again";

fn tenant() -> TenantName {
    TenantName::parse("acme").expect("valid")
}

fn sha() -> Sha256Hex {
    Sha256Hex::parse(&hex::encode(Sha256::digest(BYTES))).expect("sha")
}

/// The repository `libs` the uploads go to (Persist refuses one whose repository is gone).
async fn ensure_repository(ctx: &Context) {
    let request = trove_core::services::catalog::repositories::CreateRepository {
        name: "libs".into(),
        format: trove_core::domain::model::Format::Generic,
        description: None,
        max_file_size: None,
        retention: None,
    };
    let admin = Caller::tenant_admin_for_tests(tenant());
    match trove_core::services::catalog::repositories::create(ctx, &admin, request).await {
        Ok(_) | Err(trove_core::services::Error::Conflict(_)) => {}
        Err(e) => panic!("repository libs: {e}"),
    }
}

/// An upload of `BYTES` as `widget <version>` whose bytes have landed, ready for Persist.
async fn landed(ctx: &Context, version: &str) -> StepInput {
    ensure_repository(ctx).await;
    let now = ctx.clock.now();
    let libs = RepoName::parse("libs").expect("valid");
    let repository_id = trove_core::services::catalog::repositories::find(ctx, &tenant(), &libs)
        .await
        .expect("repository libs")
        .id;
    let upload = Upload {
        upload_id: UploadId::new(),
        tenant: tenant(),
        repository: libs,
        repository_id,
        package: PackageName::parse("widget").expect("valid"),
        version: VersionName::parse(version).expect("valid"),
        filename: FileName::parse("w.bin").expect("valid"),
        size: BYTES.len() as u64,
        sha256: sha(),
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
    ctx.blobs
        .put(
            &BlobKey::incoming(&upload.tenant, &upload.upload_id),
            Bytes::from_static(BYTES),
            "application/octet-stream",
        )
        .await
        .expect("bytes landed");
    StepInput {
        tenant: upload.tenant,
        upload_id: upload.upload_id,
        execution_id: None,
        reason: None,
    }
}

/// Persist as the workflow runs it: retried while it says so.
async fn persist_until_done(ctx: &Context, input: &StepInput) {
    for _ in 0..200 {
        match persist::run(ctx, input).await {
            Ok(()) => return,
            Err(StepError::Retryable(_)) => tokio::task::yield_now().await,
            Err(e) => panic!("persist failed: {e}"),
        }
    }
    panic!("persist never finished");
}

fn version_ref(version: &str) -> VersionRef {
    VersionRef::parse("libs", "widget", version).expect("valid")
}

async fn delete(ctx: &Context, version: &str) {
    let r = version_ref(version);
    let v = versions::live(ctx, &tenant(), &r).await.expect("live");
    let admin = Caller::tenant_admin_for_tests(tenant());
    versions::delete(ctx, &admin, &r.repo, &v)
        .await
        .expect("deleted");
}

async fn collect(ctx: &Context) {
    blob_refs::collect(ctx, false, &BTreeMap::new())
        .await
        .expect("collect");
}

/// Yields `turns` times, so the racers of a round start in an order the seed chose.
async fn pause(turns: usize) {
    for _ in 0..turns {
        tokio::task::yield_now().await;
    }
}

/// Every file record of `BYTES` has its object, whole.
async fn assert_referenced_bytes_readable(ctx: &Context, versions: &[String], round: usize) {
    let t = tenant();
    let r = version_ref("0.0.0");
    for v in versions {
        let v = VersionName::parse(v).expect("valid");
        let file = ctx
            .table
            .get(&keys::file(&t, &r.repo, &r.package, &v, &r_file()))
            .await
            .expect("get");
        if file.is_none() {
            continue;
        }
        let mut stream = ctx
            .blobs
            .read(&BlobKey::content(&sha()))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {v} references a missing blob: {e}"));
        let mut got = Vec::new();
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.expect("chunk"));
        }
        assert_eq!(got, BYTES, "round {round}");
    }
}

fn r_file() -> FileName {
    FileName::parse("w.bin").expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collection_never_deletes_bytes_a_concurrent_publish_references() {
    let (_dir, host) = trove_testkit::host().await;
    let ctx = host.ctx.as_ref();
    let mut rng = rng(test_seed(
        "collection_never_deletes_bytes_a_concurrent_publish_references",
    ));
    let mut published = Vec::new();
    // The blob starts unreferenced: published once, then deleted.
    persist_until_done(ctx, &landed(ctx, "0.0.0").await).await;
    delete(ctx, "0.0.0").await;
    published.push("0.0.0".to_owned());
    for round in 0..150 {
        let version = format!("1.{round}.0");
        if round % 3 == 0 {
            // Sometimes the bytes are fully gone before the publish races a collection.
            collect(ctx).await;
        }
        let input = landed(ctx, &version).await;
        let turns: [usize; 3] = std::array::from_fn(|_| rng.random_range(0..8));
        let publish = async {
            pause(turns[0]).await;
            persist_until_done(ctx, &input).await;
        };
        let gc = async {
            pause(turns[1]).await;
            collect(ctx).await;
        };
        let gc2 = async {
            pause(turns[2]).await;
            collect(ctx).await;
        };
        match round % 3 {
            0 => tokio::join!(publish, gc, gc2),
            1 => tokio::join!(gc, publish, gc2),
            _ => tokio::join!(gc, gc2, publish),
        };
        published.push(version.clone());
        assert_referenced_bytes_readable(ctx, &published, round).await;
        let count = blob_refs::load(ctx, &sha()).await.expect("load");
        assert_eq!(count.map(|c| c.refs), Some(1), "round {round}");
        // A collection now must leave the referenced bytes alone.
        collect(ctx).await;
        assert_referenced_bytes_readable(ctx, &published, round).await;
        delete(ctx, &version).await;
    }
    collect(ctx).await;
    assert!(
        ctx.blobs
            .head(&BlobKey::content(&sha()))
            .await
            .expect("head")
            .is_none(),
        "unreferenced at last, the bytes are freed"
    );
}

#[tokio::test]
async fn a_claim_left_by_a_dead_run_is_finished_after_its_lease() {
    use trove_core::ports::clock::ShiftedClock;
    let clock = std::sync::Arc::new(ShiftedClock::default());
    let (_dir, host) =
        trove_testkit::host_with(trove_core::config::Settings::for_testing(), clock.clone()).await;
    let ctx = host.ctx.as_ref();
    persist_until_done(ctx, &landed(ctx, "1.0.0").await).await;
    delete(ctx, "1.0.0").await;
    // A run claimed the blob and died before deleting anything.
    let mut claim = blob_refs::load(ctx, &sha())
        .await
        .expect("load")
        .expect("item");
    claim.state = blob_refs::BlobState::Collecting;
    let mut item =
        trove_core::domain::model::to_item(&keys::blob_ref(&sha()), &claim).expect("item");
    item.insert(
        "gsi1pk".into(),
        keys::COLLECTABLE_BLOBS.shard_of(sha().as_str()).into(),
    );
    item.insert("gsi1sk".into(), sha().to_string().into());
    ctx.table.put(item, None).await.expect("claimed");
    // A publish of the same bytes waits rather than count on bytes being deleted.
    let input = landed(ctx, "2.0.0").await;
    assert!(matches!(
        persist::run(ctx, &input).await,
        Err(StepError::Retryable(_))
    ));
    let young = blob_refs::collect(ctx, false, &BTreeMap::new())
        .await
        .expect("collect");
    assert_eq!(young.blobs, 0, "a live claim is its run's");
    clock.advance(time::Duration::hours(2));
    let done = blob_refs::collect(ctx, false, &BTreeMap::new())
        .await
        .expect("collect");
    assert_eq!(done.blobs, 1);
    assert!(blob_refs::load(ctx, &sha()).await.expect("load").is_none());
    // Now the publish copies the bytes back from its upload and counts them.
    persist_until_done(ctx, &input).await;
    assert!(
        ctx.blobs
            .head(&BlobKey::content(&sha()))
            .await
            .expect("head")
            .is_some()
    );
}

#[tokio::test]
async fn bytes_stored_before_counting_are_never_collected() {
    let (_dir, host) = trove_testkit::host().await;
    let ctx = host.ctx.as_ref();
    // Published before reference counting: the object exists, no item counts it.
    ctx.blobs
        .put(
            &BlobKey::content(&sha()),
            Bytes::from_static(BYTES),
            "application/octet-stream",
        )
        .await
        .expect("stored");
    persist_until_done(ctx, &landed(ctx, "1.0.0").await).await;
    let count = blob_refs::load(ctx, &sha())
        .await
        .expect("load")
        .expect("item");
    assert!(count.kept, "{count:?}");
    delete(ctx, "1.0.0").await;
    let done = blob_refs::collect(ctx, false, &BTreeMap::new())
        .await
        .expect("collect");
    assert_eq!(done.blobs, 0);
    assert!(
        ctx.blobs
            .head(&BlobKey::content(&sha()))
            .await
            .expect("head")
            .is_some(),
        "an uncounted file may still reference these bytes"
    );
}
