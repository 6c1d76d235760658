//! The repository's scan policy in the scanner: a big archive of ordinary data is not a
//! bomb; the cap on expanded bytes scales with the repository; `partial` when allowed.

use std::io::{self, Cursor, Read};

use super::limits::{KIB, MIB, ScanLimits};
use super::tests::{found, limited, scan_with};
use super::{Findings, ScanError, scan_reader};
use trove_core::domain::model::{Format, Oversize, Repository, ScanPolicy};
use trove_core::domain::names::RepoName;
use trove_testkit::archives::fixtures::{TarEntry, deflated, eicar, tar, zip, zip_of_zeros};
use trove_testkit::archives::noise::{tar_gz_of_noise, zip_of_noise};

fn repository(max_file_size: u64, scan_policy: ScanPolicy) -> Repository {
    Repository {
        name: RepoName::parse("libs").expect("valid"),
        id: None,
        format: Format::Generic,
        description: None,
        max_file_size,
        retention: Default::default(),
        scan_policy,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    }
}

fn noise_tgz(len: u64) -> Vec<u8> {
    tar_gz_of_noise(Vec::new(), "data/blob.bin", len, 7).expect("tar.gz")
}

fn noise_zip(len: u64) -> Vec<u8> {
    zip_of_noise(Cursor::new(Vec::new()), "data/blob.bin", len, 7)
        .expect("zip")
        .into_inner()
}

fn scan_all(name: &str, bytes: &[u8], limits: &ScanLimits) -> Result<Findings, ScanError> {
    scan_reader(Cursor::new(bytes), name, limits)
}

#[test]
fn big_archives_of_ordinary_data_pass_under_the_cap_scaled_to_the_repository() {
    // In miniature: a repository of 4 MiB files, and 3 MiB archives that expand 1:1.
    // Under a fixed cap of 2 MiB (what 1 GiB was for 1.5 GiB archives) they were bombs.
    let repo = repository(4 * MIB, ScanPolicy::default());
    let limits = ScanLimits::for_repository(&repo);
    assert_eq!(limits.max_uncompressed, 32 * MIB);
    let fixed = ScanLimits {
        max_uncompressed: 2 * MIB,
        ..ScanLimits::default()
    };
    for (name, archive) in [
        ("big.tar.gz", noise_tgz(3 * MIB)),
        ("big.zip", noise_zip(3 * MIB)),
    ] {
        assert!(archive.len() as u64 > 3 * MIB, "{name} is incompressible");
        assert_eq!(scan_with(name, &archive, &limits).expect(name), []);
        let hit = limited(scan_with(name, &archive, &fixed));
        assert_eq!(hit.setting, "max_expanded_bytes");
    }
}

#[test]
fn the_cap_follows_the_repository_max_file_size() {
    // Text that compresses ~10:1, honest, expanding to 6 MiB.
    let text: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i:08} the quick brown fox\n").into_bytes())
        .collect();
    let tgz = trove_testkit::archives::fixtures::tar_gz(&[TarEntry::File("notes.txt", &text)]);
    assert!(tgz.len() < 640 * KIB as usize, "{} bytes", tgz.len());
    let small = ScanLimits::for_repository(&repository(640 * KIB, ScanPolicy::default()));
    let hit = limited(scan_with("notes.tar.gz", &tgz, &small));
    assert_eq!(
        (hit.setting, hit.value),
        ("max_expanded_bytes", 5 * MIB),
        "8 x 640 KiB"
    );
    let larger = ScanLimits::for_repository(&repository(MIB, ScanPolicy::default()));
    assert_eq!(
        scan_with("notes.tar.gz", &tgz, &larger).expect("passes"),
        []
    );
}

#[test]
fn a_policy_that_lowers_the_cap_refuses_the_big_archive_naming_the_setting() {
    let policy = ScanPolicy {
        max_expanded_bytes: Some(MIB),
        ..ScanPolicy::default()
    };
    let limits = ScanLimits::for_repository(&repository(4 * MIB, policy));
    let hit = limited(scan_with("big.tar.gz", &noise_tgz(3 * MIB), &limits));
    assert_eq!((hit.setting, hit.value), ("max_expanded_bytes", MIB));
    assert_eq!(
        hit.message,
        "archive too large to scan: big.tar.gz expands past 1.0 MiB of content"
    );
}

