//! The hourly cleanup restarts the pipeline of uploads whose storage event was lost, once per
//! run of the job, and never two runs at once.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use trove_core::domain::keys::{BlobKey, UploadId};
use trove_core::domain::model::{Upload, UploadStatus};
use trove_core::domain::names::{
    FileName, PackageName, RepoName, Sha256Hex, TenantName, VersionName,
};
use trove_core::jobs::lease;
use trove_core::jobs::schedule::{self, Job, LEASE_TTL, RunOptions};
use trove_core::pipeline::on_upload::{MAX_EXECUTIONS, execution_name};
use trove_core::pipeline::{StepInput, claim};
use trove_core::ports::workflow::{Execution, ExecutionStatus, Workflow, WorkflowError};
use trove_core::services::Context;
use trove_core::services::catalog::uploads;
use trove_embedded::Embedded;

/// A workflow that records the executions started and runs none; with a gate, each start
/// waits until the test opens it (a run held in the middle of its work).
#[derive(Default)]
struct Recorded {
    started: Mutex<Vec<(String, serde_json::Value)>>,
    gate: Option<(tokio::sync::Notify, tokio::sync::Notify)>,
    /// Executions that ended failed (by name); every other one started is running.
    failed: Mutex<BTreeSet<String>>,
}

#[async_trait]
impl Workflow for Recorded {
    async fn start(&self, name: &str, input: serde_json::Value) -> Result<String, WorkflowError> {
        self.started
            .lock()
            .expect("lock")
            .push((name.to_owned(), input));
        if let Some((entered, open)) = &self.gate {
            entered.notify_one();
            open.notified().await;
        }
        Ok(format!("exec:{name}"))
    }

    fn id_of(&self, name: &str) -> String {
        format!("exec:{name}")
    }

    async fn describe(&self, id: &str) -> Result<Option<Execution>, WorkflowError> {
        let name = id.strip_prefix("exec:").unwrap_or(id).to_owned();
        let (started, failed) = (
            self.started.lock().expect("lock"),
            self.failed.lock().expect("lock"),
        );
        let Some((_, input)) = started.iter().find(|(n, _)| *n == name) else {
            return Ok(None);
        };
        let status = if failed.contains(&name) {
            ExecutionStatus::Failed
        } else {
            ExecutionStatus::Running
        };
        Ok(Some(Execution {
            id: id.to_owned(),
            name,
            status,
            input: input.clone(),
            error: None,
            steps: Vec::new(),
            started_at: time::OffsetDateTime::now_utc(),
            ended_at: None,
        }))
    }
}

impl Recorded {
    /// Executions of these names ran and ended failed (started before, if they were not).
    fn fail(&self, names: impl IntoIterator<Item = String>) {
        let mut started = self.started.lock().expect("lock");
        for name in names {
            if !started.iter().any(|(n, _)| *n == name) {
                started.push((name.clone(), serde_json::json!({})));
            }
            self.failed.lock().expect("lock").insert(name);
        }
    }

    fn distinct_names(&self) -> BTreeSet<String> {
        self.names().into_iter().collect()
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .started
            .lock()
            .expect("lock")
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }
}

fn over(host: &Embedded) -> (Context, Arc<Recorded>) {
    over_with(host, Recorded::default())
}

fn over_with(host: &Embedded, recorded: Recorded) -> (Context, Arc<Recorded>) {
    let recorded = Arc::new(recorded);
    let mut ctx = (*host.ctx).clone();
    ctx.workflow = recorded.clone();
    (ctx, recorded)
}

