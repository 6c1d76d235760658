//! SemVer 2.0 versions as npm and Cargo take them: strictly parsed, one version per
//! precedence, ordered by precedence; and the `{name}-{version}` filenames both formats use.

use std::cmp::Ordering;

use semver::Version;

use crate::domain::echo::echo;

/// Parses a strict SemVer 2.0 version; `format` names the format in the hint.
pub fn parse(version: &str, format: &str) -> Result<Version, String> {
    Version::parse(version).map_err(|why| {
        let hint = if version.starts_with(['v', 'V']) {
            "write it without the leading 'v'".to_owned()
        } else {
            format!("{format} versions are SemVer 2.0, such as 1.0.0 or 2.1.0-rc.1")
        };
        format!("invalid version {}: {why}; {hint}", echo(version))
    })
}

/// The one spelling a version is stored under.
pub fn normalize(version: &str, format: &str) -> Result<String, String> {
    parse(version, format).map(|v| v.to_string())
}

/// One version per precedence: `1.0.0+a` and `1.0.0+b` are one (npm and crates.io both
/// refuse the second). Lower case too, so that `1.0.0-RC.1` beside `1.0.0-rc.1` is refused
/// as a look-alike.
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

/// Splits `{name}-{version}` at the rightmost `-` that leaves a SemVer version and a name
/// `accept_name` takes: a name may hold `-` and a version a prerelease with `-` too.
pub fn split_name_version(
    stem: &str,
    accept_name: impl Fn(&str) -> bool,
) -> Option<(&str, Version)> {
    stem.match_indices('-').rev().find_map(|(at, _)| {
        let (name, version) = (&stem[..at], &stem[at + 1..]);
        let version = Version::parse(version).ok()?;
        accept_name(name).then_some((name, version))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strict_semver() {
        assert_eq!(normalize("1.0.0", "npm").as_deref(), Ok("1.0.0"));
        assert_eq!(
            normalize("2.1.0-rc.1+b.5", "npm").as_deref(),
            Ok("2.1.0-rc.1+b.5")
        );
        let err = normalize("v1.0.0", "npm").expect_err("leading v");
        assert!(err.contains("without the leading 'v'"), "{err}");
        let err = normalize("1.0", "Cargo").expect_err("two parts");
        assert!(err.contains("Cargo versions are SemVer 2.0"), "{err}");
        for bad in [
            "1.0", "1", "01.0.0", "1.0.0.0", "", "1.0.0-", "latest", " 1.0.0",
        ] {
            let err = normalize(bad, "npm").expect_err(bad);
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

    #[test]
    fn stems_split_at_the_rightmost_point_that_leaves_a_version_and_a_name() {
        let any = |name: &str| !name.is_empty();
        let split = |stem| split_name_version(stem, any).map(|(n, v)| (n, v.to_string()));
        assert_eq!(split("w-1.0.0"), Some(("w", "1.0.0".into())));
        assert_eq!(
            split("a-b-1.0.0-beta-2"),
            Some(("a-b", "1.0.0-beta-2".into()))
        );
        assert_eq!(split("-1.0.0"), None);
        assert_eq!(split("w-1.0"), None);
        // The name's own rule moves the split further left.
        let no_dots = |name: &str| !name.is_empty() && !name.contains('.');
        let (name, version) = split_name_version("w-1.0.0-1.0.0", no_dots).expect("splits");
        assert_eq!((name, version.to_string().as_str()), ("w", "1.0.0-1.0.0"));
    }
}
