//! Scan: the first step of the pipeline. The incoming object is streamed once through YARA
//! (the rules of `rules/`), archives are walked entry by entry with limits against bombs,
//! traversal and escaping links, and the result is kept on the upload. Findings and
//! archive violations refuse the upload; storage trouble is retried.
//!
//! Memory does not grow with the object: the async side hands chunks through bounded
//! channels to two threads, one hashing (the scan is bound to the declared SHA-256), one
//! walking and scanning in bounded windows.

pub mod archive;
pub mod engine;
// pipeline::format: Validate checks names against magic bytes without the scanner.
pub use trove_core::pipeline::format;
pub mod limits;
pub mod paths;
pub mod stream;
pub mod zip_stream;

#[cfg(test)]
mod manifest_tests;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod step_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod zip_tests;

use std::io::{self, Read};
use std::sync::Arc;

use async_trait::async_trait;

use bytes::Bytes;
use futures::StreamExt as _;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use trove_core::domain::keys::BlobKey;
use trove_core::domain::model::{
    Repository, ScanLimitHit, ScanPolicy, ScanResult, ScanStatus, UploadStatus,
};
use trove_core::domain::names::Sha256Hex;
use trove_core::pipeline::{Scanner, StepError, StepInput};
use trove_core::ports::{BlobError, ByteStream};
use trove_core::services::Context;
use trove_core::services::catalog::uploads;

pub use engine::{ENGINE, EngineError, rules_version};
pub use limits::ScanLimits;
pub use stream::{Findings, LimitHit, ManifestProbe, ScanError};

/// Chunks in flight between the storage stream and each consumer thread.
const CHANNEL_CHUNKS: usize = 16;
/// Findings named in a refusal; the rest are counted.
const REASON_FINDINGS: usize = 3;
/// Findings stored on the upload, and the longest path stored: the record stays far below
/// DynamoDB's 400 KB item limit whatever the archive holds.
const STORED_FINDINGS: usize = 20;
const STORED_PATH: usize = 512;

/// The Scan step as the pipeline runs it: what a host puts in `Context::scanner`.
#[derive(Debug, Default, Clone, Copy)]
pub struct YaraScanner;

impl YaraScanner {
    /// The scanner for a context.
    pub fn shared() -> Arc<dyn Scanner> {
        Arc::new(Self)
    }
}

#[async_trait]
impl Scanner for YaraScanner {
    async fn run(&self, ctx: &Context, input: &StepInput) -> Result<(), StepError> {
        run(ctx, input).await
    }
}

