//! The scanner on its own: signatures, archives, limits, windows.

use std::io::Cursor;

use super::engine::{RULE_FILES, rules_version};
use super::limits::{GIB, MIB, ScanLimits};
use super::{LimitHit, ScanError, scan_reader};
use trove_core::domain::model::ScanFinding;
use trove_testkit::archives::fixtures::{
    TarEntry, deflated, eicar, gzip, stored, tar, tar_gz, zip, zip_of_zeros, zip_with_symlink,
};

pub(super) fn scan(name: &str, bytes: &[u8]) -> Result<Vec<ScanFinding>, ScanError> {
    scan_with(name, bytes, &ScanLimits::default())
}

pub(super) fn scan_with(
    name: &str,
    bytes: &[u8],
    limits: &ScanLimits,
) -> Result<Vec<ScanFinding>, ScanError> {
    let found = scan_reader(Cursor::new(bytes), name, limits)?;
    assert_eq!(found.unlisted, 0);
    Ok(found.listed)
}

pub(super) fn found(rule: &str, category: &str, path: &str) -> ScanFinding {
    ScanFinding {
        rule: rule.into(),
        category: category.into(),
        path: path.into(),
    }
}

pub(super) fn refused(result: Result<Vec<ScanFinding>, ScanError>) -> String {
    match result {
        Err(ScanError::Refused(reason)) => reason,
        Err(ScanError::Limit(hit)) => hit.message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The limit of the scan policy that refused the upload.
pub(super) fn limited(result: Result<Vec<ScanFinding>, ScanError>) -> LimitHit {
    match result {
        Err(ScanError::Limit(hit)) => hit,
        other => panic!("expected a limit to refuse, got {other:?}"),
    }
}

#[test]
fn eicar_plain_is_found() {
    let mut file = eicar();
    file.extend_from_slice(b"\r\n");
    assert_eq!(
        scan("eicar.com", &file).expect("scanned"),
        [found("EICAR_Test_File", "malware", "eicar.com")]
    );
}

#[test]
fn clean_bytes_have_no_findings() {
    let text = b"just a README\n".repeat(10_000);
    assert_eq!(scan("README", &text).expect("scanned"), []);
    assert_eq!(scan("empty", b"").expect("scanned"), []);
}

#[test]
fn eicar_in_a_zip_in_a_zip_is_found_with_its_path() {
    let inner = zip(&[("inner/eicar.com", &eicar())], deflated());
    let outer = zip(&[("README", b"hi"), ("inner.zip", &inner)], deflated());
    assert_eq!(
        scan("nested.zip", &outer).expect("scanned"),
        [found(
            "EICAR_Test_File",
            "malware",
            "nested.zip/inner.zip/inner/eicar.com"
        )]
    );
}

#[test]
fn a_stored_entry_is_reported_at_the_entry_not_the_container() {
    // Stored, the string is also in the outer bytes; the person needs the entry.
    let z = zip(&[("inner/eicar.com", &eicar())], stored());
    assert_eq!(
        scan("nested.zip", &z).expect("scanned"),
        [found(
            "EICAR_Test_File",
            "malware",
            "nested.zip/inner/eicar.com"
        )]
    );
}

#[test]
fn eicar_in_gzip_and_tar_gz_and_crate() {
    assert_eq!(
        scan("notes.txt.gz", &gzip(&eicar())).expect("scanned"),
        [found("EICAR_Test_File", "malware", "notes.txt.gz")]
    );
    let e = eicar();
    let tgz = tar_gz(&[
        TarEntry::File("w-1.0/README", b"hello"),
        TarEntry::File("w-1.0/src/x.bin", &e),
    ]);
    assert_eq!(
        scan("w-1.0.crate", &tgz).expect("scanned"),
        [found(
            "EICAR_Test_File",
            "malware",
            "w-1.0.crate/w-1.0/src/x.bin"
        )]
    );
}

#[test]
fn clean_archives_pass() {
    let jar = zip(
        &[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
            ("com/acme/App.class", &[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52]),
        ],
        deflated(),
    );
    assert_eq!(scan("app.jar", &jar).expect("scanned"), []);
    let lots = b"all work and no play ".repeat(50_000);
    let tgz = tar_gz(&[
        TarEntry::File("w/README", b"hello"),
        TarEntry::File("w/big.txt", &lots),
        TarEntry::Symlink("w/docs", "README"),
        TarEntry::Symlink("w/sub/up", "../README"),
        TarEntry::Hardlink("w/again", "w/README"),
    ]);
    assert_eq!(scan("w.tar.gz", &tgz).expect("scanned"), []);
    // A nested file that only looks like an archive is scanned as data, not refused.
    let fixture = zip(
        &[("tests/broken.zip", b"PK\x03\x04 not really")],
        deflated(),
    );
    assert_eq!(scan("w.zip", &fixture).expect("scanned"), []);
}

#[test]
fn secrets_are_found() {
    let pem = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n";
    let aws = b"aws_access_key_id = AKIAZ7Q3EXAMPLEKEY12\n";
    let gcp = br#"{"type": "service_account", "project_id": "p", "private_key_id": "0123456789abcdef0123456789abcdef01234567"}"#;
    let z = zip(
        &[("k/id_ed25519", pem), ("k/creds", aws), ("k/sa.json", gcp)],
        deflated(),
    );
    assert_eq!(
        scan("keys.zip", &z).expect("scanned"),
        [
            found("AWS_Access_Key_Id", "secret", "keys.zip/k/creds"),
            found("GCP_Service_Account_Key", "secret", "keys.zip/k/sa.json"),
            found("Private_Key", "secret", "keys.zip/k/id_ed25519"),
        ]
    );
    // AWS's documented example key is in every SDK's docs.
    let docs = b"export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n";
    assert_eq!(scan("docs.md", docs).expect("scanned"), []);
}

/// `len` filler bytes with the EICAR string starting `split` bytes before offset `cut`.
fn straddling(cut: usize, split: usize, len: usize) -> Vec<u8> {
    let mut data = vec![b'.'; cut - split];
    data.extend_from_slice(&eicar());
    data.resize(len, b'.');
    data
}

#[test]
fn a_match_across_a_window_boundary_is_found() {
    let limits = ScanLimits {
        window: 64 * 1024,
        ..ScanLimits::default()
    };
    let (window, overlap, n) = (limits.window, limits.overlap, eicar().len());
    // The first scan ends at window + overlap bytes, every later one `window` bytes further.
    for cut in [window + overlap, 2 * window + overlap] {
        for split in [1, n / 2, n - 1] {
            let data = straddling(cut, split, 4 * window);
            assert_eq!(
                scan_with("big.bin", &data, &limits).expect("scanned"),
                [found("EICAR_Test_File", "malware", "big.bin")],
                "split {split} bytes before the cut at {cut}"
            );
        }
    }
    // The control: without an overlap the same straddling match is lost, so the test
    // above does test the cut.
    let blind = ScanLimits {
        overlap: 0,
        ..limits
    };
    let data = straddling(window, n / 2, 4 * window);
    assert_eq!(scan_with("big.bin", &data, &blind).expect("scanned"), []);
}

#[test]
fn a_zip_bomb_is_refused_while_inflating_quickly() {
    // 2 GiB of zeros in ~2 MB.
    let bomb = zip_of_zeros("zeros.bin", 2 * GIB);
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
    // Stopped by the ratio as soon as it could judge: 8 MiB out of 2 GiB.
    assert!(reason.contains("(8.0 MiB from"), "{reason}");
    assert!(reason.ends_with("more than 100:1"), "{reason}");

    // With no ratio limit, the cap stops it, right past the cap.
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
fn the_uncompressed_total_counts_every_entry() {
    let zeros = vec![0u8; 3 * MIB as usize];
    let z = zip(
        &[("a.bin", &zeros), ("b.bin", &zeros), ("c.bin", &zeros)],
        deflated(),
    );
    // Without a ratio limit (which would see the whole upload expand ~900:1).
    let limits = ScanLimits {
        max_uncompressed: 8 * MIB,
        max_ratio: u64::MAX,
        ..ScanLimits::default()
    };
    assert_eq!(
        refused(scan_with("z.zip", &z, &limits)),
        "archive too large to scan: z.zip/c.bin expands past 8.0 MiB of content"
    );
}

#[test]
fn a_gzip_bomb_is_refused() {
    let zeros = vec![0u8; 64 * MIB as usize];
    let reason = refused(scan("w.tar.gz", &gzip(&zeros)));
    assert!(
        reason.starts_with("gzip bomb: w.tar.gz expands"),
        "{reason}"
    );
}

#[test]
fn path_traversal_is_refused() {
    let tgz = tar_gz(&[
        TarEntry::File("w/README", b"hi"),
        TarEntry::File("../../etc/evil", b"x"),
    ]);
    assert_eq!(
        refused(scan("evil.tar.gz", &tgz)),
        "path traversal: ../../etc/evil in evil.tar.gz"
    );
    let z = zip(&[("a/../../evil", b"x")], deflated());
    assert_eq!(
        refused(scan("evil.zip", &z)),
        "path traversal: a/../../evil in evil.zip"
    );
}

#[test]
fn absolute_paths_are_refused() {
    let t = tar(&[TarEntry::File("/etc/passwd", b"root::0:0")]);
    assert_eq!(
        refused(scan("abs.tar", &t)),
        "absolute path: /etc/passwd in abs.tar"
    );
    let z = zip(&[("C:\\Windows\\evil.dll", b"x")], deflated());
    assert!(refused(scan("abs.zip", &z)).starts_with("absolute path: C:"));
}

#[test]
fn links_escaping_the_root_are_refused() {
    let t = tar_gz(&[TarEntry::Symlink("w/passwd", "../../etc/passwd")]);
    assert_eq!(
        refused(scan("w.tgz", &t)),
        "link escapes the archive: w/passwd -> ../../etc/passwd in w.tgz"
    );
    let t = tar(&[TarEntry::Symlink("w/root", "/")]);
    assert!(refused(scan("w.tar", &t)).starts_with("link escapes the archive: w/root -> /"));
    let t = tar(&[TarEntry::Hardlink("w/shadow", "../etc/shadow")]);
    assert!(refused(scan("w.tar", &t)).starts_with("link escapes the archive: w/shadow"));
    // Each link stays inside; together they climb out: `d -> .`, then `d/up -> ..`.
    let t = tar(&[TarEntry::Symlink("d", "."), TarEntry::Symlink("d/up", "..")]);
    assert!(refused(scan("w.tar", &t)).contains("is written through a link"));

    let z = zip_with_symlink("pkg/evil", "../../../etc/passwd");
    assert_eq!(
        refused(scan("w.zip", &z)),
        "link escapes the archive: pkg/evil -> ../../../etc/passwd in w.zip"
    );
    let z = zip_with_symlink("pkg/ok", "README");
    assert_eq!(scan("w.zip", &z).expect("scanned"), []);
}

#[test]
fn too_many_entries_are_refused() {
    let names: Vec<String> = (0..6).map(|i| format!("f{i}")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let limits = ScanLimits {
        max_entries: 5,
        ..ScanLimits::default()
    };
    assert_eq!(
        refused(scan_with("many.zip", &zip(&entries, deflated()), &limits)),
        "too many entries: more than 5 in many.zip"
    );
    let files: Vec<TarEntry<'_>> = names.iter().map(|n| TarEntry::File(n, b"x")).collect();
    assert!(refused(scan_with("many.tar", &tar(&files), &limits)).starts_with("too many entries"));
}

#[test]
fn nesting_is_limited() {
    let mut z = zip(&[("eicar.com", &eicar())], deflated());
    for _ in 0..2 {
        z = zip(&[("in.zip", &z)], deflated());
    }
    // Three levels: walked.
    assert_eq!(
        scan("d.zip", &z).expect("scanned"),
        [found(
            "EICAR_Test_File",
            "malware",
            "d.zip/in.zip/in.zip/eicar.com"
        )]
    );
    let z = zip(&[("in.zip", &z)], deflated());
    assert_eq!(
        refused(scan("d.zip", &z)),
        "archive nested too deep: d.zip/in.zip/in.zip/in.zip is inside more than 3 levels of archives"
    );
}

#[test]
fn a_broken_top_level_archive_is_refused() {
    let mut z = zip(&[("a.txt", &b"hello ".repeat(1000))], deflated());
    z.truncate(z.len() / 2);
    let reason = refused(scan("w.zip", &z));
    assert!(
        reason.starts_with("invalid archive: w.zip is not a zip archive that can be read"),
        "{reason}"
    );
}

#[test]
fn the_rule_files_are_all_embedded_and_fit_the_overlap() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("rules dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yar"))
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = RULE_FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
    embedded.sort();
    assert_eq!(
        on_disk, embedded,
        "every rules/*.yar is listed in RULE_FILES"
    );
    // Text strings are the matches whose length a person controls; each must fit the
    // overlap between windows (regex matches are capped at 4096 by YARA itself).
    let overlap = ScanLimits::default().overlap;
    for (name, text) in RULE_FILES {
        for line in text.lines() {
            if let Some((_, s)) = line.trim().split_once("= \"") {
                assert!(s.len() < overlap, "{name}: string too long: {line}");
            }
        }
    }
    let v = rules_version();
    assert_eq!(v.len(), 12);
    assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn findings_are_bounded_in_memory() {
    let e = eicar();
    let names: Vec<String> = (0..300).map(|i| format!("e{i:03}.com")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &e[..])).collect();
    let z = zip(&entries, deflated());
    let found = scan_reader(Cursor::new(&z), "many.zip", &ScanLimits::default()).expect("scanned");
    assert_eq!(found.listed.len(), 256);
    assert_eq!(found.total(), 300);
}
