//! Zip archives read as a stream: entries whose sizes follow their data (data
//! descriptors), and the central directory checked against what the stream showed.

use std::io::{Cursor, Write};

use zip::write::{FullFileOptions, ZipWriter};

use super::limits::{GIB, MIB, ScanLimits};
use super::tests::{found, refused, scan, scan_with};
use trove_testkit::archives::fixtures::{
    central_headers, data_descriptor, deflated, eicar, local_headers, stored,
    uses_data_descriptors, zip, zip_stored_with_descriptors, zip_streamed, zip_streamed_of_zeros,
    zip_streamed_with,
};

const INVALID: &str = "invalid archive: w.zip is not a zip archive that can be read: ";

/// `len` bytes that do not compress: their deflate stream spans many reads.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

fn eicar_at(path: &str) -> Vec<trove_core::domain::model::ScanFinding> {
    vec![found("EICAR_Test_File", "malware", path)]
}

#[test]
fn eicar_in_a_zip_with_data_descriptors_is_found() {
    let e = eicar();
    let z = zip_streamed(&[("README", b"hello"), ("bin/eicar.com", &e)]);
    assert!(uses_data_descriptors(&z));
    assert_eq!(
        scan("w.zip", &z).expect("scanned"),
        eicar_at("w.zip/bin/eicar.com")
    );
    // After an entry of many reads, and stored as well as deflated.
    let z = zip_streamed(&[("noise.bin", &noise(300_000)), ("eicar.com", &e)]);
    assert!(uses_data_descriptors(&z));
    assert_eq!(
        scan("w.zip", &z).expect("scanned"),
        eicar_at("w.zip/eicar.com")
    );
}

#[test]
fn clean_zips_with_data_descriptors_pass() {
    // Several 64 KiB reads and YARA windows, an empty file, a directory, and incompressible
    // bytes whose deflate stream ends in the middle of a read.
    let text: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let files: [(&str, &[u8]); 5] = [
        ("w/README", b"hello"),
        ("w/empty", b""),
        ("w/big.txt", &text),
        ("w/noise.bin", &noise(200_001)),
        ("w/last", b"bye"),
    ];
    let z = zip_streamed(&files);
    assert!(uses_data_descriptors(&z));
    assert_eq!(scan("w.zip", &z).expect("scanned"), []);
    let mut with_dir = vec![("w/", &b""[..])];
    with_dir.extend_from_slice(&files);
    assert_eq!(
        scan("w.zip", &zip_streamed(&with_dir)).expect("scanned"),
        []
    );

    // Zip64: the descriptors' sizes are 8 bytes each (24 bytes with the signature).
    let z64 = zip_streamed_with(&files, deflated().large_file(true));
    assert!(uses_data_descriptors(&z64));
    let locals = local_headers(&z64);
    assert_eq!(locals[1] - data_descriptor(&z64, locals[0]), 24);
    assert_eq!(scan("w.zip", &z64).expect("scanned"), []);
    let e = eicar();
    let z64 = zip_streamed_with(&[("a", b"x"), ("e.com", &e)], deflated().large_file(true));
    assert_eq!(
        scan("w.zip", &z64).expect("scanned"),
        eicar_at("w.zip/e.com")
    );
}

#[test]
fn nested_zips_with_data_descriptors_are_walked() {
    let inner = zip_streamed(&[("eicar.com", &eicar())]);
    let middle = zip_streamed(&[("README", b"hi"), ("lib/inner.jar", &inner)]);
    assert!(uses_data_descriptors(&middle));
    assert_eq!(
        scan("app.zip", &middle).expect("scanned"),
        eicar_at("app.zip/lib/inner.jar/eicar.com")
    );
    // Inside a zip with sizes in its headers, and the other way round.
    let outer = zip(&[("dist/app.zip", &middle)], deflated());
    assert_eq!(
        scan("w.zip", &outer).expect("scanned"),
        eicar_at("w.zip/dist/app.zip/lib/inner.jar/eicar.com")
    );
    let plain = zip(&[("eicar.com", &eicar())], deflated());
    let outer = zip_streamed(&[("x.zip", &plain)]);
    assert_eq!(
        scan("w.zip", &outer).expect("scanned"),
        eicar_at("w.zip/x.zip/eicar.com")
    );
    // The depth limit holds.
    let mut z = inner;
    for _ in 0..3 {
        z = zip_streamed(&[("in.zip", &z)]);
    }
    assert_eq!(
        refused(scan("d.zip", &z)),
        "archive nested too deep: d.zip/in.zip/in.zip/in.zip is inside more than 3 levels of \
         archives"
    );
}

