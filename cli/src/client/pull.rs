//! `trove pull REPO PACKAGE VERSION [FILE] [-o PATH]`: streams the file to `PATH.part`,
//! checks its SHA-256 against the file record, then renames it into place. A `.part` left
//! by an interrupted pull is continued with a range request.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, RANGE};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncWriteExt as _, BufWriter};

use crate::client::api::{Api, is_refused_signature};
use crate::client::config;
use crate::client::hashing::hash_prefix;
use crate::client::output::{OutputArgs, human_bytes};
use crate::client::problem::ApiError;
use crate::client::progress::{self, Mode, Progress};
use crate::client::retry::{Backoff, jittered};
use crate::client::wire::{DownloadLink, VersionDetail};

#[derive(clap::Args, Debug)]
pub struct Args {
    repo: String,
    package: String,
    version: String,
    /// The file to download; may be left out when the version has exactly one.
    file: Option<String>,
    /// Where to write it: a path, or a directory to put it in under its own name (default:
    /// the current directory).
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Pulled {
    path: PathBuf,
    repository: String,
    package: String,
    version: String,
    filename: String,
    size: u64,
    sha256: String,
    /// Bytes of an interrupted pull that were kept (0: downloaded from the start).
    resumed_from: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let api = Api::new(&config::current()?, Backoff::NETWORK)?;
    let version = [
        "v1",
        "repositories",
        &args.repo,
        "packages",
        &args.package,
        "versions",
        &args.version,
    ];
    let filename = match &args.file {
        Some(name) => name.clone(),
        None => only_file(&api, &version).await?,
    };
    // The name becomes a path on this machine: one plain component, nothing else.
    if Path::new(&filename).file_name().and_then(|n| n.to_str()) != Some(filename.as_str()) {
        bail!("the file name {filename:?} is not usable as a local file name; pass -o PATH");
    }
    let dest = match &args.output {
        Some(path) if path.is_dir() => path.join(&filename),
        Some(path) => path.clone(),
        None => PathBuf::from(&filename),
    };
    let mut link_segments = version.to_vec();
    link_segments.extend(["files", filename.as_str()]);
    let mut link_url = api.endpoint(&link_segments);
    link_url.query_pairs_mut().append_pair("redirect", "false");

    let download = Download {
        api: &api,
        link_url,
        part: part_path(&dest),
        mode: args.out.progress(),
    };
    let (link, resumed_from) = download.run().await?;
    tokio::fs::rename(&download.part, &dest)
        .await
        .with_context(|| format!("cannot move the download to {}", dest.display()))?;
    let pulled = Pulled {
        path: dest,
        repository: args.repo,
        package: args.package,
        version: args.version,
        filename,
        size: link.size,
        sha256: link.sha256,
        resumed_from,
    };
    args.out.emit(&pulled, |p| {
        format!(
            "{} ({}, sha256 {} verified)",
            p.path.display(),
            human_bytes(p.size),
            p.sha256
        )
    })
}

/// `PATH.part`, beside the destination.
fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

async fn only_file(api: &Api, version: &[&str]) -> anyhow::Result<String> {
    let detail: VersionDetail = api.get(api.endpoint(version)).await?;
    match detail.files.as_slice() {
        [one] => Ok(one.filename.clone()),
        [] => bail!("version {} has no files", version[6]),
        many => bail!(
            "version {} has {} files; name one of: {}",
            version[6],
            many.len(),
            many.iter()
                .map(|f| f.filename.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

struct Download<'a> {
    api: &'a Api,
    link_url: reqwest::Url,
    part: PathBuf,
    mode: Mode,
}

/// What one request of the bytes ended with.
enum Fetched {
    Complete,
    /// The connection broke or storage failed: continue from where the file ends.
    Interrupted(String),
    /// The link is no longer accepted: ask the server for a new one.
    LinkRefused,
}

impl Download<'_> {
    /// Downloads (or continues) into `part` and verifies it; returns the link and how many
    /// bytes of an earlier pull were kept.
    async fn run(&self) -> anyhow::Result<(DownloadLink, u64)> {
        let mut link: DownloadLink = self.api.get(self.link_url.clone()).await?;
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.part)
            .await
            .with_context(|| format!("cannot write {}", self.part.display()))?;
        let mut have = file.metadata().await?.len();
        if have > link.size {
            file.set_len(0).await?;
            have = 0;
        }
        let mut hasher = if have > 0 {
            progress::say(
                self.mode,
                &format!(
                    "continuing {} from {}",
                    self.part.display(),
                    human_bytes(have)
                ),
            );
            hash_prefix(&self.part, have).await?
        } else {
            Sha256::new()
        };
        let mut resumed_from = have;
        let progress = Progress::bytes(self.mode, "pull", link.size);
        progress.add(have);
        let mut file = BufWriter::with_capacity(1 << 20, file);
        let mut failures = 0;
        while have < link.size {
            let before = have;
            let fetched = self
                .fetch(
                    &link,
                    &mut file,
                    &mut have,
                    &mut hasher,
                    &mut resumed_from,
                    &progress,
                )
                .await?;
            file.flush().await?;
            match fetched {
                Fetched::Complete => {}
                Fetched::LinkRefused if failures < Backoff::NETWORK.attempts => {
                    failures += 1;
                    link = self.api.get(self.link_url.clone()).await?;
                }
                Fetched::Interrupted(why) if failures < Backoff::NETWORK.attempts => {
                    // Progress made: the failure count starts again.
                    if have > before {
                        failures = 0;
                    }
                    failures += 1;
                    progress.note(&format!(
                        "download interrupted ({why}); continuing from {}",
                        human_bytes(have)
                    ));
                    tokio::time::sleep(jittered(Backoff::NETWORK.delay(failures))).await;
                }
                Fetched::LinkRefused => bail!("storage keeps refusing the download link"),
                Fetched::Interrupted(why) => bail!("the download failed: {why}"),
            }
        }
        file.flush().await?;
        file.get_ref().sync_all().await?;
        progress.finish();
        let actual = hex::encode(hasher.finalize());
        if have != link.size || actual != link.sha256 {
            drop(file);
            let _ = tokio::fs::remove_file(&self.part).await;
            bail!(
                "checksum mismatch: the server's record says sha256 {} ({} bytes), the bytes received have sha256 {actual} ({have} bytes); \
                 the download was removed. If this repeats, the stored copy is damaged: tell the repository's operators",
                link.sha256,
                link.size
            );
        }
        Ok((link, resumed_from))
    }

    /// One request of the bytes from `have` on, appended to `file`.
    async fn fetch(
        &self,
        link: &DownloadLink,
        file: &mut BufWriter<tokio::fs::File>,
        have: &mut u64,
        hasher: &mut Sha256,
        kept: &mut u64,
        progress: &Progress,
    ) -> anyhow::Result<Fetched> {
        let url = self.api.resolve(&link.url)?;
        // Presigned: the URL is the permission; the credential stays with the API.
        let mut request = self.api.storage().get(url.clone());
        if *have > 0 {
            request = request.header(RANGE, format!("bytes={have}-"));
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Ok(Fetched::Interrupted(
                    ApiError::transport(&url, &e).to_string(),
                ));
            }
        };
        let status = response.status();
        match status {
            StatusCode::PARTIAL_CONTENT if *have > 0 => {
                let range = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if range_start(range) != Some(*have) {
                    bail!("storage answered the range from {have} with Content-Range {range:?}");
                }
            }
            StatusCode::OK => {
                if *have > 0 {
                    // Storage ignored the range: it sends everything, so start over.
                    progress.note("storage sent the whole file instead of the rest; starting over");
                    file.flush().await?;
                    file.get_ref().set_len(0).await?;
                    progress.sub(*have);
                    *have = 0;
                    *hasher = Sha256::new();
                    *kept = 0;
                }
            }
            s if is_refused_signature(s) => return Ok(Fetched::LinkRefused),
            s if crate::client::retry::is_transient_status(s.as_u16()) => {
                return Ok(Fetched::Interrupted(format!("storage answered {s}")));
            }
            s => {
                let body = response.bytes().await.unwrap_or_default();
                let problem = crate::client::problem::Problem::from_body(s.as_u16(), &body, "");
                return Err(anyhow!(
                    "storage refused the download: {} ({s})",
                    problem.detail
                ));
            }
        }
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    *have += chunk.len() as u64;
                    if *have > link.size {
                        bail!("storage sent more than the file's {} bytes", link.size);
                    }
                    hasher.update(&chunk);
                    file.write_all(&chunk).await?;
                    progress.add(chunk.len() as u64);
                }
                Ok(None) if *have == link.size => return Ok(Fetched::Complete),
                Ok(None) => {
                    return Ok(Fetched::Interrupted(format!(
                        "the body ended at {have} bytes"
                    )));
                }
                Err(e) => {
                    return Ok(Fetched::Interrupted(
                        ApiError::transport(&url, &e).to_string(),
                    ));
                }
            }
        }
    }
}

/// The first byte of `bytes FIRST-LAST/TOTAL`.
fn range_start(content_range: &str) -> Option<u64> {
    let rest = content_range.trim().strip_prefix("bytes ")?;
    let (first, _) = rest.split_once('-')?;
    first.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_content_range_tells_where_the_bytes_start() {
        assert_eq!(range_start("bytes 100-999/1000"), Some(100));
        assert_eq!(range_start("bytes 0-0/1"), Some(0));
        assert_eq!(range_start("bytes */1000"), None);
        assert_eq!(range_start(""), None);
    }

    #[test]
    fn the_temporary_file_sits_beside_the_destination() {
        assert_eq!(
            part_path(Path::new("out/w.bin")),
            PathBuf::from("out/w.bin.part")
        );
    }
}