/// Scans the upload of `input` and keeps the result on it; a finding or a limit refuses it.
pub async fn run(ctx: &Context, input: &StepInput) -> Result<(), StepError> {
    let Some(mut upload) = trove_core::pipeline::claim(ctx, input).await? else {
        return Ok(());
    };
    // A retry after the result was stored: the same bytes under the same rules give the
    // same answer, no need to read them again.
    if let Some(done) = &upload.scan
        && done.engine == ENGINE
        && done.rules_version == rules_version()
    {
        return verdict(done);
    }
    // The limits are the repository's own: its scan policy, scaled to its largest file.
    let repo = trove_core::pipeline::accepted_repository(ctx, &upload).await?;
    let limits = ScanLimits::for_repository(&repo);

    let key = BlobKey::incoming(&upload.tenant, &upload.upload_id);
    let stream = match ctx.blobs.read(&key).await {
        Ok(s) => s,
        Err(BlobError::NotFound) => {
            return Err(StepError::Rejected(
                "no file was uploaded for this upload".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let name = upload.filename.as_str();
    let probe = trove_core::formats::for_format(repo.format).map(|format| ManifestProbe {
        format,
        filename: name.to_owned(),
    });
    let scanned = scan_stream_probing(stream, name, limits, upload.size, probe).await;
    let mut manifest = None;
    let (findings, status, limit) = match scanned {
        Ok(report) => {
            // The verdict is about these exact bytes: the ones the uploader declared.
            if report.size != upload.size || report.sha256 != upload.sha256 {
                return Err(StepError::Rejected(format!(
                    "checksum mismatch: declared {} ({} bytes), stored {} ({} bytes)",
                    upload.sha256, upload.size, report.sha256, report.size
                )));
            }
            let partial = report.findings.partial.clone();
            let status = match partial {
                Some(_) => ScanStatus::Partial,
                None => ScanStatus::Complete,
            };
            let limit = partial.map(|hit| limit_hit(&repo, &hit, ScanStatus::Partial));
            manifest = report.findings.manifest.clone();
            (report.findings, status, limit)
        }
        // Kept on the upload as well as given as the reason: which setting decided.
        Err(ScanError::Limit(hit)) => (
            Findings::default(),
            ScanStatus::Refused,
            Some(limit_hit(&repo, &hit, ScanStatus::Refused)),
        ),
        Err(ScanError::Refused(reason)) => return Err(StepError::Rejected(reason)),
        Err(ScanError::Engine(EngineError::Content(m))) => {
            return Err(StepError::Rejected(format!(
                "the scanner could not finish: {m}"
            )));
        }
        Err(other) => return Err(StepError::Retryable(other.to_string())),
    };

    let Findings {
        mut listed,
        unlisted,
        ..
    } = findings;
    // Entry names are the uploader's: keep what is stored and shown short.
    for f in &mut listed {
        shorten(&mut f.path, STORED_PATH);
    }
    let mut result = ScanResult {
        engine: ENGINE.to_owned(),
        rules_version: rules_version().to_owned(),
        findings: listed,
        unlisted_findings: unlisted,
        status,
        limit,
        manifest,
        scanned_at: ctx.clock.now(),
    };
    // The verdict names the first findings of all of them, then only some are kept.
    let outcome = verdict(&result);
    result.unlisted_findings += result.findings.len().saturating_sub(STORED_FINDINGS) as u64;
    result.findings.truncate(STORED_FINDINGS);
    upload.scan = Some(result);
    upload.updated_at = ctx.clock.now();
    uploads::transition(ctx, UploadStatus::Scanning, &upload).await?;
    outcome
}

/// What a person reads about a limit of the scan policy: which one, its value, and how
/// to change it.
fn limit_hit(repo: &Repository, hit: &LimitHit, status: ScanStatus) -> ScanLimitHit {
    let setting = hit.setting;
    let value = hit.value;
    let default = match setting {
        "max_expanded_bytes" if repo.scan_policy.max_expanded_bytes.is_none() => format!(
            ", the default: {} x this repository's max_file_size",
            ScanPolicy::DEFAULT_EXPANDED_PER_MAX_FILE
        ),
        _ => String::new(),
    };
    let shown = match setting {
        "max_expanded_bytes" => format!("{value} bytes ({}{default})", limits::human(value)),
        _ => value.to_string(),
    };
    let change = format!(
        "a repository admin can change it with PUT /v1/repositories/{}/scan-policy",
        repo.name
    );
    let reason = match (status, setting) {
        (ScanStatus::Partial, _) => format!(
            "{}; published with a partial scan: content past that point was not scanned \
             (scan policy: {setting} = {shown}, oversize = partial; {change})",
            hit.message
        ),
        (_, "max_expanded_bytes") => format!(
            "{} (scan policy: {setting} = {shown}; {change}, raising {setting} or setting \
             \"oversize\": \"partial\" to publish it with a partial scan)",
            hit.message
        ),
        _ => format!(
            "{} (scan policy: {setting} = {shown}; {change})",
            hit.message
        ),
    };
    ScanLimitHit {
        setting: setting.to_owned(),
        value,
        reason,
    }
}

/// Refuses an upload with findings, naming the rule and where it matched, or one a limit
/// of the scan policy refused.
fn verdict(scan: &ScanResult) -> Result<(), StepError> {
    if scan.status == ScanStatus::Refused {
        let reason = scan
            .limit
            .as_ref()
            .map(|l| l.reason.clone())
            .unwrap_or_else(|| "refused by the scan policy".into());
        return Err(StepError::Rejected(reason));
    }
    let findings = &scan.findings;
    if findings.is_empty() {
        return Ok(());
    }
    let mut reason = findings
        .iter()
        .take(REASON_FINDINGS)
        .map(|f| format!("{}: {} in {}", f.category, f.rule, f.path))
        .collect::<Vec<_>>()
        .join("; ");
    let more = findings.len().saturating_sub(REASON_FINDINGS) as u64 + scan.unlisted_findings;
    if more > 0 {
        reason.push_str(&format!("; and {more} more"));
    }
    Err(StepError::Rejected(reason))
}

/// Cuts a long path (at a character boundary) and marks the cut.
fn shorten(path: &mut String, max: usize) {
    if path.len() > max {
        let mut end = max;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        path.truncate(end);
        path.push('…');
    }
}

/// What a scan of a whole object found, and the identity of the bytes it looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub findings: Findings,
    pub size: u64,
    pub sha256: Sha256Hex,
}

/// Scans an object as it streams from storage. The stream is read once; its chunks go to
/// a hashing thread and to the scanning thread in parallel (2 cores: ~the cost of the
/// slower of the two), each behind a bounded channel. More than `max_size` bytes are not
/// read: the object is not what was declared.
pub async fn scan_stream(
    stream: ByteStream,
    name: &str,
    limits: ScanLimits,
    max_size: u64,
) -> Result<ScanReport, ScanError> {
    scan_stream_probing(stream, name, limits, max_size, None).await
}

/// [`scan_stream`], also keeping the manifest `probe` recognises.
pub async fn scan_stream_probing(
    mut stream: ByteStream,
    name: &str,
    limits: ScanLimits,
    max_size: u64,
    probe: Option<ManifestProbe>,
) -> Result<ScanReport, ScanError> {
    let (hash_tx, mut hash_rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let (scan_tx, scan_rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);

    let hasher = tokio::task::spawn_blocking(move || {
        let mut h = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = hash_rx.blocking_recv() {
            size += chunk.len() as u64;
            h.update(&chunk);
        }
        (size, Sha256Hex::from_digest(&h.finalize()))
    });

    let chunks = futures::stream::unfold(scan_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    // Built here: the bridge blocks on this runtime from the scanning thread.
    let bridge = SyncIoBridge::new(StreamReader::new(Box::pin(chunks)));
    let name_owned = name.to_owned();
    let scanner = tokio::task::spawn_blocking(move || {
        scan_reader_probing(bridge, &name_owned, &limits, probe)
    });

    // Storage → both consumers. Stops early when the scanner has decided (it drops its end).
    let mut source_error = None;
    let mut sent = 0u64;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                sent += bytes.len() as u64;
                if sent > max_size {
                    break;
                }
                let _ = hash_tx.send(bytes.clone()).await;
                if scan_tx.send(Ok(bytes)).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                source_error = Some(e.to_string());
                let _ = scan_tx.send(Err(io::Error::other(e.to_string()))).await;
                break;
            }
        }
    }
    drop((hash_tx, scan_tx));

    let findings = scanner
        .await
        .map_err(|e| ScanError::Source(format!("scanner thread failed: {e}")))?;
    if let Some(e) = source_error {
        return Err(ScanError::Source(e));
    }
    if sent > max_size {
        return Err(ScanError::Refused(format!(
            "size mismatch: declared {max_size} bytes, stored more"
        )));
    }
    let findings = findings?;
    let (size, sha256) = hasher
        .await
        .map_err(|e| ScanError::Source(format!("hashing thread failed: {e}")))?;
    Ok(ScanReport {
        findings,
        size,
        sha256,
    })
}

/// Scans a whole object synchronously (what the scanning thread runs; tests and benches
/// call it directly). `name` starts every finding's path.
pub fn scan_reader(
    reader: impl Read,
    name: &str,
    limits: &ScanLimits,
) -> Result<Findings, ScanError> {
    scan_reader_probing(reader, name, limits, None)
}

/// [`scan_reader`], also keeping the manifest `probe` recognises.
pub fn scan_reader_probing(
    reader: impl Read,
    name: &str,
    limits: &ScanLimits,
    probe: Option<ManifestProbe>,
) -> Result<Findings, ScanError> {
    let state = stream::ScanState::new(limits.clone()).with_probe(probe);
    let walked = {
        let mut source = stream::Source::new(reader, &state);
        let walked = archive::Walker { state: &state }
            .content(&mut source, name, 0, false, 0)
            .map(drop);
        // Cut at the cap: the rest is read (and hashed by the caller), not looked at.
        if state.cut() {
            io::copy(&mut source, &mut io::sink()).map(drop)
        } else {
            walked
        }
    };
    state.finish(walked, name)
}
