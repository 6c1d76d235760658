//! The `Blobs` port on a directory: objects are files under `root/<key>`, every write lands
//! atomically (temporary file in `root/.tmp/`, fsync, rename, fsync of the directory), and
//! presigned URLs are HMAC-signed URLs served by [`FileBlobs::router`]
//! (see `blob_endpoint.rs`).
//!
//! Limitation compared with S3: a key cannot be both an object and a "folder" of other keys
//! (`a/b` and `a/b/c`). The domain's keys never are.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::s3::{
    S3Bucket, S3Entity, S3Event, S3EventRecord, S3Object, S3RequestParameters, S3UserIdentity,
};
use bytes::Bytes;
use futures::StreamExt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::io::ReaderStream;

use super::file_multipart::{Dirs, UploadGates};
use super::fs_atomic::{self, TempFile};
use super::url_signing::{SignedOp, SignedRequest, UrlSigner};
use trove_core::domain::keys::BlobKey;
use trove_core::ports::{
    BlobError, BlobInfo, BlobListing, BlobPage, Blobs, ByteStream, Clock, PartConstraints,
    PresignedRequest, PutConstraints, StoredPart,
};

/// The bucket name the embedded store reports in its storage events.
pub const LOCAL_BUCKET: &str = "trove-local";

/// Called after an object lands through a presigned PUT, with the event S3 would send.
/// It runs on the request's task, so it must not block: hand the event to a queue or spawn.
pub type ObjectCreatedHook = Arc<dyn Fn(S3Event) + Send + Sync>;

pub(super) const READ_CHUNK: usize = 64 * 1024;
/// Objects per listing page, as S3 answers.
const LIST_PAGE: usize = 1000;
const TMP_DIR: &str = ".tmp";
/// How long a completion waits for parts still being written.
const COMPLETION_WAIT: Duration = Duration::from_secs(10);

pub struct FileBlobs {
    pub(super) root: PathBuf,
    pub(super) tmp: PathBuf,
    base_url: String,
    pub(super) signer: UrlSigner,
    pub(super) clock: Arc<dyn Clock>,
    hook: OnceLock<ObjectCreatedHook>,
    /// Between the parts of an upload being written and its completion (and a second
    /// completion of the same upload, which then finds it finished).
    gates: UploadGates,
}