/// Counts what the scanner read of the object.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for &mut Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[test]
fn a_partial_policy_publishes_past_the_cap_and_says_so() {
    let limits = ScanLimits {
        max_uncompressed: MIB,
        oversize: Oversize::Partial,
        ..ScanLimits::default()
    };
    for (name, archive) in [
        ("big.tar.gz", noise_tgz(3 * MIB)),
        ("big.zip", noise_zip(3 * MIB)),
    ] {
        let mut source = Counting {
            inner: Cursor::new(&archive),
            read: 0,
        };
        let found = scan_reader(&mut source, name, &limits).expect(name);
        let hit = found.partial.expect("marked partial");
        assert_eq!((hit.setting, hit.value), ("max_expanded_bytes", MIB));
        assert!(hit.message.contains(name), "{}", hit.message);
        // Read to its end all the same: the caller hashes the same stream.
        assert_eq!(source.read, archive.len() as u64, "{name}");
    }
}

#[test]
fn what_was_scanned_before_the_cut_still_counts() {
    let noise = trove_testkit::archives::noise::Noise::new(3, 2 * MIB);
    let mut bulk = Vec::new();
    io::copy(&mut { noise }, &mut bulk).expect("noise");
    let tgz = trove_testkit::archives::fixtures::tar_gz(&[
        TarEntry::File("eicar.com", &eicar()),
        TarEntry::File("bulk.bin", &bulk),
    ]);
    let limits = ScanLimits {
        max_uncompressed: MIB,
        oversize: Oversize::Partial,
        ..ScanLimits::default()
    };
    let found = scan_all("w.tar.gz", &tgz, &limits).expect("partial");
    assert!(found.partial.is_some());
    assert_eq!(
        found.listed,
        [found_at("w.tar.gz/eicar.com")],
        "the finding before the cut is kept"
    );
}

fn found_at(path: &str) -> trove_core::domain::model::ScanFinding {
    found("EICAR_Test_File", "malware", path)
}

#[test]
fn bombs_are_refused_even_when_partial_scans_are_allowed() {
    let limits = ScanLimits {
        max_uncompressed: 64 * MIB,
        oversize: Oversize::Partial,
        ..ScanLimits::default()
    };
    let bomb = zip_of_zeros("zeros.bin", 1 << 30);
    let hit = limited(scan_with("bomb.zip", &bomb, &limits));
    assert_eq!((hit.setting, hit.value), ("max_ratio", 100));
    // Judged by the ratio after 8 MiB of the 1 GiB, not after inflating it all.
    assert!(hit.message.contains("(8.0 MiB from"), "{}", hit.message);
}

#[test]
fn entries_too_small_to_judge_alone_are_judged_together() {
    // Each entry stays under the 8 MiB a stream must produce before its own ratio is
    // judged; together they expand ~1000:1.
    let zeros = vec![0u8; 4 * MIB as usize];
    let names: Vec<String> = (0..12).map(|i| format!("part{i}.bin")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &zeros[..])).collect();
    let z = zip(&entries, deflated());
    let hit = limited(scan_with("parts.zip", &z, &ScanLimits::default()));
    assert_eq!((hit.setting, hit.value), ("max_ratio", 100));
    assert!(hit.message.contains("overall"), "{}", hit.message);
}

#[test]
fn nesting_and_entry_limits_name_their_settings() {
    let names: Vec<String> = (0..6).map(|i| format!("f{i}")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let limits = ScanLimits {
        max_entries: 5,
        ..ScanLimits::default()
    };
    let hit = limited(scan_with("many.zip", &zip(&entries, deflated()), &limits));
    assert_eq!((hit.setting, hit.value), ("max_entries", 5));

    let inner = tar(&[TarEntry::File("a.txt", b"a")]);
    let middle = zip(&[("inner.tar", &inner)], deflated());
    let outer = zip(&[("middle.zip", &middle)], deflated());
    let shallow = ScanLimits {
        max_depth: 2,
        ..ScanLimits::default()
    };
    let hit = limited(scan_with("outer.zip", &outer, &shallow));
    assert_eq!((hit.setting, hit.value), ("max_depth", 2));
}
