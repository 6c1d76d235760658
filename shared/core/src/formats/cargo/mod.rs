//! The Cargo format: crates.io's crate names, SemVer versions, crate files named
//! `{name}-{version}.crate`, the index entry read from their `Cargo.toml`, the body
//! `cargo publish` sends, and the sparse index cargo resolves from.

pub mod index;
pub mod manifest;
pub mod names;
pub mod publish;

#[cfg(test)]
mod manifest_tests;

use std::cmp::Ordering;

use crate::domain::echo::echo;
use crate::domain::model::{Format, Manifest};
use crate::formats::{ArtifactName, FileAttributes, PackageFormat, semver_order};

pub use index::{IndexLine, render_index};
pub use names::{check_crate_name, crate_filename, index_path, name_of_index_path};
pub use publish::{Publish, parse_publish};

/// The attribute a crate file keeps its index entry under: the line's fields read from
/// its Cargo.toml, as compact JSON ([`index::Entry`]); [`render_index`] adds the rest.
pub const INDEX_ENTRY: &str = "cargo.index";

pub struct Cargo;

impl PackageFormat for Cargo {
    fn format(&self) -> Format {
        Format::Cargo
    }

    /// Crates keep the spelling they were published with (`Inflector`, `serde_json`);
    /// look-alikes are caught by the canonical form (`domain::canonical`).
    fn normalize_name(&self, name: &str) -> Result<String, String> {
        check_crate_name(name).map(|()| name.to_owned())
    }

    fn normalize_version(&self, version: &str) -> Result<String, String> {
        semver_order::normalize(version, "Cargo")
    }

    fn canonical_version(&self, version: &str) -> String {
        semver_order::canonical(version)
    }

    fn compare_versions(&self, a: &str, b: &str) -> Ordering {
        semver_order::compare(a, b)
    }

    fn parse_filename(&self, filename: &str) -> Result<ArtifactName, String> {
        let (package, version) = names::parse_filename(filename)?;
        Ok(ArtifactName { package, version })
    }

    fn check_filename(&self, package: &str, version: &str, filename: &str) -> Result<(), String> {
        let expected = crate_filename(package, version);
        if filename == expected {
            return Ok(());
        }
        Err(format!(
            "filename mismatch: the crate file of {package} {version} is named {expected}, \
             not {}",
            echo(filename)
        ))
    }

    /// `{name}-{version}/Cargo.toml`, the top directory named as the file is.
    fn is_manifest(&self, filename: &str, entry: &[String]) -> bool {
        let [dir, file] = entry else {
            return false;
        };
        file == manifest::FILE
            && names::parse_filename(filename)
                .is_ok_and(|(name, version)| *dir == format!("{name}-{version}"))
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{check_upload, for_format};

    #[test]
    fn cargo_repositories_have_the_cargo_plugin() {
        let plugin = for_format(Format::Cargo).expect("cargo has a format");
        assert_eq!(plugin.format(), Format::Cargo);
        let format: Format = serde_json::from_str("\"cargo\"").expect("known format");
        assert_eq!(format, Format::Cargo);
        assert_eq!(
            serde_json::to_string(&Format::Cargo).ok().as_deref(),
            Some("\"cargo\"")
        );
        assert!(plugin.byte_digests().is_none());
    }

    #[test]
    fn names_are_kept_as_published_once_valid() {
        assert_eq!(
            Cargo.normalize_name("Serde_JSON").as_deref(),
            Ok("Serde_JSON")
        );
        assert_eq!(Cargo.normalize_name("foo-bar").as_deref(), Ok("foo-bar"));
        let err = Cargo.normalize_name("core").expect_err("reserved");
        assert!(err.contains("reserved name"), "{err}");
        let err = Cargo.normalize_name(&"a".repeat(65)).expect_err("long");
        assert!(err.contains("at most 64"), "{err}");
    }

    #[test]
    fn versions_are_semver_in_precedence_order() {
        assert_eq!(
            Cargo.normalize_version("1.2.3-rc.1+b").as_deref(),
            Ok("1.2.3-rc.1+b")
        );
        let err = Cargo.normalize_version("1.2").expect_err("two parts");
        assert!(err.contains("Cargo versions are SemVer 2.0"), "{err}");
        assert_eq!(Cargo.canonical_version("1.0.0-RC.1+x"), "1.0.0-rc.1");
        assert_eq!(
            Cargo.compare_versions("1.0.0-rc.1", "1.0.0"),
            Ordering::Less
        );
        assert_eq!(Cargo.compare_versions("1.10.0", "1.9.0"), Ordering::Greater);
        assert_eq!(Cargo.compare_versions("1.0.0", "1.0.0"), Ordering::Equal);
    }

    #[test]
    fn uploads_must_be_named_as_cargo_names_crate_files() {
        let ok = check_upload(&Cargo, "foo-2", "1.0.0", "foo-2-1.0.0.crate").expect("agrees");
        assert_eq!(
            (ok.package.as_str(), ok.version.as_str()),
            ("foo-2", "1.0.0")
        );
        let named = Cargo.parse_filename("foo-2-1.0.0.crate").expect("valid");
        assert_eq!(
            (named.package.as_str(), named.version.as_str()),
            ("foo-2", "1.0.0")
        );
        for (package, version, filename) in [
            ("widget", "1.0.0", "Widget-1.0.0.crate"),
            ("widget", "1.0.0", "widget_-1.0.0.crate"),
            ("widget", "1.0.0", "widget-1.0.1.crate"),
            ("widget", "1.0.0", "widget-1.0.0.tgz"),
            ("widget", "1.0.0", "gadget-1.0.0.crate"),
        ] {
            let err = check_upload(&Cargo, package, version, filename).expect_err(filename);
            assert!(err.contains("is named widget-1.0.0.crate"), "{err}");
        }
        let err = check_upload(&Cargo, "std", "1.0.0", "std-1.0.0.crate").expect_err("std");
        assert!(err.contains("reserved name"), "{err}");
    }

    #[test]
    fn the_manifest_is_cargo_toml_in_the_top_directory() {
        let e = |s: &str| s.split('/').map(str::to_owned).collect::<Vec<_>>();
        let file = "foo-2-1.0.0-rc.1.crate";
        assert!(Cargo.is_manifest(file, &e("foo-2-1.0.0-rc.1/Cargo.toml")));
        assert!(!Cargo.is_manifest(file, &e("foo-2-1.0.0-rc.1/Cargo.toml.orig")));
        assert!(!Cargo.is_manifest(file, &e("foo-2-1.0.0-rc.1/sub/Cargo.toml")));
        assert!(!Cargo.is_manifest(file, &e("foo-2-1.0.0/Cargo.toml")));
        assert!(!Cargo.is_manifest(file, &e("Cargo.toml")));
        assert!(!Cargo.is_manifest("foo.tgz", &e("foo/Cargo.toml")));
    }
}
