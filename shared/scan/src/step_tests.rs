//! The Scan step (and Validate's format check) over the embedded adapters: records,
//! statuses, reasons, retries.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::{ENGINE, rules_version};
use trove_core::domain::keys::{BlobKey, UploadId};
use trove_core::domain::model::{ScanFinding, Upload, UploadStatus};
use trove_core::domain::names::{
    FileName, PackageName, RepoName, Sha256Hex, TenantName, VersionName,
};
use trove_core::pipeline::{StepError, StepInput, run_step, validate};
use trove_core::ports::{BlobError, BlobInfo, Blobs, ByteStream, PresignedRequest, PutConstraints};
use trove_core::services::Context;
use trove_core::services::access::caller::Caller;
use trove_core::services::catalog::repositories::{self, CreateRepository};
use trove_core::services::catalog::uploads;
use trove_embedded::Embedded;
use trove_testkit::archives::fixtures::{
    TarEntry, deflated, eicar, tar_gz, uses_data_descriptors, zip, zip_streamed,
};

struct Env {
    host: Embedded,
    _dir: tempfile::TempDir,
}

fn tenant() -> TenantName {
    TenantName::parse("acme").expect("valid")
}

async fn env() -> Env {
    let (dir, host) = trove_testkit::host().await;
    let caller = Caller::tenant_admin_for_tests(tenant());
    let repo = CreateRepository {
        name: "libs".into(),
        format: trove_core::domain::model::Format::Generic,
        description: None,
        max_file_size: None,
        retention: None,
    };
    repositories::create(&host.ctx, &caller, repo)
        .await
        .expect("repository");
    Env { host, _dir: dir }
}

impl Env {
    fn ctx(&self) -> &Context {
        &self.host.ctx
    }

    /// An upload record as the API creates it, declaring `declared`; `stored` is the
    /// object that landed (None: nothing landed).
    async fn upload_with(
        &self,
        filename: &str,
        declared: &[u8],
        stored: Option<&[u8]>,
    ) -> StepInput {
        let ctx = self.ctx();
        let now = ctx.clock.now();
        let libs = RepoName::parse("libs").expect("valid");
        let repository_id =
            trove_core::services::catalog::repositories::find(ctx, &tenant(), &libs)
                .await
                .expect("repository libs")
                .id;
        let upload = Upload {
            upload_id: UploadId::new(),
            tenant: tenant(),
            repository: libs,
            repository_id,
            package: PackageName::parse("widget").expect("valid"),
            version: VersionName::parse("1.0.0").expect("valid"),
            filename: FileName::parse(filename).expect("valid"),
            size: declared.len() as u64,
            sha256: Sha256Hex::from_digest(&Sha256::digest(declared)),
            status: UploadStatus::Pending,
            reason: None,
            execution_id: None,
            created_at: now,
            expires_at: now + Duration::from_secs(3600),
            updated_at: now,
            scan: None,
            digests: Default::default(),
            multipart: None,
            created_by: None,
        };
        let item = uploads::upload_item(&upload).expect("item");
        ctx.table.put(item, None).await.expect("stored");
        if let Some(bytes) = stored {
            let key = BlobKey::incoming(&upload.tenant, &upload.upload_id);
            ctx.blobs
                .put(
                    &key,
                    Bytes::copy_from_slice(bytes),
                    "application/octet-stream",
                )
                .await
                .expect("object");
        }
        StepInput {
            tenant: upload.tenant,
            upload_id: upload.upload_id,
            execution_id: Some("exec-1".into()),
            reason: None,
        }
    }

    async fn upload(&self, filename: &str, bytes: &[u8]) -> StepInput {
        self.upload_with(filename, bytes, Some(bytes)).await
    }

    async fn load(&self, input: &StepInput) -> Upload {
        uploads::load(self.ctx(), &input.tenant, &input.upload_id)
            .await
            .expect("load")
            .expect("exists")
    }
}

