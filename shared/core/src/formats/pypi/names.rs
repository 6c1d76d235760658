//! Project names (PEP 508's rule, PEP 503's normal form) and distribution filenames: wheels
//! (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`) and sdists
//! (`{name}-{version}.tar.gz` or `.zip`).

use super::pep440::Version;

/// Longest project name accepted (the catalog's package names hold 128).
const MAX_NAME: usize = 128;

/// Checks a project name and returns its PEP 503 normal form: lower case, each run of
/// `-`, `_`, `.` as one `-`.
pub fn normalize(name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if !valid {
        return Err(format!(
            "invalid project name {}: use letters, digits, '-', '_' or '.', starting and \
             ending with a letter or digit (at most {MAX_NAME} characters)",
            crate::domain::echo::echo(name)
        ));
    }
    Ok(crate::domain::canonical::separators_folded(name))
}

/// What kind of distribution a filename is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dist {
    Wheel,
    Sdist,
}

/// A distribution filename, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistName {
    pub kind: Dist,
    /// PEP 503 normal form.
    pub project: String,
    pub version: Version,
    /// The filename up to its extension (an sdist's top-level directory).
    pub stem: String,
}

const SDIST_EXTS: [&str; 2] = [".tar.gz", ".zip"];

pub fn parse_filename(filename: &str) -> Result<DistName, String> {
    let shown = crate::domain::echo::echo(filename).to_string();
    let lower = filename.to_ascii_lowercase();
    if let Some(stem) = filename
        .strip_suffix(".whl")
        .filter(|_| lower.ends_with(".whl"))
    {
        return parse_wheel(stem).map_err(|why| format!("invalid wheel filename {shown}: {why}"));
    }
    if let Some(ext) = SDIST_EXTS.iter().find(|e| lower.ends_with(*e)) {
        let stem = &filename[..filename.len() - ext.len()];
        return parse_sdist(stem).map_err(|why| format!("invalid sdist filename {shown}: {why}"));
    }
    Err(format!(
        "unsupported file {shown}: a Python repository takes wheels (.whl) and sdists \
         (.tar.gz, .zip)"
    ))
}

fn parse_wheel(stem: &str) -> Result<DistName, String> {
    let parts: Vec<&str> = stem.split('-').collect();
    let (name, version, tags) = match parts.as_slice() {
        [name, version, rest @ ..] if rest.len() == 3 || rest.len() == 4 => (name, version, rest),
        _ => {
            return Err(
                "expected {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl".into(),
            );
        }
    };
    if tags.len() == 4 && !tags[0].starts_with(|c: char| c.is_ascii_digit()) {
        return Err("a build tag must start with a digit".into());
    }
    if tags.iter().any(|t| {
        t.is_empty()
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.'))
    }) {
        return Err("invalid compatibility tags".into());
    }
    Ok(DistName {
        kind: Dist::Wheel,
        project: normalize(name)?,
        version: Version::parse(version)?,
        stem: stem.to_owned(),
    })
}

fn parse_sdist(stem: &str) -> Result<DistName, String> {
    let (name, version) = stem
        .rsplit_once('-')
        .ok_or("expected {name}-{version}.tar.gz")?;
    Ok(DistName {
        kind: Dist::Sdist,
        project: normalize(name)?,
        version: Version::parse(version)?,
        stem: stem.to_owned(),
    })
}

/// Whether a wheel's `.dist-info` directory name (`{name}-{version}.dist-info`) belongs to
/// the project and version of its filename, as pip checks it.
pub fn dist_info_matches(dir: &str, wheel: &DistName) -> bool {
    let Some(base) = dir.strip_suffix(".dist-info") else {
        return false;
    };
    let Some((name, version)) = base.rsplit_once('-') else {
        return false;
    };
    normalize(name).is_ok_and(|n| n == wheel.project)
        && Version::parse(version).is_ok_and(|v| v.cmp(&wheel.version).is_eq())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_per_pep_503() {
        for name in ["Foo_Bar", "foo.bar", "foo-bar", "FOO--bar", "foo_.-bar"] {
            assert_eq!(normalize(name).as_deref(), Ok("foo-bar"), "{name}");
        }
        assert_eq!(normalize("a").as_deref(), Ok("a"));
        let long = "a".repeat(129);
        for bad in [
            "", "-foo", "foo-", "foo bar", "foo/bar", "föö", "../x", "a#b", &long,
        ] {
            let err = normalize(bad).expect_err(bad);
            assert!(err.starts_with("invalid project name "), "{bad:?}: {err}");
            assert!(err.ends_with("(at most 128 characters)"), "{bad:?}: {err}");
        }
        let err = normalize("foo bar").expect_err("a space");
        assert!(
            err.starts_with("invalid project name \"foo bar\": "),
            "{err}"
        );
    }

    #[test]
    fn wheels_and_sdists_are_taken_apart() {
        let w = parse_filename("Foo_Bar-1.0.0-py3-none-any.whl").expect("wheel");
        assert_eq!((w.kind, w.project.as_str()), (Dist::Wheel, "foo-bar"));
        assert_eq!(w.version.to_string(), "1.0.0");
        let w = parse_filename("pkg-2.1rc1-1-cp312-cp312-manylinux_2_17_x86_64.whl").expect("w");
        assert_eq!(w.version.to_string(), "2.1rc1");
        let s = parse_filename("foo_bar-1.0.tar.gz").expect("sdist");
        assert_eq!((s.kind, s.project.as_str()), (Dist::Sdist, "foo-bar"));
        assert_eq!(s.stem, "foo_bar-1.0");
        // Legacy sdists keep hyphens in the name: the version is after the last one.
        let s = parse_filename("foo-bar-1.0.post1.zip").expect("zip sdist");
        assert_eq!(
            (s.project.as_str(), s.version.to_string().as_str()),
            ("foo-bar", "1.0.post1")
        );
    }

    #[test]
    fn hostile_or_foreign_filenames_are_refused_with_a_reason() {
        let foreign = "a Python repository takes wheels (.whl) and sdists";
        let wheel_shape = "expected {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl";
        let tags = "invalid compatibility tags";
        for (bad, why) in [
            ("foo-1.0.egg", foreign),
            ("foo-1.0.exe", foreign),
            ("foo-1.0.tar.bz2", foreign),
            ("foo.whl", wheel_shape),
            ("foo-1.0-py3-any.whl", wheel_shape),
            (
                "foo-1.0-x-py3-none-any.whl",
                "a build tag must start with a digit",
            ),
            ("foo-1.0-1-py3-none-any-extra.whl", wheel_shape),
            (
                "foo-notaversion-py3-none-any.whl",
                "invalid version \"notaversion\": not a PEP 440 version",
            ),
            ("foo-1.0-py3-none-a/b.whl", tags),
            ("-1.0.tar.gz", "invalid project name"),
            ("foo.tar.gz", "expected {name}-{version}.tar.gz"),
            ("foo-1.0-py3--any.whl", tags),
        ] {
            let err = parse_filename(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn dist_info_must_name_the_wheels_project_and_version() {
        let w = parse_filename("foo_bar-1.0-py3-none-any.whl").expect("wheel");
        assert!(dist_info_matches("foo_bar-1.0.dist-info", &w));
        assert!(dist_info_matches("Foo.Bar-1.0.0.dist-info", &w));
        assert!(!dist_info_matches("other-1.0.dist-info", &w));
        assert!(!dist_info_matches("foo_bar-1.1.dist-info", &w));
        assert!(!dist_info_matches("foo_bar-1.0.data", &w));
    }
}
