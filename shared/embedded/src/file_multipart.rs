//! Uploads in parts on the embedded store, with S3's rules: each unfinished upload is a
//! folder `.multipart/{id}/` holding the object's key, one file `data` that every part is
//! written into at its signed offset, and one record per stored part,
//! `{number:05}.{sha256}` (the name is the part's number, ETag and checksum at once; the
//! content its offset and length). A record is written only once its bytes are synced, and
//! removed before a part is written again, so it never names bytes that are not there.
//! Completion checks the records, trims `data` to the object's length, syncs it and
//! renames it into place: no byte is copied, and a crash leaves the upload unfinished or
//! the object whole, never half of it. Completion waits for parts being written (see
//! [`UploadGates`]), so no byte of an object changes once it is announced.

use std::collections::HashMap;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use sha2::{Digest, Sha256};

use super::file_blobs::{is_absent, other};
use super::fs_atomic::{self, TempFile};
use trove_core::domain::keys::BlobKey;
use trove_core::ports::{BlobError, MIN_PART_SIZE, StoredPart};

pub(crate) const MULTIPART_DIR: &str = ".multipart";
const KEY_FILE: &str = "key";
const DATA_FILE: &str = "data";
/// Gates kept before the idle ones (uploads nobody finished) are dropped.
const GATES_KEPT: usize = 1024;
/// Unfinished uploads older than this are removed when the store opens: the embedded
/// twin of the bucket's `AbortIncompleteMultipartUpload` lifecycle rule.
const ABANDONED_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Ids are 32 lower-case hex digits; anything else names no upload (and no path).
pub(crate) fn is_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn part_file_name(number: u32, sha256: &str) -> String {
    format!("{number:05}.{sha256}")
}

fn parse_part_file_name(name: &str) -> Option<(u32, &str)> {
    let (number, sha) = name.split_once('.')?;
    let valid_sha = sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit());
    (number.len() == 5 && valid_sha)
        .then(|| number.parse().ok())
        .flatten()
        .map(|n| (n, sha))
}

/// Whether one stored-part record says where its bytes are: `"{offset} {length}"`.
fn parse_record(text: &str) -> Option<(u64, u64)> {
    let (offset, length) = text.trim_end().split_once(' ')?;
    Some((offset.parse().ok()?, length.parse().ok()?))
}

/// One gate per unfinished upload in this process: part writes pass it shared, completion
/// alone, so an object is never renamed into place while a part is still being written
/// into its file.
#[derive(Debug, Default)]
pub(crate) struct UploadGates(Mutex<HashMap<String, Arc<RwLock<()>>>>);

impl UploadGates {
    fn gate(&self, id: &str) -> Arc<RwLock<()>> {
        let mut gates = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if gates.len() >= GATES_KEPT {
            gates.retain(|_, gate| Arc::strong_count(gate) > 1);
        }
        gates.entry(id.to_owned()).or_default().clone()
    }

    /// Held while a part of `id` is written.
    pub(crate) async fn writing(&self, id: &str) -> OwnedRwLockReadGuard<()> {
        self.gate(id).read_owned().await
    }

    /// Held while `id` completes; `None` if parts are still being written after `wait`
    /// (a stalled sender must not hold the completion forever).
    pub(crate) async fn finishing(
        &self,
        id: &str,
        wait: Duration,
    ) -> Option<OwnedRwLockWriteGuard<()>> {
        tokio::time::timeout(wait, self.gate(id).write_owned())
            .await
            .ok()
    }

