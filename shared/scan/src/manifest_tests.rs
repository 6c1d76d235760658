//! The manifest a repository's format asks for is kept as the archive is walked: only at
//! the archive's top level, cut at `MANIFEST_MAX`, a second one counted.

use std::io::Cursor;

use super::limits::ScanLimits;
use super::{ManifestProbe, scan_reader_probing};
use trove_core::domain::model::Format;
use trove_core::domain::model::Manifest;
use trove_core::formats::{MANIFEST_MAX, for_format};
use trove_testkit::archives::fixtures::{PythonProject, TarEntry, deflated, tar_gz, zip};

fn probe(filename: &str) -> Option<ManifestProbe> {
    Some(ManifestProbe {
        format: for_format(Format::Pypi).expect("pypi has a format"),
        filename: filename.to_owned(),
    })
}

fn manifest_of(filename: &str, bytes: &[u8]) -> Option<Manifest> {
    scan_reader_probing(
        Cursor::new(bytes),
        filename,
        &ScanLimits::default(),
        probe(filename),
    )
    .expect("scanned")
    .manifest
}

const FILES: &[(&str, &[u8])] = &[("foo_bar/__init__.py", b"X = 1\n")];

fn project() -> PythonProject<'static> {
    PythonProject {
        dist: "foo_bar",
        name: "Foo.Bar",
        version: "1.0",
        extra_metadata: "Requires-Python: >=3.8\n",
        files: FILES,
    }
}

#[test]
fn a_wheels_metadata_and_an_sdists_pkg_info_are_kept() {
    let p = project();
    let m = manifest_of(&p.wheel_name(), &p.wheel()).expect("METADATA kept");
    assert_eq!(m.path, "foo_bar-1.0.dist-info/METADATA");
    assert_eq!(m.text, p.metadata());
    assert!(m.complete);
    assert_eq!(m.others, 0);
    let m = manifest_of(&p.sdist_name(), &p.sdist()).expect("PKG-INFO kept");
    assert_eq!(m.path, "foo_bar-1.0/PKG-INFO");
    assert_eq!(m.text, p.metadata());
}

#[test]
fn only_the_top_level_manifest_counts_and_a_second_is_counted() {
    let inner = zip(
        &[("foo_bar-1.0.dist-info/METADATA", b"Name: evil\n\n")],
        deflated(),
    );
    // A METADATA deeper down, or inside a nested archive, is not the wheel's.
    let wheel = zip(
        &[
            (
                "vendor/foo_bar-1.0.dist-info/METADATA",
                b"Name: evil\n\n".as_slice(),
            ),
            ("nested.zip", &inner),
        ],
        deflated(),
    );
    assert_eq!(manifest_of("foo_bar-1.0-py3-none-any.whl", &wheel), None);
    let twice = zip(
        &[
            (
                "foo_bar-1.0.dist-info/METADATA",
                b"Name: foo-bar\n\n".as_slice(),
            ),
            ("Foo.Bar-1.0.0.dist-info/METADATA", b"Name: evil\n\n"),
        ],
        deflated(),
    );
    let m = manifest_of("foo_bar-1.0-py3-none-any.whl", &twice).expect("kept");
    assert_eq!((m.text.as_str(), m.others), ("Name: foo-bar\n\n", 1));
    // Without a probe (a generic repository) nothing is kept.
    let p = project();
    let found = scan_reader_probing(
        Cursor::new(p.wheel()),
        "x.whl",
        &ScanLimits::default(),
        None,
    )
    .expect("scanned");
    assert_eq!(found.manifest, None);
}

#[test]
fn a_long_manifest_is_cut_and_says_so() {
    let long = format!("Name: foo-bar\nSummary: {}\n\n", "x".repeat(MANIFEST_MAX));
    let sdist = tar_gz(&[TarEntry::File("foo_bar-1.0/PKG-INFO", long.as_bytes())]);
    let m = manifest_of("foo_bar-1.0.tar.gz", &sdist).expect("kept");
    assert_eq!(m.text.len(), MANIFEST_MAX);
    assert!(!m.complete);
}
