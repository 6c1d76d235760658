//! A zip archive read as a stream, front to back, in constant memory: each entry's content
//! as it is inflated, its CRC-32 and sizes checked at its end, then the central directory
//! (what extractors read) checked against the entries the stream showed.
//!
//! Entries whose sizes follow their data (general-purpose flag bit 3, a data descriptor:
//! macOS Finder, Go's `archive/zip`, `jar`, any streaming writer) are read too. A deflate
//! stream ends itself: it is inflated until it reports its end, then the descriptor that
//! follows is read and checked against what was inflated. The decoder reads through
//! [`BufRead`] and consumes only the bytes it used, so the next header starts exactly where
//! the descriptor ends. A stored entry has no such end: one with a descriptor cannot be
//! delimited this way and is refused, with the reason (an empty one, as macOS and Info-ZIP
//! write for empty files, is read: its descriptor follows its header directly).
//!
//! Why this is written here rather than taken from a crate: no maintained one reads data
//! descriptors from a stream that cannot seek. `zip` 9.8.1's stream reader refuses them (it
//! needs the compressed size up front, and its inflater reads ahead through a `BufReader`,
//! so it could not stop at the end of a deflate stream anyway); the streaming reader of
//! `rc-zip` 5.4 (`rc-zip-sync` 4.4) bounds the deflate input by the local header's
//! compressed size, which such an entry leaves at 0, and never reads the central directory;
//! `async_zip` 0.0.19's is async, skips the descriptor without checking it, assumes its
//! 32-bit form and stops at the central directory. Only the framing is written here, the
//! fixed layouts of APPNOTE 4.3; inflating and CRC-32 are `flate2`'s.

use std::cell::Cell;
use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use flate2::Crc;
use flate2::bufread::DeflateDecoder;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const DIGITAL_SIGNATURE: u32 = 0x0505_4b50;
const ARCHIVE_EXTRA_DATA: u32 = 0x0806_4b50;
const END_OF_CENTRAL: u32 = 0x0605_4b50;
const ZIP64_END_OF_CENTRAL: u32 = 0x0606_4b50;
const ZIP64_END_LOCATOR: u32 = 0x0706_4b50;

/// Records whose signature after the end record would let an extractor that searches for
/// them see another archive than the one checked here.
const AMBIGUOUS_AFTER_END: [u32; 4] = [
    LOCAL_HEADER,
    END_OF_CENTRAL,
    ZIP64_END_OF_CENTRAL,
    ZIP64_END_LOCATOR,
];

const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;

const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;

const EXTRA_ZIP64: u16 = 0x0001;
const EXTRA_UNICODE_PATH: u16 = 0x7075;

/// A 32-bit size or offset field with this value is in the zip64 extra field instead.
const ZIP64_U32: u32 = u32::MAX;
const ZIP64_U16: u16 = u16::MAX;
/// Fixed fields of a zip64 end record after its size field.
const ZIP64_END_FIXED: u64 = 44;

const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// Bytes read from the archive at a time.
const BUFFER: usize = 64 * 1024;

/// How an entry's content is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
    /// Any other (bzip2, LZMA, ...): not read.
    Other(u16),
}

impl From<u16> for Method {
    fn from(code: u16) -> Self {
        match code {
            METHOD_STORED => Method::Stored,
            METHOD_DEFLATED => Method::Deflated,
            other => Method::Other(other),
        }
    }
}

/// A zip archive being read from a stream: [`next_entry`](Self::next_entry) until `None`,
/// [`next_central`](Self::next_central) until `None`, then [`finish`](Self::finish).
pub struct Archive<R> {
    input: Input<R>,
    book: Book,
    phase: Phase,
    /// The signature read after the last local entry or central header, for whoever reads on.
    signature: Option<u32>,
    central_start: u64,
    central_entries: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Entries,
    Central,
}

