//! Package formats: what a repository of one format knows about its packages' names,
//! versions and files. Each format (PyPI, npm, Cargo) is one [`PackageFormat`]; the catalog,
//! the pipeline and the scanner ask it through [`for_format`] and never name a format
//! themselves. A `generic` repository has none: its names are checked by `domain::names`
//! alone and its files are opaque.

pub mod cargo;
pub mod npm;
pub mod pypi;
pub mod semver_order;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::domain::model::{Format, Manifest};

/// What a file's name says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactName {
    /// The package, in the format's normalised spelling.
    pub package: String,
    /// The version, in the format's normalised spelling.
    pub version: String,
}

/// Small facts a format keeps on a published file, read from its manifest (e.g. PyPI's
/// `requires_python`). Keys are the format's; values are bounded by it.
pub type FileAttributes = BTreeMap<String, String>;

/// One package format. Every method is pure: no storage, no clock.
pub trait PackageFormat: Send + Sync {
    fn format(&self) -> Format;

    /// The one spelling a package is stored and looked up under, or why the name is
    /// invalid in this format.
    fn normalize_name(&self, name: &str) -> Result<String, String>;

    /// The spelling a version is stored under, or why it is not a version of this format.
    fn normalize_version(&self, version: &str) -> Result<String, String>;

    /// Two versions that compare equal here are one version (a look-alike is refused).
    fn canonical_version(&self, version: &str) -> String;

    /// The format's order of versions; unparsable ones sort first, by their text.
    fn compare_versions(&self, a: &str, b: &str) -> Ordering;

    /// The package and version a filename names, or why it is no file of this format.
    fn parse_filename(&self, filename: &str) -> Result<ArtifactName, String>;

    /// Checks that `filename` is a file of `package` `version` (both already normalised).
    fn check_filename(&self, package: &str, version: &str, filename: &str) -> Result<(), String> {
        let named = self.parse_filename(filename)?;
        if named.package != package {
            return Err(format!(
                "name mismatch: {filename} is a file of {}, not of {package}",
                named.package
            ));
        }
        if self.compare_versions(&named.version, version) != Ordering::Equal {
            return Err(format!(
                "version mismatch: {filename} is version {}, not {version}",
                named.version
            ));
        }
        Ok(())
    }

    /// Whether `entry` (path components inside the uploaded archive, at its top level) is
    /// the file's manifest: the scan keeps its first bytes for [`Self::check_manifest`].
    fn is_manifest(&self, filename: &str, entry: &[String]) -> bool;

    /// Checks the manifest the scan kept against the package and version the file was
    /// uploaded as; returns the attributes to keep on the published file, or the reason the
    /// upload is refused.
    fn check_manifest(
        &self,
        filename: &str,
        expected: &ArtifactName,
        manifest: Option<&Manifest>,
    ) -> Result<FileAttributes, String>;

    /// The bytes installers may fetch instead of the whole file to resolve it (PyPI's core
    /// metadata, PEP 658), from a manifest that already passed [`Self::check_manifest`];
    /// `None` when the format has none for this file or the scan kept only part of it.
    fn core_metadata<'m>(&self, _filename: &str, _manifest: &'m Manifest) -> Option<&'m str> {
        None
    }

    /// A one-line description of the package, read from the manifest the scan kept (PyPI's
    /// `Summary`, npm's `description`, Cargo's `package.description`), for search; `None`
    /// when the manifest has none. At most [`SUMMARY_MAX`] bytes (cut at a char boundary),
    /// whitespace runs (including newlines) collapsed to one space, trimmed; empty → None.
    fn summary(&self, _manifest: &Manifest) -> Option<String> {
        None
    }

    /// Digests of the whole file that the format's index shows, computed by Validate as it
    /// streams the stored bytes, and kept in the published file's attributes. None: the
    /// format needs none.
    fn byte_digests(&self) -> Option<Box<dyn ByteDigests>> {
        None
    }
}

/// Digests of a file's bytes, fed in order, chunk by chunk (see
/// [`PackageFormat::byte_digests`]).
pub trait ByteDigests: Send {
    fn update(&mut self, chunk: &[u8]);
    /// The attributes that hold the digests.
    fn finish(self: Box<Self>) -> FileAttributes;
}

/// The format plug-in of a repository's format; `None` for `generic`.
pub fn for_format(format: Format) -> Option<&'static dyn PackageFormat> {
    match format {
        Format::Generic => None,
        Format::Pypi => Some(&pypi::Pypi),
        Format::Npm => Some(&npm::Npm),
        Format::Cargo => Some(&cargo::Cargo),
    }
}

/// Checks that `filename` names `package` `version` in the format (all three as uploaded);
/// returns the normalised package and version the upload is stored under.
pub fn check_upload(
    format: &dyn PackageFormat,
    package: &str,
    version: &str,
    filename: &str,
) -> Result<ArtifactName, String> {
    let package = format.normalize_name(package)?;
    let version = format.normalize_version(version)?;
    format.check_filename(&package, &version, filename)?;
    Ok(ArtifactName { package, version })
}

/// The largest manifest prefix the scan keeps (and stores on the upload).
pub const MANIFEST_MAX: usize = 32 * 1024;

/// The longest [`PackageFormat::summary`], in bytes: a line for search results, not the
/// package's whole description.
pub const SUMMARY_MAX: usize = 256;

/// `text` as a [`PackageFormat::summary`]: whitespace runs made one space, trimmed, cut to
/// [`SUMMARY_MAX`] bytes at a char boundary; `None` when nothing is left.
pub(crate) fn summary_line(text: &str) -> Option<String> {
    let mut line = String::new();
    for word in text.split_whitespace() {
        // The manifest may hold kilobytes of it: stop once the line is long enough to cut.
        if line.len() > SUMMARY_MAX {
            break;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.len() > SUMMARY_MAX {
        let mut end = SUMMARY_MAX;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        // A cut right after a word leaves its separating space at the end.
        line.truncate(line.trim_end().len());
    }
    (!line.is_empty()).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_line_is_one_trimmed_line() {
        assert_eq!(
            summary_line("  A\twidget,\r\n  for   widgets \n").as_deref(),
            Some("A widget, for widgets")
        );
        assert_eq!(summary_line(" \n\t "), None);
        assert_eq!(summary_line(""), None);
    }

    #[test]
    fn a_long_summary_line_is_cut_at_a_char_boundary() {
        // 'é' is two bytes: byte SUMMARY_MAX falls inside one.
        let long = format!("x{}", "é".repeat(SUMMARY_MAX));
        let cut = summary_line(&long).expect("a line");
        assert_eq!(cut.len(), SUMMARY_MAX - 1);
        assert!(long.starts_with(&cut));
        let exact = "a".repeat(SUMMARY_MAX);
        assert_eq!(summary_line(&exact).as_deref(), Some(exact.as_str()));
        // Cut just after a word: the space before the next one does not stay.
        let spaced = format!("{} b", "a".repeat(SUMMARY_MAX - 1));
        assert_eq!(
            summary_line(&spaced).map(|s| s.len()),
            Some(SUMMARY_MAX - 1)
        );
    }
}
