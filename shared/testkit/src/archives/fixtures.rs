//! Test inputs, built in memory with the standard writers (`zip`, `tar`, `flate2`), and a
//! few laid out by hand where no writer makes them.

use std::io::{Cursor, Seek, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use zip::CompressionMethod;
use zip::ZipArchive;
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
    write_zeros(&mut w, name, zeros);
    w.finish().expect("finish zip").into_inner()
}

/// [`zip_of_zeros`] written as a stream: its sizes follow the data.
pub fn zip_streamed_of_zeros(name: &str, zeros: u64) -> Vec<u8> {
    let mut w = ZipWriter::new_stream(Vec::new());
    write_zeros(&mut w, name, zeros);
    w.finish().expect("finish zip").into_inner()
}

fn write_zeros<W: Write + Seek>(w: &mut ZipWriter<W>, name: &str, zeros: u64) {
    w.start_file(name, deflated().large_file(false))
        .expect("start entry");
    let block = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        w.write_all(&block[..n]).expect("write zeros");
        left -= n as u64;
    }
}

/// A zip written as a stream (`ZipWriter::new_stream`), as macOS, Go, `jar` and streaming
/// writers do: each entry's sizes and CRC-32 only in a data descriptor after its data.
pub fn zip_streamed(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_streamed_with(entries, deflated())
}

/// [`zip_streamed`] with other options; a name ending in `/` is a directory.
pub fn zip_streamed_with(entries: &[(&str, &[u8])], options: SimpleFileOptions) -> Vec<u8> {
    let mut w = ZipWriter::new_stream(Vec::new());
    for (name, content) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, options).expect("directory");
            continue;
        }
        w.start_file(*name, options).expect("start entry");
        w.write_all(content).expect("write entry");
    }
    w.finish().expect("finish zip").into_inner()
}

/// Offsets of the local headers of a zip, from its central directory.
pub fn local_headers(zip_bytes: &[u8]) -> Vec<usize> {
    let mut archive = ZipArchive::new(Cursor::new(zip_bytes)).expect("a zip");
    (0..archive.len())
        .map(|i| {
            let entry = archive.by_index_raw(i).expect("entry");
            usize::try_from(entry.header_start()).expect("offset")
        })
        .collect()
}

/// Whether every local header of the zip has general-purpose flag bit 3: its sizes and
/// CRC-32 are in a data descriptor after its data.
pub fn uses_data_descriptors(zip_bytes: &[u8]) -> bool {
    local_headers(zip_bytes)
        .into_iter()
        .all(|at| zip_bytes[at..].starts_with(b"PK\x03\x04") && zip_bytes[at + 6] & 0x08 != 0)
}

/// Where the data descriptor after the entry at `local` starts (it has a signature).
pub fn data_descriptor(zip_bytes: &[u8], local: usize) -> usize {
    zip_bytes[local + 4..]
        .windows(4)
        .position(|w| w == b"PK\x07\x08")
        .map(|p| local + 4 + p)
        .expect("a data descriptor")
}

/// Offsets of the central directory headers of a zip without a comment.
pub fn central_headers(zip_bytes: &[u8]) -> Vec<usize> {
    let end = zip_bytes.len() - 22;
    assert_eq!(
        &zip_bytes[end..end + 4],
        b"PK\x05\x06",
        "an end record, no comment"
    );
    let le16 = |at: usize| usize::from(u16::from_le_bytes([zip_bytes[at], zip_bytes[at + 1]]));
    let le32 = |at: usize| {
        u32::from_le_bytes([
            zip_bytes[at],
            zip_bytes[at + 1],
            zip_bytes[at + 2],
            zip_bytes[at + 3],
        ])
    };
    let mut at = usize::try_from(le32(end + 16)).expect("offset");
    let mut headers = Vec::new();
    for _ in 0..le16(end + 10) {
        headers.push(at);
        at += 46 + le16(at + 28) + le16(at + 30) + le16(at + 32);
    }
    headers
}