/// The local entries read so far, for the central directory to be checked against.
struct Book {
    locals: Vec<Local>,
    /// An entry was handed out and not finished.
    open: bool,
}

/// A local entry as the stream showed it, with what its content really was.
struct Local {
    offset: u64,
    name: Vec<u8>,
    unicode_name: Option<Vec<u8>>,
    method: u16,
    encrypted: bool,
    crc: u32,
    compressed: u64,
    size: u64,
    listed: bool,
}

impl<R: Read> Archive<R> {
    /// Reads the archive from `reader`, whose first byte is the archive's first byte.
    /// `position` counts the bytes consumed (it starts at 0); during an entry it moves by
    /// the compressed bytes the decoder used, which is what an expansion ratio is taken of.
    pub fn new(reader: R, position: Rc<Cell<u64>>) -> Self {
        position.set(0);
        Self {
            input: Input {
                inner: BufReader::with_capacity(BUFFER, reader),
                position,
            },
            book: Book {
                locals: Vec::new(),
                open: false,
            },
            phase: Phase::Entries,
            signature: None,
            central_start: 0,
            central_entries: 0,
        }
    }

    /// The next local entry, or `None` where the central directory starts. The entry must be
    /// [finished](Entry::finish) before the next one is asked for.
    pub fn next_entry(&mut self) -> io::Result<Option<Entry<'_, R>>> {
        self.not_open()?;
        if self.phase != Phase::Entries {
            return Ok(None);
        }
        let offset = self.input.position();
        let signature = self
            .input
            .u32()
            .map_err(truncated("before its central directory"))?;
        match signature {
            LOCAL_HEADER => {}
            CENTRAL_HEADER | END_OF_CENTRAL | ZIP64_END_OF_CENTRAL | ARCHIVE_EXTRA_DATA => {
                self.phase = Phase::Central;
                self.signature = Some(signature);
                self.central_start = offset;
                return Ok(None);
            }
            other => {
                return Err(invalid(format!(
                    "no entry or central directory at offset {offset} (found {other:#010x})"
                )));
            }
        }
        let header = LocalHeader::read(&mut self.input, offset)?;
        let data = if header.encrypted() {
            Data::Unreadable("it is encrypted".into())
        } else {
            // Bytes of the entry: known, or (a descriptor follows) as many as its deflate
            // stream takes; a stored entry's cannot be known, see `Entry::end`.
            let left = if !header.has_descriptor() {
                header.compressed
            } else if header.method == METHOD_DEFLATED {
                u64::MAX
            } else {
                0
            };
            let limited = Limited {
                input: &mut self.input,
                left,
                used: 0,
            };
            match Method::from(header.method) {
                Method::Stored if !header.has_descriptor() && header.compressed != header.size => {
                    Data::Unreadable(format!(
                        "it is stored, yet its sizes differ ({} bytes, {} compressed)",
                        header.size, header.compressed
                    ))
                }
                Method::Stored => Data::Stored(limited),
                Method::Deflated => Data::Deflated(DeflateDecoder::new(limited)),
                Method::Other(code) => {
                    Data::Unreadable(format!("its compression method ({code}) is not supported"))
                }
            }
        };
        self.book.open = true;
        Ok(Some(Entry {
            header,
            data,
            crc: Crc::new(),
            size: 0,
            progress: Progress::Reading,
            book: &mut self.book,
        }))
    }

    /// The next central directory header, checked against the local entry it points at, or
    /// `None` where the central directory ends.
    pub fn next_central(&mut self) -> io::Result<Option<CentralEntry>> {
        self.not_open()?;
        if self.phase != Phase::Central {
            return Err(invalid(
                "the central directory was asked for before the entries",
            ));
        }
        let signature = match self.signature.take() {
            Some(s) => s,
            None => self
                .input
                .u32()
                .map_err(truncated("inside its central directory"))?,
        };
        match signature {
            CENTRAL_HEADER => {}
            ARCHIVE_EXTRA_DATA => {
                return Err(invalid(
                    "its central directory is encrypted (archive extra data record)",
                ));
            }
            other => {
                self.signature = Some(other);
                return Ok(None);
            }
        }
        let header = CentralHeader::read(&mut self.input)?;
        let name = lossy(&header.name);
        if header.disk != 0 {
            return Err(invalid(format!(
                "entry {name} is on another disk: multi-disk archives are not supported"
            )));
        }
        let local = self
            .book
            .locals
            .binary_search_by_key(&header.offset, |l| l.offset)
            .ok()
            .and_then(|i| self.book.locals.get_mut(i))
            .ok_or_else(|| {
                invalid(format!(
                    "the central directory lists {name} at offset {}, where the stream has no \
                     entry",
                    header.offset
                ))
            })?;
        // Extractors read the central directory: it must describe exactly what was scanned.
        if local.listed {
            return Err(invalid(format!(
                "the central directory lists the entry at offset {} twice",
                header.offset
            )));
        }
        if header.name != local.name || header.unicode_name != local.unicode_name {
            return Err(invalid(format!(
                "the central directory names {name} the entry the stream names {}",
                lossy(&local.name)
            )));
        }
        let differs = |what: &str, central: String, stream: String| {
            invalid(format!(
                "entry {name}: the central directory says {what} {central}, the stream {stream}"
            ))
        };
        if header.method != local.method || header.encrypted() != local.encrypted {
            return Err(differs(
                "method",
                format!("{} (encrypted: {})", header.method, header.encrypted()),
                format!("{} (encrypted: {})", local.method, local.encrypted),
            ));
        }
        if header.crc != local.crc {
            return Err(differs(
                "CRC-32",
                format!("{:08x}", header.crc),
                format!("{:08x}", local.crc),
            ));
        }
        if header.compressed != local.compressed {
            return Err(differs(
                "compressed size",
                header.compressed.to_string(),
                local.compressed.to_string(),
            ));
        }
        if header.size != local.size {
            return Err(differs(
                "size",
                header.size.to_string(),
                local.size.to_string(),
            ));
        }
        local.listed = true;
        self.central_entries += 1;
        Ok(Some(CentralEntry {
            symlink: (header.external_attributes >> 16) & S_IFMT == S_IFLNK,
            name: header.name,
        }))
    }

    /// Checks the end of the archive: every entry listed once, the end records consistent
    /// with the central directory read, and nothing after them that another reader could
    /// take for a different archive. Reads the stream to its end.
    pub fn finish(mut self) -> io::Result<()> {
        while self.next_central()?.is_some() {}
        if let Some(unlisted) = self.book.locals.iter().find(|l| !l.listed) {
            return Err(invalid(format!(
                "entry {} is missing from the central directory",
                lossy(&unlisted.name)
            )));
        }
        let mut names = HashSet::with_capacity(self.book.locals.len());
        if let Some(twice) = self.book.locals.iter().find(|l| !names.insert(&l.name)) {
            return Err(invalid(format!(
                "two entries are named {}",
                lossy(&twice.name)
            )));
        }
        let input = &mut self.input;
        let mut signature = self.signature.take().unwrap_or_default();
        // The optional signature record ends the central directory and counts in its size.
        if signature == DIGITAL_SIGNATURE {
            let len = input.u16().map_err(truncated("inside its signature"))?;
            input
                .skip(len.into())
                .map_err(truncated("inside its signature"))?;
            signature = input.u32().map_err(truncated("after its signature"))?;
        }
        let entries = self.central_entries;
        let central_size = input.position().saturating_sub(4 + self.central_start);
        let central_start = self.central_start;
        let mut zip64 = false;
        if signature == ZIP64_END_OF_CENTRAL {
            let record = input.position().saturating_sub(4);
            read_zip64_end(input, record, entries, central_start, central_size)
                .map_err(truncated("inside its zip64 end records"))?;
            zip64 = true;
            signature = input.u32().map_err(truncated("before its end record"))?;
        }
        if signature != END_OF_CENTRAL {
            return Err(invalid(format!(
                "no end of central directory record after the central directory (found \
                 {signature:#010x})"
            )));
        }
        let comment = read_end(input, entries, central_start, central_size, zip64)
            .map_err(truncated("inside its end record"))?;
        // Another end record (or entry) after this one, or in its comment: a reader that
        // looks for the end record from the end of the file would find a different archive.
        let mut tail = [0u8; 3];
        if has_signature(&comment, &AMBIGUOUS_AFTER_END) {
            return Err(ambiguous_end());
        }
        keep_tail(&mut tail, &comment);
        loop {
            let chunk = input.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            let mut seam = tail.to_vec();
            seam.extend_from_slice(chunk.get(..3).unwrap_or(chunk));
            if has_signature(&seam, &AMBIGUOUS_AFTER_END)
                || has_signature(chunk, &AMBIGUOUS_AFTER_END)
            {
                return Err(ambiguous_end());
            }
            keep_tail(&mut tail, chunk);
            let n = chunk.len();
            input.consume(n);
        }
    }

    fn not_open(&self) -> io::Result<()> {
        if self.book.open {
            return Err(invalid("an entry was left before its end"));
        }
        Ok(())
    }
}

