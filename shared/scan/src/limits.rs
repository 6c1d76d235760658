//! What an upload may ask of the scanner. Archives are attacker-controlled: every count and
//! size here is enforced while reading, never trusted from a header.

use trove_core::domain::model::{Oversize, Repository};

/// Limits for one scan. `Default` is what the pipeline runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanLimits {
    /// Bytes all decompressors together may produce (zip entries, gzip streams, at any depth).
    pub max_uncompressed: u64,
    /// Largest expansion of one compressed stream, as output / input ...
    pub max_ratio: u64,
    /// ... once it has produced more than this (small files compress absurdly well).
    pub ratio_min_output: u64,
    /// Entries over all archives of the upload.
    pub max_entries: u64,
    /// Archives inside archives: a top-level zip is 1, a zip in it 2; `.tar.gz` counts once.
    pub max_depth: u32,
    /// Longest entry name or link target accepted, in bytes.
    pub max_name_len: usize,
    /// YARA scans buffers: the stream is cut into windows of this many new bytes ...
    pub window: usize,
    /// ... each scanned together with this many bytes of the previous one, so a match that
    /// straddles a cut is still seen whole. At least the longest match a rule can make
    /// (YARA's own regex limit is 4096 bytes, `YR_RE_SCAN_LIMIT`).
    pub overlap: usize,
    /// Seconds YARA may spend on one window.
    pub window_timeout_secs: i32,
    /// Past `max_uncompressed`: refuse, or stop expanding and report the scan as partial.
    pub oversize: Oversize,
}

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;

impl Default for ScanLimits {
    fn default() -> Self {
        Self {
            max_uncompressed: GIB,
            max_ratio: 100,
            ratio_min_output: 8 * MIB,
            max_entries: 10_000,
            max_depth: 3,
            max_name_len: 1024,
            window: MIB as usize,
            overlap: 4096,
            window_timeout_secs: 60,
            oversize: Oversize::Refuse,
        }
    }
}

impl ScanLimits {
    /// What the pipeline runs with for an upload to `repo`: its scan policy, the cap on
    /// expanded bytes scaling with the largest file the repository accepts.
    pub fn for_repository(repo: &Repository) -> Self {
        let policy = &repo.scan_policy;
        Self {
            max_uncompressed: policy.max_expanded_bytes(repo.max_file_size),
            max_ratio: policy.max_ratio(),
            max_entries: policy.max_entries(),
            max_depth: policy.max_depth(),
            oversize: policy.oversize(),
            ..Self::default()
        }
    }
}

/// A size for a person: `1.0 GiB`, `512 B`.
pub fn human(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", GIB), ("MiB", MIB), ("KiB", KIB)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return format!("{:.1} {unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human(GIB), "1.0 GiB");
        assert_eq!(human(2 * GIB + GIB / 10), "2.1 GiB");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(12), "12 B");
    }
}
