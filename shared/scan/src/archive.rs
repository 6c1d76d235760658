//! Walks an upload like an extractor would, without extracting: every stream of content
//! (the object, each entry, each decompressed stream) goes through YARA, and each archive
//! found by its magic bytes is opened, streaming (`tar`, `flate2`, and for zip the reader of
//! [`zip_stream`]), with the limits of [`ScanLimits`](super::limits::ScanLimits) enforced as
//! bytes flow. Nothing is ever buffered whole.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

use super::format::{self, Kind, SNIFF_LEN};
use super::limits::human;
use super::paths;
use super::stream::{Counted, Inflated, ScanState, Scanned};
use super::zip_stream::{self, CentralEntry, Entry, Method};
use trove_core::formats::MANIFEST_MAX;

/// Bytes read at a time when a stream is read to its end.
const DRAIN_BUF: usize = 64 * 1024;
/// Largest tar extended header (pax records, GNU long names) read into memory.
const MAX_TAR_META: u64 = 256 * 1024;
/// Bytes of small zip entries kept per archive, to check symlink targets once the central
/// directory (at the end of the stream) says which entries are symlinks.
const MAX_ZIP_KEPT: usize = 1024 * 1024;

pub struct Walker<'s> {
    pub state: &'s ScanState,
}

impl Walker<'_> {
    /// Scans one stream of content named `path`: all of its bytes through YARA, and its
    /// entries if it is an archive. `depth` is the number of archives around it.
    /// With `keep > 0`, returns the content if it is at most `keep` bytes long.
    pub fn content(
        &self,
        reader: &mut dyn Read,
        path: &str,
        depth: u32,
        via_gzip: bool,
        keep: usize,
    ) -> io::Result<Option<Vec<u8>>> {
        let mut scanned = Scanned::new(reader, self.state, keep)?;
        // Whatever the archive reader left (trailing data, a central directory) is scanned too.
        let read = self
            .walk(&mut scanned, path, depth, via_gzip)
            .and_then(|()| drain(&mut scanned));
        if read.is_err() && self.state.failed() {
            return read.map(|()| None);
        }
        // What was read is scanned even when reading failed part-way: a nested entry found
        // corrupt at its end (its CRC-32 does not match) was still inflated, and an
        // extractor may well write it out; so was what came before a cut at the cap.
        let (hits, kept) = scanned.finish()?;
        self.state.add_hits(hits, path);
        read.map(|()| kept)
    }

    /// Opens the content as an archive if its first bytes say it is one.
    fn walk(
        &self,
        reader: &mut dyn Read,
        path: &str,
        depth: u32,
        via_gzip: bool,
    ) -> io::Result<()> {
        let mut head = Vec::with_capacity(SNIFF_LEN);
        (&mut *reader)
            .take(SNIFF_LEN as u64)
            .read_to_end(&mut head)?;
        let Some(kind) = format::sniff(&head) else {
            return Ok(());
        };
        // `.tar.gz` is one archive: the tar inside a gzip opens no new level.
        let level = if kind == Kind::Tar && via_gzip {
            depth
        } else {
            depth + 1
        };
        let max = self.state.limits.max_depth;
        if level > max {
            return Err(self.state.limit(
                "max_depth",
                u64::from(max),
                format!(
                    "archive nested too deep: {path} is inside more than {max} levels of archives"
                ),
            ));
        }
        let mut input = io::Cursor::new(head).chain(reader);
        let opened = match kind {
            Kind::Zip => self.zip(&mut input, path, level),
            Kind::Gzip => self.gzip(&mut input, path, level),
            Kind::Tar => self.tar(&mut input, path, level),
        };
        match opened {
            Ok(()) => Ok(()),
            // A limit, storage or engine failure, or a cut at the cap: already recorded,
            // keep unwinding.
            Err(e) if self.state.stopped() => Err(e),
            // The upload itself must be the archive it looks like.
            Err(e) if depth == 0 => Err(self.state.refuse(format!(
                "invalid archive: {path} is not {} that can be read: {e}",
                kind.describe()
            ))),
            // A nested file that only looks like an archive (test fixtures do): its bytes
            // are still scanned as they are.
            Err(e) => {
                tracing::debug!(path, error = %e, "nested archive not readable; scanned as data");
                Ok(())
            }
        }
    }

    fn gzip(&self, input: &mut dyn Read, path: &str, level: u32) -> io::Result<()> {
        let consumed = Rc::new(Cell::new(0));
        // Multi-member: `gzip -d` and `tar xz` read every member, so does the scan.
        let decoder = MultiGzDecoder::new(Counted::new(input, Rc::clone(&consumed)));
        let mut inflated = Inflated::new(decoder, self.state, "gzip", path, consumed);
        self.content(&mut inflated, path, level, true, 0).map(drop)
    }

    fn zip(&self, input: &mut dyn Read, path: &str, level: u32) -> io::Result<()> {
        let position = Rc::new(Cell::new(0));
        let mut archive = zip_stream::Archive::new(input, Rc::clone(&position));
        let mut walk = ZipWalk {
            walker: self,
            path,
            level,
            position,
            names: Vec::new(),
            kept: HashMap::new(),
            kept_bytes: 0,
            links: HashSet::new(),
        };
        while let Some(mut entry) = archive.next_entry()? {
            walk.entry(&mut entry)?;
            entry.finish()?;
        }
        // The central directory (what extractors read) is checked by the reader against the
        // entries the stream showed: hidden or renamed entries cannot slip by.
        while let Some(central) = archive.next_central()? {
            walk.central(&central)?;
        }
        archive.finish()?;
        walk.check_paths_through_links()
    }

    fn tar(&self, input: &mut dyn Read, path: &str, level: u32) -> io::Result<()> {
        let state = self.state;
        let max_name = state.limits.max_name_len;
        let mut archive = tar::Archive::new(input);
        // Raw: the tar crate would read extended headers whole into memory; here they are
        // read with a bound, and applied to the next entry by hand.
        let entries = archive.entries()?.raw(true);
        let mut long_name: Option<String> = None;
        let mut long_link: Option<String> = None;
        let mut links: HashSet<Vec<String>> = HashSet::new();
        for entry in entries {
            let mut entry = entry?;
            let kind = entry.header().entry_type();
            match kind {
                tar::EntryType::XHeader => {
                    let data = self.tar_meta(&mut entry, path)?;
                    for ext in tar::PaxExtensions::new(&data) {
                        let ext = ext?;
                        match ext.key() {
                            Ok("path") => long_name = Some(lossy(ext.value_bytes())),
                            Ok("linkpath") => long_link = Some(lossy(ext.value_bytes())),
                            _ => {}
                        }
                    }
                    continue;
                }
                tar::EntryType::XGlobalHeader => {
                    self.tar_meta(&mut entry, path)?;
                    continue;
                }
                tar::EntryType::GNULongName => {
                    long_name = Some(nul_trimmed(&self.tar_meta(&mut entry, path)?));
                    continue;
                }
                tar::EntryType::GNULongLink => {
                    long_link = Some(nul_trimmed(&self.tar_meta(&mut entry, path)?));
                    continue;
                }
                _ => {}
            }
            state.count_entry(path)?;
            let name = long_name
                .take()
                .unwrap_or_else(|| lossy(&entry.header().path_bytes()));
            let link = long_link.take();
            let parts = paths::components(&name, max_name)
                .map_err(|reason| state.refuse(format!("{reason} in {path}")))?;
            if paths::through_link(&parts, &links) {
                return Err(state.refuse(format!(
                    "link escapes the archive: {name} in {path} is written through a link"
                )));
            }
            if kind.is_symlink() || kind.is_hard_link() {
                let target = link.unwrap_or_else(|| {
                    lossy(&entry.header().link_name_bytes().unwrap_or_default())
                });
                if target.len() > max_name
                    || paths::link_escapes(&parts, &target, kind.is_symlink())
                {
                    return Err(state.refuse(format!(
                        "link escapes the archive: {name} -> {target} in {path}"
                    )));
                }
                if kind.is_symlink() {
                    links.insert(parts);
                }
                continue;
            }
            let has_content = !matches!(
                kind,
                tar::EntryType::Directory
                    | tar::EntryType::Char
                    | tar::EntryType::Block
                    | tar::EntryType::Fifo
            );
            if has_content {
                let entry_path = format!("{path}/{}", parts.join("/"));
                // A `.tar.gz` is one archive: its entries are at level 1 too.
                let manifest = level == 1 && state.is_manifest(&parts);
                let mut captured = Captured::new(&mut entry, manifest);
                self.content(&mut captured, &entry_path, level, false, 0)?;
                captured.keep(state, &parts);
            }
        }
        Ok(())
    }

    /// A tar extended header's data, refused past a sane size instead of buffered.
    fn tar_meta(&self, entry: &mut dyn Read, path: &str) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        entry.take(MAX_TAR_META + 1).read_to_end(&mut data)?;
        if data.len() as u64 > MAX_TAR_META {
            return Err(self.state.refuse(format!(
                "tar extended header larger than {} in {path}",
                human(MAX_TAR_META)
            )));
        }
        Ok(data)
    }
}