/// A central directory header, as the walker needs it (the rest is checked here).
pub struct CentralEntry {
    pub name: Vec<u8>,
    /// A Unix symlink, whatever host wrote it: its content is the target.
    pub symlink: bool,
}

/// One entry's content, as stored or inflated. Read to its end, it checks its CRC-32 and
/// sizes against the local header, or the data descriptor that follows it.
pub struct Entry<'a, R: Read> {
    header: LocalHeader,
    data: Data<'a, R>,
    crc: Crc,
    size: u64,
    progress: Progress,
    book: &'a mut Book,
}

enum Data<'a, R: Read> {
    Stored(Limited<'a, R>),
    Deflated(DeflateDecoder<Limited<'a, R>>),
    /// Why the content cannot be read.
    Unreadable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Reading,
    Ended,
    Failed,
}

impl<R: Read> Entry<'_, R> {
    /// The name as the local header has it.
    pub fn name(&self) -> &[u8] {
        &self.header.name
    }

    /// The name in an Info-ZIP Unicode Path extra field, which some extractors use instead.
    pub fn unicode_name(&self) -> Option<&[u8]> {
        self.header.unicode_name.as_deref()
    }

    pub fn method(&self) -> Method {
        Method::from(self.header.method)
    }

    pub fn encrypted(&self) -> bool {
        self.header.encrypted()
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.header.name.last(), Some(b'/' | b'\\'))
    }

    /// Reads what is left of the content and checks it; the archive may then go on.
    pub fn finish(mut self) -> io::Result<()> {
        io::copy(&mut self, &mut io::sink())?;
        if self.progress != Progress::Ended {
            return Err(invalid(format!(
                "entry {} could not be read",
                self.header.display()
            )));
        }
        let header = self.header;
        let compressed = match &self.data {
            Data::Stored(l) => l.used,
            Data::Deflated(d) => d.get_ref().used,
            Data::Unreadable(_) => 0,
        };
        self.book.locals.push(Local {
            offset: header.offset,
            encrypted: header.encrypted(),
            name: header.name,
            unicode_name: header.unicode_name,
            method: header.method,
            crc: self.crc.sum(),
            compressed,
            size: self.size,
            listed: false,
        });
        self.book.open = false;
        Ok(())
    }

    /// The content has ended: reads the data descriptor if one follows, and checks.
    fn end(&mut self) -> io::Result<()> {
        let header = &self.header;
        let limited = match &mut self.data {
            Data::Stored(l) => l,
            Data::Deflated(d) => d.get_mut(),
            Data::Unreadable(why) => {
                return Err(invalid(format!("entry {}: {why}", header.display())));
            }
        };
        if !header.has_descriptor() {
            if limited.left > 0 {
                if header.method == METHOD_STORED {
                    return Err(invalid(format!(
                        "the archive ends inside entry {}",
                        header.display()
                    )));
                }
                // The deflate stream ended before the declared size: extractors ignore the
                // rest, and its bytes were scanned as part of the archive.
                let rest = limited.left;
                limited
                    .input
                    .skip(rest)
                    .map_err(truncated("inside an entry"))?;
                limited.used += rest;
            }
            return check(
                header,
                "local header",
                (self.crc.sum(), limited.used, self.size),
                (header.crc, header.compressed, header.size),
            );
        }
        // Sizes that do not fit 32 bits make the descriptor's size fields 8 bytes long, as
        // does a zip64 local header (Java decides by the sizes, Python and `zip` by the
        // header).
        let wide = header.zip64
            || limited.used >= u64::from(ZIP64_U32)
            || self.size >= u64::from(ZIP64_U32);
        let descriptor =
            Descriptor::read(limited.input, wide).map_err(truncated("inside a data descriptor"))?;
        if header.method == METHOD_STORED && (descriptor.compressed, descriptor.size) != (0, 0) {
            return Err(invalid(format!(
                "entry {} is stored with its size after the data (a data descriptor): \
                 where it ends cannot be known while streaming; re-create the archive with \
                 compression (deflate) or with sizes in the local headers",
                header.display()
            )));
        }
        check(
            header,
            "data descriptor",
            (self.crc.sum(), limited.used, self.size),
            (descriptor.crc, descriptor.compressed, descriptor.size),
        )
    }
}