    /// The upload is over: later writers find no folder and are refused.
    pub(crate) fn forget(&self, id: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// The store's folders, owned, for work on a blocking thread.
#[derive(Debug, Clone)]
pub(crate) struct Dirs {
    pub(crate) root: PathBuf,
    pub(crate) tmp: PathBuf,
}

impl Dirs {
    pub(crate) fn multipart_root(&self) -> PathBuf {
        self.root.join(MULTIPART_DIR)
    }

    fn new_temp_path(&self) -> PathBuf {
        self.tmp.join(fs_atomic::unique_name("part-"))
    }

    /// The folder of the unfinished upload `id` of `key`, if it exists and is that key's.
    pub(crate) fn upload_dir(&self, key: &str, id: &str) -> Result<PathBuf, BlobError> {
        if !is_upload_id(id) {
            return Err(BlobError::NotFound);
        }
        let dir = self.multipart_root().join(id);
        match std::fs::read_to_string(dir.join(KEY_FILE)) {
            Ok(stored) if stored == key => Ok(dir),
            Ok(_) => Err(BlobError::NotFound),
            Err(e) if is_absent(&e) => Err(BlobError::NotFound),
            Err(e) => Err(other(e)),
        }
    }

    pub(crate) fn create_upload_dir(&self, key: &BlobKey) -> Result<String, BlobError> {
        let id = format!("{:032x}", rand::random::<u128>());
        let dir = self.multipart_root().join(&id);
        fs_atomic::ensure_dir(&self.root, &dir).map_err(other)?;
        let tmp = TempFile::new(self.new_temp_path());
        std::fs::write(tmp.path(), key.as_str()).map_err(other)?;
        std::fs::File::open(tmp.path())
            .and_then(|f| f.sync_all())
            .map_err(other)?;
        fs_atomic::rename_into_place(tmp.path(), &self.root, &dir.join(KEY_FILE)).map_err(other)?;
        tmp.keep();
        Ok(id)
    }

    pub(crate) fn stored_parts(&self, dir: &Path) -> Result<Vec<StoredPart>, BlobError> {
        let mut parts = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| {
            if is_absent(&e) {
                BlobError::NotFound
            } else {
                other(e)
            }
        })? {
            let entry = entry.map_err(other)?;
            let name = entry.file_name();
            let Some((number, sha)) = name.to_str().and_then(parse_part_file_name) else {
                continue;
            };
            let size = match std::fs::read_to_string(entry.path()) {
                Ok(text) => match parse_record(&text) {
                    Some((_, size)) => size,
                    None => continue,
                },
                // Replaced by a newer copy of the part meanwhile.
                Err(e) if is_absent(&e) => continue,
                Err(e) => return Err(other(e)),
            };
            parts.push(StoredPart {
                number,
                size,
                etag: sha.to_owned(),
                sha256: Some(sha.to_owned()),
            });
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    /// Opens the upload's file to write part `number` into, after removing the records of
    /// the part's earlier copies (their bytes are about to be overwritten).
    pub(crate) fn open_part_range(&self, dir: &Path, number: u32) -> io::Result<std::fs::File> {
        remove_records(dir, number, None)?;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(DATA_FILE))
    }

    /// Records part `number` as stored, once its bytes are synced. `NotFound` when the
    /// upload was completed or aborted meanwhile.
    pub(crate) fn record_part(
        &self,
        dir: &Path,
        number: u32,
        sha256: &str,
        offset: u64,
        size: u64,
    ) -> io::Result<()> {
        let tmp = TempFile::new(self.new_temp_path());
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp.path())?;
        writeln!(file, "{offset} {size}")?;
        file.sync_all()?;
        drop(file);
        let record = dir.join(part_file_name(number, sha256));
        // A plain rename: into the upload's folder only if it still exists.
        std::fs::rename(tmp.path(), &record)?;
        tmp.keep();
        fs_atomic::sync_dir(dir)?;
        remove_records(dir, number, Some(&record))
    }

    /// Makes the named parts the object `dest`; see the module's comment for the
    /// guarantees. The caller holds the upload's gate alone.
    pub(crate) fn join_parts(
        &self,
        dir: &Path,
        dest: &Path,
        parts: &[StoredPart],
    ) -> Result<(u64, String), BlobError> {
        if parts.is_empty() {
            return Err(BlobError::Other(
                "a multipart upload needs at least one part".into(),
            ));
        }
        let mut end = 0u64;
        let mut last = 0;
        for (i, part) in parts.iter().enumerate() {
            if part.number <= last {
                return Err(BlobError::Other(format!(
                    "parts must be listed in ascending order: part {} after part {last}",
                    part.number
                )));
            }
            let record = dir.join(part_file_name(part.number, &part.etag));
            let (offset, size) = match std::fs::read_to_string(&record) {
                Ok(text) => parse_record(&text).ok_or_else(|| {
                    BlobError::Other(format!("part {}'s record is unreadable", part.number))
                })?,
                Err(e) if is_absent(&e) => {
                    return Err(BlobError::Other(format!(
                        "part {} with ETag {} is not stored",
                        part.number, part.etag
                    )));
                }
                Err(e) => return Err(other(e)),
            };
            if offset != end {
                return Err(BlobError::Other(format!(
                    "part {} starts at byte {offset}, not where part {last} ends (byte {end}): \
                     the parts of an upload must follow one another",
                    part.number
                )));
            }
            if i + 1 < parts.len() && size < MIN_PART_SIZE {
                return Err(BlobError::Other(format!(
                    "part {} is {size} bytes; every part but the last must be at least {MIN_PART_SIZE}",
                    part.number
                )));
            }
            last = part.number;
            end = offset + size;
        }
        let data = dir.join(DATA_FILE);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&data)
            .map_err(other)?;
        // A part sent again shorter, or a later part left out, leaves bytes past the end.
        file.set_len(end).map_err(other)?;
        file.sync_all().map_err(other)?;
        drop(file);
        fs_atomic::rename_into_place(&data, &self.root, dest).map_err(other)?;
        // S3's multipart ETag is a digest of the parts' digests and their count.
        let mut digest = Sha256::new();
        for part in parts {
            digest.update(part.etag.as_bytes());
        }
        let etag = format!("{}-{}", hex::encode(digest.finalize()), parts.len());
        Ok((end, etag))
    }

