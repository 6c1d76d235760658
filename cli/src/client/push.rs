//! `trove push REPO FILE --package P --version V`: one presigned PUT for a file that fits in
//! one part, a multipart upload (parts in parallel, each retried) above that; then waits for
//! the pipeline's verdict. An interrupted push run again resumes from what storage holds
//! (`upload_state`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use futures::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;

use crate::client::api::Api;
use crate::client::config;
use crate::client::hashing::{FileDigest, digest_file};
use crate::client::output::{OutputArgs, human_bytes};
use crate::client::parts::{DEFAULT_PART_SIZE, Layout, parse_size};
use crate::client::problem::ApiError;
use crate::client::progress::{self, Mode, Progress};
use crate::client::retry::{Backoff, retrying};
use crate::client::storage::{PutError, put_range};
use crate::client::upload_state::{Store, Target, UploadState};
use crate::client::wire::{
    CreateUpload, Created, PartDigest, PartUrls, PartsRequest, Presigned, UploadStatus, UploadView,
    VersionDetail,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The repository to publish to.
    repo: String,
    /// The file to upload.
    file: PathBuf,
    #[arg(long)]
    package: String,
    #[arg(long)]
    version: String,
    /// The file's name in the repository (default: FILE's own name).
    #[arg(long)]
    filename: Option<String>,
    /// Part size of a multipart upload, used for files larger than one part; grown so that
    /// no more than 10,000 parts are needed.
    #[arg(long, default_value_t = DEFAULT_PART_SIZE, value_parser = parse_size, value_name = "SIZE")]
    part_size: u64,
    /// Parts in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    parallel: u16,
    /// Cancel an interrupted push of other content under the same name, and push this file.
    #[arg(long)]
    restart: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// The pipeline refused the file; the exit code says so apart from other failures.
#[derive(Debug)]
pub struct Rejected {
    pub reason: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rejected: {}", self.reason)
    }
}

impl std::error::Error for Rejected {}

/// The upload timed out on the server before its bytes all arrived.
#[derive(Debug)]
struct Expired;

impl std::fmt::Display for Expired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the upload expired before all its parts arrived")
    }
}

impl std::error::Error for Expired {}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Outcome {
    status: UploadStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// None when the same file was already published and nothing was uploaded.
    upload_id: Option<String>,
    repository: String,
    package: String,
    version: String,
    filename: String,
    size: u64,
    sha256: String,
    multipart: bool,
    part_size: Option<u64>,
    parts_total: u32,
    /// Parts this run sent (a resumed push sends only those storage lacked).
    parts_uploaded: u32,
    /// Parts storage already held when this run resumed an interrupted push.
    parts_already_stored: u32,
    resumed: bool,
    /// The upload expired and was started over.
    restarted: bool,
}

/// How far one go at the upload got.
enum Step {
    Settled(Option<UploadView>),
    StartOver(String),
}