/// An open upload as create_upload stores it; with its bytes landed when `landed`. Storing
/// them here raises no storage event: that is the event that got lost.
async fn open_upload(ctx: &Context, landed: bool) -> Upload {
    let bytes: &'static [u8] = b"the bytes";
    let now = ctx.clock.now();
    let upload = Upload {
        upload_id: UploadId::new(),
        tenant: TenantName::parse("acme").expect("valid"),
        repository: RepoName::parse("libs").expect("valid"),
        repository_id: Some("repo-1".into()),
        package: PackageName::parse("widget").expect("valid"),
        version: VersionName::parse("1.0.0").expect("valid"),
        filename: FileName::parse("w.bin").expect("valid"),
        size: bytes.len() as u64,
        sha256: Sha256Hex::from_digest(&Sha256::digest(bytes)),
        status: UploadStatus::Pending,
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
    if landed {
        ctx.blobs
            .put(
                &BlobKey::incoming(&upload.tenant, &upload.upload_id),
                Bytes::from_static(bytes),
                "application/octet-stream",
            )
            .await
            .expect("bytes stored");
    }
    upload
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cleanup_job_starts_the_pipeline_of_an_upload_whose_event_was_lost() {
    let (_dir, host) = trove_testkit::host().await;
    let (ctx, recorded) = over(&host);
    let landed = open_upload(&ctx, true).await;
    let _waiting = open_upload(&ctx, false).await;

    let summary = schedule::run(&ctx, Job::Cleanup, RunOptions::default())
        .await
        .expect("cleanup");

    assert_eq!(summary["recovered"]["uploads_restarted"], 1, "{summary}");
    // Named by the upload, as on-upload names it: a late event starts nothing more.
    assert_eq!(recorded.names(), [landed.upload_id.as_str().to_owned()]);
    let input = &recorded.started.lock().expect("lock")[0].1;
    assert_eq!(input["tenant"], "acme");
    assert_eq!(input["upload_id"], landed.upload_id.as_str());
}

/// An execution that failed without settling its upload (`Unfinished`: an infrastructure
/// fault outlived its retries) is followed by a new one, `<upload>-r2`; the next run finds
/// that one running and starts nothing more.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_whose_execution_failed_unsettled_gets_one_new_execution_per_failure() {
    let (_dir, host) = trove_testkit::host().await;
    let (ctx, recorded) = over(&host);
    let upload = open_upload(&ctx, true).await;
    let id = upload.upload_id.as_str().to_owned();
    recorded.fail([id.clone()]);

    let summary = schedule::run(&ctx, Job::Cleanup, RunOptions::default())
        .await
        .expect("cleanup");
    assert_eq!(summary["recovered"]["uploads_restarted"], 1, "{summary}");
    assert_eq!(
        summary["recovered"]["failed_executions_restarted"], 1,
        "{summary}"
    );
    let second = format!("{id}-r2");
    assert_eq!(
        recorded.distinct_names(),
        BTreeSet::from([id.clone(), second.clone()])
    );
    let input = &recorded
        .started
        .lock()
        .expect("lock")
        .last()
        .expect("one")
        .1
        .clone();
    assert_eq!(input["upload_id"], id.as_str(), "the same upload");

    // Running: left as it is.
    let summary = schedule::run(&ctx, Job::Cleanup, RunOptions::default())
        .await
        .expect("cleanup");
    assert_eq!(
        summary["recovered"]["failed_executions_restarted"], 0,
        "{summary}"
    );
    assert_eq!(recorded.distinct_names().len(), 2);

    // That one fails too: the next run starts the third.
    recorded.fail([second]);
    schedule::run(&ctx, Job::Cleanup, RunOptions::default())
        .await
        .expect("cleanup");
    assert!(recorded.distinct_names().contains(&format!("{id}-r3")));
    assert_eq!(recorded.distinct_names().len(), 3);
}

/// Past `MAX_EXECUTIONS` failures the upload is not restarted again (the pipeline alarm has
/// fired on each; the upload expires as an abandoned one), and the run says which.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_whose_every_execution_failed_is_not_restarted_again() {
    let (_dir, host) = trove_testkit::host().await;
    let (ctx, recorded) = over(&host);
    let upload = open_upload(&ctx, true).await;
    let id = upload.upload_id.as_str().to_owned();
    recorded.fail((1..=MAX_EXECUTIONS).map(|n| execution_name(&id, n)));

    let summary = schedule::run(&ctx, Job::Cleanup, RunOptions::default())
        .await
        .expect("cleanup");
    assert_eq!(summary["recovered"]["uploads_restarted"], 0, "{summary}");
    let errors = summary["recovered"]["errors"].to_string();
    assert!(
        errors.contains(&id) && errors.contains("not restarted again"),
        "{summary}"
    );
    let names = recorded.distinct_names();
    assert_eq!(names.len(), MAX_EXECUTIONS as usize);
    assert!(!names.contains(&execution_name(&id, MAX_EXECUTIONS + 1)));
}