#[tokio::test]
async fn a_clean_upload_passes_and_its_result_is_recorded() {
    let env = env().await;
    // Several storage chunks, and a few windows.
    let text: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let input = env.upload("widget-1.0.0.txt", &text).await;
    run_step(env.ctx(), "Scan", &input).await.expect("clean");
    let upload = env.load(&input).await;
    assert_eq!(upload.status, UploadStatus::Scanning);
    assert_eq!(upload.execution_id.as_deref(), Some("exec-1"));
    let scan = upload.scan.expect("scan result");
    assert_eq!(scan.engine, ENGINE);
    assert_eq!(scan.rules_version, rules_version());
    assert!(scan.findings.is_empty());
    // The status view shows it.
    let json = serde_json::to_value(&scan).expect("json");
    assert_eq!(json["findings"], serde_json::json!([]));
}

#[tokio::test]
async fn eicar_in_a_nested_zip_is_rejected_naming_rule_and_path() {
    let env = env().await;
    let inner = zip(&[("eicar.com", &eicar())], deflated());
    let outer = zip(&[("README", b"hello"), ("inner.zip", &inner)], deflated());
    let input = env.upload("nested.zip", &outer).await;
    let err = run_step(env.ctx(), "Scan", &input)
        .await
        .expect_err("refused");
    assert_eq!(
        err,
        StepError::Rejected("malware: EICAR_Test_File in nested.zip/inner.zip/eicar.com".into())
    );
    let scan = env.load(&input).await.scan.expect("recorded");
    assert_eq!(
        scan.findings,
        [ScanFinding {
            rule: "EICAR_Test_File".into(),
            category: "malware".into(),
            path: "nested.zip/inner.zip/eicar.com".into(),
        }]
    );
    // A retry answers the same from the record, without reading the object again.
    let key = BlobKey::incoming(&input.tenant, &input.upload_id);
    env.ctx().blobs.delete(&key).await.expect("deleted");
    assert_eq!(run_step(env.ctx(), "Scan", &input).await, Err(err));
}

#[tokio::test]
async fn zips_with_data_descriptors_are_scanned_through_the_step() {
    let env = env().await;
    // Sizes after the data (macOS, Go, `jar`): walked like any zip, from storage's chunks.
    let noise: Vec<u8> = (0..600_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let z = zip_streamed(&[
        ("README", b"hello"),
        ("lib/noise.bin", &noise),
        ("bin/eicar.com", &eicar()),
    ]);
    assert!(uses_data_descriptors(&z));
    let input = env.upload("app.zip", &z).await;
    assert_eq!(
        run_step(env.ctx(), "Scan", &input).await,
        Err(StepError::Rejected(
            "malware: EICAR_Test_File in app.zip/bin/eicar.com".into()
        ))
    );
    let clean = zip_streamed(&[("README", b"hello"), ("lib/noise.bin", &noise)]);
    let input = env.upload("clean.zip", &clean).await;
    run_step(env.ctx(), "Scan", &input).await.expect("clean");
    assert_eq!(env.load(&input).await.status, UploadStatus::Scanning);
}

#[tokio::test]
async fn many_findings_are_summed_up_and_stored_bounded() {
    let env = env().await;
    let e = eicar();
    let names: Vec<String> = (0..30).map(|i| format!("e{i:02}.com")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &e[..])).collect();
    let input = env.upload("many.zip", &zip(&entries, deflated())).await;
    assert_eq!(
        run_step(env.ctx(), "Scan", &input).await,
        Err(StepError::Rejected(
            "malware: EICAR_Test_File in many.zip/e00.com; malware: EICAR_Test_File in \
             many.zip/e01.com; malware: EICAR_Test_File in many.zip/e02.com; and 27 more"
                .into()
        ))
    );
    let scan = env.load(&input).await.scan.expect("recorded");
    assert_eq!(scan.findings.len(), 20);
    assert_eq!(scan.unlisted_findings, 10);
}

#[tokio::test]
async fn a_secret_is_rejected_as_a_secret() {
    let env = env().await;
    let input = env
        .upload("config.env", b"AWS_ACCESS_KEY_ID=ASIAQ2W3E4R5T6Y7U8I9\n")
        .await;
    assert_eq!(
        run_step(env.ctx(), "Scan", &input).await,
        Err(StepError::Rejected(
            "secret: AWS_Access_Key_Id in config.env".into()
        ))
    );
}

