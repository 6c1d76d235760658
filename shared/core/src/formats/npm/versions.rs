//! npm versions: strict SemVer 2.0, as the registry takes them.

use std::cmp::Ordering;

use semver::Version;

use crate::domain::echo::echo;

pub fn parse(version: &str) -> Result<Version, String> {
    Version::parse(version).map_err(|why| {
        let hint = if version.starts_with(['v', 'V']) {
            "write it without the leading 'v'"
        } else {
            "npm versions are SemVer 2.0, such as 1.0.0 or 2.1.0-rc.1"
        };
        format!("invalid version {}: {why}; {hint}", echo(version))
    })
}

/// The one spelling a version is stored under.
pub fn normalize(version: &str) -> Result<String, String> {
    parse(version).map(|v| v.to_string())
}

/// npm keeps one version per precedence: `1.0.0+a` and `1.0.0+b` are one. Lower case too,
/// so that `1.0.0-RC.1` beside `1.0.0-rc.1` is refused as a look-alike.
pub fn canonical(version: &str) -> String {
    match Version::parse(version) {
        Ok(mut v) => {
            v.build = semver::BuildMetadata::EMPTY;
            v.to_string().to_ascii_lowercase()
        }
        Err(_) => version.to_ascii_lowercase(),
    }
}

/// SemVer precedence, then the text, so that the order is total and stable; unparsable
/// versions first, by their text.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Ok(va), Ok(vb)) => va.cmp_precedence(&vb).then_with(|| a.cmp(b)),
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Ok(_)) => Ordering::Less,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

pub fn is_prerelease(version: &str) -> bool {
    Version::parse(version).is_ok_and(|v| !v.pre.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strict_semver() {
        assert_eq!(normalize("1.0.0").as_deref(), Ok("1.0.0"));
        assert_eq!(normalize("2.1.0-rc.1+b.5").as_deref(), Ok("2.1.0-rc.1+b.5"));
        let err = normalize("v1.0.0").expect_err("leading v");
        assert!(err.contains("without the leading 'v'"), "{err}");
        for bad in [
            "1.0", "1", "01.0.0", "1.0.0.0", "", "1.0.0-", "latest", " 1.0.0",
        ] {
            let err = normalize(bad).expect_err(bad);
            assert!(err.starts_with("invalid version"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn versions_sort_by_semver_precedence() {
        let order = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-beta",
            "1.0.0",
            "1.0.1",
            "2.0.0-rc.1",
            "2.0.0",
            "10.0.0",
        ];
        for pair in order.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Ordering::Less, "{pair:?}");
            assert_eq!(compare(pair[1], pair[0]), Ordering::Greater, "{pair:?}");
        }
        let mut shuffled = ["2.0.0", "not-a-version", "1.0.0-beta", "10.0.0", "1.0.0"];
        shuffled.sort_by(|a, b| compare(a, b));
        assert_eq!(
            shuffled,
            ["not-a-version", "1.0.0-beta", "1.0.0", "2.0.0", "10.0.0"]
        );
        // Same precedence, other build: ordered, never equal.
        assert_eq!(compare("1.0.0+a", "1.0.0+b"), Ordering::Less);
        assert_eq!(compare("1.0.0", "1.0.0"), Ordering::Equal);
    }

    #[test]
    fn build_metadata_is_not_part_of_the_canonical_version() {
        assert_eq!(canonical("1.0.0+a"), canonical("1.0.0+b"));
        assert_eq!(canonical("1.0.0+a"), "1.0.0");
        assert_eq!(canonical("1.0.0-RC.1+x"), "1.0.0-rc.1");
        assert_ne!(canonical("1.0.0-rc.1"), canonical("1.0.0"));
    }

    #[test]
    fn prereleases_are_those_with_a_prerelease_part() {
        assert!(is_prerelease("1.0.0-rc.1"));
        assert!(is_prerelease("1.0.0-0+build"));
        assert!(!is_prerelease("1.0.0"));
        assert!(!is_prerelease("1.0.0+build-1"));
        assert!(!is_prerelease("not-a-version"));
    }
}