#[test]
fn a_zip_bomb_with_data_descriptors_is_refused_while_inflating() {
    // 2 GiB of zeros in ~2 MB; the size is only said after the data.
    let bomb = zip_streamed_of_zeros("zeros.bin", 2 * GIB);
    assert!(uses_data_descriptors(&bomb));
    assert!(
        bomb.len() < 4 * MIB as usize,
        "bomb is {} bytes",
        bomb.len()
    );
    let reason = refused(scan("bomb.zip", &bomb));
    assert!(
        reason.starts_with("zip bomb: bomb.zip/zeros.bin expands"),
        "{reason}"
    );
    assert!(reason.contains("(8.0 MiB from"), "{reason}");
    assert!(reason.ends_with("more than 100:1"), "{reason}");

    let loose = ScanLimits {
        max_ratio: u64::MAX,
        max_uncompressed: 64 * MIB,
        ..ScanLimits::default()
    };
    assert_eq!(
        refused(scan_with("bomb.zip", &bomb, &loose)),
        "archive too large to scan: bomb.zip/zeros.bin expands past 64.0 MiB of content"
    );
}

#[test]
fn entry_limits_hold_for_data_descriptors() {
    let z = zip_streamed(&[("a/../../evil", b"x")]);
    assert_eq!(
        refused(scan("evil.zip", &z)),
        "path traversal: a/../../evil in evil.zip"
    );
    let names: Vec<String> = (0..6).map(|i| format!("f{i}")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let limits = ScanLimits {
        max_entries: 5,
        ..ScanLimits::default()
    };
    assert_eq!(
        refused(scan_with("many.zip", &zip_streamed(&entries), &limits)),
        "too many entries: more than 5 in many.zip"
    );

    // Symlinks, known from the central directory. (The `zip` crate's `add_symlink` would
    // store the target, and stored entries with descriptors are refused, see below.)
    let linked = |target: &str| {
        let mut w = ZipWriter::new_stream(Vec::new());
        w.start_file("pkg/README", deflated()).expect("entry");
        w.write_all(b"hello").expect("write");
        let symlink = deflated().external_attributes(0o120_777 << 16);
        w.start_file("pkg/link", symlink).expect("symlink");
        w.write_all(target.as_bytes()).expect("write");
        w.finish().expect("finish").into_inner()
    };
    let z = linked("../../../etc/passwd");
    assert!(uses_data_descriptors(&z));
    assert_eq!(
        refused(scan("w.zip", &z)),
        "link escapes the archive: pkg/link -> ../../../etc/passwd in w.zip"
    );
    assert_eq!(scan("w.zip", &linked("README")).expect("scanned"), []);
}

#[test]
fn a_data_descriptor_that_does_not_match_is_refused() {
    let z = zip_streamed(&[("a.txt", &b"hello ".repeat(100))]);
    // Signature, CRC-32, compressed size, size.
    let at = data_descriptor(&z, local_headers(&z)[0]);
    let corrupt = |offset: usize| {
        let mut bad = z.clone();
        bad[at + offset] ^= 1;
        refused(scan("w.zip", &bad))
    };
    let reason = corrupt(4);
    assert!(
        reason.starts_with(&format!("{INVALID}entry a.txt has CRC-32 ")),
        "{reason}"
    );
    assert!(reason.contains(", its data descriptor says "), "{reason}");
    assert!(
        corrupt(8).starts_with(&format!("{INVALID}entry a.txt takes ")),
        "compressed size"
    );
    assert_eq!(
        corrupt(12),
        format!("{INVALID}entry a.txt is 600 bytes long, its data descriptor says 601")
    );
    // A corrupt deflate stream is named too.
    let mut bad = z.clone();
    bad[local_headers(&z)[0] + 30 + 5 + 1] ^= 0xff;
    let reason = refused(scan("w.zip", &bad));
    assert!(
        reason.starts_with(&format!("{INVALID}entry a.txt")),
        "{reason}"
    );
}

#[test]
fn a_corrupt_nested_entry_is_still_scanned() {
    // The inner zip is unreadable past its entry (its CRC-32 does not match), so it is
    // scanned as data; its entry was inflated and scanned all the same.
    let inner = zip_streamed(&[("eicar.com", &eicar())]);
    let mut bad = inner.clone();
    bad[data_descriptor(&inner, 0) + 4] ^= 1;
    let outer = zip(&[("lib/x.jar", &bad)], deflated());
    assert_eq!(
        scan("w.zip", &outer).expect("scanned"),
        eicar_at("w.zip/lib/x.jar/eicar.com")
    );
}

#[test]
fn a_stored_entry_with_a_data_descriptor_is_refused() {
    let z = zip_stored_with_descriptors(&[("a.txt", b"hello")]);
    assert!(uses_data_descriptors(&z));
    assert_eq!(
        refused(scan("w.zip", &z)),
        format!(
            "{INVALID}entry a.txt is stored with its size after the data (a data descriptor): \
             where it ends cannot be known while streaming; re-create the archive with \
             compression (deflate) or with sizes in the local headers"
        )
    );
    // Empty ones (Info-ZIP and macOS write empty files so) are read.
    let z = zip_stored_with_descriptors(&[("w/", b""), ("w/empty", b""), ("w/more", b"")]);
    assert!(uses_data_descriptors(&z));
    assert_eq!(scan("w.zip", &z).expect("scanned"), []);
    // Nested, it is scanned as data: its stored bytes are in plain sight.
    let e = eicar();
    let inner = zip_stored_with_descriptors(&[("eicar.com", &e)]);
    let outer = zip(&[("x.zip", &inner)], deflated());
    assert_eq!(
        scan("w.zip", &outer).expect("scanned"),
        eicar_at("w.zip/x.zip")
    );
    // The same bytes with a stored entry's sizes up front are read as usual.
    let plain = zip(&[("eicar.com", &e)], stored());
    assert_eq!(
        scan("w.zip", &plain).expect("scanned"),
        eicar_at("w.zip/eicar.com")
    );
}

#[test]
fn the_central_directory_must_match_the_stream() {
    let z = zip_streamed(&[("README", b"hello"), ("lib/a.txt", b"aaa")]);
    assert_eq!(scan("w.zip", &z).expect("scanned"), []);
    let central = central_headers(&z);
    let patched = |at: usize, bytes: &[u8]| {
        let mut bad = z.clone();
        bad[at..at + bytes.len()].copy_from_slice(bytes);
        refused(scan("w.zip", &bad))
    };
    // Extractors read the central directory: another name there than in the stream.
    assert_eq!(
        patched(central[1] + 46, b"X"),
        format!(
            "{INVALID}the central directory names Xib/a.txt the entry the stream names lib/a.txt"
        )
    );
    let reason = patched(central[0] + 16, &[0, 0, 0, 0]);
    assert!(
        reason.starts_with(&format!(
            "{INVALID}entry README: the central directory says CRC-32 00000000, the stream "
        )),
        "{reason}"
    );
    // Two headers for one entry, or one for no entry.
    assert_eq!(
        patched(central[1] + 42, &0u32.to_le_bytes()),
        format!("{INVALID}the central directory lists the entry at offset 0 twice")
    );
    assert!(
        patched(central[1] + 42, &7u32.to_le_bytes()).ends_with("where the stream has no entry")
    );

    // An entry the central directory leaves out is hidden from extractors.
    let mut hidden = z[..central[1]].to_vec();
    let mut end = z[z.len() - 22..].to_vec();
    end[8..12].copy_from_slice(&[1, 0, 1, 0]);
    let size = u32::try_from(central[1] - central[0]).expect("small");
    end[12..16].copy_from_slice(&size.to_le_bytes());
    hidden.extend_from_slice(&end);
    assert_eq!(
        refused(scan("w.zip", &hidden)),
        format!("{INVALID}entry lib/a.txt is missing from the central directory")
    );

    // A second end record after the first: a reader searching from the end would find it.
    let mut twice = z.clone();
    twice.extend_from_slice(&z[z.len() - 22..]);
    assert_eq!(
        refused(scan("w.zip", &twice)),
        format!(
            "{INVALID}another zip record follows its end record: other readers could see a \
             different archive"
        )
    );
    // Plain bytes after it are scanned, not refused.
    let mut padded = z.clone();
    padded.extend_from_slice(&[0; 100]);
    padded.extend_from_slice(&eicar());
    assert_eq!(scan("w.zip", &padded).expect("scanned"), eicar_at("w.zip"));
    // Cut short anywhere, it is refused.
    for len in [10, 40, z.len() / 2, central[1] + 3, z.len() - 5] {
        let reason = refused(scan("w.zip", &z[..len]));
        assert!(reason.starts_with(INVALID), "{len}: {reason}");
    }
}

#[test]
fn a_unicode_path_is_checked_too() {
    // Info-ZIP's Unicode Path field: version 1, CRC-32 of the header name, then the name
    // some extractors write the entry under.
    let mut options = FullFileOptions::default();
    let mut field = vec![1, 0, 0, 0, 0];
    field.extend_from_slice(b"../../evil");
    options
        .add_extra_field(0x7075, &field, false)
        .expect("extra field");
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("harmless", options).expect("entry");
    w.write_all(b"x").expect("write");
    let z = w.finish().expect("finish").into_inner();
    assert_eq!(
        refused(scan("w.zip", &z)),
        "path traversal: ../../evil in w.zip"
    );
}