async fn stored(ctx: &Context, upload: &Upload) -> Upload {
    uploads::load(ctx, &upload.tenant, &upload.upload_id)
        .await
        .expect("load")
        .expect("the upload")
}

/// A new execution's first step records it on the upload, so the upload's status shows the
/// execution that is running, not the one that failed.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_execution_of_an_upload_in_progress_is_the_one_its_status_shows() {
    let (_dir, host) = trove_testkit::host().await;
    let ctx = &host.ctx;
    let upload = open_upload(ctx, true).await;
    let input = |execution: &str| StepInput {
        tenant: upload.tenant.clone(),
        upload_id: upload.upload_id.clone(),
        execution_id: Some(execution.to_owned()),
        reason: None,
    };
    claim(ctx, &input("first")).await.expect("claimed");
    let first = stored(ctx, &upload).await;
    assert_eq!(first.status, UploadStatus::Scanning);
    assert_eq!(first.execution_id.as_deref(), Some("first"));
    claim(ctx, &input("first")).await.expect("claimed again");
    assert_eq!(
        stored(ctx, &upload).await,
        first,
        "the same execution writes nothing"
    );

    claim(ctx, &input("second"))
        .await
        .expect("claimed by the new one");
    let second = stored(ctx, &upload).await;
    assert_eq!(second.status, UploadStatus::Scanning);
    assert_eq!(second.execution_id.as_deref(), Some("second"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_of_the_cleanup_starts_nothing() {
    let (_dir, host) = trove_testkit::host().await;
    let (ctx, recorded) = over(&host);
    open_upload(&ctx, true).await;
    let options = RunOptions {
        dry_run: true,
        date: None,
        deadline: None,
    };
    let summary = schedule::run(&ctx, Job::Cleanup, options)
        .await
        .expect("cleanup");
    assert_eq!(summary["recovered"]["uploads_restarted"], 0, "{summary}");
    assert!(recorded.names().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cleanup_run_while_another_holds_the_lease_does_nothing_and_says_so() {
    let (_dir, host) = trove_testkit::host().await;
    let (ctx, recorded) = over(&host);
    open_upload(&ctx, true).await;
    let lease::Acquired::Held(other) = lease::acquire(
        ctx.table.as_ref(),
        Job::Cleanup.name(),
        ctx.clock.now(),
        LEASE_TTL,
    )
    .await
    .expect("lease") else {
        panic!("the lease is free")
    };

    let summary = schedule::run(&ctx, Job::Cleanup, RunOptions::default())
        .await
        .expect("a skipped run is no failure");
    assert_eq!(
        summary["skipped"], "another run of this job is in progress",
        "{summary}"
    );
    assert!(recorded.names().is_empty(), "the second run worked");

    // Once the first run is done, the next one goes ahead, and leaves the lease free.
    other.release(ctx.table.as_ref()).await.expect("release");
    let summary = schedule::run(&ctx, Job::Cleanup, RunOptions::default())
        .await
        .expect("cleanup");
    assert_eq!(summary["recovered"]["uploads_restarted"], 1, "{summary}");
    assert!(
        ctx.table
            .get(&lease::key(Job::Cleanup.name()))
            .await
            .expect("get")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_cleanup_run_during_the_first_does_not_work() {
    let (_dir, host) = trove_testkit::host().await;
    let gated = Recorded {
        gate: Some((tokio::sync::Notify::new(), tokio::sync::Notify::new())),
        ..Recorded::default()
    };
    let (ctx, recorded) = over_with(&host, gated);
    open_upload(&ctx, true).await;
    let ctx = Arc::new(ctx);

    let first = {
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move { schedule::run(&ctx, Job::Cleanup, RunOptions::default()).await })
    };
    let (entered, open) = recorded.gate.as_ref().expect("gated");
    // The first run is in the middle of its work (restarting the upload's pipeline).
    entered.notified().await;
    let second = schedule::run(&ctx, Job::Cleanup, RunOptions::default())
        .await
        .expect("a skipped run is no failure");
    assert_eq!(
        second["skipped"], "another run of this job is in progress",
        "{second}"
    );
    open.notify_one();
    let first = first.await.expect("first run").expect("cleanup");
    assert_eq!(first["recovered"]["uploads_restarted"], 1, "{first}");
    assert_eq!(recorded.names().len(), 1, "only the first run worked");
}