impl fmt::Debug for FileBlobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signing key stays out of logs.
        f.debug_struct("FileBlobs")
            .field("root", &self.root)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FileBlobs {
    /// `base_url` is where [`FileBlobs::router`] is reachable (e.g. `http://127.0.0.1:8080`).
    /// Creates the directories if needed and removes temporary files a killed process left.
    pub fn new(
        root: PathBuf,
        base_url: String,
        signing_key: Vec<u8>,
        clock: Arc<dyn Clock>,
    ) -> FileBlobs {
        let tmp = root.join(TMP_DIR);
        // Failures here surface on the first write, with the operation that needed the folder.
        match std::fs::create_dir_all(&tmp) {
            Ok(()) => match fs_atomic::clear_dir(&tmp) {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "removed stale temporary blob files"),
                Err(e) => tracing::warn!(error = %e, "could not clear temporary blob files"),
            },
            Err(e) => tracing::warn!(error = %e, path = %tmp.display(), "cannot create blob dir"),
        }
        let blobs = FileBlobs {
            root,
            tmp,
            base_url: base_url.trim_end_matches('/').to_owned(),
            signer: UrlSigner::new(signing_key),
            clock,
            hook: OnceLock::new(),
            gates: UploadGates::default(),
        };
        match blobs.dirs().remove_abandoned_uploads() {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed abandoned multipart uploads"),
            Err(e) => tracing::warn!(error = %e, "could not remove abandoned multipart uploads"),
        }
        blobs
    }

    /// Sets the hook called after each object created through a presigned PUT. Set once;
    /// later calls are ignored (and logged).
    pub fn on_object_created(&self, hook: Arc<dyn Fn(S3Event) + Send + Sync>) {
        if self.hook.set(hook).is_err() {
            tracing::warn!("object-created hook already set; ignoring the new one");
        }
    }

    /// The file of a key, refusing anything that could leave the root or reach the store's
    /// own folders (`.tmp`, `.multipart`). `BlobKey`s are validated already; this is the
    /// defence in depth for a path on disk.
    pub(super) fn path_of(&self, key: &str) -> Option<PathBuf> {
        let safe = key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains(['\\', '\0']));
        if !safe || key.starts_with('.') {
            return None;
        }
        Some(self.root.join(key))
    }

    fn path_of_key(&self, key: &BlobKey) -> Result<PathBuf, BlobError> {
        self.path_of(key.as_str())
            .ok_or_else(|| BlobError::Other(format!("invalid blob key {key}")))
    }

    pub(super) fn dirs(&self) -> Dirs {
        Dirs {
            root: self.root.clone(),
            tmp: self.tmp.clone(),
        }
    }

    pub(super) fn upload_gates(&self) -> &UploadGates {
        &self.gates
    }

    pub(super) fn new_temp_path(&self) -> PathBuf {
        self.tmp.join(fs_atomic::unique_name("blob-"))
    }

    pub(super) fn now_unix(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    fn url(&self, key: &str, query: &str) -> String {
        format!("{}/_blobs/{}?{query}", self.base_url, encode_path(key))
    }

    fn expiry(&self, ttl: Duration) -> Result<(i64, OffsetDateTime), BlobError> {
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let expires = i64::try_from(secs)
            .ok()
            .and_then(|s| self.now_unix().checked_add(s))
            .ok_or_else(|| BlobError::Other("presign ttl too large".into()))?;
        let at = OffsetDateTime::from_unix_timestamp(expires)
            .map_err(|_| BlobError::Other("presign ttl too large".into()))?;
        Ok((expires, at))
    }

    fn sign(&self, request: &SignedRequest) -> Result<String, BlobError> {
        self.signer
            .sign(request)
            .ok_or_else(|| BlobError::Other("unusable signing key".into()))
    }

    /// Tells the hook (if any) that an object landed, in the shape of an S3 notification.
    pub(super) fn notify_created(&self, key: &str, size: u64, etag: &str) {
        if let Some(hook) = self.hook.get() {
            hook(self.object_created_event(key, size, etag));
        }
    }

    fn object_created_event(&self, key: &str, size: u64, etag: &str) -> S3Event {
        let now = self.clock.now();
        let mut object = S3Object::default();
        object.key = Some(key.to_owned());
        object.url_decoded_key = Some(key.to_owned());
        object.size = i64::try_from(size).ok();
        object.e_tag = Some(etag.to_owned());
        object.sequencer = Some(format!("{:016X}", now.unix_timestamp_nanos()));

        let mut bucket = S3Bucket::default();
        bucket.name = Some(LOCAL_BUCKET.to_owned());
        bucket.arn = Some(format!("arn:aws:s3:::{LOCAL_BUCKET}"));

        let mut entity = S3Entity::default();
        entity.schema_version = Some("1.0".to_owned());
        entity.configuration_id = Some("trove-local-object-created".to_owned());
        entity.bucket = bucket;
        entity.object = object;

        let mut identity = S3UserIdentity::default();
        identity.principal_id = Some("trove-local".to_owned());
        let mut request_parameters = S3RequestParameters::default();
        request_parameters.source_ip_address = Some("127.0.0.1".to_owned());

        let mut record = S3EventRecord::default();
        record.event_version = Some("2.1".to_owned());
        record.event_source = Some("aws:s3".to_owned());
        record.aws_region = Some("local".to_owned());
        record.event_name = Some("ObjectCreated:Put".to_owned());
        record.principal_id = identity;
        record.request_parameters = request_parameters;
        // The event's time type is chrono's; going through its serde form keeps this crate
        // on `time` alone.
        let time = now.format(&Rfc3339).ok().map(serde_json::Value::String);
        if let Some(Ok(t)) = time.map(serde_json::from_value) {
            record.event_time = t;
        }
        record.s3 = entity;

        let mut event = S3Event::default();
        event.records.push(record);
        event
    }
}

/// Percent-encodes a key for a URL path, keeping `/` between segments.
fn encode_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn other(e: impl fmt::Display) -> BlobError {
    BlobError::Other(e.to_string())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f).await.map_err(other)?
}

/// Writes `body` to a fresh temporary file and syncs it.
fn write_temp(tmp: &Path, body: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    file.write_all(body)?;
    file.sync_all()
}

#[async_trait]
impl Blobs for FileBlobs {
    async fn presign_put(
        &self,
        key: &BlobKey,
        constraints: &PutConstraints,
        ttl: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        self.path_of_key(key)?;
        let headers = constraints.signed_headers()?;
        let (expires, expires_at) = self.expiry(ttl)?;
        let request = SignedRequest {
            key: key.as_str().to_owned(),
            expires,
            op: SignedOp::Put {
                size: constraints.size,
                sha256: constraints.sha256.clone(),
                content_type: constraints.content_type.clone(),
            },
        };
        let signature = self.sign(&request)?;
        Ok(PresignedRequest {
            url: self.url(key.as_str(), &request.to_query(&signature)),
            method: "PUT".to_owned(),
            headers,
            expires_at,
        })
    }