impl<R: Read> Read for Entry<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.progress {
            Progress::Ended => return Ok(0),
            Progress::Failed => {
                return Err(invalid(format!(
                    "entry {} could not be read",
                    self.header.display()
                )));
            }
            Progress::Reading if buf.is_empty() => return Ok(0),
            Progress::Reading => {}
        }
        let read = match &mut self.data {
            Data::Stored(l) => l.read(buf),
            Data::Deflated(d) => d.read(buf).map_err(|e| {
                // The decoder's own complaints (a corrupt or cut stream) name no entry;
                // errors from below (`Other`: the scan stopped, storage failed) pass as they are.
                if e.kind() == io::ErrorKind::Other {
                    e
                } else {
                    invalid(format!("entry {}: {e}", self.header.display()))
                }
            }),
            Data::Unreadable(_) => Ok(0),
        };
        let n = match read {
            Ok(0) => match self.end() {
                Ok(()) => {
                    self.progress = Progress::Ended;
                    return Ok(0);
                }
                Err(e) => {
                    self.progress = Progress::Failed;
                    return Err(e);
                }
            },
            Ok(n) => n,
            Err(e) => {
                self.progress = Progress::Failed;
                return Err(e);
            }
        };
        // A reader returns at most the length it was given.
        let n = n.min(buf.len());
        self.crc.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Compares what an entry really was, `(crc, compressed, size)`, with what `source` says.