/// One zip archive being walked: local entries first, in stream order, then the central
/// directory's view of them.
struct ZipWalk<'w, 's> {
    walker: &'w Walker<'s>,
    path: &'w str,
    level: u32,
    /// Bytes read from the archive so far (during an entry: its compressed bytes).
    position: Rc<Cell<u64>>,
    names: Vec<Vec<String>>,
    /// Content of small entries, by name: a symlink's target, should the central
    /// directory say it is one.
    kept: HashMap<Vec<String>, Vec<u8>>,
    kept_bytes: usize,
    links: HashSet<Vec<String>>,
}

impl ZipWalk<'_, '_> {
    fn entry_parts(&self, raw: &[u8]) -> io::Result<Vec<String>> {
        let state = self.walker.state;
        paths::components(&lossy(raw), state.limits.max_name_len)
            .map_err(|reason| state.refuse(format!("{reason} in {}", self.path)))
    }

    fn entry<R: Read>(&mut self, entry: &mut Entry<'_, R>) -> io::Result<()> {
        let state = self.walker.state;
        state.count_entry(self.path)?;
        let parts = self.entry_parts(entry.name())?;
        // Some extractors write an entry under its Unicode Path name instead.
        if let Some(unicode) = entry.unicode_name() {
            self.entry_parts(unicode)?;
        }
        self.names.push(parts.clone());
        let entry_path = format!("{}/{}", self.path, parts.join("/"));
        if entry.encrypted() {
            return Err(state.refuse(format!("encrypted entry cannot be scanned: {entry_path}")));
        }
        if entry.is_dir() {
            return Ok(());
        }
        let keep = state
            .limits
            .max_name_len
            .min(MAX_ZIP_KEPT.saturating_sub(self.kept_bytes));
        let manifest = self.level == 1 && state.is_manifest(&parts);
        let mut inflated;
        // Stored bytes are the archive's own: nothing expands.
        let reader: &mut dyn Read = if entry.method() == Method::Stored {
            entry
        } else {
            inflated = Inflated::new(entry, state, "zip", &entry_path, Rc::clone(&self.position));
            &mut inflated
        };
        let mut captured = Captured::new(reader, manifest);
        let kept = self
            .walker
            .content(&mut captured, &entry_path, self.level, false, keep)?;
        captured.keep(state, &parts);
        if let Some(content) = kept {
            self.kept_bytes += content.len();
            self.kept.insert(parts, content);
        }
        Ok(())
    }

