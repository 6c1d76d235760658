//! Canonical forms: what two names are compared by when deciding whether they look alike.
//! `widget` and `Widget` are different strings but one package to a person reading them, so
//! a repository refuses a new name whose canonical form an existing one already has.
//!
//! The rules per repository format:
//! - package names, `generic`, PyPI and npm: ASCII lower case, and every run of `-`, `_` and
//!   `.` counts as one `-` (PEP 503's rule, which also covers npm's case rule);
//! - package names, Cargo: ASCII lower case with `-` and `_` the same (crates.io's rule:
//!   `foo__bar` and `foo_bar` are two crates there);
//! - versions: ASCII lower case (`1.0.0-RC1` is `1.0.0-rc1`);
//! - file names within a version: ASCII lower case (`A.BIN` is `a.bin`).
//!
//! Canonical forms are built only from validated names, so they are key-safe too.

use std::fmt;

use crate::domain::model::Format;
use crate::domain::names::{FileName, PackageName, VersionName};

/// A name's canonical form; equal forms mean look-alike names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Canonical(String);

impl Canonical {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Canonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn package(format: Format, name: &PackageName) -> Canonical {
    match format {
        // PyPI's normal form is this very rule (PEP 503); npm names are lower case already,
        // and `@acme/my-widget` and `@acme/my_widget` read as one package there too.
        Format::Generic | Format::Pypi | Format::Npm => Canonical(separators_folded(name.as_str())),
        Format::Cargo => Canonical(crate_folded(name.as_str())),
    }
}

pub fn version(format: Format, version: &VersionName) -> Canonical {
    match crate::formats::for_format(format) {
        // PEP 440: `1.0` and `1.0.0` are one version.
        Some(plugin) => Canonical(plugin.canonical_version(version.as_str())),
        None => Canonical(version.as_str().to_ascii_lowercase()),
    }
}

pub fn file(name: &FileName) -> Canonical {
    Canonical(name.as_str().to_ascii_lowercase())
}

/// Lower case, `-` as `_` (crates.io's look-alike rule).
pub fn crate_folded(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// Lower case, each run of `-`, `_`, `.` as one `-` (PEP 503's normal form).
pub fn separators_folded(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str) -> String {
        package(
            Format::Generic,
            &PackageName::parse(name).expect("valid name"),
        )
        .0
    }

    fn ver(v: &str) -> String {
        version(
            Format::Generic,
            &VersionName::parse(v).expect("valid version"),
        )
        .0
    }

    #[test]
    fn package_names_differing_only_in_case_look_alike() {
        assert_eq!(pkg("widget"), "widget");
        assert_eq!(pkg("Widget"), "widget");
        assert_eq!(pkg("WIDGET"), "widget");
    }

    #[test]
    fn package_names_differing_only_in_separators_look_alike() {
        for name in [
            "acme-core",
            "acme_core",
            "acme.core",
            "Acme__Core",
            "acme-._core",
        ] {
            assert_eq!(pkg(name), "acme-core", "{name}");
        }
        assert_eq!(pkg("widget_"), pkg("widget."));
        assert_ne!(pkg("widget_"), pkg("widget"));
        assert_ne!(pkg("acmecore"), pkg("acme-core"));
    }

    #[test]
    fn npm_scoped_names_differing_only_in_separators_look_alike() {
        let npm = |n: &str| package(Format::Npm, &PackageName::parse(n).expect("valid name")).0;
        assert_eq!(npm("@acme/my-widget"), npm("@acme/my_widget"));
        assert_eq!(npm("@acme/my-widget"), "@acme/my-widget");
        assert_ne!(npm("@acme/widget"), npm("@other/widget"));
    }

    #[test]
    fn crate_names_differing_only_in_case_or_dash_and_underscore_look_alike() {
        let krate = |n: &str| package(Format::Cargo, &PackageName::parse(n).expect("valid name")).0;
        assert_eq!(krate("Serde_JSON"), "serde_json");
        assert_eq!(krate("serde-json"), krate("serde_json"));
        assert_eq!(krate("SERDE-json"), krate("serde_json"));
        // crates.io tells these apart: only `-` and `_` are one.
        assert_ne!(krate("foo__bar"), krate("foo_bar"));
        assert_ne!(krate("foo-bar"), krate("foobar"));
    }

    #[test]
    fn versions_differing_only_in_case_look_alike() {
        assert_eq!(ver("1.0.0-RC1"), ver("1.0.0-rc1"));
        assert_eq!(ver("1.0.0+Build.5"), "1.0.0+build.5");
        // Separators in a version carry meaning: they are not folded.
        assert_ne!(ver("1.0.0-rc1"), ver("1.0.0.rc1"));
        assert_ne!(ver("1.0.0"), ver("1.0.00"));
    }

    #[test]
    fn file_names_differing_only_in_case_look_alike() {
        let f = |n: &str| file(&FileName::parse(n).expect("valid filename")).0;
        assert_eq!(f("a.bin"), f("A.BIN"));
        assert_ne!(f("a.bin"), f("a_bin"));
    }
}