fn check(
    header: &LocalHeader,
    source: &str,
    actual: (u32, u64, u64),
    said: (u32, u64, u64),
) -> io::Result<()> {
    let name = header.display();
    if actual.2 != said.2 {
        return Err(invalid(format!(
            "entry {name} is {} bytes long, its {source} says {}",
            actual.2, said.2
        )));
    }
    if actual.1 != said.1 {
        return Err(invalid(format!(
            "entry {name} takes {} compressed bytes, its {source} says {}",
            actual.1, said.1
        )));
    }
    if actual.0 != said.0 {
        return Err(invalid(format!(
            "entry {name} has CRC-32 {:08x}, its {source} says {:08x}",
            actual.0, said.0
        )));
    }
    Ok(())
}

/// The archive's bytes, buffered, with the position of the next unread one. Everything
/// is read through here, so the position is exact: the central directory's offsets are
/// checked against it.
struct Input<R> {
    inner: BufReader<R>,
    position: Rc<Cell<u64>>,
}

impl<R: Read> Input<R> {
    fn position(&self) -> u64 {
        self.position.get()
    }

    fn advance(&self, n: usize) {
        self.position.set(self.position.get() + n as u64);
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut bytes = [0u8; N];
        self.read_exact(&mut bytes)?;
        Ok(bytes)
    }