/// A zip of stored entries, each followed by a data descriptor (with its signature): no
/// writer here makes one, so it is laid out by hand as APPNOTE 4.3 has it.
pub fn zip_stored_with_descriptors(entries: &[(&str, &[u8])]) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, fields16: &[u16], fields32: &[u32]) {
        for f in fields16 {
            out.extend_from_slice(&f.to_le_bytes());
        }
        for f in fields32 {
            out.extend_from_slice(&f.to_le_bytes());
        }
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, content) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(content);
        let (crc, len) = (crc.sum(), u32::try_from(content.len()).expect("small"));
        let name_len = u16::try_from(name.len()).expect("short name");
        let offset = u32::try_from(out.len()).expect("small");
        // Version 2.0, flag bit 3, stored, 1980-01-01 00:00; CRC-32 and sizes 0.
        out.extend_from_slice(b"PK\x03\x04");
        put(&mut out, &[20, 0x0008, 0, 0, 0x21], &[0, 0, 0]);
        put(&mut out, &[name_len, 0], &[]);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(content);
        out.extend_from_slice(b"PK\x07\x08");
        put(&mut out, &[], &[crc, len, len]);
        // Made by Unix, a regular file (0o100644).
        central.extend_from_slice(b"PK\x01\x02");
        put(
            &mut central,
            &[0x031e, 20, 0x0008, 0, 0, 0x21],
            &[crc, len, len],
        );
        put(
            &mut central,
            &[name_len, 0, 0, 0, 0],
            &[0o100_644 << 16, offset],
        );
        central.extend_from_slice(name.as_bytes());
    }
    let count = u16::try_from(entries.len()).expect("few entries");
    let start = u32::try_from(out.len()).expect("small");
    let size = u32::try_from(central.len()).expect("small");
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    put(&mut out, &[0, 0, count, count], &[size, start]);
    put(&mut out, &[0], &[]);
    out
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

/// A Python project's distributions as the build tools lay them out: a wheel (a zip with
/// `{dist}-{version}.dist-info/{METADATA,WHEEL,RECORD}` next to the module) and an sdist
/// (`{dist}-{version}/PKG-INFO` in a tar.gz).
pub struct PythonProject<'a> {
    /// As it appears in filenames (`foo_bar`).
    pub dist: &'a str,
    /// `Name:` of the metadata (any spelling).
    pub name: &'a str,
    pub version: &'a str,
    /// Extra metadata lines, e.g. `Requires-Python: >=3.8\n`.
    pub extra_metadata: &'a str,
    /// `(path, content)` of the module files, e.g. `("foo_bar/__init__.py", b"X = 1\n")`.
    pub files: &'a [(&'a str, &'a [u8])],
}

impl PythonProject<'_> {
    pub fn metadata(&self) -> String {
        format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}\nA description.\n",
            self.name, self.version, self.extra_metadata
        )
    }

    pub fn wheel_name(&self) -> String {
        format!("{}-{}-py3-none-any.whl", self.dist, self.version)
    }

    pub fn wheel(&self) -> Vec<u8> {
        let info = format!("{}-{}.dist-info", self.dist, self.version);
        let metadata = self.metadata();
        let wheel = "Wheel-Version: 1.0\nGenerator: trove-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
        let mut record = String::new();
        let mut entries: Vec<(String, Vec<u8>)> = self
            .files
            .iter()
            .map(|(p, c)| ((*p).to_owned(), c.to_vec()))
            .collect();
        entries.push((format!("{info}/METADATA"), metadata.into_bytes()));
        entries.push((format!("{info}/WHEEL"), wheel.as_bytes().to_vec()));
        for (path, content) in &entries {
            use base64::Engine as _;
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(content);
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            record.push_str(&format!("{path},sha256={b64},{}\n", content.len()));
        }
        record.push_str(&format!("{info}/RECORD,,\n"));
        entries.push((format!("{info}/RECORD"), record.into_bytes()));
        let refs: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        zip(&refs, deflated())
    }

    pub fn sdist_name(&self) -> String {
        format!("{}-{}.tar.gz", self.dist, self.version)
    }

    pub fn sdist(&self) -> Vec<u8> {
        let root = format!("{}-{}", self.dist, self.version);
        let pkg_info = self.metadata();
        let pkg_info_path = format!("{root}/PKG-INFO");
        let pyproject = format!(
            "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"{}\"\nversion = \"{}\"\n",
            self.name, self.version
        );
        let pyproject_path = format!("{root}/pyproject.toml");
        let paths: Vec<String> = self
            .files
            .iter()
            .map(|(p, _)| format!("{root}/{p}"))
            .collect();
        let mut entries = vec![
            TarEntry::File(&pkg_info_path, pkg_info.as_bytes()),
            TarEntry::File(&pyproject_path, pyproject.as_bytes()),
        ];
        for (path, (_, content)) in paths.iter().zip(self.files) {
            entries.push(TarEntry::File(path, content));
        }
        tar_gz(&entries)
    }
}