#[tokio::test]
async fn archive_violations_are_rejected_with_their_reason() {
    let env = env().await;
    let tgz = tar_gz(&[TarEntry::File("../../etc/evil", b"x")]);
    let input = env.upload("evil.tar.gz", &tgz).await;
    assert_eq!(
        run_step(env.ctx(), "Scan", &input).await,
        Err(StepError::Rejected(
            "path traversal: ../../etc/evil in evil.tar.gz".into()
        ))
    );
    assert_eq!(env.load(&input).await.scan, None);
}

#[tokio::test]
async fn missing_objects_and_mismatched_bytes_are_rejected() {
    let env = env().await;
    let input = env.upload_with("a.txt", b"declared", None).await;
    assert_eq!(
        run_step(env.ctx(), "Scan", &input).await,
        Err(StepError::Rejected(
            "no file was uploaded for this upload".into()
        ))
    );
    let input = env
        .upload_with("a.txt", b"declared", Some(b"something else"))
        .await;
    assert_eq!(
        run_step(env.ctx(), "Scan", &input).await,
        Err(StepError::Rejected(
            "size mismatch: declared 8 bytes, stored more".into()
        ))
    );
    let input = env
        .upload_with("a.txt", b"declared", Some(b"Declared"))
        .await;
    let err = run_step(env.ctx(), "Scan", &input)
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, StepError::Rejected(r) if r.starts_with("checksum mismatch")),
        "{err:?}"
    );
}

#[tokio::test]
async fn terminal_uploads_are_left_alone() {
    let env = env().await;
    let input = env.upload_with("a.txt", b"x", None).await;
    let mut upload = env.load(&input).await;
    upload.status = UploadStatus::Published;
    uploads::transition(env.ctx(), UploadStatus::Pending, &upload)
        .await
        .expect("published");
    assert_eq!(run_step(env.ctx(), "Scan", &input).await, Ok(()));

    let input = env.upload_with("b.txt", b"x", None).await;
    let mut upload = env.load(&input).await;
    upload.status = UploadStatus::Rejected;
    upload.reason = Some("earlier reason".into());
    uploads::transition(env.ctx(), UploadStatus::Pending, &upload)
        .await
        .expect("rejected");
    assert_eq!(
        run_step(env.ctx(), "Scan", &input).await,
        Err(StepError::Rejected("earlier reason".into()))
    );
}

/// Storage that serves a few bytes, then fails.
struct FlakyBlobs;

#[async_trait]
impl Blobs for FlakyBlobs {
    async fn presign_put(
        &self,
        _: &BlobKey,
        _: &PutConstraints,
        _: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        Err(BlobError::Other("not here".into()))
    }
    async fn presign_get(
        &self,
        _: &BlobKey,
        _: Duration,
        _: Option<&str>,
    ) -> Result<PresignedRequest, BlobError> {
        Err(BlobError::Other("not here".into()))
    }
    async fn head(&self, _: &BlobKey) -> Result<Option<BlobInfo>, BlobError> {
        Ok(None)
    }
    async fn read(&self, _: &BlobKey) -> Result<ByteStream, BlobError> {
        let chunks = vec![
            Ok(Bytes::from_static(b"some bytes")),
            Err(BlobError::Unavailable("connection reset".into())),
        ];
        Ok(Box::pin(futures::stream::iter(chunks)))
    }
    async fn copy(&self, _: &BlobKey, _: &BlobKey) -> Result<(), BlobError> {
        Ok(())
    }
    async fn delete(&self, _: &BlobKey) -> Result<(), BlobError> {
        Ok(())
    }
    async fn put(&self, _: &BlobKey, _: Bytes, _: &str) -> Result<(), BlobError> {
        Ok(())
    }
    async fn create_multipart(&self, _: &BlobKey, _: &str) -> Result<String, BlobError> {
        Err(BlobError::Other("not here".into()))
    }
    async fn presign_part(
        &self,
        _: &BlobKey,
        _: &str,
        _: &trove_core::ports::PartConstraints,
        _: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        Err(BlobError::Other("not here".into()))
    }
    async fn list_parts(
        &self,
        _: &BlobKey,
        _: &str,
    ) -> Result<Vec<trove_core::ports::StoredPart>, BlobError> {
        Err(BlobError::NotFound)
    }
    async fn complete_multipart(
        &self,
        _: &BlobKey,
        _: &str,
        _: &[trove_core::ports::StoredPart],
    ) -> Result<(), BlobError> {
        Err(BlobError::NotFound)
    }
    async fn abort_multipart(&self, _: &BlobKey, _: &str) -> Result<(), BlobError> {
        Ok(())
    }
    async fn list(
        &self,
        _: &str,
        _: Option<String>,
    ) -> Result<trove_core::ports::BlobPage, BlobError> {
        Ok(trove_core::ports::BlobPage::default())
    }
}