    fn u16(&mut self) -> io::Result<u16> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> io::Result<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> io::Result<u64> {
        self.array().map(u64::from_le_bytes)
    }

    fn bytes(&mut self, len: u16) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0u8; len.into()];
        self.read_exact(&mut bytes)?;
        Ok(bytes)
    }

    fn skip(&mut self, len: u64) -> io::Result<()> {
        let skipped = io::copy(&mut self.take(len), &mut io::sink())?;
        if skipped < len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.advance(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.advance(n);
    }
}

/// An entry's compressed bytes: at most the next `left` of the archive (`u64::MAX` when
/// the size follows the data), counting those consumed.
struct Limited<'a, R> {
    input: &'a mut Input<R>,
    left: u64,
    used: u64,
}

impl<R: Read> Read for Limited<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        // `n` is at most either length.
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Limited<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let left = self.left;
        let available = self.input.fill_buf()?;
        let n = usize::try_from(left).map_or(available.len(), |l| l.min(available.len()));
        Ok(&available[..n])
    }

    fn consume(&mut self, n: usize) {
        self.input.consume(n);
        self.left = self.left.saturating_sub(n as u64);
        self.used += n as u64;
    }
}

/// The fields of a local header that matter here.
struct LocalHeader {
    offset: u64,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    /// It has a zip64 extra field.
    zip64: bool,
    name: Vec<u8>,
    unicode_name: Option<Vec<u8>>,
}

impl LocalHeader {
    /// Reads the header after its signature.
    fn read<R: Read>(input: &mut Input<R>, offset: u64) -> io::Result<Self> {
        Self::read_fields(input, offset).map_err(truncated("inside a local header"))
    }

    fn read_fields<R: Read>(input: &mut Input<R>, offset: u64) -> io::Result<Self> {
        let _version_needed = input.u16()?;
        let flags = input.u16()?;
        let method = input.u16()?;
        let _modified = input.u32()?;
        let crc = input.u32()?;
        let compressed = input.u32()?;
        let size = input.u32()?;
        let name_len = input.u16()?;
        let extra_len = input.u16()?;
        let name = input.bytes(name_len)?;
        let extra = input.bytes(extra_len)?;
        let mut header = LocalHeader {
            offset,
            flags,
            method,
            crc,
            compressed: compressed.into(),
            size: size.into(),
            zip64: false,
            name,
            unicode_name: None,
        };
        for (id, data) in ExtraFields(&extra) {
            match id {
                EXTRA_ZIP64 => {
                    header.zip64 = true;
                    let mut fields = Le(data);
                    if size == ZIP64_U32 {
                        header.size = fields.u64().ok_or_else(short_zip64)?;
                    }
                    if compressed == ZIP64_U32 {
                        header.compressed = fields.u64().ok_or_else(short_zip64)?;
                    }
                }
                EXTRA_UNICODE_PATH => header.unicode_name = unicode_path(data),
                _ => {}
            }
        }
        Ok(header)
    }

    fn has_descriptor(&self) -> bool {
        self.flags & FLAG_DATA_DESCRIPTOR != 0
    }

    fn encrypted(&self) -> bool {
        self.flags & FLAG_ENCRYPTED != 0
    }

    fn display(&self) -> String {
        lossy(&self.name)
    }
}