    /// A symlink's target is only known to be one once the central directory says so.
    fn central(&mut self, entry: &CentralEntry) -> io::Result<()> {
        if !entry.symlink {
            return Ok(());
        }
        let state = self.walker.state;
        let parts = self.entry_parts(&entry.name)?;
        let name = parts.join("/");
        let Some(target) = self.kept.get(&parts).map(|t| lossy(t)) else {
            return Err(state.refuse(format!(
                "link escapes the archive: the target of symlink {name} in {} cannot be checked",
                self.path
            )));
        };
        if paths::link_escapes(&parts, &target, true) {
            return Err(state.refuse(format!(
                "link escapes the archive: {name} -> {target} in {}",
                self.path
            )));
        }
        self.links.insert(parts);
        Ok(())
    }

    /// Entries written below a symlink: only known once the central directory is read.
    fn check_paths_through_links(&self) -> io::Result<()> {
        match self
            .names
            .iter()
            .find(|n| paths::through_link(n, &self.links))
        {
            Some(name) => Err(self.walker.state.refuse(format!(
                "link escapes the archive: {} in {} is written through a link",
                name.join("/"),
                self.path
            ))),
            None => Ok(()),
        }
    }
}

/// Keeps the first bytes of a manifest entry as they are read (and scanned): the format
/// reads the file's identity from them without the archive being opened again.
struct Captured<'r> {
    inner: &'r mut dyn Read,
    kept: Option<Vec<u8>>,
    total: u64,
}

impl<'r> Captured<'r> {
    fn new(inner: &'r mut dyn Read, manifest: bool) -> Self {
        Self {
            inner,
            kept: manifest.then(Vec::new),
            total: 0,
        }
    }

    fn keep(self, state: &ScanState, parts: &[String]) {
        if let Some(kept) = self.kept {
            let complete = self.total == kept.len() as u64;
            state.keep_manifest(parts.join("/"), &kept, complete);
        }
    }
}

impl Read for Captured<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(kept) = &mut self.kept {
            let room = MANIFEST_MAX.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..room.min(n)]);
        }
        self.total += n as u64;
        Ok(n)
    }
}

/// Reads to the end, so every byte is scanned.
fn drain(reader: &mut dyn Read) -> io::Result<()> {
    let mut buf = vec![0u8; DRAIN_BUF];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// GNU long names end with NUL padding.
fn nul_trimmed(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    lossy(&bytes[..end])
}
