//! The Quarantine step on its edges: storage failing on the way, bytes already gone, a run
//! repeated after the upload settled; on the embedded store and on S3 (moto).

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use futures::StreamExt as _;
use serde_json::Value;

use crate::app::TestApp;
use trove_core::domain::event_kind::EventKind;
use trove_core::domain::keys::{BlobKey, UploadId};
use trove_core::domain::names::TenantName;
use trove_core::pipeline::{StepError, StepInput, quarantine};
use trove_core::ports::{
    BlobError, BlobInfo, BlobPage, Blobs, ByteStream, PartConstraints, PresignedRequest,
    PutConstraints, StoredPart,
};
use trove_core::services::Context;

const BYTES: &[u8] = b"bytes the scan refused";
/// The cause as Step Functions hands it over: the Lambda runtime's JSON.
const CAUSE: &str =
    r#"{"errorType":"Trove.Rejected","errorMessage":"malware: EICAR_Test_File in w.bin"}"#;
const REASON: &str = "malware: EICAR_Test_File in w.bin";

/// Which calls of the wrapped storage fail, as storage that is down fails them.
#[derive(Default)]
struct Failing {
    copy: bool,
    delete: bool,
}

/// The store under test, failing the calls `failing` names.
struct FailingBlobs {
    inner: Arc<dyn Blobs>,
    failing: Failing,
}

fn down() -> BlobError {
    BlobError::Unavailable("storage is down".into())
}

#[async_trait]
impl Blobs for FailingBlobs {
    async fn presign_put(
        &self,
        key: &BlobKey,
        constraints: &PutConstraints,
        ttl: std::time::Duration,
    ) -> Result<PresignedRequest, BlobError> {
        self.inner.presign_put(key, constraints, ttl).await
    }
    async fn presign_get(
        &self,
        key: &BlobKey,
        ttl: std::time::Duration,
        download_name: Option<&str>,
    ) -> Result<PresignedRequest, BlobError> {
        self.inner.presign_get(key, ttl, download_name).await
    }
    async fn head(&self, key: &BlobKey) -> Result<Option<BlobInfo>, BlobError> {
        self.inner.head(key).await
    }
    async fn read(&self, key: &BlobKey) -> Result<ByteStream, BlobError> {
        self.inner.read(key).await
    }
    async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError> {
        if self.failing.copy {
            return Err(down());
        }
        self.inner.copy(from, to).await
    }
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        if self.failing.delete {
            return Err(down());
        }
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str, cursor: Option<String>) -> Result<BlobPage, BlobError> {
        self.inner.list(prefix, cursor).await
    }
    async fn create_multipart(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<String, BlobError> {
        self.inner.create_multipart(key, content_type).await
    }
    async fn presign_part(
        &self,
        key: &BlobKey,
        multipart_id: &str,
        part: &PartConstraints,
        ttl: std::time::Duration,
    ) -> Result<PresignedRequest, BlobError> {
        self.inner.presign_part(key, multipart_id, part, ttl).await
    }
    async fn list_parts(
        &self,
        key: &BlobKey,
        multipart_id: &str,
    ) -> Result<Vec<StoredPart>, BlobError> {
        self.inner.list_parts(key, multipart_id).await
    }
    async fn complete_multipart(
        &self,
        key: &BlobKey,
        multipart_id: &str,
        parts: &[StoredPart],
    ) -> Result<(), BlobError> {
        self.inner
            .complete_multipart(key, multipart_id, parts)
            .await
    }
    async fn abort_multipart(&self, key: &BlobKey, multipart_id: &str) -> Result<(), BlobError> {
        self.inner.abort_multipart(key, multipart_id).await
    }
    async fn put(&self, key: &BlobKey, body: Bytes, content_type: &str) -> Result<(), BlobError> {
        self.inner.put(key, body, content_type).await
    }
}

struct Env {
    app: TestApp,
    /// The host's ports, with storage of the test's choosing.
    ctx: Context,
}