    async fn presign_get(
        &self,
        key: &BlobKey,
        ttl: Duration,
        download_name: Option<&str>,
    ) -> Result<PresignedRequest, BlobError> {
        self.path_of_key(key)?;
        let (expires, expires_at) = self.expiry(ttl)?;
        let request = SignedRequest {
            key: key.as_str().to_owned(),
            expires,
            op: SignedOp::Get {
                download_name: download_name.filter(|n| !n.is_empty()).map(str::to_owned),
            },
        };
        let signature = self.sign(&request)?;
        Ok(PresignedRequest {
            url: self.url(key.as_str(), &request.to_query(&signature)),
            method: "GET".to_owned(),
            headers: BTreeMap::new(),
            expires_at,
        })
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobInfo>, BlobError> {
        let path = self.path_of_key(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(BlobInfo { size: meta.len() })),
            Ok(_) => Ok(None),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(other(e)),
        }
    }

    async fn read(&self, key: &BlobKey) -> Result<ByteStream, BlobError> {
        let path = self.path_of_key(key)?;
        let file = open_object(&path).await?;
        let stream = ReaderStream::with_capacity(file, READ_CHUNK).map(|r| r.map_err(other));
        Ok(Box::pin(stream))
    }

    async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError> {
        let source = self.path_of_key(from)?;
        let dest = self.path_of_key(to)?;
        let tmp = self.new_temp_path();
        let root = self.root.clone();
        blocking(move || {
            let guard = TempFile::new(tmp);
            match std::fs::metadata(&source) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => return Err(BlobError::NotFound),
                Err(e) if is_absent(&e) => return Err(BlobError::NotFound),
                Err(e) => return Err(other(e)),
            }
            // Objects are never written in place (every write renames a new file in), so a
            // second name for the same file is a copy no later write can change: O(1)
            // whatever the size, and the bytes are durable already. Where links are refused
            // (some filesystems), the bytes are copied and synced.
            match std::fs::hard_link(&source, guard.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::NotFound),
                Err(_) => {
                    match std::fs::copy(&source, guard.path()) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            return Err(BlobError::NotFound);
                        }
                        Err(e) => return Err(other(e)),
                    }
                    std::fs::File::open(guard.path())
                        .and_then(|f| f.sync_all())
                        .map_err(other)?;
                }
            }
            fs_atomic::rename_into_place(guard.path(), &root, &dest).map_err(other)?;
            guard.keep();
            Ok(())
        })
        .await
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let path = self.path_of_key(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if is_absent(&e) => Ok(()),
            Err(e) => Err(other(e)),
        }
    }

    async fn list(&self, prefix: &str, cursor: Option<String>) -> Result<BlobPage, BlobError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        let mut found =
            blocking(move || walk(&root, &prefix, cursor.as_deref()).map_err(other)).await?;
        let more = found.len() > LIST_PAGE;
        found.truncate(LIST_PAGE);
        let cursor = more
            .then(|| found.last().map(|(key, _, _)| key.clone()))
            .flatten();
        let items = found
            .into_iter()
            .filter_map(|(key, size, modified)| {
                Some(BlobListing {
                    key: BlobKey::from_stored(&key)?,
                    size,
                    last_modified: OffsetDateTime::from_unix_timestamp(modified).ok()?,
                })
            })
            .collect();
        Ok(BlobPage { items, cursor })
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        mut body: ByteStream,
        _content_type: &str,
    ) -> Result<(), BlobError> {
        use tokio::io::AsyncWriteExt as _;
        let dest = self.path_of_key(key)?;
        let tmp = TempFile::new(self.new_temp_path());
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp.path())
            .await
            .map_err(other)?;
        while let Some(chunk) = body.next().await {
            file.write_all(&chunk?).await.map_err(other)?;
        }
        file.flush().await.map_err(other)?;
        file.sync_all().await.map_err(other)?;
        drop(file);
        let root = self.root.clone();
        blocking(move || {
            fs_atomic::rename_into_place(tmp.path(), &root, &dest).map_err(other)?;
            tmp.keep();
            Ok(())
        })
        .await
    }

    async fn create_multipart(
        &self,
        key: &BlobKey,
        _content_type: &str,
    ) -> Result<String, BlobError> {
        self.path_of_key(key)?;
        let this = self.dirs();
        let key = key.clone();
        blocking(move || this.create_upload_dir(&key)).await
    }

    async fn presign_part(
        &self,
        key: &BlobKey,
        multipart_id: &str,
        part: &PartConstraints,
        ttl: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        self.path_of_key(key)?;
        if !super::file_multipart::is_upload_id(multipart_id) {
            return Err(BlobError::NotFound);
        }
        let headers = part.signed_headers()?;
        let (expires, expires_at) = self.expiry(ttl)?;
        let request = SignedRequest {
            key: key.as_str().to_owned(),
            expires,
            op: SignedOp::Part {
                upload: multipart_id.to_owned(),
                number: part.number,
                offset: part.offset,
                size: part.size,
                sha256: part.sha256.clone(),
            },
        };
        let signature = self.sign(&request)?;
        Ok(PresignedRequest {
            url: self.url(key.as_str(), &request.to_query(&signature)),
            method: "PUT".to_owned(),
            headers,
            expires_at,
        })
    }

    async fn list_parts(
        &self,
        key: &BlobKey,
        multipart_id: &str,
    ) -> Result<Vec<StoredPart>, BlobError> {
        let this = self.dirs();
        let (key, id) = (key.as_str().to_owned(), multipart_id.to_owned());
        blocking(move || {
            let dir = this.upload_dir(&key, &id)?;
            this.stored_parts(&dir)
        })
        .await
    }

    async fn complete_multipart(
        &self,
        key: &BlobKey,
        multipart_id: &str,
        parts: &[StoredPart],
    ) -> Result<(), BlobError> {
        let dest = self.path_of_key(key)?;
        let Some(_alone) = self.gates.finishing(multipart_id, COMPLETION_WAIT).await else {
            return Err(BlobError::Unavailable(
                "parts of this upload are still being received: complete it once they are stored"
                    .into(),
            ));
        };
        let this = self.dirs();
        let (key_text, id, parts) = (
            key.as_str().to_owned(),
            multipart_id.to_owned(),
            parts.to_vec(),
        );
        let (size, etag) = blocking(move || {
            let dir = this.upload_dir(&key_text, &id)?;
            let joined = this.join_parts(&dir, &dest, &parts)?;
            // The object is in place: the upload is over even if removing its parts fails
            // (the store removes abandoned folders when it opens).
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(error = %e, upload = %id, "cannot remove a completed upload's parts");
            }
            Ok(joined)
        })
        .await?;
        self.gates.forget(multipart_id);
        self.notify_created(key.as_str(), size, &etag);
        Ok(())
    }

    async fn abort_multipart(&self, key: &BlobKey, multipart_id: &str) -> Result<(), BlobError> {
        let this = self.dirs();
        let (key, id) = (key.as_str().to_owned(), multipart_id.to_owned());
        blocking(move || match this.upload_dir(&key, &id) {
            Ok(dir) => match std::fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if is_absent(&e) => Ok(()),
                Err(e) => Err(other(e)),
            },
            Err(BlobError::NotFound) => Ok(()),
            Err(e) => Err(e),
        })
        .await
    }

    async fn put(&self, key: &BlobKey, body: Bytes, _content_type: &str) -> Result<(), BlobError> {
        let dest = self.path_of_key(key)?;
        let tmp = self.new_temp_path();
        let root = self.root.clone();
        blocking(move || {
            let guard = TempFile::new(tmp);
            write_temp(guard.path(), &body).map_err(other)?;
            fs_atomic::rename_into_place(guard.path(), &root, &dest).map_err(other)?;
            guard.keep();
            Ok(())
        })
        .await
    }
}

