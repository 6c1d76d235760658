//! The server's JSON, as far as the client reads it (fields it does not use are ignored,
//! so a newer server's additions do not break it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadStatus {
    Pending,
    Scanning,
    Published,
    Rejected,
    Cancelled,
    #[serde(other)]
    Unknown,
}

impl UploadStatus {
    /// Whether the upload will not change any more.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Published | Self::Rejected | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Scanning => "scanning",
            Self::Published => "published",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::Unknown => "unknown",
        }
    }
}

/// `GET …/uploads/{id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct UploadView {
    pub upload_id: String,
    pub status: UploadStatus,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub multipart: Option<MultipartView>,
}

impl UploadView {
    /// The pipeline gave up on it because its bytes did not arrive in time.
    pub fn is_expired(&self) -> bool {
        self.status == UploadStatus::Rejected
            && self
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with("upload expired"))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct MultipartView {
    pub part_size: u64,
    pub part_count: u64,
    #[serde(default)]
    pub completed: bool,
    /// What storage holds so far (before completion).
    #[serde(default)]
    pub parts: Vec<StoredPart>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoredPart {
    pub number: u32,
    pub size: u64,
    #[serde(default)]
    pub sha256: Option<String>,
}

/// `POST …/uploads`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateUpload<'a> {
    pub package: &'a str,
    pub version: &'a str,
    pub filename: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_size: Option<u64>,
}

/// The answer to `POST …/uploads`: a single presigned PUT, or a multipart layout.
#[derive(Debug, Clone, Deserialize)]
pub struct Created {
    pub upload_id: String,
    #[serde(default, flatten)]
    pub single: Option<Presigned>,
    #[serde(default)]
    pub multipart: Option<MultipartCreated>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MultipartCreated {
    pub part_size: u64,
    pub part_count: u64,
}

/// A presigned request to storage: send exactly these headers, and no credential.
#[derive(Debug, Clone, Deserialize)]
pub struct Presigned {
    pub url: String,
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `POST …/uploads/{id}/parts`.
#[derive(Debug, Clone, Serialize)]
pub struct PartsRequest<'a> {
    pub parts: Vec<PartDigest<'a>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartDigest<'a> {
    pub number: u32,
    pub sha256: &'a str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PartUrls {
    pub parts: Vec<PartUrl>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PartUrl {
    pub number: u32,
    #[serde(flatten)]
    pub request: Presigned,
}

/// `GET …/versions/{version}`.
#[derive(Debug, Clone, Deserialize)]
pub struct VersionDetail {
    #[serde(default)]
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FileEntry {
    pub filename: String,
    pub sha256: String,
}

/// `GET …/files/{filename}?redirect=false`.
#[derive(Debug, Clone, Deserialize)]
pub struct DownloadLink {
    pub url: String,
    pub size: u64,
    pub sha256: String,
}

/// `GET /v1/me`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Caller {
    pub tenant: String,
    pub principal: String,
}

/// One page of a listing.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_upload_and_a_multipart_one_read_apart() {
        let single: Created = serde_json::from_str(
            r#"{"upload_id":"u1","url":"http://s/b","method":"PUT","headers":{"content-length":"3"},"expires_at":"2030-01-01T00:00:00Z"}"#,
        )
        .expect("single");
        assert!(single.multipart.is_none());
        let put = single.single.expect("presigned");
        assert_eq!(put.headers["content-length"], "3");

        let multi: Created = serde_json::from_str(
            r#"{"upload_id":"u2","expires_at":"2030-01-01T00:00:00Z","multipart":{"part_size":5242880,"part_count":3,"parts":[]}}"#,
        )
        .expect("multipart");
        assert!(multi.single.is_none());
        assert_eq!(multi.multipart.expect("layout").part_count, 3);
    }

    #[test]
    fn an_expired_upload_is_told_by_its_reason() {
        let view: UploadView = serde_json::from_str(
            r#"{"upload_id":"u","status":"rejected","reason":"upload expired before its bytes arrived"}"#,
        )
        .expect("view");
        assert!(view.is_expired());
        let view: UploadView = serde_json::from_str(
            r#"{"upload_id":"u","status":"rejected","reason":"malware found: EICAR"}"#,
        )
        .expect("view");
        assert!(!view.is_expired());
        let view: UploadView =
            serde_json::from_str(r#"{"upload_id":"u","status":"archived"}"#).expect("view");
        assert_eq!(view.status, UploadStatus::Unknown);
    }
}