/// An npm package's tarball as `npm pack` lays it out: every file under `package/`, the
/// manifest at `package/package.json`.
pub fn npm_tarball(package_json: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let manifest = "package/package.json";
    let paths: Vec<String> = files.iter().map(|(p, _)| format!("package/{p}")).collect();
    let mut entries = vec![TarEntry::File(manifest, package_json.as_bytes())];
    for (path, (_, content)) in paths.iter().zip(files) {
        entries.push(TarEntry::File(path, content));
    }
    tar_gz(&entries)
}

/// The document `npm publish` sends for one version with `tarball` attached: `tag` is the
/// dist-tag asked for (`npm publish --tag beta`), `integrity` the tarball's sha512.
pub fn npm_publish_document(name: &str, version: &str, tag: &str, tarball: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let integrity = format!("sha512-{}", b64.encode(sha2::Sha512::digest(tarball)));
    let base = name.rsplit('/').next().unwrap_or(name);
    let file = format!("{base}-{version}.tgz");
    let doc = format!(
        r#"{{"_id":"{name}","name":"{name}","description":"A test package","dist-tags":{{"{tag}":"{version}"}},"versions":{{"{version}":{{"name":"{name}","version":"{version}","_id":"{name}@{version}","dist":{{"integrity":"{integrity}","tarball":"http://registry.invalid/{name}/-/{file}"}}}}}},"access":null,"_attachments":{{"{name}-{version}.tgz":{{"content_type":"application/octet-stream","data":"{data}","length":{length}}}}}}}"#,
        data = b64.encode(tarball),
        length = tarball.len(),
    );
    doc
}

/// A `.crate` as `cargo package` lays it out: `{name}-{version}/Cargo.toml` (the
/// normalized manifest: `[package]` then `extra`, e.g. a `[dependencies]` table) and a
/// `src/lib.rs`.
pub fn cargo_crate(name: &str, version: &str, extra: &str) -> Vec<u8> {
    let root = format!("{name}-{version}");
    let manifest = format!(
        "[package]\nedition = \"2021\"\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"{name} for the tests\"\nlicense = \"MIT\"\n\n{extra}"
    );
    let manifest_path = format!("{root}/Cargo.toml");
    let lib_path = format!("{root}/src/lib.rs");
    tar_gz(&[
        TarEntry::File(&manifest_path, manifest.as_bytes()),
        TarEntry::File(&lib_path, b"pub fn answer() -> u32 { 42 }\n"),
    ])
}

/// cargo's publish body: the metadata JSON and the `.crate`, each after its u32
/// little-endian length.
pub fn cargo_publish_body(name: &str, version: &str, crate_bytes: &[u8]) -> Vec<u8> {
    let metadata = format!(
        r#"{{"name":"{name}","vers":"{version}","deps":[],"features":{{}},"authors":[],"description":"{name} for the tests","license":"MIT","links":null}}"#
    );
    let mut body = Vec::new();
    body.extend_from_slice(&u32::try_from(metadata.len()).expect("small").to_le_bytes());
    body.extend_from_slice(metadata.as_bytes());
    body.extend_from_slice(
        &u32::try_from(crate_bytes.len())
            .expect("small")
            .to_le_bytes(),
    );
    body.extend_from_slice(crate_bytes);
    body
}
