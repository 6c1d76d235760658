//! Uploads in parts on the embedded store, with S3's rules: each unfinished upload is a
//! folder `.multipart/{id}/` holding the object's key and one file per part,
//! `{number:05}.{sha256}` (the name is the part's number, ETag and checksum at once).
//! Completion concatenates the parts into a temporary file by kernel copies (memory stays
//! flat whatever the size), syncs it and renames it into place: a crash leaves the upload
//! unfinished or the object whole, never half of it.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::file_blobs::is_absent;
use super::fs_atomic::{self, TempFile};
use trove_core::domain::keys::BlobKey;
use trove_core::ports::{BlobError, MIN_PART_SIZE, StoredPart};

pub(crate) const MULTIPART_DIR: &str = ".multipart";
const KEY_FILE: &str = "key";
/// Unfinished uploads older than this are removed when the store opens: the embedded
/// twin of the bucket's `AbortIncompleteMultipartUpload` lifecycle rule.
const ABANDONED_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

fn other(e: impl std::fmt::Display) -> BlobError {
    BlobError::Other(e.to_string())
}

/// Ids are 32 lower-case hex digits; anything else names no upload (and no path).
pub(crate) fn is_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn part_file_name(number: u32, sha256: &str) -> String {
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
            let size = match entry.metadata() {
                Ok(meta) => meta.len(),
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

    /// Joins the named parts into `dest`; see the module's comment for the guarantees.
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
        let mut files = Vec::with_capacity(parts.len());
        let mut last = 0;
        for (i, part) in parts.iter().enumerate() {
            if part.number <= last {
                return Err(BlobError::Other(format!(
                    "parts must be listed in ascending order: part {} after part {last}",
                    part.number
                )));
            }
            last = part.number;
            let path = dir.join(part_file_name(part.number, &part.etag));
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if is_absent(&e) => {
                    return Err(BlobError::Other(format!(
                        "part {} with ETag {} is not stored",
                        part.number, part.etag
                    )));
                }
                Err(e) => return Err(other(e)),
            };
            let size = file.metadata().map_err(other)?.len();
            if i + 1 < parts.len() && size < MIN_PART_SIZE {
                return Err(BlobError::Other(format!(
                    "part {} is {size} bytes; every part but the last must be at least {MIN_PART_SIZE}",
                    part.number
                )));
            }
            files.push(file);
        }
        let tmp = TempFile::new(self.new_temp_path());
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp.path())
            .map_err(other)?;
        let mut total = 0u64;
        for mut file in files {
            // File to file: the kernel copies (copy_file_range), nothing passes through here.
            total += io::copy(&mut file, &mut out).map_err(other)?;
        }
        out.sync_all().map_err(other)?;
        drop(out);
        fs_atomic::rename_into_place(tmp.path(), &self.root, dest).map_err(other)?;
        tmp.keep();
        // S3's multipart ETag is a digest of the parts' digests and their count.
        let mut digest = Sha256::new();
        for part in parts {
            digest.update(part.etag.as_bytes());
        }
        let etag = format!("{}-{}", hex::encode(digest.finalize()), parts.len());
        Ok((total, etag))
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
    }
}