/// Every object key under `root` starting with `prefix` and after `after`, sorted, with its
/// size and modification time; at most `LIST_PAGE + 1` (the extra one says more follow).
/// The walk starts at the deepest folder the prefix names, so listing one tenant's keys
/// does not read the others'.
fn walk(root: &Path, prefix: &str, after: Option<&str>) -> io::Result<Vec<(String, u64, i64)>> {
    let base = match prefix.rfind('/') {
        Some(i) => &prefix[..i],
        None => "",
    };
    let mut found = Vec::new();
    let mut stack = vec![(root.join(base), base.to_owned())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if is_absent(&e) => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let key = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            // The store's own folders (`.tmp`, `.multipart`) hold no objects.
            if rel.is_empty() && key.starts_with('.') {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if is_absent(&e) => continue,
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                // Only folders that can still hold matching keys.
                if prefix.starts_with(&format!("{key}/")) || key.starts_with(prefix) {
                    stack.push((entry.path(), key));
                }
            } else if key.starts_with(prefix) && after.is_none_or(|a| key.as_str() > a) {
                let modified = meta
                    .modified()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                    .unwrap_or(0);
                found.push((key, meta.len(), modified));
            }
        }
    }
    found.sort();
    found.truncate(LIST_PAGE + 1);
    Ok(found)
}