/// The embedded host with `libs`, its storage replaced by `blobs` (the host's own if none).
async fn env(blobs: Option<Arc<dyn Blobs>>) -> Env {
    let app = TestApp::new().await;
    app.create_repository("libs").await;
    let host = &app.host.ctx;
    let ctx = Context {
        blobs: blobs.unwrap_or_else(|| Arc::clone(&host.blobs)),
        ..(**host).clone()
    };
    Env { app, ctx }
}

impl Env {
    /// An accepted upload whose bytes are in `incoming/` when `landed` (stored directly:
    /// no storage event starts the pipeline), as Quarantine receives it.
    async fn upload(&self, landed: bool) -> StepInput {
        let (status, _, ticket) = self
            .app
            .request_upload(&self.app.admin, "libs", "widget", "1.0.0", "w.bin", BYTES)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ticket}");
        let input = StepInput {
            tenant: TenantName::parse("default").expect("tenant"),
            upload_id: UploadId::parse(ticket["upload_id"].as_str().expect("id")).expect("ulid"),
            execution_id: None,
            reason: Some(CAUSE.into()),
        };
        if landed {
            self.ctx
                .blobs
                .put(
                    &self.incoming(&input),
                    Bytes::from_static(BYTES),
                    "application/octet-stream",
                )
                .await
                .expect("bytes landed");
        }
        input
    }

    /// The same host with its storage failing as `failing` says.
    fn failing(&self, failing: Failing) -> Context {
        Context {
            blobs: Arc::new(FailingBlobs {
                inner: Arc::clone(&self.ctx.blobs),
                failing,
            }),
            ..self.ctx.clone()
        }
    }

    fn incoming(&self, input: &StepInput) -> BlobKey {
        BlobKey::incoming(&input.tenant, &input.upload_id)
    }

    fn aside(&self, input: &StepInput) -> BlobKey {
        BlobKey::quarantine(&input.tenant, &input.upload_id)
    }

    /// The object's bytes, `None` when there is none.
    async fn stored(&self, key: &BlobKey) -> Option<Vec<u8>> {
        self.ctx.blobs.head(key).await.expect("head")?;
        let mut stream = self.ctx.blobs.read(key).await.expect("read");
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.expect("chunk"));
        }
        Some(out)
    }

    async fn upload_view(&self, input: &StepInput) -> Value {
        let (status, _, upload) = self
            .app
            .call(
                Method::GET,
                &format!("/v1/repositories/libs/uploads/{}", input.upload_id),
                Some(&self.app.admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{upload}");
        upload
    }

    /// The audit records of the refusal of this upload.
    async fn refusals_recorded(&self, input: &StepInput) -> usize {
        let (status, _, page) = self
            .app
            .call(
                Method::GET,
                "/v1/audit?action=upload.reject&limit=100",
                Some(&self.app.admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|r| r["upload_id"] == input.upload_id.as_str())
            .count()
    }

    /// The `package.rejected` events announced so far (relayed from the outbox first).
    async fn rejections(&self) -> usize {
        self.app.host.settle_events().await.expect("outbox relayed");
        self.app
            .host
            .events
            .published()
            .iter()
            .filter(|e| e.kind == EventKind::PackageRejected.as_str())
            .count()
    }

    /// Refused once with `REASON`, the bytes under `quarantine/` and nowhere else.
    async fn assert_settled(&self, input: &StepInput) {
        let upload = self.upload_view(input).await;
        assert_eq!(upload["status"], "rejected", "{upload}");
        assert_eq!(upload["reason"], REASON, "{upload}");
        assert_eq!(
            self.stored(&self.aside(input)).await.as_deref(),
            Some(BYTES),
            "the bytes are kept under quarantine/"
        );
        assert!(
            self.stored(&self.incoming(input)).await.is_none(),
            "the bytes are still under incoming/"
        );
        assert_eq!(self.refusals_recorded(input).await, 1, "audit records");
        assert_eq!(self.rejections().await, 1, "package.rejected events");
    }
}

fn retryable(outcome: Result<(), StepError>) -> String {
    match outcome {
        Err(StepError::Retryable(message)) => message,
        other => panic!("expected a retryable failure, got {other:?}"),
    }
}

/// Refused once: a repeated run (storage events repeat, the workflow retries) changes
/// nothing, records nothing and announces nothing more.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_upload_is_set_aside_once_and_a_rerun_changes_nothing() {
    let env = env(None).await;
    let input = env.upload(true).await;
    quarantine::run(&env.ctx, &input).await.expect("refused");
    env.assert_settled(&input).await;
    let settled = env.upload_view(&input).await;

    let again = StepInput {
        reason: Some("another reason".into()),
        ..input.clone()
    };
    quarantine::run(&env.ctx, &again).await.expect("no-op");
    assert_eq!(
        env.upload_view(&input).await,
        settled,
        "status, reason, time"
    );
    env.assert_settled(&input).await;
}

/// Storage failing the copy: the step asks to be retried and leaves the upload open with
/// its bytes where they were; the retry settles it.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_copy_leaves_the_upload_open_for_the_retry() {
    let env = env(None).await;
    let input = env.upload(true).await;
    let failing = env.failing(Failing {
        copy: true,
        ..Failing::default()
    });
    let message = retryable(quarantine::run(&failing, &input).await);
    assert!(message.contains("storage is down"), "{message}");
    assert_eq!(env.upload_view(&input).await["status"], "pending");
    assert_eq!(
        env.stored(&env.incoming(&input)).await.as_deref(),
        Some(BYTES)
    );
    assert_eq!(env.stored(&env.aside(&input)).await, None);
    assert_eq!(env.refusals_recorded(&input).await, 0);
    assert_eq!(env.rejections().await, 0);

    quarantine::run(&env.ctx, &input).await.expect("refused");
    env.assert_settled(&input).await;
}

