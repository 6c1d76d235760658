//! The one place table keys and blob keys are built. Names are validated (no `#`, no `/`),
//! so each key is unambiguous and tenant-prefixed.

use std::fmt;

use crate::domain::names::{FileName, PackageName, RepoName, Sha256Hex, TenantName, VersionName};
use crate::ports::table::Key;

/// Partition of items that are open uploads (secondary index, sparse).
pub const OPEN_UPLOADS: &str = "OPEN_UPLOADS";
/// Partition of running local workflow executions (secondary index, sparse).
pub const RUNNING_EXECUTIONS: &str = "RUNNING_EXECUTIONS";

pub fn tenant(t: &TenantName) -> Key {
    Key::new(format!("TENANT#{t}"), "TENANT")
}

/// Partition of all tenants (for platform-wide jobs).
pub fn tenants_partition() -> &'static str {
    "TENANTS"
}

pub fn tenant_listing(t: &TenantName) -> Key {
    Key::new(tenants_partition(), format!("T#{t}"))
}

pub fn api_key(hash_hex: &str) -> Key {
    Key::new(format!("APIKEY#{hash_hex}"), "APIKEY")
}

pub fn repos_partition(t: &TenantName) -> String {
    format!("T#{t}#REPOS")
}

pub fn repo(t: &TenantName, r: &RepoName) -> Key {
    Key::new(repos_partition(t), format!("R#{r}"))
}

pub fn packages_partition(t: &TenantName, r: &RepoName) -> String {
    format!("T#{t}#R#{r}#PKGS")
}

pub const PACKAGE_SK_PREFIX: &str = "P#";

pub fn package(t: &TenantName, r: &RepoName, p: &PackageName) -> Key {
    Key::new(packages_partition(t, r), format!("{PACKAGE_SK_PREFIX}{p}"))
}

pub fn versions_partition(t: &TenantName, r: &RepoName, p: &PackageName) -> String {
    format!("T#{t}#R#{r}#P#{p}#VERS")
}

pub fn version(t: &TenantName, r: &RepoName, p: &PackageName, v: &VersionName) -> Key {
    Key::new(versions_partition(t, r, p), format!("V#{v}"))
}

pub fn files_partition(t: &TenantName, r: &RepoName, p: &PackageName, v: &VersionName) -> String {
    format!("T#{t}#R#{r}#P#{p}#V#{v}#FILES")
}

pub fn file(t: &TenantName, r: &RepoName, p: &PackageName, v: &VersionName, f: &FileName) -> Key {
    Key::new(files_partition(t, r, p, v), format!("F#{f}"))
}

pub fn upload(t: &TenantName, upload_id: &str) -> Key {
    Key::new(format!("T#{t}#UPLOAD#{upload_id}"), "UPLOAD")
}

pub fn execution(name: &str) -> Key {
    Key::new(format!("EXEC#{name}"), "EXEC")
}

/// An object key in blob storage. Built only here, or parsed from a storage event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// Where a presigned upload lands: unique per upload, never a final key.
    pub fn incoming(t: &TenantName, upload_id: &UploadId) -> Self {
        Self(format!("incoming/{t}/{upload_id}"))
    }
    /// Content-addressed home of published bytes.
    pub fn content(sha256: &Sha256Hex) -> Self {
        Self(format!("blobs/sha256/{sha256}"))
    }
    pub fn quarantine(t: &TenantName, upload_id: &UploadId) -> Self {
        Self(format!("quarantine/{t}/{upload_id}"))
    }
    /// A key the test suites and contract checks use freely.
    pub fn scratch(name: &str) -> Self {
        Self(format!("scratch/{name}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The (tenant, upload) of an `incoming/` key, as named in a storage event.
    pub fn parse_incoming(key: &str) -> Option<(TenantName, UploadId)> {
        let rest = key.strip_prefix("incoming/")?;
        let (t, id) = rest.split_once('/')?;
        Some((TenantName::parse(t).ok()?, UploadId::parse(id)?))
    }
    /// Accepts a stored key as-is if it has a known shape (used by the local blob endpoint).
    pub fn from_stored(key: &str) -> Option<Self> {
        let ok = key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
        let known = [
            "incoming/",
            "blobs/sha256/",
            "quarantine/",
            "scratch/",
            "reports/",
        ];
        (ok && known.iter().any(|p| key.starts_with(p))).then(|| Self(key.to_owned()))
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An upload id: a ULID, lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct UploadId(String);

impl UploadId {
    pub fn new() -> Self {
        Self(ulid::Ulid::new().to_string().to_ascii_lowercase())
    }
    pub fn parse(s: &str) -> Option<Self> {
        ulid::Ulid::from_string(s)
            .ok()
            .map(|_| Self(s.to_ascii_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for UploadId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_keys_round_trip() {
        let t = TenantName::parse("acme").expect("valid");
        let id = UploadId::new();
        let key = BlobKey::incoming(&t, &id);
        assert_eq!(BlobKey::parse_incoming(key.as_str()), Some((t, id)));
        assert_eq!(BlobKey::parse_incoming("incoming/acme/not-a-ulid"), None);
        assert_eq!(BlobKey::parse_incoming("blobs/sha256/abc"), None);
    }

    #[test]
    fn stored_keys_refuse_traversal() {
        assert!(BlobKey::from_stored("incoming/acme/../../etc/passwd").is_none());
        assert!(BlobKey::from_stored("/etc/passwd").is_none());
        assert!(BlobKey::from_stored("other/x").is_none());
        assert!(BlobKey::from_stored("blobs/sha256/abcd").is_some());
    }

    #[test]
    fn keys_are_tenant_prefixed() {
        let a = TenantName::parse("a").expect("valid");
        let r = RepoName::parse("r").expect("valid");
        assert!(repo(&a, &r).pk.starts_with("T#a#"));
        assert!(packages_partition(&a, &r).starts_with("T#a#"));
    }
}
