//! Dist-tags: the names (`latest`, `beta`) that point at one version of a package.

use crate::domain::echo::echo;

/// Longest dist-tag accepted.
const MAX_TAG: usize = 64;

/// Checks a dist-tag. As npm has it, a tag must not be a valid SemVer range: `npm install
/// widget@1` could otherwise mean a tag or the versions 1.x.
pub fn check_dist_tag(tag: &str) -> Result<(), String> {
    let shown = echo(tag);
    if tag.is_empty() {
        return Err("invalid dist-tag \"\": a tag cannot be empty".into());
    }
    if tag.len() > MAX_TAG {
        return Err(format!(
            "invalid dist-tag {shown}: use at most {MAX_TAG} characters"
        ));
    }
    if !tag
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "invalid dist-tag {shown}: use letters, digits, '.', '_' or '-'"
        ));
    }
    if is_semver_range(tag) {
        return Err(format!(
            "invalid dist-tag {shown}: Tag name must not be a valid SemVer range"
        ));
    }
    Ok(())
}

/// Whether npm would read `tag` as a version range. npm also takes a leading `v` (`v1`);
/// the other range operators (`^`, `>=`, `*`, spaces) are outside a tag's characters.
fn is_semver_range(tag: &str) -> bool {
    let bare = tag.trim_start_matches('v');
    semver::Version::parse(bare).is_ok() || semver::VersionReq::parse(bare).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_tags_are_accepted() {
        for good in [
            "latest",
            "beta",
            "next",
            "stable",
            "rc-1",
            "v8-compat",
            "1st",
            "Next.Gen_2",
        ] {
            assert_eq!(check_dist_tag(good), Ok(()), "{good}");
        }
        assert_eq!(check_dist_tag(&"t".repeat(64)), Ok(()));
    }

    #[test]
    fn tags_that_read_as_versions_or_ranges_are_refused() {
        for range in [
            "1",
            "v1",
            "1.x",
            "1.X",
            "x",
            "1.2",
            "1.2.3",
            "v1.2.3",
            "1.2.3-beta",
            "1.2.3+b",
            "^1.2",
            ">=1",
            "*",
            "~1",
        ] {
            let err = check_dist_tag(range).expect_err(range);
            assert!(
                err.contains("must not be a valid SemVer range")
                    || err.contains("use letters, digits"),
                "{range}: {err}"
            );
        }
        for range in ["1", "v1", "1.x", "x", "1.2.3", "1.2.3-beta"] {
            let err = check_dist_tag(range).expect_err(range);
            assert!(err.contains("must not be a valid SemVer range"), "{err}");
        }
    }

    #[test]
    fn malformed_tags_are_refused() {
        assert_eq!(
            check_dist_tag(""),
            Err("invalid dist-tag \"\": a tag cannot be empty".into())
        );
        for bad in ["a b", "a/b", "tag\n", "caf\u{e9}", "@beta"] {
            let err = check_dist_tag(bad).expect_err(bad);
            assert!(
                err.ends_with(": use letters, digits, '.', '_' or '-'"),
                "{bad:?}: {err}"
            );
        }
        let err = check_dist_tag(&"t".repeat(65)).expect_err("too long");
        assert!(err.contains("at most 64"), "{err}");
    }
}