struct Push {
    api: Api,
    store: Store,
    target: Target,
    file: PathBuf,
    size: u64,
    layout: Layout,
    digest: FileDigest,
    parallel: usize,
    mode: Mode,
    uploaded: AtomicU32,
    already_stored: u32,
    resumed: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = config::current()?;
    let api = Api::new(&config, Backoff::NETWORK)?;
    let metadata = std::fs::metadata(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    if !metadata.is_file() {
        bail!("{} is not a file", args.file.display());
    }
    let size = metadata.len();
    if size == 0 {
        bail!(
            "{} is empty; Trove does not store empty files",
            args.file.display()
        );
    }
    let filename = match &args.filename {
        Some(name) => name.clone(),
        None => file_name(&args.file)?,
    };
    let mode = args.out.progress();
    let layout = Layout::plan(size, args.part_size).map_err(|e| anyhow!("--part-size: {e}"))?;
    let digest = digest_file(&args.file, layout, Progress::bytes(mode, "hashing", size)).await?;
    let mut push = Push {
        api,
        store: Store::in_config_dir()?,
        target: Target {
            server: config.url,
            repository: args.repo.clone(),
            package: args.package.clone(),
            version: args.version.clone(),
            filename,
        },
        file: args.file.clone(),
        size,
        layout,
        digest,
        parallel: usize::from(args.parallel),
        mode,
        uploaded: AtomicU32::new(0),
        already_stored: 0,
        resumed: false,
    };
    push.refuse_changed_file(args.restart).await?;
    let (view, restarted) = push.settle().await?;
    let outcome = push.outcome(view.as_ref(), restarted);
    let rejected = match outcome.status {
        UploadStatus::Published => None,
        UploadStatus::Cancelled => Some("the upload was cancelled".to_owned()),
        _ => Some(
            outcome
                .reason
                .clone()
                .unwrap_or_else(|| format!("the upload ended {}", outcome.status.as_str())),
        ),
    };
    args.out.emit(&outcome, |o| match rejected {
        None => format!(
            "published {}/{} {} {} (sha256 {})",
            o.repository, o.package, o.version, o.filename, o.sha256
        ),
        Some(_) => String::new(),
    })?;
    match rejected {
        None => Ok(()),
        Some(reason) => Err(Rejected { reason }.into()),
    }
}

fn file_name(path: &Path) -> anyhow::Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            anyhow!(
                "{} has no usable file name; pass --filename",
                path.display()
            )
        })
}

impl Push {
    /// A state left for other content under the same name means the file changed since an
    /// interrupted push of it: refused unless the caller asks to start over.
    async fn refuse_changed_file(&self, restart: bool) -> anyhow::Result<()> {
        let stale = self.store.others_for(&self.target, &self.digest.sha256)?;
        for old in stale {
            if !restart {
                bail!(
                    "{} changed since an interrupted push of it began (upload {}: sha256 {} then, {} now); \
                     run the push again with --restart to cancel that upload and send the file as it is now",
                    self.file.display(),
                    old.upload_id,
                    old.sha256,
                    self.digest.sha256
                );
            }
            let url = self.upload_url(&old.upload_id, &[]);
            match self.api.delete(url).await {
                Ok(()) => progress::say(self.mode, &format!("cancelled upload {}", old.upload_id)),
                // Gone already, or settled: nothing to cancel.
                Err(e) if matches!(e.status(), Some(404 | 409)) => {}
                Err(e) => return Err(e.into()),
            }
            self.store.remove(&old.sha256)?;
        }
        Ok(())
    }

    /// Uploads until the pipeline settles the upload; starts over once if it expires.
    async fn settle(&mut self) -> anyhow::Result<(Option<UploadView>, bool)> {
        let mut restarted = false;
        loop {
            let state = self
                .store
                .load(&self.digest.sha256)?
                .filter(|s| s.target == self.target && s.size == self.size);
            let step = match state {
                Some(state) => self.resume(state).await,
                None => self.start().await,
            };
            let step = match step {
                Err(e) if e.is::<Expired>() => {
                    if restarted {
                        return Err(e.context("the upload expired again after starting over"));
                    }
                    restarted = true;
                    Step::StartOver("the upload expired; starting over".into())
                }
                other => other?,
            };
            match step {
                Step::Settled(view) => {
                    self.store.remove(&self.digest.sha256)?;
                    return Ok((view, restarted));
                }
                Step::StartOver(why) => {
                    progress::say(self.mode, &why);
                    self.store.remove(&self.digest.sha256)?;
                    self.uploaded.store(0, Ordering::Relaxed);
                    self.already_stored = 0;
                    self.resumed = false;
                }
            }
        }
    }