/// The fields of a central directory header that matter here.
struct CentralHeader {
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    disk: u32,
    external_attributes: u32,
    offset: u64,
    name: Vec<u8>,
    unicode_name: Option<Vec<u8>>,
}

impl CentralHeader {
    /// Reads the header after its signature.
    fn read<R: Read>(input: &mut Input<R>) -> io::Result<Self> {
        Self::read_fields(input).map_err(truncated("inside its central directory"))
    }

    fn read_fields<R: Read>(input: &mut Input<R>) -> io::Result<Self> {
        let _version_made_by = input.u16()?;
        let _version_needed = input.u16()?;
        let flags = input.u16()?;
        let method = input.u16()?;
        let _modified = input.u32()?;
        let crc = input.u32()?;
        let compressed = input.u32()?;
        let size = input.u32()?;
        let name_len = input.u16()?;
        let extra_len = input.u16()?;
        let comment_len = input.u16()?;
        let disk = input.u16()?;
        let _internal_attributes = input.u16()?;
        let external_attributes = input.u32()?;
        let offset = input.u32()?;
        let name = input.bytes(name_len)?;
        let extra = input.bytes(extra_len)?;
        input.skip(comment_len.into())?;
        let mut header = CentralHeader {
            flags,
            method,
            crc,
            compressed: compressed.into(),
            size: size.into(),
            disk: disk.into(),
            external_attributes,
            offset: offset.into(),
            name,
            unicode_name: None,
        };
        for (id, data) in ExtraFields(&extra) {
            match id {
                // Only the fields whose 32-bit (16-bit) value is all ones, in this order.
                EXTRA_ZIP64 => {
                    let mut fields = Le(data);
                    if size == ZIP64_U32 {
                        header.size = fields.u64().ok_or_else(short_zip64)?;
                    }
                    if compressed == ZIP64_U32 {
                        header.compressed = fields.u64().ok_or_else(short_zip64)?;
                    }
                    if offset == ZIP64_U32 {
                        header.offset = fields.u64().ok_or_else(short_zip64)?;
                    }
                    if disk == ZIP64_U16 {
                        header.disk = fields.u32().ok_or_else(short_zip64)?;
                    }
                }
                EXTRA_UNICODE_PATH => header.unicode_name = unicode_path(data),
                _ => {}
            }
        }
        Ok(header)
    }

    fn encrypted(&self) -> bool {
        self.flags & FLAG_ENCRYPTED != 0
    }
}

/// What a data descriptor says about the entry before it.
struct Descriptor {
    crc: u32,
    compressed: u64,
    size: u64,
}

impl Descriptor {
    /// Its signature is optional (APPNOTE 4.3.9.3): without it, the CRC comes first.
    fn read<R: Read>(input: &mut Input<R>, wide: bool) -> io::Result<Self> {
        let first = input.u32()?;
        let crc = if first == DATA_DESCRIPTOR {
            input.u32()?
        } else {
            first
        };
        let (compressed, size) = if wide {
            (input.u64()?, input.u64()?)
        } else {
            (input.u32()?.into(), input.u32()?.into())
        };
        Ok(Self {
            crc,
            compressed,
            size,
        })
    }
}

