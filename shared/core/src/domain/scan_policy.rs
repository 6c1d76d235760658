//! A repository's scan policy: how far the scanner expands an archive, and what happens
//! to an archive larger than that. Bomb signatures (expansion ratio, nesting depth, entry
//! count) always refuse; the cap on expanded bytes only bounds the work, so the policy
//! may publish what lies past it with the scan marked `partial`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Unset values take the documented defaults (`ScanPolicy::DEFAULT_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanPolicy {
    /// Bytes the scanner expands from one upload, all entries and nesting levels together.
    /// Default: 8 × the repository's `max_file_size` (40 GiB for a 5 GiB repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        example = 10737418240_u64,
        minimum = 1,
        maximum = 70_368_744_177_664_u64
    )]
    pub max_expanded_bytes: Option<u64>,
    /// Largest expansion, output : input, of the whole upload and of each compressed
    /// stream in it, judged past 8 MiB of output. Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 100, minimum = 1, maximum = 1_000_000)]
    pub max_ratio: Option<u64>,
    /// Entries over all archives of the upload. Default 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 10000, minimum = 1, maximum = 10_000_000)]
    pub max_entries: Option<u64>,
    /// Archives inside archives (a top-level archive is 1; `.tar.gz` counts once). Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 3, minimum = 1, maximum = 16)]
    pub max_depth: Option<u32>,
    /// An upload that expands past `max_expanded_bytes`: `refuse` it (the default), or
    /// publish it with its scan result marked `partial`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oversize: Option<Oversize>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Oversize {
    #[default]
    Refuse,
    Partial,
}

impl ScanPolicy {
    pub const DEFAULT_EXPANDED_PER_MAX_FILE: u64 = 8;
    pub const DEFAULT_RATIO: u64 = 100;
    pub const DEFAULT_ENTRIES: u64 = 10_000;
    pub const DEFAULT_DEPTH: u32 = 3;
    /// Bounds: past these a scan could not finish in any deployment (or its walk would
    /// recurse too deep); below 1 nothing could ever be published.
    pub const MAX_EXPANDED_BYTES: u64 = 1 << 46; // 64 TiB
    pub const MAX_RATIO: u64 = 1_000_000;
    pub const MAX_ENTRIES: u64 = 10_000_000;
    pub const MAX_DEPTH: u32 = 16;

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Every set value is within its bounds; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        let bounds = [
            (
                "max_expanded_bytes",
                self.max_expanded_bytes,
                Self::MAX_EXPANDED_BYTES,
            ),
            ("max_ratio", self.max_ratio, Self::MAX_RATIO),
            ("max_entries", self.max_entries, Self::MAX_ENTRIES),
            (
                "max_depth",
                self.max_depth.map(u64::from),
                u64::from(Self::MAX_DEPTH),
            ),
        ];
        for (name, value, max) in bounds {
            if let Some(v) = value
                && !(1..=max).contains(&v)
            {
                return Err(format!("invalid scan_policy.{name} {v}: use 1 to {max}"));
            }
        }
        Ok(())
    }

    /// The cap on expanded bytes for a repository whose largest file is `max_file_size`.
    pub fn max_expanded_bytes(&self, max_file_size: u64) -> u64 {
        self.max_expanded_bytes
            .unwrap_or_else(|| max_file_size.saturating_mul(Self::DEFAULT_EXPANDED_PER_MAX_FILE))
    }

    pub fn max_ratio(&self) -> u64 {
        self.max_ratio.unwrap_or(Self::DEFAULT_RATIO)
    }

    pub fn max_entries(&self) -> u64 {
        self.max_entries.unwrap_or(Self::DEFAULT_ENTRIES)
    }

    pub fn max_depth(&self) -> u32 {
        self.max_depth.unwrap_or(Self::DEFAULT_DEPTH)
    }

    pub fn oversize(&self) -> Oversize {
        self.oversize.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_scales_with_the_repository_max_file_size() {
        let policy = ScanPolicy::default();
        assert_eq!(policy.max_expanded_bytes(1 << 20), 8 << 20);
        assert_eq!(policy.max_expanded_bytes(5 << 30), 40 << 30);
        assert_eq!(policy.max_expanded_bytes(u64::MAX), u64::MAX);
        let set = ScanPolicy {
            max_expanded_bytes: Some(123),
            ..ScanPolicy::default()
        };
        assert_eq!(set.max_expanded_bytes(5 << 30), 123);
    }

    #[test]
    fn out_of_range_values_are_named() {
        for (policy, field) in [
            (
                ScanPolicy {
                    max_ratio: Some(0),
                    ..ScanPolicy::default()
                },
                "scan_policy.max_ratio 0",
            ),
            (
                ScanPolicy {
                    max_depth: Some(17),
                    ..ScanPolicy::default()
                },
                "scan_policy.max_depth 17",
            ),
            (
                ScanPolicy {
                    max_expanded_bytes: Some(u64::MAX),
                    ..ScanPolicy::default()
                },
                "scan_policy.max_expanded_bytes",
            ),
            (
                ScanPolicy {
                    max_entries: Some(0),
                    ..ScanPolicy::default()
                },
                "scan_policy.max_entries 0",
            ),
        ] {
            let err = policy.check().expect_err("out of range");
            assert!(err.contains(field), "{err}");
        }
        assert_eq!(ScanPolicy::default().check(), Ok(()));
    }

    #[test]
    fn unknown_fields_and_modes_are_refused() {
        for (json, why) in [
            (r#"{"max_bytes": 1}"#, "unknown field `max_bytes`"),
            (r#"{"oversize": "ignore"}"#, "unknown variant `ignore`"),
        ] {
            let err = serde_json::from_str::<ScanPolicy>(json).expect_err(json);
            assert!(err.to_string().contains(why), "{json}: {err}");
        }
        let p: ScanPolicy = serde_json::from_str(r#"{"oversize": "partial"}"#).expect("valid");
        assert_eq!(p.oversize(), Oversize::Partial);
    }
}
