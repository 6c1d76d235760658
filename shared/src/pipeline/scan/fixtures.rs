//! Test inputs, built in memory with the same standard crates the scanner reads with.

use std::io::{Cursor, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

/// The EICAR test string, assembled at run time so no source file is itself the test
/// file (virus scanners on a developer's machine would quarantine it).
pub fn eicar() -> Vec<u8> {
    let parts = [
        "X5O!P%@AP[4",
        "\\PZX54(P^)7CC)7}$",
        "EICAR-STANDARD-ANTIVIRUS-",
        "TEST-FILE!$H+H*",
    ];
    parts.concat().into_bytes()
}

pub fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

pub fn stored() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
}

/// A zip of `(name, content)` entries, written with a seekable writer (sizes in the local
/// headers).
pub fn zip(entries: &[(&str, &[u8])], options: SimpleFileOptions) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in entries {
        w.start_file(*name, options).expect("start entry");
        w.write_all(content).expect("write entry");
    }
    w.finish().expect("finish zip").into_inner()
}

/// A zip whose entry `name` is `zeros` zero bytes, deflated: ~1 KiB per MiB. Only the
/// compressed bytes are ever held.
pub fn zip_of_zeros(name: &str, zeros: u64) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file(name, deflated().large_file(false))
        .expect("start entry");
    let block = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        w.write_all(&block[..n]).expect("write zeros");
        left -= n as u64;
    }
    w.finish().expect("finish zip").into_inner()
}

/// A zip written as a stream: sizes only in data descriptors after each entry's data.
pub fn zip_streamed(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ZipWriter::new_stream(Vec::new());
    for (name, content) in entries {
        w.start_file(*name, deflated()).expect("start entry");
        w.write_all(content).expect("write entry");
    }
    w.finish().expect("finish zip").into_inner()
}

pub fn zip_with_symlink(name: &str, target: &str) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("pkg/README", deflated()).expect("start entry");
    w.write_all(b"hello").expect("write entry");
    w.add_symlink(name, target, stored()).expect("symlink");
    w.finish().expect("finish zip").into_inner()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("finish gzip")
}

/// What a tar entry is.
pub enum TarEntry<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// A GNU tar. Names are written as raw header bytes: the tar crate's own builder refuses
/// `..` and absolute paths, which is exactly what these tests need to produce.
pub fn tar(entries: &[TarEntry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut h = tar::Header::new_gnu();
        let (name, data, kind, link): (&str, &[u8], _, Option<&str>) = match entry {
            TarEntry::File(n, d) => (n, d, tar::EntryType::Regular, None),
            TarEntry::Symlink(n, t) => (n, &[], tar::EntryType::Symlink, Some(t)),
            TarEntry::Hardlink(n, t) => (n, &[], tar::EntryType::Link, Some(t)),
        };
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("finish tar")
}

pub fn tar_gz(entries: &[TarEntry<'_>]) -> Vec<u8> {
    gzip(&tar(entries))
}
