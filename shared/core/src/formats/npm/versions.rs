//! npm versions: strict SemVer 2.0, as the registry takes them.

use semver::Version;

use crate::formats::semver_order;

pub use crate::formats::semver_order::{canonical, compare, is_prerelease};

pub fn parse(version: &str) -> Result<Version, String> {
    semver_order::parse(version, "npm")
}

/// The one spelling a version is stored under.
pub fn normalize(version: &str) -> Result<String, String> {
    semver_order::normalize(version, "npm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strict_semver_and_the_hint_names_npm() {
        assert_eq!(normalize("2.1.0-rc.1+b.5").as_deref(), Ok("2.1.0-rc.1+b.5"));
        let err = normalize("1.0").expect_err("two parts");
        assert!(err.contains("npm versions are SemVer 2.0"), "{err}");
        let err = parse("01.0.0").expect_err("a leading zero");
        assert!(err.contains("leading zero"), "{err}");
        assert!(err.contains("npm versions are SemVer 2.0"), "{err}");
    }
}