/// Reads the zip64 end record (after its signature, which starts at `record`) and its
/// locator, and checks them against the central directory read.
fn read_zip64_end<R: Read>(
    input: &mut Input<R>,
    record: u64,
    entries: u64,
    central_start: u64,
    central_size: u64,
) -> io::Result<()> {
    let record_size = input.u64()?;
    let _version_made_by = input.u16()?;
    let _version_needed = input.u16()?;
    let disk = input.u32()?;
    let central_disk = input.u32()?;
    let disk_entries = input.u64()?;
    let all_entries = input.u64()?;
    let size = input.u64()?;
    let start = input.u64()?;
    let Some(extensible) = record_size.checked_sub(ZIP64_END_FIXED) else {
        return Err(invalid("its zip64 end record is too short"));
    };
    input.skip(extensible)?;
    if disk != 0
        || central_disk != 0
        || disk_entries != all_entries
        || all_entries != entries
        || size != central_size
        || start != central_start
    {
        return Err(invalid(
            "its zip64 end record does not describe its central directory",
        ));
    }
    if input.u32()? != ZIP64_END_LOCATOR {
        return Err(invalid("its zip64 end record has no locator"));
    }
    let locator_disk = input.u32()?;
    let at = input.u64()?;
    let disks = input.u32()?;
    if locator_disk != 0 || disks != 1 || at != record {
        return Err(invalid("its zip64 end record locator does not point at it"));
    }
    Ok(())
}

/// Reads the end record (after its signature), checks it against the central directory
/// read, and returns its comment.
fn read_end<R: Read>(
    input: &mut Input<R>,
    entries: u64,
    central_start: u64,
    central_size: u64,
    zip64: bool,
) -> io::Result<Vec<u8>> {
    let disk = input.u16()?;
    let central_disk = input.u16()?;
    let disk_entries = input.u16()?;
    let all_entries = input.u16()?;
    let size = input.u32()?;
    let start = input.u32()?;
    let comment_len = input.u16()?;
    let comment = input.bytes(comment_len)?;
    // With a zip64 record, all ones defers to it (which was checked).
    let fits =
        |value: u64, field: u64, all_ones: u64| field == value || (zip64 && field == all_ones);
    if disk != 0
        || central_disk != 0
        || disk_entries != all_entries
        || !fits(entries, all_entries.into(), ZIP64_U16.into())
        || !fits(central_size, size.into(), ZIP64_U32.into())
        || !fits(central_start, start.into(), ZIP64_U32.into())
    {
        return Err(invalid(
            "its end of central directory record does not describe its central directory",
        ));
    }
    Ok(comment)
}

/// Extra fields, `(id, data)`, up to the first one that does not fit.
struct ExtraFields<'a>(&'a [u8]);

impl<'a> Iterator for ExtraFields<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let mut fields = Le(self.0);
        let id = fields.u16()?;
        let len = fields.u16()?;
        let data = fields.0.get(..usize::from(len))?;
        self.0 = fields.0.get(usize::from(len)..)?;
        Some((id, data))
    }
}

/// Little-endian fields taken from the front of a slice.
struct Le<'a>(&'a [u8]);

impl Le<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}

/// An Info-ZIP Unicode Path field: version 1, the CRC-32 of the header's name, the name.
fn unicode_path(data: &[u8]) -> Option<Vec<u8>> {
    match data.split_first() {
        Some((1, rest)) => rest.get(4..).map(<[u8]>::to_vec),
        _ => None,
    }
}

fn has_signature(data: &[u8], signatures: &[u32]) -> bool {
    data.windows(4)
        .any(|w| <[u8; 4]>::try_from(w).is_ok_and(|b| signatures.contains(&u32::from_le_bytes(b))))
}

/// Keeps the last 3 bytes seen, so a signature cut between two reads is still found.
fn keep_tail(tail: &mut [u8; 3], data: &[u8]) {
    let mut joined = tail.to_vec();
    joined.extend_from_slice(data);
    let from = joined.len().saturating_sub(3);
    if let Some(last) = joined.get(from..) {
        tail.copy_from_slice(last);
    }
}

fn ambiguous_end() -> io::Error {
    invalid(
        "another zip record follows its end record: other readers could see a different \
         archive",
    )
}

fn short_zip64() -> io::Error {
    invalid("a zip64 extra field is too short")
}

fn invalid(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.into())
}

/// Turns running out of bytes into a reason; other errors pass as they are.
fn truncated(place: &'static str) -> impl Fn(io::Error) -> io::Error {
    move |e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            invalid(format!("the archive ends {place}"))
        } else {
            e
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
