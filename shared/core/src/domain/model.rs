//! Records as stored (through `Table`) and as answered (JSON). Timestamps are RFC 3339 UTC.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::keys::UploadId;
pub use crate::domain::scan_policy::{Oversize, ScanPolicy};

use crate::domain::names::{FileName, PackageName, RepoName, Sha256Hex, TenantName, VersionName};
use crate::ports::table::{GSI1_PK, GSI1_SK, Item, Key, PK, SK, TableError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Generic,
    /// A Python package index (`/pypi/{tenant}/{repo}/simple/`, twine uploads).
    Pypi,
    /// An npm registry (`/npm/{tenant}/{repo}/`, `npm publish` and `npm install`).
    Npm,
    /// A Cargo registry (sparse index at `/cargo/{tenant}/{repo}/index/`, `cargo publish`
    /// and `cargo build`).
    Cargo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Repository {
    #[schema(value_type = String, example = "libs")]
    pub name: RepoName,
    /// This repository's identity: one deleted and created again under the same name is a
    /// new repository with a new id, and what was under way for the old one never lands in
    /// it. Absent on repositories created before ids were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "01jq8m3kzv4t6w2x9y5b7c1d3e")]
    pub id: Option<String>,
    pub format: Format,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Largest file this repository accepts, in bytes.
    pub max_file_size: u64,
    /// What the hourly cleanup removes; none by default.
    #[serde(default, skip_serializing_if = "Retention::is_empty")]
    pub retention: Retention,
    /// How far archives are expanded by the scan; the defaults when absent.
    #[serde(default, skip_serializing_if = "ScanPolicy::is_empty")]
    pub scan_policy: ScanPolicy,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A repository's retention policy. The newest version of a package and pinned versions are
/// never removed by it; a version goes when either rule says so.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Keep this many newest versions of each package (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 5, minimum = 1, maximum = 100_000)]
    pub keep_last: Option<u32>,
    /// Remove versions published more than this many days ago (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 90, minimum = 1, maximum = 100_000)]
    pub max_age_days: Option<u32>,
    /// Remove quarantined (refused) uploads after this many days (at least 1; default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 30, minimum = 1, maximum = 100_000)]
    pub quarantine_days: Option<u32>,
}

impl Retention {
    /// Quarantined objects stay this long unless the repository says otherwise.
    pub const DEFAULT_QUARANTINE_DAYS: u32 = 30;
    /// Bounds keep numbers and day counts within what a clock and a page can hold.
    pub const MAX_VALUE: u32 = 100_000;

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Every set value is within 1..=MAX_VALUE; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        for (name, value) in [
            ("keep_last", self.keep_last),
            ("max_age_days", self.max_age_days),
            ("quarantine_days", self.quarantine_days),
        ] {
            if let Some(v) = value
                && !(1..=Self::MAX_VALUE).contains(&v)
            {
                return Err(format!(
                    "invalid retention.{name} {v}: use 1 to {}",
                    Self::MAX_VALUE
                ));
            }
        }
        Ok(())
    }

    pub fn quarantine_days(&self) -> u32 {
        self.quarantine_days
            .unwrap_or(Self::DEFAULT_QUARANTINE_DAYS)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UploadStatus {
    Pending,
    Scanning,
    Published,
    Rejected,
    /// Called off by a writer before its bytes arrived (`DELETE …/uploads/{id}`).
    Cancelled,
}

impl Upload {
    /// Whether `repo` is the very repository this upload was accepted for, not merely one
    /// of the same name.
    pub fn belongs_to(&self, repo: &Repository) -> bool {
        self.repository == repo.name && self.repository_id == repo.id
    }
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
    /// The id of the repository the upload was accepted for (`Repository::id`); absent for
    /// uploads accepted before ids were given, which belong to a repository without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_id: Option<String>,
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
    /// Digests of the whole file that the format's index shows (npm's `integrity` and
    /// `shasum`), computed by Validate from the stored bytes; Persist keeps them on the file.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub digests: std::collections::BTreeMap<String, String>,
    /// Present when the bytes come in parts (`services::catalog::multipart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipart: Option<MultipartUpload>,
    /// The principal who asked for the upload (absent on uploads stored before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// An upload in parts, as storage knows it. Which parts arrived is storage's to say
/// (`Blobs::list_parts`); the record keeps only what cuts the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartUpload {
    /// Storage's id of the unfinished upload (S3's `UploadId`).
    pub storage_id: String,
    pub part_size: u64,
    pub part_count: u32,
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
    /// `complete`; `partial` when the repository's scan policy let an upload larger than
    /// the scanner may expand be published unscanned past that point; `refused` when a
    /// limit of the policy decided a rejection. Results stored before it are `complete`.
    #[serde(default)]
    pub status: ScanStatus,
    /// The limit of the scan policy that decided a `partial` or `refused` scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<ScanLimitHit>,
    /// The manifest the repository's format reads the file's identity from (a wheel's
    /// METADATA, an sdist's PKG-INFO), as the scan found it inside the archive: Validate
    /// checks it without opening the archive again. Absent for generic repositories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
    #[serde(with = "time::serde::rfc3339")]
    pub scanned_at: OffsetDateTime,
}

/// The first bytes of a file's manifest (`formats::PackageFormat::is_manifest`), kept by the
/// scan; at most `formats::MANIFEST_MAX` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Manifest {
    /// Where it was found: the entry's path inside the archive.
    #[schema(example = "widget-1.0.dist-info/METADATA")]
    pub path: String,
    /// Its text (invalid UTF-8 replaced), cut at `formats::MANIFEST_MAX` bytes.
    pub text: String,
    /// Whether `text` is the whole entry.
    pub complete: bool,
    /// Other entries that matched too (a file with two manifests is refused).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub others: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScanStatus {
    #[default]
    Complete,
    Partial,
    Refused,
}

/// Which setting of the repository's scan policy was reached, its value, and what a
/// person reads about it (including how to change it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanLimitHit {
    #[schema(example = "max_expanded_bytes")]
    pub setting: String,
    #[schema(example = 42949672960_u64)]
    pub value: u64,
    pub reason: String,
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
    /// Tags set on purpose (npm's dist-tags: `beta` → `2.0.0-beta.1`); `latest`, unless set
    /// here, is the newest release in the format's order (`services::catalog::dist_tags`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub dist_tags: std::collections::BTreeMap<String, VersionName>,
    /// Optimistic-concurrency revision, bumped on every change.
    #[serde(default)]
    #[schema(ignore)]
    pub rev: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Who holds a package name's canonical form in a repository (`keys::package_name_claim`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageNameClaim {
    /// The spelling first published.
    pub name: PackageName,
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
    /// Pinned versions are never removed by the retention policy.
    #[serde(default)]
    pub pinned: bool,
    /// A yanked release stays downloadable but installers skip it unless it is asked for
    /// by its exact version (PEP 592); every file of it counts as yanked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanked: Option<Yanked>,
    /// Words set on the version through the API (`stable`, `lts`), found by `tag:`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub tags: std::collections::BTreeSet<String>,
    /// Key-value pairs set on the version through the API, found by `label:key=value`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
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
    /// What the scan said of the file (its `status` says whether it saw all of it);
    /// absent on files published before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanResult>,
    /// What the repository's format read from the file's manifest for its index (PyPI:
    /// `requires_python`); empty for generic files.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// SHA-256 of the file's core metadata, stored beside its bytes
    /// (`BlobKey::core_metadata`) for installers that resolve without downloading (PEP 658).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub core_metadata: Option<Sha256Hex>,
    /// This one file yanked, whatever its release (PEP 592).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanked: Option<Yanked>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Why and when a release or file was yanked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Yanked {
    /// Shown to whoever installs it anyway; may be empty.
    #[schema(example = "broken on Python 3.13, use 1.0.1")]
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Yanked {
    /// The longest reason kept.
    pub const MAX_REASON: usize = 500;
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