/// A missing object, including a key whose "folder" is a file (`NotADirectory`).
pub(super) fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Opens an object's file for reading; a directory or nothing at all is `NotFound`.
pub(super) async fn open_object(path: &Path) -> Result<tokio::fs::File, BlobError> {
    let file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if is_absent(&e) => return Err(BlobError::NotFound),
        Err(e) => return Err(other(e)),
    };
    match file.metadata().await {
        Ok(meta) if meta.is_file() => Ok(file),
        Ok(_) => Err(BlobError::NotFound),
        Err(e) => Err(other(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_core::ports::SystemClock;

    fn store(dir: &Path) -> FileBlobs {
        FileBlobs::new(
            dir.to_path_buf(),
            "http://127.0.0.1:1/".into(),
            b"k".to_vec(),
            Arc::new(SystemClock),
        )
    }

    #[test]
    fn paths_stay_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = store(dir.path());
        assert!(blobs.path_of("incoming/acme/x").is_some());
        for bad in [
            "",
            "/etc/passwd",
            "a//b",
            "a/../b",
            "..",
            "./a",
            "a/",
            ".tmp/x",
            "a\\b",
            "a\0b",
        ] {
            assert!(blobs.path_of(bad).is_none(), "accepted {bad:?}");
        }
    }

    #[test]
    fn stale_temporary_files_are_removed_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".tmp")).expect("mkdir");
        std::fs::write(dir.path().join(".tmp/blob-leftover"), b"half").expect("write");
        let _blobs = store(dir.path());
        assert_eq!(
            std::fs::read_dir(dir.path().join(".tmp"))
                .expect("dir")
                .count(),
            0
        );
    }

    #[test]
    fn urls_encode_odd_key_characters() {
        assert_eq!(encode_path("scratch/a b?c"), "scratch/a%20b%3Fc");
        assert_eq!(encode_path("blobs/sha256/ab"), "blobs/sha256/ab");
    }

    #[tokio::test]
    async fn put_read_copy_delete_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = store(dir.path());
        let a = BlobKey::scratch("a");
        let b = BlobKey::scratch("deep/b");
        assert!(blobs.head(&a).await.expect("head").is_none());
        assert!(matches!(blobs.read(&a).await, Err(BlobError::NotFound)));
        assert!(matches!(blobs.copy(&a, &b).await, Err(BlobError::NotFound)));

        let body = Bytes::from(vec![7u8; 200_000]);
        blobs
            .put(&a, body.clone(), "application/octet-stream")
            .await
            .expect("put");
        assert_eq!(
            blobs.head(&a).await.expect("head"),
            Some(BlobInfo { size: 200_000 })
        );
        blobs.copy(&a, &b).await.expect("copy");
        let mut stream = blobs.read(&b).await.expect("read");
        let mut got = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("chunk");
            assert!(chunk.len() <= READ_CHUNK);
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, body);
        blobs.delete(&a).await.expect("delete");
        blobs.delete(&a).await.expect("delete again");
        assert!(blobs.head(&a).await.expect("head").is_none());
        // A "folder" is not an object.
        assert!(
            blobs
                .head(&BlobKey::scratch("deep"))
                .await
                .expect("head")
                .is_none()
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join(".tmp"))
                .expect("dir")
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn presign_refuses_bad_constraints() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = store(dir.path());
        let key = BlobKey::scratch("x");
        let mut c = PutConstraints {
            size: 1,
            sha256: "AB".repeat(32),
            content_type: "text/plain".into(),
        };
        let ttl = Duration::from_secs(60);
        let refused = blobs.presign_put(&key, &c, ttl).await;
        assert!(
            matches!(&refused, Err(BlobError::Other(m)) if m.contains("lower-case hex")),
            "{refused:?}"
        );
        c.sha256 = "ab".repeat(32);
        let p = blobs.presign_put(&key, &c, ttl).await.expect("presign");
        assert!(
            p.url
                .starts_with("http://127.0.0.1:1/_blobs/scratch/x?X-Trove-Op=put&")
        );
        assert_eq!(p.method, "PUT");
        assert_eq!(p.headers["content-length"], "1");
        assert_eq!(p.headers["content-type"], "text/plain");
        assert_eq!(p.headers["x-amz-checksum-sha256"].len(), 44);
        c.content_type = "bad\nheader".into();
        let refused = blobs.presign_put(&key, &c, ttl).await;
        assert!(
            matches!(&refused, Err(BlobError::Other(m)) if m.contains("content type")),
            "{refused:?}"
        );
    }
}
