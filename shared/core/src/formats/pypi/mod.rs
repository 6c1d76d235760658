//! The PyPI format: PEP 503 names, PEP 440 versions, wheel and sdist filenames, core
//! metadata read from inside the file, and the simple index (PEP 503 HTML, PEP 691 JSON).

pub mod metadata;
pub mod names;
pub mod pep440;
pub mod simple;

use std::cmp::Ordering;

use crate::domain::model::{Format, Manifest};
use crate::formats::{ArtifactName, FileAttributes, PackageFormat};
use names::{Dist, DistName};
use pep440::Version;

/// The attribute a file keeps its `Requires-Python` under.
pub const REQUIRES_PYTHON: &str = "requires_python";

pub struct Pypi;

impl PackageFormat for Pypi {
    fn format(&self) -> Format {
        Format::Pypi
    }

    fn normalize_name(&self, name: &str) -> Result<String, String> {
        names::normalize(name)
    }

    fn normalize_version(&self, version: &str) -> Result<String, String> {
        let v = Version::parse(version)?;
        // The catalog's version names have no `!`; epochs are that rare on a private index.
        if v.epoch != 0 {
            return Err(format!(
                "unsupported version {v}: version epochs (N!) are not accepted"
            ));
        }
        Ok(v.to_string())
    }

    fn canonical_version(&self, version: &str) -> String {
        match Version::parse(version) {
            Ok(v) => v.canonical(),
            Err(_) => version.to_ascii_lowercase(),
        }
    }

    fn compare_versions(&self, a: &str, b: &str) -> Ordering {
        match (Version::parse(a), Version::parse(b)) {
            (Ok(a), Ok(b)) => a.cmp(&b),
            (Ok(_), Err(_)) => Ordering::Greater,
            (Err(_), Ok(_)) => Ordering::Less,
            (Err(_), Err(_)) => a.cmp(b),
        }
    }

    fn parse_filename(&self, filename: &str) -> Result<ArtifactName, String> {
        let dist = names::parse_filename(filename)?;
        Ok(ArtifactName {
            package: dist.project,
            version: self.normalize_version(&dist.version.to_string())?,
        })
    }

    fn is_manifest(&self, filename: &str, entry: &[String]) -> bool {
        let Ok(dist) = names::parse_filename(filename) else {
            return false;
        };
        let [dir, file] = entry else {
            return false;
        };
        match dist.kind {
            Dist::Wheel => file == "METADATA" && names::dist_info_matches(dir, &dist),
            Dist::Sdist => file == "PKG-INFO" && sdist_dir_matches(dir, &dist),
        }
    }

    fn check_manifest(
        &self,
        filename: &str,
        expected: &ArtifactName,
        manifest: Option<&Manifest>,
    ) -> Result<FileAttributes, String> {
        let dist = names::parse_filename(filename)?;
        let what = match dist.kind {
            Dist::Wheel => format!("{}.dist-info/METADATA", dist_info_hint(&dist)),
            Dist::Sdist => format!("{}/PKG-INFO", dist.stem),
        };
        let Some(manifest) = manifest else {
            return Err(format!("invalid distribution: {filename} has no {what}"));
        };
        if manifest.others > 0 {
            return Err(format!(
                "invalid distribution: {filename} has more than one {what}"
            ));
        }
        let meta = metadata::parse(&manifest.text, manifest.complete)
            .map_err(|why| format!("invalid metadata: {} in {filename}: {why}", manifest.path))?;
        let name = meta
            .name
            .ok_or_else(|| format!("invalid metadata: {} has no Name", manifest.path))?;
        let version = meta
            .version
            .ok_or_else(|| format!("invalid metadata: {} has no Version", manifest.path))?;
        let shown = |s: &str| crate::domain::echo::echo(s).to_string();
        if names::normalize(&name).ok().as_deref() != Some(expected.package.as_str()) {
            return Err(format!(
                "name mismatch: {} says Name: {}, the upload is for {}",
                manifest.path,
                shown(&name),
                expected.package
            ));
        }
        if self.compare_versions(&version, &expected.version) != Ordering::Equal
            || Version::parse(&version).is_err()
        {
            return Err(format!(
                "version mismatch: {} says Version: {}, the upload is for {}",
                manifest.path,
                shown(&version),
                expected.version
            ));
        }
        let mut attributes = FileAttributes::new();
        if let Some(rp) = meta.requires_python.filter(|rp| !rp.is_empty()) {
            attributes.insert(REQUIRES_PYTHON.to_owned(), rp);
        }
        Ok(attributes)
    }