    async fn start(&mut self) -> anyhow::Result<Step> {
        let multipart = self.layout.is_multipart();
        let request = CreateUpload {
            package: &self.target.package,
            version: &self.target.version,
            filename: &self.target.filename,
            size: self.size,
            sha256: &self.digest.sha256,
            part_size: multipart.then_some(self.layout.part_size),
        };
        let url = self
            .api
            .endpoint(&["v1", "repositories", &self.target.repository, "uploads"]);
        let created: Created = match self.api.post(url, Some(&request)).await {
            Ok(created) => created,
            Err(e) if e.status() == Some(409) && self.already_published().await => {
                progress::say(self.mode, "the same file is already published");
                return Ok(Step::Settled(None));
            }
            Err(e) => return Err(e.into()),
        };
        let upload_id = created.upload_id.clone();
        if !multipart {
            let put = created.single.ok_or_else(|| {
                anyhow!("the server answered no upload URL for upload {upload_id}")
            })?;
            self.save_state(&upload_id, None)?;
            self.send_single(&put).await?;
            return self.wait(&upload_id).await;
        }
        let Some(layout) = created.multipart else {
            bail!(
                "the server at {} answered a single upload URL for a multipart upload: it does not support multipart uploads; \
                 push with a --part-size larger than the file ({})",
                self.api.server(),
                human_bytes(self.size)
            );
        };
        self.adopt_part_size(layout.part_size).await?;
        if u64::from(self.layout.count()) != layout.part_count {
            bail!(
                "the server counts {} parts of {} bytes for {} bytes, this client {}",
                layout.part_count,
                layout.part_size,
                self.size,
                self.layout.count()
            );
        }
        self.save_state(&upload_id, Some(self.layout.part_size))?;
        let all: Vec<u32> = self.layout.parts().map(|p| p.number).collect();
        self.send_parts(&upload_id, all).await?;
        self.complete(&upload_id).await?;
        self.wait(&upload_id).await
    }