/// Bytes that never arrived (or went meanwhile): there is nothing to set aside, and the
/// upload is refused all the same.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_without_bytes_is_refused_all_the_same() {
    let env = env(None).await;
    let input = env.upload(false).await;
    quarantine::run(&env.ctx, &input).await.expect("refused");
    let upload = env.upload_view(&input).await;
    assert_eq!(upload["status"], "rejected", "{upload}");
    assert_eq!(upload["reason"], REASON, "{upload}");
    assert_eq!(env.stored(&env.aside(&input)).await, None);
    assert_eq!(env.refusals_recorded(&input).await, 1);
    assert_eq!(env.rejections().await, 1);
}

/// Storage failing the removal from `incoming/` after the refusal committed: the step asks
/// to be retried, and the retry, finding the upload settled, still removes the object,
/// without a second record or event.
async fn a_rerun_after_a_failed_removal_removes_incoming(env: Env) {
    let input = env.upload(true).await;
    let failing = env.failing(Failing {
        delete: true,
        ..Failing::default()
    });
    let message = retryable(quarantine::run(&failing, &input).await);
    assert!(message.contains("storage is down"), "{message}");
    assert_eq!(env.upload_view(&input).await["status"], "rejected");
    assert_eq!(
        env.stored(&env.incoming(&input)).await.as_deref(),
        Some(BYTES)
    );
    assert_eq!(env.rejections().await, 1, "announced before the removal");

    quarantine::run(&env.ctx, &input).await.expect("finished");
    env.assert_settled(&input).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_after_a_failed_removal_removes_incoming_on_the_embedded_store() {
    a_rerun_after_a_failed_removal_removes_incoming(env(None).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_after_a_failed_removal_removes_incoming_on_s3() {
    let s3 = trove_testkit::moto::blobs().await;
    a_rerun_after_a_failed_removal_removes_incoming(env(Some(s3.port.clone())).await).await;
}

/// On S3 as on the embedded store, the refused bytes leave `incoming/` for `quarantine/`.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_upload_is_set_aside_on_s3() {
    let s3 = trove_testkit::moto::blobs().await;
    let env = env(Some(s3.port.clone())).await;
    let input = env.upload(true).await;
    quarantine::run(&env.ctx, &input).await.expect("refused");
    env.assert_settled(&input).await;
}
