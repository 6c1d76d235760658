//! The npm format: npm's package names (scoped ones too), SemVer versions, tarballs named
//! `{name}-{version}.tgz`, the version document read from `package/package.json`, the
//! digests npm clients check, dist-tags, and the document `npm publish` sends.

pub mod digests;
pub mod manifest;
pub mod names;
pub mod packument;
pub mod publish;
pub mod tags;
pub mod versions;

use std::cmp::Ordering;

use crate::domain::model::{Format, Manifest};
use crate::formats::{ArtifactName, ByteDigests, FileAttributes, PackageFormat};

pub use manifest::abbreviated;
pub use names::tarball_filename;
pub use publish::{Publish, parse_publish};
pub use tags::check_dist_tag;
pub use versions::is_prerelease;

/// The attribute a file keeps its version document under (JSON text).
pub const MANIFEST: &str = "npm.manifest";
/// The attribute a file keeps its `dist.integrity` under: `sha512-<base64>`.
pub const INTEGRITY: &str = "npm.integrity";
/// The attribute a file keeps its `dist.shasum` under: SHA-1, lower-case hex.
pub const SHASUM: &str = "npm.shasum";

pub struct Npm;

impl PackageFormat for Npm {
    fn format(&self) -> Format {
        Format::Npm
    }

    fn normalize_name(&self, name: &str) -> Result<String, String> {
        names::normalize(name)
    }

    fn normalize_version(&self, version: &str) -> Result<String, String> {
        versions::normalize(version)
    }

    fn canonical_version(&self, version: &str) -> String {
        versions::canonical(version)
    }

    fn compare_versions(&self, a: &str, b: &str) -> Ordering {
        versions::compare(a, b)
    }

    /// The package is the unscoped basename: a tarball's name does not say its scope.
    fn parse_filename(&self, filename: &str) -> Result<ArtifactName, String> {
        let (package, version) = names::parse_filename(filename)?;
        Ok(ArtifactName { package, version })
    }

    fn check_filename(&self, package: &str, version: &str, filename: &str) -> Result<(), String> {
        let expected = tarball_filename(package, version);
        if filename == expected {
            return Ok(());
        }
        Err(format!(
            "filename mismatch: a tarball of {package} {version} is named {expected}, not {}",
            crate::domain::echo::echo(filename)
        ))
    }

    fn is_manifest(&self, _filename: &str, entry: &[String]) -> bool {
        entry.iter().map(String::as_str).eq(manifest::PATH)
    }

    fn check_manifest(
        &self,
        filename: &str,
        expected: &ArtifactName,
        manifest: Option<&Manifest>,
    ) -> Result<FileAttributes, String> {
        manifest::check(filename, expected, manifest)
    }

    fn summary(&self, manifest: &Manifest) -> Option<String> {
        manifest::summary(manifest)
    }

    fn byte_digests(&self) -> Option<Box<dyn ByteDigests>> {
        Some(Box::new(digests::TarballDigests::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{check_upload, for_format};

    #[test]
    fn npm_repositories_have_the_npm_plugin() {
        let plugin = for_format(Format::Npm).expect("npm has a format");
        assert_eq!(plugin.format(), Format::Npm);
        let format: Format = serde_json::from_str("\"npm\"").expect("known format");
        assert_eq!(format, Format::Npm);
        assert_eq!(
            serde_json::to_string(&Format::Npm).ok().as_deref(),
            Some("\"npm\"")
        );
    }

    #[test]
    fn uploads_must_be_named_as_npm_names_tarballs() {
        let ok = check_upload(&Npm, "@acme/widget", "1.0.0", "widget-1.0.0.tgz").expect("agrees");
        assert_eq!(ok.package, "@acme/widget");
        assert_eq!(ok.version, "1.0.0");
        assert!(check_upload(&Npm, "widget", "1.0.0-rc.1", "widget-1.0.0-rc.1.tgz").is_ok());
        for (package, version, filename) in [
            ("@acme/widget", "1.0.0", "@acme/widget-1.0.0.tgz"),
            ("@acme/widget", "1.0.0", "gadget-1.0.0.tgz"),
            ("widget", "1.0.0", "widget-1.0.1.tgz"),
            ("widget", "1.0.0", "widget-1.0.0.tar.gz"),
            ("widget", "1.0.0", "Widget-1.0.0.tgz"),
        ] {
            let err = check_upload(&Npm, package, version, filename).expect_err(filename);
            assert!(err.contains("is named widget-1.0.0.tgz"), "{err}");
        }
        let err = check_upload(&Npm, "Widget", "1.0.0", "Widget-1.0.0.tgz").expect_err("upper");
        assert!(err.contains("capital letters"), "{err}");
        let err = check_upload(&Npm, "widget", "v1.0.0", "widget-1.0.0.tgz").expect_err("v");
        assert!(err.starts_with("invalid version"), "{err}");
    }

    #[test]
    fn filenames_name_the_unscoped_package() {
        let named = Npm
            .parse_filename("my-widget-2.0.0-rc.1.tgz")
            .expect("valid");
        assert_eq!(named.package, "my-widget");
        assert_eq!(named.version, "2.0.0-rc.1");
    }

    #[test]
    fn the_manifest_is_package_json_at_the_top_of_the_tarball() {
        let e = |s: &str| s.split('/').map(str::to_owned).collect::<Vec<_>>();
        let file = "widget-1.0.0.tgz";
        assert!(Npm.is_manifest(file, &e("package/package.json")));
        assert!(!Npm.is_manifest(file, &e("package/lib/package.json")));
        assert!(!Npm.is_manifest(file, &e("package.json")));
        assert!(!Npm.is_manifest(file, &e("other/package.json")));
        assert!(!Npm.is_manifest(file, &e("package/node_modules/x/package.json")));
    }

    #[test]
    fn npm_files_get_both_digests() {
        let mut digests = Npm.byte_digests().expect("npm keeps digests");
        digests.update(b"hello");
        let attributes = digests.finish();
        assert_eq!(
            attributes.get(SHASUM).map(String::as_str),
            Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
        );
        assert!(attributes[INTEGRITY].starts_with("sha512-m3HSJL1i83hdltRq"));
        assert!(crate::formats::pypi::Pypi.byte_digests().is_none());
    }
}
