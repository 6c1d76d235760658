//! Records as stored (through `Table`) and as answered (JSON). Timestamps are RFC 3339 UTC.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::keys::UploadId;
use crate::domain::names::{FileName, PackageName, RepoName, Sha256Hex, TenantName, VersionName};
use crate::ports::table::{GSI1_PK, GSI1_SK, Item, Key, PK, SK, TableError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Generic,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Repository {
    #[schema(value_type = String, example = "libs")]
    pub name: RepoName,
    pub format: Format,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Largest file this repository accepts, in bytes.
    pub max_file_size: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UploadStatus {
    Pending,
    Scanning,
    Published,
    Rejected,
}

impl UploadStatus {
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Scanning)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub upload_id: UploadId,
    pub tenant: TenantName,
    pub repository: RepoName,
    pub package: PackageName,
    pub version: VersionName,
    pub filename: FileName,
    pub size: u64,
    pub sha256: Sha256Hex,
    pub status: UploadStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// What the Scan step found in the bytes; absent until it has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanResult>,
}

/// The outcome of the Scan step, kept on the upload so a person (and a later re-scan with
/// newer rules) can tell which engine and which rule set looked at the bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScanResult {
    #[schema(example = "yara 4.2.3")]
    pub engine: String,
    /// First 12 hex digits of the SHA-256 of the shipped rule texts.
    #[schema(example = "3f2a9c41d0be")]
    pub rules_version: String,
    /// Empty when the file is clean. Only the first few are kept (an item stays small).
    pub findings: Vec<ScanFinding>,
    /// Further findings that are not listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unlisted_findings: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub scanned_at: OffsetDateTime,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One rule that matched, and where: the upload's filename, then entry names inside
/// (nested) archives, joined with `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct ScanFinding {
    #[schema(example = "EICAR_Test_File")]
    pub rule: String,
    /// `malware` or `secret` (the rule's tag).
    #[schema(example = "malware")]
    pub category: String,
    #[schema(example = "widget.zip/inner/eicar.com")]
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Package {
    #[schema(value_type = String)]
    pub name: PackageName,
    #[schema(value_type = String)]
    pub repository: RepoName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub latest_version: Option<VersionName>,
    /// Optimistic-concurrency revision, bumped on every change.
    #[serde(default)]
    #[schema(ignore)]
    pub rev: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    Published,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Version {
    #[schema(value_type = String)]
    pub package: PackageName,
    #[schema(value_type = String)]
    pub version: VersionName,
    pub status: VersionStatus,
    /// Set when the version was deleted: it is then neither listed nor downloadable, and
    /// its number is never reused.
    #[serde(default)]
    pub deleted: bool,
    pub file_count: u64,
    /// Optimistic-concurrency revision, bumped on every change.
    #[serde(default)]
    #[schema(ignore)]
    pub rev: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileRecord {
    #[schema(value_type = String)]
    pub filename: FileName,
    pub size: u64,
    #[schema(value_type = String)]
    pub sha256: Sha256Hex,
    /// The upload that published this file (makes Persist idempotent).
    #[schema(value_type = String)]
    pub upload_id: UploadId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Serialises a record into an item stored under `key`.
pub fn to_item<T: Serialize>(key: &Key, record: &T) -> Result<Item, TableError> {
    let value = serde_json::to_value(record).map_err(|e| TableError::InvalidItem(e.to_string()))?;
    let serde_json::Value::Object(mut item) = value else {
        return Err(TableError::InvalidItem("record is not an object".into()));
    };
    item.insert(PK.into(), key.pk.clone().into());
    item.insert(SK.into(), key.sk.clone().into());
    Ok(item)
}

/// Reads a record back from an item; key and index attributes are ignored.
pub fn from_item<T: DeserializeOwned>(mut item: Item) -> Result<T, TableError> {
    // Records may refuse unknown fields; the table's own attributes are not theirs.
    for attr in [PK, SK, GSI1_PK, GSI1_SK] {
        item.remove(attr);
    }
    serde_json::from_value(serde_json::Value::Object(item))
        .map_err(|e| TableError::InvalidItem(e.to_string()))
}