    /// A wheel's METADATA as the wheel holds it: only when the scan kept all of it and it
    /// was valid UTF-8 (a replaced byte would make it another file than the wheel's).
    fn core_metadata<'m>(&self, filename: &str, manifest: &'m Manifest) -> Option<&'m str> {
        let wheel = names::parse_filename(filename).is_ok_and(|d| d.kind == Dist::Wheel);
        (wheel && manifest.complete && manifest.others == 0 && !manifest.text.contains('\u{FFFD}'))
            .then_some(manifest.text.as_str())
    }

    /// The `Summary` header of the METADATA or PKG-INFO.
    fn summary(&self, manifest: &Manifest) -> Option<String> {
        metadata::summary(&manifest.text, manifest.complete)
    }
}

/// An sdist's top-level directory is its filename's stem (`foo_bar-1.0`), compared as
/// project and version so that spelling variants of old tools still match.
fn sdist_dir_matches(dir: &str, sdist: &DistName) -> bool {
    if dir == sdist.stem {
        return true;
    }
    dir.rsplit_once('-').is_some_and(|(name, version)| {
        names::normalize(name).is_ok_and(|n| n == sdist.project)
            && Version::parse(version).is_ok_and(|v| v.cmp(&sdist.version).is_eq())
    })
}

/// How a wheel's `.dist-info` directory is named, for a refusal.
fn dist_info_hint(wheel: &DistName) -> String {
    let name = wheel.stem.split('-').next().unwrap_or_default();
    format!("{name}-{}", wheel.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(path: &str, text: &str) -> Manifest {
        Manifest {
            path: path.into(),
            text: text.into(),
            complete: true,
            others: 0,
        }
    }

    fn expected(p: &str, v: &str) -> ArtifactName {
        ArtifactName {
            package: p.into(),
            version: v.into(),
        }
    }

    const WHEEL: &str = "foo_bar-1.0-py3-none-any.whl";

    #[test]
    fn only_a_wheels_whole_metadata_is_served_as_core_metadata() {
        let path = "foo_bar-1.0.dist-info/METADATA";
        let whole = manifest(
            path,
            "Metadata-Version: 2.1\nName: foo-bar\nVersion: 1.0\n\n",
        );
        assert_eq!(Pypi.core_metadata(WHEEL, &whole), Some(whole.text.as_str()));
        let cut = Manifest {
            complete: false,
            ..whole.clone()
        };
        assert_eq!(Pypi.core_metadata(WHEEL, &cut), None);
        let lossy = manifest(path, "Name: foo-bar\nSummary: caf\u{FFFD}\n\n");
        assert_eq!(Pypi.core_metadata(WHEEL, &lossy), None);
        let sdist = manifest("foo_bar-1.0/PKG-INFO", &whole.text);
        assert_eq!(Pypi.core_metadata("foo_bar-1.0.tar.gz", &sdist), None);
    }

    #[test]
    fn manifests_are_recognised_at_the_top_of_the_archive_only() {
        let e = |s: &str| s.split('/').map(str::to_owned).collect::<Vec<_>>();
        assert!(Pypi.is_manifest(WHEEL, &e("foo_bar-1.0.dist-info/METADATA")));
        assert!(!Pypi.is_manifest(WHEEL, &e("x/foo_bar-1.0.dist-info/METADATA")));
        assert!(!Pypi.is_manifest(WHEEL, &e("evil-1.0.dist-info/METADATA")));
        assert!(!Pypi.is_manifest(WHEEL, &e("foo_bar-1.0.dist-info/RECORD")));
        let sdist = "foo_bar-1.0.tar.gz";
        assert!(Pypi.is_manifest(sdist, &e("foo_bar-1.0/PKG-INFO")));
        assert!(!Pypi.is_manifest(sdist, &e("foo_bar-1.0/src/foo_bar.egg-info/PKG-INFO")));
        assert!(!Pypi.is_manifest("notes.txt", &e("a/METADATA")));
    }

    #[test]
    fn metadata_must_agree_with_the_upload() {
        let path = "foo_bar-1.0.dist-info/METADATA";
        let ok = manifest(
            path,
            "Metadata-Version: 2.1\nName: Foo.Bar\nVersion: 1.0.0\nRequires-Python: >=3.8\n\n",
        );
        let attrs = Pypi
            .check_manifest(WHEEL, &expected("foo-bar", "1.0"), Some(&ok))
            .expect("agrees");
        assert_eq!(
            attrs.get(REQUIRES_PYTHON).map(String::as_str),
            Some(">=3.8")
        );

        let other_name = manifest(path, "Name: evil\nVersion: 1.0\n\n");
        let err = Pypi
            .check_manifest(WHEEL, &expected("foo-bar", "1.0"), Some(&other_name))
            .expect_err("name differs");
        assert!(err.starts_with("name mismatch"), "{err}");

        let other_version = manifest(path, "Name: foo-bar\nVersion: 2.0\n\n");
        let err = Pypi
            .check_manifest(WHEEL, &expected("foo-bar", "1.0"), Some(&other_version))
            .expect_err("version differs");
        assert!(err.starts_with("version mismatch"), "{err}");

        let err = Pypi
            .check_manifest(WHEEL, &expected("foo-bar", "1.0"), None)
            .expect_err("no metadata");
        assert!(
            err.contains("has no foo_bar-1.0.dist-info/METADATA"),
            "{err}"
        );

        let mut twice = ok.clone();
        twice.others = 1;
        let err = Pypi
            .check_manifest(WHEEL, &expected("foo-bar", "1.0"), Some(&twice))
            .expect_err("two manifests");
        assert_eq!(
            err,
            format!(
                "invalid distribution: {WHEEL} has more than one foo_bar-1.0.dist-info/METADATA"
            )
        );
    }

    #[test]
    fn the_summary_is_the_summary_header() {
        let path = "foo_bar-1.0.dist-info/METADATA";
        let meta = |headers: &str| manifest(path, &format!("Name: foo-bar\n{headers}\n"));
        let summary = |headers: &str| Pypi.summary(&meta(headers));
        assert_eq!(
            summary("Summary: Bars for foos\nVersion: 1.0\n").as_deref(),
            Some("Bars for foos")
        );
        assert_eq!(summary("Version: 1.0\n"), None);
        assert_eq!(summary("Summary:   \n"), None);
        // The description after the headers is not the summary.
        assert_eq!(summary("Version: 1.0\n\nSummary: not a header\n"), None);
        // Which of two is the package's cannot be told.
        assert_eq!(summary("Summary: one\nSummary: two\n"), None);
    }

    #[test]
    fn a_folded_summary_is_one_line() {
        let text = "Name: foo-bar\r\nSummary:  Bars \t for\r\n   foos,\r\n\tfast \r\n\r\n";
        let m = manifest("foo_bar-1.0/PKG-INFO", text);
        assert_eq!(Pypi.summary(&m).as_deref(), Some("Bars for foos, fast"));
    }

    #[test]
    fn a_long_summary_is_cut_at_a_char_boundary() {
        use crate::formats::SUMMARY_MAX;
        // '€' is three bytes: byte SUMMARY_MAX (256) falls inside the 86th.
        let long = "€".repeat(SUMMARY_MAX);
        let m = manifest(
            "foo_bar-1.0.dist-info/METADATA",
            &format!("Summary: {long}\n\n"),
        );
        let cut = Pypi.summary(&m).expect("a summary");
        assert_eq!(cut.len(), 255);
        assert!(cut.len() <= SUMMARY_MAX && long.starts_with(&cut));
    }

    #[test]
    fn unreadable_metadata_has_no_summary() {
        let path = "foo_bar-1.0.dist-info/METADATA";
        assert_eq!(
            Pypi.summary(&manifest(path, "Summary: x\nno colon\n\n")),
            None
        );
        assert_eq!(Pypi.summary(&manifest(path, " Summary: x\n\n")), None);
        // Cut before its headers end: the summary may be a cut one.
        let cut = Manifest {
            complete: false,
            ..manifest(path, "Name: foo-bar\nSummary: Bars for")
        };
        assert_eq!(Pypi.summary(&cut), None);
    }

    #[test]
    fn uploads_must_name_what_their_filename_says() {
        let ok = crate::formats::check_upload(&Pypi, "Foo_Bar", "1.0.0", WHEEL).expect("agrees");
        assert_eq!(ok, expected("foo-bar", "1.0.0"));
        let err = crate::formats::check_upload(&Pypi, "other", "1.0", WHEEL).expect_err("name");
        assert!(err.starts_with("name mismatch"), "{err}");
        let err = crate::formats::check_upload(&Pypi, "foo-bar", "1.1", WHEEL).expect_err("ver");
        assert!(err.starts_with("version mismatch"), "{err}");
        let err = Pypi.normalize_version("1!1.0").expect_err("an epoch");
        assert!(
            err.contains("version epochs (N!) are not accepted"),
            "{err}"
        );
    }
}