    async fn resume(&mut self, state: UploadState) -> anyhow::Result<Step> {
        let id = state.upload_id.clone();
        let view: UploadView = match self.api.get(self.upload_url(&id, &[])).await {
            Ok(view) => view,
            Err(e) if e.status() == Some(404) => {
                return Ok(Step::StartOver(format!(
                    "upload {id} of an interrupted push is gone from the server; starting over"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        self.resumed = true;
        match view.status {
            UploadStatus::Rejected if view.is_expired() => Err(Expired.into()),
            UploadStatus::Published | UploadStatus::Rejected => Ok(Step::Settled(Some(view))),
            UploadStatus::Cancelled => Ok(Step::StartOver(format!(
                "upload {id} of an interrupted push was cancelled; starting over"
            ))),
            UploadStatus::Scanning => self.wait(&id).await,
            UploadStatus::Unknown => bail!("upload {id} is in a state this client does not know"),
            UploadStatus::Pending => {
                let (Some(_), Some(multipart)) = (state.part_size, view.multipart) else {
                    // A single PUT cannot be continued: its bytes arrived whole or not at all.
                    return Ok(Step::StartOver(format!(
                        "upload {id} of an interrupted push did not receive its file; sending it again"
                    )));
                };
                if multipart.completed {
                    return self.wait(&id).await;
                }
                // The server's layout of the upload is the one storage assembles.
                self.adopt_part_size(multipart.part_size).await?;
                if u64::from(self.layout.count()) != multipart.part_count {
                    bail!(
                        "upload {id}: the server counts {} parts, this client {}",
                        multipart.part_count,
                        self.layout.count()
                    );
                }
                let missing = self.missing_parts(&multipart.parts);
                self.already_stored = self.layout.count() - missing.len() as u32;
                progress::say(
                    self.mode,
                    &format!(
                        "resuming upload {id}: {} of {} parts stored, {} to send",
                        self.already_stored,
                        self.layout.count(),
                        missing.len()
                    ),
                );
                self.send_parts(&id, missing).await?;
                self.complete(&id).await?;
                self.wait(&id).await
            }
        }
    }

    /// Parts storage does not hold with the length and digest this file gives them.
    fn missing_parts(&self, stored: &[crate::client::wire::StoredPart]) -> Vec<u32> {
        let held: BTreeSet<u32> = stored
            .iter()
            .filter(|s| {
                let Some(part) = self.layout.part(s.number) else {
                    return false;
                };
                let digest = self.digest.parts.get(part.number as usize - 1);
                s.size == part.len && s.sha256.as_ref().is_none_or(|sha| Some(sha) == digest)
            })
            .map(|s| s.number)
            .collect();
        self.layout
            .parts()
            .map(|p| p.number)
            .filter(|n| !held.contains(n))
            .collect()
    }

    /// The server decides the part size of an upload it made: re-hash the parts if it
    /// differs from the one planned.
    async fn adopt_part_size(&mut self, part_size: u64) -> anyhow::Result<()> {
        if part_size == self.layout.part_size && !self.digest.parts.is_empty() {
            return Ok(());
        }
        let layout = Layout {
            size: self.size,
            part_size,
        };
        if !layout.is_multipart() || u64::from(layout.count()) > crate::client::parts::MAX_PARTS {
            bail!(
                "the server chose a part size of {part_size} bytes, unusable for {} bytes",
                self.size
            );
        }
        let digest = digest_file(
            &self.file,
            layout,
            Progress::bytes(self.mode, "hashing", self.size),
        )
        .await?;
        if digest.sha256 != self.digest.sha256 {
            bail!(
                "{} changed while it was being pushed; push it again",
                self.file.display()
            );
        }
        self.layout = layout;
        self.digest = digest;
        Ok(())
    }

    fn save_state(&self, upload_id: &str, part_size: Option<u64>) -> anyhow::Result<()> {
        self.store.save(&UploadState {
            upload_id: upload_id.to_owned(),
            target: self.target.clone(),
            size: self.size,
            sha256: self.digest.sha256.clone(),
            part_size,
        })
    }

    async fn send_single(&self, put: &Presigned) -> anyhow::Result<()> {
        let url = self.api.resolve(&put.url)?;
        let progress = Progress::bytes(self.mode, "push", self.size);
        let result = retrying(
            Backoff::NETWORK,
            |e, n| note_retry(&progress, "the file", e, n),
            || {
                put_range(
                    self.api.storage(),
                    &url,
                    put,
                    &self.file,
                    0,
                    self.size,
                    &progress,
                )
            },
        )
        .await;
        match result {
            Ok(()) => {
                progress.finish();
                self.uploaded.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            // A single URL lives as long as its upload.
            Err(PutError::UrlRefused(_)) => Err(Expired.into()),
            Err(e) => Err(self.put_failure(None, e)),
        }
    }

    async fn send_parts(&self, upload_id: &str, numbers: Vec<u32>) -> anyhow::Result<()> {
        let bytes: u64 = numbers
            .iter()
            .filter_map(|n| self.layout.part(*n))
            .map(|p| p.len)
            .sum();
        let progress = Progress::bytes(self.mode, "push", bytes);
        futures::stream::iter(numbers)
            .map(|number| self.send_part(upload_id, number, &progress))
            .buffer_unordered(self.parallel)
            .try_collect::<Vec<()>>()
            .await?;
        progress.finish();
        Ok(())
    }

    /// One part: a fresh URL (part URLs live minutes, so each is asked for just before its
    /// bytes go), then the PUT, retried; a URL storage no longer takes is asked for again.
    async fn send_part(
        &self,
        upload_id: &str,
        number: u32,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let part = self
            .layout
            .part(number)
            .ok_or_else(|| anyhow!("no part {number} in this layout"))?;
        let sha256 = self
            .digest
            .parts
            .get(number as usize - 1)
            .ok_or_else(|| anyhow!("no digest for part {number}"))?;
        let what = format!("part {number}");
        let mut fresh_urls = 0;
        loop {
            let put = self.part_url(upload_id, number, sha256).await?;
            let url = self.api.resolve(&put.url)?;
            let result = retrying(
                Backoff::NETWORK,
                |e, n| note_retry(progress, &what, e, n),
                || {
                    put_range(
                        self.api.storage(),
                        &url,
                        &put,
                        &self.file,
                        part.offset,
                        part.len,
                        progress,
                    )
                },
            )
            .await;
            match result {
                Ok(()) => {
                    self.uploaded.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(PutError::UrlRefused(_)) if fresh_urls < 2 => fresh_urls += 1,
                Err(e) => return Err(self.put_failure(Some(number), e)),
            }
        }
    }

    async fn part_url(
        &self,
        upload_id: &str,
        number: u32,
        sha256: &str,
    ) -> anyhow::Result<Presigned> {
        let request = PartsRequest {
            parts: vec![PartDigest { number, sha256 }],
        };
        let urls: PartUrls = self
            .api
            .post(self.upload_url(upload_id, &["parts"]), Some(&request))
            .await
            .map_err(expiry)?;
        urls.parts
            .into_iter()
            .find(|p| p.number == number)
            .map(|p| p.request)
            .ok_or_else(|| anyhow!("the server answered no URL for part {number}"))
    }

    fn put_failure(&self, part: Option<u32>, error: PutError) -> anyhow::Error {
        let what = match part {
            Some(n) => format!("part {n} of {}", self.file.display()),
            None => self.file.display().to_string(),
        };
        match error {
            PutError::BodyRefused(detail) => anyhow!(
                "storage refused {what} ({detail}): the file changed after it was read; push it again once it no longer changes"
            ),
            other => anyhow::Error::new(other).context(format!("cannot upload {what}")),
        }
    }

    /// Asks storage to assemble the parts; parts it reports missing are sent again once.
    async fn complete(&self, upload_id: &str) -> anyhow::Result<()> {
        let url = self.upload_url(upload_id, &["complete"]);
        let mut retried = false;
        loop {
            match self
                .api
                .post::<serde_json::Value>(url.clone(), None::<&()>)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.status() == Some(409) && !retried && !is_expiry(&e) => {
                    retried = true;
                    let view: UploadView = self.api.get(self.upload_url(upload_id, &[])).await?;
                    let stored = view.multipart.map(|m| m.parts).unwrap_or_default();
                    let missing = self.missing_parts(&stored);
                    if missing.is_empty() {
                        return Err(e.into());
                    }
                    progress::say(
                        self.mode,
                        &format!("storage lacks {} parts; sending them again", missing.len()),
                    );
                    self.send_parts(upload_id, missing).await?;
                }
                Err(e) => return Err(expiry(e)),
            }
        }
    }

    /// Polls the upload until the pipeline publishes or rejects it.
    async fn wait(&self, upload_id: &str) -> anyhow::Result<Step> {
        progress::say(
            self.mode,
            &format!("upload {upload_id}: waiting for the pipeline (scan, validate, publish)"),
        );
        let mut delay = Duration::from_millis(100);
        loop {
            let view: UploadView = self.api.get(self.upload_url(upload_id, &[])).await?;
            if view.is_expired() {
                return Err(Expired.into());
            }
            if view.status.is_settled() {
                return Ok(Step::Settled(Some(view)));
            }
            tokio::time::sleep(delay).await;
            // A GET is cheap; a slow poll would add its interval to every push.
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    /// Whether the file is published under this name with this very content (a push run
    /// again after it succeeded).
    async fn already_published(&self) -> bool {
        let t = &self.target;
        let url = self.api.endpoint(&[
            "v1",
            "repositories",
            &t.repository,
            "packages",
            &t.package,
            "versions",
            &t.version,
        ]);
        match self.api.get::<VersionDetail>(url).await {
            Ok(detail) => detail
                .files
                .iter()
                .any(|f| f.filename == t.filename && f.sha256 == self.digest.sha256),
            Err(_) => false,
        }
    }

    fn upload_url(&self, upload_id: &str, rest: &[&str]) -> reqwest::Url {
        let mut segments = vec![
            "v1",
            "repositories",
            &self.target.repository,
            "uploads",
            upload_id,
        ];
        segments.extend_from_slice(rest);
        self.api.endpoint(&segments)
    }

    fn outcome(&self, view: Option<&UploadView>, restarted: bool) -> Outcome {
        let multipart = self.layout.is_multipart();
        Outcome {
            status: view.map_or(UploadStatus::Published, |v| v.status),
            reason: view.and_then(|v| v.reason.clone()),
            upload_id: view.map(|v| v.upload_id.clone()),
            repository: self.target.repository.clone(),
            package: self.target.package.clone(),
            version: self.target.version.clone(),
            filename: self.target.filename.clone(),
            size: self.size,
            sha256: self.digest.sha256.clone(),
            multipart,
            part_size: multipart.then_some(self.layout.part_size),
            parts_total: self.layout.count(),
            parts_uploaded: self.uploaded.load(Ordering::Relaxed),
            parts_already_stored: self.already_stored,
            resumed: self.resumed,
            restarted,
        }
    }
}

fn is_expiry(e: &ApiError) -> bool {
    e.status() == Some(409) && e.problem().is_some_and(|p| p.detail_mentions("expired"))
}

/// The server's "this upload expired" as `Expired`, other errors as they are.
fn expiry(e: ApiError) -> anyhow::Error {
    if is_expiry(&e) {
        Expired.into()
    } else {
        e.into()
    }
}

fn note_retry(progress: &Progress, what: &str, error: &PutError, attempt: u32) {
    progress.note(&format!(
        "{what}: {error}; trying again (attempt {})",
        attempt + 1
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::wire::StoredPart;

    fn push_of(size: u64, part_size: u64) -> Push {
        let layout = Layout { size, part_size };
        Push {
            api: Api::new(
                &config::Resolved {
                    url: "http://127.0.0.1:1".into(),
                    key: "k".into(),
                },
                Backoff::NETWORK,
            )
            .expect("api"),
            store: Store::new(PathBuf::from("/nonexistent")),
            target: Target {
                server: "http://127.0.0.1:1".into(),
                repository: "r".into(),
                package: "p".into(),
                version: "1".into(),
                filename: "f".into(),
            },
            file: PathBuf::from("f"),
            size,
            layout,
            digest: FileDigest {
                sha256: "0".repeat(64),
                parts: (1..=layout.count()).map(|n| format!("{n:064}")).collect(),
            },
            parallel: 4,
            mode: Mode::Off,
            uploaded: AtomicU32::new(0),
            already_stored: 0,
            resumed: false,
        }
    }

    #[test]
    fn parts_stored_with_the_right_length_and_digest_are_not_sent_again() {
        let push = push_of(23, 5); // parts of 5, 5, 5, 5, 3
        let stored = vec![
            StoredPart {
                number: 1,
                size: 5,
                sha256: Some(format!("{:064}", 1)),
            },
            // The file changed since: another digest.
            StoredPart {
                number: 2,
                size: 5,
                sha256: Some("f".repeat(64)),
            },
            StoredPart {
                number: 4,
                size: 5,
                sha256: None,
            },
            // Wrong length for the last part.
            StoredPart {
                number: 5,
                size: 5,
                sha256: Some(format!("{:064}", 5)),
            },
            StoredPart {
                number: 9,
                size: 5,
                sha256: None,
            },
        ];
        assert_eq!(push.missing_parts(&stored), vec![2, 3, 5]);
        assert_eq!(push.missing_parts(&[]), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_outcome_counts_what_this_run_sent() {
        let push = push_of(23, 5);
        push.uploaded.store(3, Ordering::Relaxed);
        let view: UploadView = serde_json::from_str(
            r#"{"upload_id":"u","status":"rejected","reason":"malware found"}"#,
        )
        .expect("view");
        let json = serde_json::to_value(push.outcome(Some(&view), false)).expect("json");
        assert_eq!(json["status"], "rejected");
        assert_eq!(json["reason"], "malware found");
        assert_eq!(json["parts_total"], 5);
        assert_eq!(json["parts_uploaded"], 3);
        assert_eq!(json["multipart"], true);
        let published = serde_json::to_value(push.outcome(None, false)).expect("json");
        assert_eq!(published["status"], "published");
        assert_eq!(published["upload_id"], serde_json::Value::Null);
    }
}