#[tokio::test]
async fn storage_failures_are_retried() {
    let env = env().await;
    let input = env.upload_with("a.txt", b"some bytes and more", None).await;
    let mut ctx = env.ctx().clone();
    ctx.blobs = Arc::new(FlakyBlobs);
    let err = run_step(&ctx, "Scan", &input).await.expect_err("fails");
    assert!(
        matches!(&err, StepError::Retryable(m) if m.contains("connection reset")),
        "{err:?}"
    );
    assert_eq!(env.load(&input).await.scan, None);
}

#[tokio::test]
async fn validate_refuses_a_name_its_content_does_not_match() {
    let env = env().await;
    let input = env.upload("widget.zip", b"this is not a zip").await;
    assert_eq!(
        validate::run(env.ctx(), &input).await,
        Err(StepError::Rejected(
            "content mismatch: widget.zip is not a zip archive".into()
        ))
    );
    let input = env
        .upload("widget.tgz", &zip(&[("a", b"b")], deflated()))
        .await;
    assert_eq!(
        validate::run(env.ctx(), &input).await,
        Err(StepError::Rejected(
            "content mismatch: widget.tgz is not a gzip archive".into()
        ))
    );
    let real = zip(&[("a.txt", b"hello")], deflated());
    let input = env.upload("widget.whl", &real).await;
    assert_eq!(validate::run(env.ctx(), &input).await, Ok(()));
    let input = env.upload("widget.tar.gz", &tar_gz(&[])).await;
    assert_eq!(validate::run(env.ctx(), &input).await, Ok(()));
}

#[tokio::test]
async fn a_limit_refusal_is_kept_on_the_upload_and_a_retry_gives_the_same_answer() {
    let env = env().await;
    let policy = trove_core::domain::model::ScanPolicy {
        max_expanded_bytes: Some(64 * 1024),
        ..Default::default()
    };
    let caller = Caller::tenant_admin_for_tests(tenant());
    repositories::put_scan_policy(env.ctx(), &caller, "libs", policy)
        .await
        .expect("policy");
    let tgz =
        trove_testkit::archives::noise::tar_gz_of_noise(Vec::new(), "data.bin", 256 * 1024, 5)
            .expect("tgz");
    let input = env.upload("data.tgz", &tgz).await;
    let Err(StepError::Rejected(reason)) = run_step(env.ctx(), "Scan", &input).await else {
        panic!("refused by the cap");
    };
    assert!(
        reason.contains("max_expanded_bytes = 65536 bytes")
            && reason.contains("PUT /v1/repositories/libs/scan-policy"),
        "{reason}"
    );
    let scan = env.load(&input).await.scan.expect("kept");
    assert_eq!(scan.status, trove_core::domain::model::ScanStatus::Refused);
    let limit = scan.limit.expect("the limit");
    assert_eq!(
        (limit.setting.as_str(), limit.value),
        ("max_expanded_bytes", 65536)
    );
    assert_eq!(limit.reason, reason);
    // A retry answers from the stored result, without the object.
    env.ctx()
        .blobs
        .delete(&BlobKey::incoming(&input.tenant, &input.upload_id))
        .await
        .expect("deleted");
    assert_eq!(
        run_step(env.ctx(), "Scan", &input).await,
        Err(StepError::Rejected(reason))
    );
}
