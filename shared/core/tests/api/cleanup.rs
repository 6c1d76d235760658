//! The cleanup job over the embedded host: retention with pins, age and dry runs, storage
//! really freed, abandoned uploads, stale objects, deletions a dead process left half done;
//! and the retention and pin routes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::Duration;
use tower::ServiceExt as _;

use crate::app::TestApp;
use trove_core::config::Settings;
use trove_core::domain::keys::{self, BlobKey, UploadId};
use trove_core::domain::names::{PackageName, RepoName, Sha256Hex, TenantName, VersionName};
use trove_core::http::{self, AppState};
use trove_core::jobs::cleanup::{self, CleanupOptions, CleanupReport};
use trove_core::ports::clock::ShiftedClock;
use trove_core::ports::table::query_all;
use trove_core::ports::{Condition, Query, TableError, Write};
use trove_core::services::Context;
use trove_core::services::catalog::blob_refs;
use trove_core::services::search::index::{NAME, PUB, SHA, WORD, repo_way};
use trove_testkit::table_hook::{Call, Hook, Hooked};

const PKG: &str = "/v1/repositories/libs/packages/widget";

struct Env {
    app: TestApp,
    clock: Arc<ShiftedClock>,
}

async fn env() -> Env {
    let clock = Arc::new(ShiftedClock::default());
    let app = TestApp::with_clock(Settings::for_testing(), clock.clone()).await;
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(json!({"name": "libs", "format": "generic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Env { app, clock }
}

impl Env {
    async fn publish(&self, version: &str, bytes: &[u8]) {
        self.publish_file(version, "w.bin", bytes).await;
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, _, v) = self
            .app
            .call(method, uri, Some(&self.app.admin), body)
            .await;
        (status, v)
    }

    async fn retention(&self, policy: Value) {
        let (status, v) = self
            .call(Method::PUT, "/v1/repositories/libs/retention", Some(policy))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }

    async fn live_versions(&self) -> Vec<String> {
        let (status, page) = self
            .call(Method::GET, &format!("{PKG}/versions?limit=1000"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut names: Vec<String> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|v| v["version"].as_str().expect("version").to_owned())
            .collect();
        names.sort();
        names
    }

    async fn run(&self, dry_run: bool) -> CleanupReport {
        let report = cleanup::run(
            &self.app.host.ctx,
            CleanupOptions {
                dry_run,
                deadline: None,
            },
        )
        .await
        .expect("cleanup runs");
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report
    }

    /// An upload of widget 1.0.0 whose bytes never come.
    async fn request_upload(&self) -> Value {
        let (status, ticket) = self
            .call(
                Method::POST,
                "/v1/repositories/libs/uploads",
                Some(json!({"package": "widget", "version": "1.0.0", "filename": "w.bin", "size": 3, "sha256": "a".repeat(64)})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ticket}");
        ticket
    }

    async fn stored(&self, bytes: &[u8]) -> bool {
        self.app
            .host
            .ctx
            .blobs
            .head(&BlobKey::content(&sha_of(bytes)))
            .await
            .expect("head")
            .is_some()
    }
}

fn removed(report: &CleanupReport) -> Vec<String> {
    let mut names: Vec<String> = report
        .tenants
        .iter()
        .flat_map(|t| &t.repositories)
        .flat_map(|r| &r.versions_removed)
        .map(|v| v.version.to_string())
        .collect();
    names.sort();
    names
}

fn body(i: usize) -> Vec<u8> {
    format!("widget build {i}").into_bytes()
}

fn sorted(names: &[String]) -> Vec<String> {
    let mut names = names.to_vec();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_last_five_over_twenty_versions_leaves_five_and_the_pinned_ones() {
    let env = env().await;
    let versions: Vec<String> = (0..20).map(|i| format!("1.0.{i}")).collect();
    for (i, v) in versions.iter().enumerate() {
        // 1.0.3 carries the same bytes as 1.0.18, which stays.
        let bytes = if i == 3 { body(18) } else { body(i) };
        env.publish(v, &bytes).await;
        env.clock.advance(Duration::minutes(1));
    }
    for pinned in ["1.0.1", "1.0.2"] {
        let (status, v) = env
            .call(Method::PUT, &format!("{PKG}/versions/{pinned}/pin"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["pinned"], true);
    }
    env.retention(json!({"keep_last": 5})).await;

    let gone: Vec<String> = (0..15)
        .filter(|i| ![1, 2].contains(i))
        .map(|i| format!("1.0.{i}"))
        .collect();
    let dry = env.run(true).await;
    assert!(dry.dry_run);
    assert_eq!(removed(&dry), sorted(&gone));
    assert_eq!(
        env.live_versions().await.len(),
        20,
        "a dry run changes nothing"
    );
    // 12 of the 13 doomed versions have bytes of their own; 1.0.3 shares 1.0.18's.
    assert_eq!(dry.blobs_collected, 12);
    assert!(env.stored(&body(0)).await);

    let report = env.run(false).await;
    assert_eq!(removed(&report), sorted(&gone));
    assert_eq!(report.blobs_collected, 12);
    let json = serde_json::to_value(&report).expect("report serialises");
    let repo = &json["tenants"][0]["repositories"][0];
    assert_eq!(repo["repository"], "libs");
    assert_eq!(repo["files_released"], 13);
    assert_eq!(repo["versions_removed"][0]["package"], "widget");
    assert_eq!(json["bytes_freed"], json["blob_bytes_freed"]);
    let mut kept: Vec<String> = (15..20).map(|i| format!("1.0.{i}")).collect();
    kept.extend(["1.0.1".to_owned(), "1.0.2".to_owned()]);
    assert_eq!(env.live_versions().await, sorted(&kept));
    for v in &gone {
        let (status, _) = env
            .call(Method::GET, &format!("{PKG}/versions/{v}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    }
    for i in (0..15).filter(|i| ![1, 2, 3].contains(i)) {
        assert!(!env.stored(&body(i)).await, "bytes of 1.0.{i} still stored");
    }
    assert!(env.stored(&body(18)).await, "shared bytes must stay");
    assert!(env.stored(&body(1)).await, "pinned bytes must stay");
    let (_, pkg) = env.call(Method::GET, PKG, None).await;
    assert_eq!(pkg["latest_version"], "1.0.19");
    let (status, link) = env
        .call(
            Method::GET,
            &format!("{PKG}/versions/1.0.18/files/w.bin?redirect=false"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{link}");

    // Retention deletions are audited as the job's.
    let (_, audit) = env
        .call(
            Method::GET,
            "/v1/audit?action=version.delete&limit=100",
            None,
        )
        .await;
    let by_job = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["actor"] == "system:cleanup")
        .count();
    assert_eq!(by_job, gone.len());

    // A second run finds nothing more to do.
    let again = env.run(false).await;
    assert!(removed(&again).is_empty());
    assert_eq!(again.blobs_collected, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_age_removes_old_versions_but_never_the_newest() {
    let env = env().await;
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        env.publish(v, v.as_bytes()).await;
        env.clock.advance(Duration::days(1));
    }
    env.retention(json!({"max_age_days": 30})).await;
    assert!(
        removed(&env.run(false).await).is_empty(),
        "nothing is old yet"
    );
    env.clock.advance(Duration::days(40));
    let dry = env.run(true).await;
    assert_eq!(removed(&dry), ["1.0.0", "1.1.0"]);
    assert_eq!(
        env.live_versions().await.len(),
        3,
        "a dry run changes nothing"
    );
    assert!(env.stored(b"1.0.0").await);
    let report = env.run(false).await;
    assert_eq!(removed(&report), ["1.0.0", "1.1.0"]);
    assert_eq!(env.live_versions().await, ["1.2.0"]);
    assert!(!env.stored(b"1.0.0").await);
    assert!(env.stored(b"1.2.0").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_version_moves_latest_and_frees_its_bytes() {
    let env = env().await;
    env.publish("1.0.0", b"one").await;
    env.clock.advance(Duration::minutes(1));
    env.publish("2.0.0", b"two").await;
    let (status, _) = env
        .call(Method::DELETE, &format!("{PKG}/versions/2.0.0"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, pkg) = env.call(Method::GET, PKG, None).await;
    assert_eq!(pkg["latest_version"], "1.0.0");
    assert!(env.stored(b"two").await, "bytes go with the next cleanup");
    let report = env.run(false).await;
    assert_eq!(report.blobs_collected, 1);
    assert_eq!(report.blob_bytes_freed, 3);
    assert!(!env.stored(b"two").await);
    // The number is never reused.
    let up = env
        .app
        .publish(&env.app.admin, "libs", "widget", "1.0.0", "other.bin", b"x")
        .await;
    assert_eq!(up["status"], "published", "{up}");
    let (status, v) = env
        .call(
            Method::POST,
            "/v1/repositories/libs/uploads",
            Some(json!({"package": "widget", "version": "2.0.0", "filename": "w.bin", "size": 3, "sha256": "a".repeat(64)})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    // Deleting the last live version leaves no latest.
    let (status, _) = env
        .call(Method::DELETE, &format!("{PKG}/versions/1.0.0"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, pkg) = env.call(Method::GET, PKG, None).await;
    assert!(pkg["latest_version"].is_null(), "{pkg}");
    env.run(false).await;
    assert!(!env.stored(b"one").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn abandoned_uploads_expire_with_a_reason() {
    let env = env().await;
    let ticket = env.request_upload().await;
    let id = ticket["upload_id"].as_str().expect("id");
    let uri = format!("/v1/repositories/libs/uploads/{id}");
    assert_eq!(
        env.run(false).await.tenants[0].repositories.len(),
        0,
        "not expired yet"
    );
    env.clock.advance(Duration::hours(1));
    let dry = env.run(true).await;
    assert_eq!(dry.tenants[0].repositories[0].uploads_expired, 1);
    let (_, upload) = env.call(Method::GET, &uri, None).await;
    assert_eq!(upload["status"], "pending", "a dry run changes nothing");
    let report = env.run(false).await;
    assert_eq!(report.tenants[0].repositories[0].uploads_expired, 1);
    let (_, upload) = env.call(Method::GET, &uri, None).await;
    assert_eq!(upload["status"], "rejected", "{upload}");
    assert!(
        upload["reason"]
            .as_str()
            .expect("reason")
            .contains("expired"),
        "{upload}"
    );
    // It left the open uploads: the next run does not count it again.
    let again = env.run(false).await;
    assert!(again.tenants[0].repositories.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_incoming_and_expired_quarantine_objects_are_removed() {
    let env = env().await;
    let ctx = &env.app.host.ctx;
    let tenant = TenantName::parse("default").expect("tenant");
    // An object nobody asked for, and the refused bytes of a real upload.
    let stray = BlobKey::incoming(&tenant, &UploadId::new());
    ctx.blobs
        .put(
            &stray,
            bytes::Bytes::from_static(b"stray"),
            "application/octet-stream",
        )
        .await
        .expect("put");
    let (_, ticket) = env
        .call(
            Method::POST,
            "/v1/repositories/libs/uploads",
            Some(json!({"package": "widget", "version": "1.0.0", "filename": "w.bin", "size": 3, "sha256": "a".repeat(64)})),
        )
        .await;
    let id = UploadId::parse(ticket["upload_id"].as_str().expect("id")).expect("ulid");
    let refused = BlobKey::quarantine(&tenant, &id);
    ctx.blobs
        .put(
            &refused,
            bytes::Bytes::from_static(b"bad"),
            "application/octet-stream",
        )
        .await
        .expect("put");
    let orphan = BlobKey::quarantine(&tenant, &UploadId::new());
    ctx.blobs
        .put(
            &orphan,
            bytes::Bytes::from_static(b"old"),
            "application/octet-stream",
        )
        .await
        .expect("put");
    env.retention(json!({"quarantine_days": 2})).await;

    let exists = |key: BlobKey| async move { ctx.blobs.head(&key).await.expect("head").is_some() };
    env.run(false).await;
    assert!(exists(stray.clone()).await, "young objects stay");
    env.clock.advance(Duration::hours(25));
    let dry = env.run(true).await;
    assert_eq!(dry.tenants[0].incoming_objects_removed, 1);
    assert!(exists(stray.clone()).await, "a dry run changes nothing");
    let report = env.run(false).await;
    assert_eq!(report.tenants[0].incoming_objects_removed, 1);
    assert_eq!(report.tenants[0].incoming_bytes_freed, 5);
    assert!(!exists(stray.clone()).await);
    assert!(exists(refused.clone()).await);

    env.clock.advance(Duration::days(2));
    let report = env.run(false).await;
    assert_eq!(report.tenants[0].quarantine_objects_removed, 1);
    assert!(
        !exists(refused.clone()).await,
        "the repository keeps 2 days"
    );
    assert!(
        exists(orphan.clone()).await,
        "without a repository: 30 days"
    );
    env.clock.advance(Duration::days(30));
    env.run(false).await;
    assert!(!exists(orphan.clone()).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_retention_policies_are_refused() {
    let env = env().await;
    // Values out of range are 400; a body of the wrong shape is the JSON extractor's 422.
    let out_of_range = [
        json!({"keep_last": 0}),
        json!({"max_age_days": 0}),
        json!({"quarantine_days": 0}),
        json!({"keep_last": 100_001}),
    ];
    let misshapen = [
        json!({"keep_last": -1}),
        json!({"keep_last": "five"}),
        json!({"keep_everything": true}),
    ];
    let cases = out_of_range
        .into_iter()
        .map(|b| (b, StatusCode::BAD_REQUEST))
        .chain(
            misshapen
                .into_iter()
                .map(|b| (b, StatusCode::UNPROCESSABLE_ENTITY)),
        );
    for (bad, want) in cases {
        let (status, ctype, body) = env
            .app
            .call(
                Method::PUT,
                "/v1/repositories/libs/retention",
                Some(&env.app.admin),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, want, "{bad}: {body}");
        assert_eq!(ctype, "application/problem+json", "{bad}");
    }
    let (status, _, body) = env
        .app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&env.app.admin),
            Some(json!({"name": "other", "format": "generic", "retention": {"keep_last": 0}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = env
        .app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&env.app.admin),
            Some(json!({"name": "other", "format": "generic", "retention": {"keep_last": 3}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["retention"], json!({"keep_last": 3}));
    // An empty policy clears it.
    let (status, v) = env
        .call(
            Method::PUT,
            "/v1/repositories/other/retention",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v.get("retention").is_none(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unpinning_lets_retention_remove_the_version() {
    let env = env().await;
    for v in ["1.0.0", "2.0.0"] {
        env.publish(v, v.as_bytes()).await;
        env.clock.advance(Duration::minutes(1));
    }
    let pin = format!("{PKG}/versions/1.0.0/pin");
    assert_eq!(env.call(Method::PUT, &pin, None).await.0, StatusCode::OK);
    env.retention(json!({"keep_last": 1})).await;
    assert!(removed(&env.run(false).await).is_empty());
    let (status, v) = env.call(Method::DELETE, &pin, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["pinned"], false);
    assert_eq!(removed(&env.run(false).await), ["1.0.0"]);
    let (status, _) = env.call(Method::PUT, &pin, None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a deleted version cannot be pinned"
    );
    // Pinning holds off retention only: a maintainer may still delete a pinned version.
    env.publish("3.0.0", b"3.0.0").await;
    let pin = format!("{PKG}/versions/2.0.0/pin");
    assert_eq!(env.call(Method::PUT, &pin, None).await.0, StatusCode::OK);
    let (status, _) = env
        .call(Method::DELETE, &format!("{PKG}/versions/2.0.0"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(env.live_versions().await, ["3.0.0"]);
}

/// A run that must stop early cleans one tenant at least, records where it stopped and
/// leaves the phases after the walk to a later run; the next runs go on from there (not
/// from the first tenant again), and once the walk reached the end it starts over.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_out_of_time_goes_on_where_the_last_one_stopped() {
    let env = env().await;
    for tenant in ["t1", "t2"] {
        env.app.tenant_key(tenant).await;
    }
    env.publish("1.0.0", b"one").await;
    env.clock.advance(Duration::minutes(1));
    env.publish("2.0.0", b"two").await;
    let (status, _) = env
        .call(Method::DELETE, &format!("{PKG}/versions/2.0.0"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let ctx = &env.app.host.ctx;
    let late = CleanupOptions {
        dry_run: false,
        deadline: Some(ctx.clock.now() - Duration::seconds(1)),
    };
    let mut walked = Vec::new();
    for expected_resume in [Some("default"), Some("t1"), None] {
        let report = cleanup::run(ctx, late).await.expect("cleanup runs");
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let tenants: Vec<String> = report
            .tenants
            .iter()
            .map(|t| t.tenant.to_string())
            .collect();
        assert_eq!(
            tenants.len(),
            1,
            "one tenant per run out of time: {tenants:?}"
        );
        walked.push(tenants[0].clone());
        assert_eq!(
            report
                .resume_after
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            expected_resume
        );
        assert_eq!(
            report.deferred,
            ["abandoned uploads", "incoming objects", "blob collection"]
        );
        assert_eq!(report.blobs_collected, 0);
        assert!(
            env.stored(b"two").await,
            "collection was left to a later run"
        );
    }
    assert_eq!(walked, ["default", "t1", "t2"]);

    // The walk starts over, and a run with time does every phase.
    let report = env.run(false).await;
    let tenants: Vec<String> = report
        .tenants
        .iter()
        .map(|t| t.tenant.to_string())
        .collect();
    assert_eq!(tenants, ["default", "t1", "t2"]);
    assert_eq!((report.resume_after, report.deferred.len()), (None, 0));
    assert_eq!(report.blobs_collected, 1);
    assert!(!env.stored(b"two").await);
}

/// An open upload indexed before the index was cut into shards (under the bare
/// `OPEN_UPLOADS`) is still found, and expires like any other.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_indexed_before_the_shards_still_expires() {
    let env = env().await;
    let ticket = env.request_upload().await;
    let id = UploadId::parse(ticket["upload_id"].as_str().expect("id")).expect("upload id");
    let ctx = &env.app.host.ctx;
    let tenant = TenantName::parse("default").expect("tenant");
    let key = trove_core::domain::keys::upload(&tenant, id.as_str());
    let mut item = ctx.table.get(&key).await.expect("get").expect("stored");
    assert_eq!(
        item["gsi1pk"],
        trove_core::domain::keys::OPEN_UPLOADS
            .shard_of(id.as_str())
            .as_str()
    );
    item.insert("gsi1pk".into(), json!("OPEN_UPLOADS"));
    ctx.table
        .put(item, None)
        .await
        .expect("indexed the old way");

    env.clock.advance(Duration::hours(1));
    let report = env.run(false).await;
    assert_eq!(report.tenants[0].repositories[0].uploads_expired, 1);
}

/// The default tenant's `libs`/`widget` `version`, as the table names it.
fn widget(version: &str) -> (TenantName, RepoName, PackageName, VersionName) {
    (
        TenantName::parse("default").expect("tenant"),
        RepoName::parse("libs").expect("repo"),
        PackageName::parse("widget").expect("package"),
        VersionName::parse(version).expect("version"),
    )
}

fn sha_of(bytes: &[u8]) -> Sha256Hex {
    Sha256Hex::parse(&hex::encode(Sha256::digest(bytes))).expect("sha")
}

impl Env {
    async fn publish_file(&self, version: &str, file: &str, bytes: &[u8]) {
        let up = self
            .app
            .publish(&self.app.admin, "libs", "widget", version, file, bytes)
            .await;
        assert_eq!(up["status"], "published", "{up}");
    }

    /// File records of widget `version` still in the table, deleted version or not.
    async fn file_records(&self, version: &str) -> usize {
        let (t, r, p, v) = widget(version);
        let query = Query::new(keys::files_partition(&t, &r, &p, &v)).limit(1000);
        query_all(self.app.host.ctx.table.as_ref(), query)
            .await
            .expect("files")
            .len()
    }

    /// Search index items pointing at widget `version`, over every way a query starts from
    /// that does not depend on who published.
    async fn search_entries(&self, version: &str) -> usize {
        let (t, ..) = widget(version);
        let mut found = 0;
        for way in [NAME, PUB, SHA, WORD, &repo_way("libs")] {
            let query = Query::new(keys::search_partition(&t, way)).limit(1000);
            found += query_all(self.app.host.ctx.table.as_ref(), query)
                .await
                .expect("search entries")
                .iter()
                .filter(|item| item["version"] == version)
                .count();
        }
        found
    }

    /// How many files the blob item of `bytes` counts; `None` once the item is gone.
    async fn refs(&self, bytes: &[u8]) -> Option<u64> {
        blob_refs::load(&self.app.host.ctx, &sha_of(bytes))
            .await
            .expect("blob item")
            .map(|b| b.refs)
    }

    /// What a deletion leaves when its process dies right after its transaction commits:
    /// the version flagged deleted, everything under it untouched.
    async fn flag_deleted(&self, version: &str) {
        let (t, r, p, v) = widget(version);
        let ctx = &self.app.host.ctx;
        let key = keys::version(&t, &r, &p, &v);
        let mut item = ctx.table.get(&key).await.expect("get").expect("version");
        let rev = item["rev"].as_u64().expect("rev");
        item.insert("deleted".into(), json!(true));
        item.insert("rev".into(), json!(rev + 1));
        ctx.table
            .put(item, Some(Condition::Equals("rev".into(), rev.into())))
            .await
            .expect("flagged deleted");
    }

    async fn assert_version_gone(&self, version: &str) {
        let (status, _) = self
            .call(Method::GET, &format!("{PKG}/versions/{version}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{version}");
        assert!(!self.live_versions().await.contains(&version.to_owned()));
        assert_eq!(self.file_records(version).await, 0, "files of {version}");
        assert_eq!(
            self.search_entries(version).await,
            0,
            "entries of {version}"
        );
    }
}

fn files_released(report: &CleanupReport) -> u64 {
    report
        .tenants
        .iter()
        .flat_map(|t| &t.repositories)
        .map(|r| r.files_released)
        .sum()
}

/// A version deleted by a process that died right after the deletion's transaction
/// committed: flagged deleted, with its file records, search entries and blob references
/// all still there. The next cleanup removes them, collects the bytes no file references any
/// more, keeps the bytes another version shares; the run after that finds nothing to do.
#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_cut_short_after_its_commit_is_finished_by_the_next_run() {
    let env = env().await;
    env.publish("1.0.0", b"shared bytes").await;
    env.clock.advance(Duration::minutes(1));
    env.publish_file("2.0.0", "w.bin", b"shared bytes").await;
    env.publish_file("2.0.0", "x.bin", b"bytes of 2.0.0 alone")
        .await;
    env.flag_deleted("2.0.0").await;
    assert_eq!(env.file_records("2.0.0").await, 2);
    assert!(
        env.search_entries("2.0.0").await > 0,
        "entries survive a crash"
    );
    assert_eq!(env.refs(b"shared bytes").await, Some(2));
    assert_eq!(env.refs(b"bytes of 2.0.0 alone").await, Some(1));

    let report = env.run(false).await;
    assert_eq!(files_released(&report), 2);
    assert!(
        removed(&report).is_empty(),
        "no retention policy removed it"
    );
    assert_eq!(report.blobs_collected, 1);
    env.assert_version_gone("2.0.0").await;
    assert_eq!(env.refs(b"shared bytes").await, Some(1), "1.0.0 keeps it");
    assert_eq!(env.refs(b"bytes of 2.0.0 alone").await, None);
    assert!(!env.stored(b"bytes of 2.0.0 alone").await);
    assert!(env.stored(b"shared bytes").await);
    assert_eq!(env.live_versions().await, ["1.0.0"]);
    assert_eq!(
        env.search_entries("1.0.0").await,
        5,
        "the live version's stay"
    );

    let again = env.run(false).await;
    assert_eq!(files_released(&again), 0);
    assert_eq!(again.blobs_collected, 0);
    assert_eq!(env.refs(b"shared bytes").await, Some(1));
}

/// Files of a version with more of them than one transaction removes (versions'
/// `FILES_PER_BATCH`, 40): 85 files, three batches.
const MANY_FILES: usize = 85;

/// The bytes of file `i` of the big version: seven distinct blobs, each counted by a dozen
/// files, so every batch drops several references of the same blob.
fn many_bytes(i: usize) -> Vec<u8> {
    format!("one of seven bodies: {}", i % 7).into_bytes()
}

impl Env {
    /// widget 1.0.0 with the first body, then 2.0.0 with `MANY_FILES` files.
    async fn publish_many(&self) {
        self.publish("1.0.0", &many_bytes(0)).await;
        self.clock.advance(Duration::minutes(1));
        for i in 0..MANY_FILES {
            self.publish_file("2.0.0", &format!("f{i}.bin"), &many_bytes(i))
                .await;
        }
        assert_eq!(self.file_records("2.0.0").await, MANY_FILES);
    }

    async fn assert_many_released(&self) {
        self.assert_version_gone("2.0.0").await;
        assert_eq!(self.refs(&many_bytes(0)).await, Some(1), "1.0.0 keeps it");
        assert!(self.stored(&many_bytes(0)).await);
        for body in 1..7 {
            assert_eq!(self.refs(&many_bytes(body)).await, None, "body {body}");
            assert!(!self.stored(&many_bytes(body)).await, "body {body}");
        }
    }
}

/// Deleting a version removes every file record and drops every reference across the
/// batches; the cleanup then collects the bytes only it referenced.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_of_more_files_than_one_batch_is_deleted_whole() {
    let env = env().await;
    env.publish_many().await;
    let (status, _) = env
        .call(Method::DELETE, &format!("{PKG}/versions/2.0.0"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(env.file_records("2.0.0").await, 0);
    assert_eq!(env.refs(&many_bytes(0)).await, Some(1));
    for body in 1..7 {
        assert_eq!(env.refs(&many_bytes(body)).await, Some(0), "body {body}");
    }
    let report = env.run(false).await;
    assert_eq!(files_released(&report), 0, "the deletion left nothing");
    assert_eq!(report.blobs_collected, 6);
    env.assert_many_released().await;
}

/// The embedded table, until the process "dies": transactions that delete (the batches of
/// a version's files) fail once `batches` of them went through.
struct DiesAfterBatches {
    batches: AtomicUsize,
}

#[async_trait]
impl Hook for DiesAfterBatches {
    async fn before(&self, call: Call<'_>) -> Result<(), TableError> {
        let Call::Transact(writes) = call else {
            return Ok(());
        };
        let deletes = writes.iter().any(|w| matches!(w, Write::Delete { .. }));
        if deletes
            && self
                .batches
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
        {
            return Err(TableError::Unavailable("the process died".into()));
        }
        Ok(())
    }
}

/// A deletion whose process dies after its first batch of files: the version is deleted,
/// part of its files are not. The next cleanup releases the rest, each reference once.
#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_that_died_between_batches_is_finished_by_the_next_run() {
    let env = env().await;
    env.publish_many().await;
    let dying = Context {
        table: Hooked::new(
            Arc::clone(&env.app.host.ctx.table),
            DiesAfterBatches {
                batches: AtomicUsize::new(1),
            },
        ),
        ..(*env.app.host.ctx).clone()
    };
    let router = http::router(AppState::new(Arc::new(dying)));
    let request = axum::http::Request::builder()
        .method(Method::DELETE)
        .uri(format!("{PKG}/versions/2.0.0"))
        .header("authorization", format!("Bearer {}", env.app.admin))
        .body(axum::body::Body::empty())
        .expect("request");
    let response = router.oneshot(request).await.expect("infallible");
    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "the deletion stands"
    );

    let left = env.file_records("2.0.0").await;
    assert!(left > 0 && left < MANY_FILES, "one batch went: {left} left");
    let counted: u64 = {
        let mut sum = 0;
        for body in 0..7 {
            sum += env.refs(&many_bytes(body)).await.expect("counted");
        }
        sum
    };
    assert_eq!(
        counted,
        left as u64 + 1,
        "each released file dropped its reference"
    );

    let report = env.run(false).await;
    assert_eq!(files_released(&report), left as u64);
    assert_eq!(report.blobs_collected, 6);
    env.assert_many_released().await;
    let again = env.run(false).await;
    assert_eq!((files_released(&again), again.blobs_collected), (0, 0));
}