    /// Removes unfinished uploads nobody touched for `ABANDONED_AFTER`.
    pub(crate) fn remove_abandoned_uploads(&self) -> io::Result<usize> {
        let entries = match std::fs::read_dir(self.multipart_root()) {
            Ok(e) => e,
            Err(e) if is_absent(&e) => return Ok(0),
            Err(e) => return Err(e),
        };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            let modified = entry.metadata()?.modified()?;
            let newest_part = std::fs::read_dir(entry.path())?
                .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
                .max()
                .unwrap_or(modified)
                .max(modified);
            if now.duration_since(newest_part).unwrap_or_default() > ABANDONED_AFTER {
                std::fs::remove_dir_all(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Removes the records of part `number` but `keep`.
fn remove_records(dir: &Path, number: u32, keep: Option<&Path>) -> io::Result<()> {
    let prefix = format!("{number:05}.");
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let is_record = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix));
        if is_record && keep != Some(path.as_path()) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_file_names_round_trip_and_refuse_strangers() {
        let sha = "ab".repeat(32);
        let name = part_file_name(42, &sha);
        assert_eq!(name, format!("00042.{sha}"));
        assert_eq!(parse_part_file_name(&name), Some((42, sha.as_str())));
        for bad in [
            "key",
            "00001",
            "1.abc",
            &format!("0001.{sha}"),
            &format!("00001.{sha}x"),
        ] {
            assert_eq!(parse_part_file_name(bad), None, "{bad}");
        }
        assert!(is_upload_id(&"0f".repeat(16)));
        assert!(!is_upload_id("../../etc"));
        assert!(!is_upload_id(&"0F".repeat(16)));
        assert_eq!(parse_record("0 5\n"), Some((0, 5)));
        assert_eq!(parse_record("5242880 17"), Some((5_242_880, 17)));
        for bad in ["", "5", "x 5", "5 -1", "1 2 3"] {
            assert_eq!(parse_record(bad), None, "{bad}");
        }
    }
}
