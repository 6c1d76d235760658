//! `Blobs`: object storage reached by presigned URLs on the hot path, so bytes never pass
//! through a function.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use time::OffsetDateTime;

use crate::domain::keys::BlobKey;

mod multipart;
mod presigned;
pub use multipart::{
    MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MAX_SINGLE_PUT, MIN_PART_SIZE, PartConstraints,
    PartLayout, StoredPart,
};
pub use presigned::{CHECKSUM_HEADER, PutRefusal, checksum_base64, content_disposition};

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send>>;

/// What a presigned PUT is bound to: storage itself refuses any other body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutConstraints {
    pub size: u64,
    /// Lower-case hex SHA-256 of the exact body.
    pub sha256: String,
    pub content_type: String,
}

/// A request the client makes itself: it sends exactly `headers` (for a PUT,
/// [`PutConstraints::signed_headers`] and whatever else storage signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    pub url: String,
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub size: u64,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobListing {
    pub key: BlobKey,
    pub size: u64,
    pub last_modified: OffsetDateTime,
}

/// A page of a listing, in key order.
#[derive(Debug, Clone, Default)]
pub struct BlobPage {
    pub items: Vec<BlobListing>,
    /// Present when more objects may follow: hand it back for the next page.
    pub cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    /// Storage refused this process access: a deployment fault (a missing permission), not
    /// a missing object and not transient. S3 answers a missing key with 403 to a role
    /// without `s3:ListBucket`, which is why the functions that must tell "absent" from
    /// "forbidden" hold it.
    #[error("blob storage refused access: {0}")]
    Forbidden(String),
    #[error("blob storage unavailable: {0}")]
    Unavailable(String),
    #[error("blob storage error: {0}")]
    Other(String),
}

#[async_trait]
pub trait Blobs: Send + Sync {
    async fn presign_put(
        &self,
        key: &BlobKey,
        constraints: &PutConstraints,
        ttl: Duration,
    ) -> Result<PresignedRequest, BlobError>;
    /// A GET of the exact bytes, answered with the Content-Disposition
    /// [`content_disposition`] gives `download_name`.
    async fn presign_get(
        &self,
        key: &BlobKey,
        ttl: Duration,
        download_name: Option<&str>,
    ) -> Result<PresignedRequest, BlobError>;
    async fn head(&self, key: &BlobKey) -> Result<Option<BlobInfo>, BlobError>;
    /// Streams the object; memory does not grow with its size.
    async fn read(&self, key: &BlobKey) -> Result<ByteStream, BlobError>;
    /// Copies server-side; the destination appears whole or not at all.
    async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError>;
    /// Removes the object; absent is fine.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
    /// Objects whose key starts with `prefix`, in key order, a page at a time (cleanup
    /// walks `incoming/` and `quarantine/` with it). Keys of an unknown shape are skipped.
    async fn list(&self, prefix: &str, cursor: Option<String>) -> Result<BlobPage, BlobError>;
    /// Starts an upload in parts of the object `key`; answers storage's id for it. Each
    /// part must then carry its SHA-256, which storage checks.
    async fn create_multipart(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<String, BlobError>;
    /// A PUT of one part of the upload `multipart_id`, bound to the part's length and
    /// checksum. Sending a part again replaces it.
    async fn presign_part(
        &self,
        key: &BlobKey,
        multipart_id: &str,
        part: &PartConstraints,
        ttl: Duration,
    ) -> Result<PresignedRequest, BlobError>;
    /// The parts stored so far, by number. `NotFound` once the upload was completed or
    /// aborted, or if it never existed.
    async fn list_parts(
        &self,
        key: &BlobKey,
        multipart_id: &str,
    ) -> Result<Vec<StoredPart>, BlobError>;
    /// Joins `parts` (as `list_parts` gave them, in order) into the object `key`, which
    /// appears whole or not at all, with the storage event of a new object. `NotFound` when
    /// there is no such unfinished upload (a completion retried after it succeeded may also
    /// succeed again, as S3's may); `Other` when a part is not what storage holds, or a part
    /// before the last is under [`MIN_PART_SIZE`].
    async fn complete_multipart(
        &self,
        key: &BlobKey,
        multipart_id: &str,
        parts: &[StoredPart],
    ) -> Result<(), BlobError>;
    /// Drops the upload and its parts; an unknown or finished upload is fine.
    async fn abort_multipart(&self, key: &BlobKey, multipart_id: &str) -> Result<(), BlobError>;
    /// Writes a small object directly (reports, fixtures); never used for uploads.
    async fn put(&self, key: &BlobKey, body: Bytes, content_type: &str) -> Result<(), BlobError>;
    /// Writes an object from a stream (a package manager's upload received by the API
    /// itself); the object appears whole or not at all, and a stream that fails leaves
    /// nothing. The stream bounds its own length. This default gathers the stream before
    /// one `put`: right where a request arrives whole anyway (a Lambda event, at most ~6 MB);
    /// an adapter that can write as bytes arrive overrides it.
    async fn put_stream(
        &self,
        key: &BlobKey,
        mut body: ByteStream,
        content_type: &str,
    ) -> Result<(), BlobError> {
        use futures::StreamExt as _;
        let mut all = bytes::BytesMut::new();
        while let Some(chunk) = body.next().await {
            all.extend_from_slice(&chunk?);
        }
        self.put(key, all.freeze(), content_type).await
    }
}
