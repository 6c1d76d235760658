//! The readers a scan is assembled from, one concern each, and the state they share. The
//! walk runs on one thread, so the state uses `Cell`s.
//!
//! Errors travel through `std::io::Read`, which only carries `io::Error`; the reason that
//! matters (a refusal, a storage failure, an engine failure) is recorded in [`ScanState`]
//! when it happens, and the first one recorded decides the outcome.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::io::{self, Read};
use std::rc::Rc;

use super::engine::{EngineError, Hit, WindowScanner};
use super::limits::{ScanLimits, human};
use trove_core::domain::model::{Manifest, Oversize, ScanFinding};
use trove_core::formats::PackageFormat;

/// Why a scan ended without a verdict on the content, or with a refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The upload is refused; the reason is for the uploader.
    #[error("{0}")]
    Refused(String),
    /// Reading the object from storage failed: try again.
    #[error("cannot read the upload: {0}")]
    Source(String),
    /// The upload is refused by a limit of the scan policy.
    #[error("{0}")]
    Limit(LimitHit),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A limit of the scan policy that was reached: the setting's name (as in the policy),
/// its value, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LimitHit {
    pub setting: &'static str,
    pub value: u64,
    pub message: String,
}

/// Findings kept in memory; any further ones are only counted.
const MAX_FINDINGS: usize = 256;

/// What a scan found: the findings, most specific path first per rule, and how many more
/// there were past the ones kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub listed: Vec<ScanFinding>,
    pub unlisted: u64,
    /// Set when the policy let the scan stop at its cap on expanded bytes: what lay past
    /// it was not looked at.
    pub partial: Option<LimitHit>,
    /// The manifest the repository's format asked for, if the archive has one.
    pub manifest: Option<Manifest>,
}

/// Which entry is the manifest, as the repository's format says (`PackageFormat::is_manifest`).
pub struct ManifestProbe {
    pub format: &'static dyn PackageFormat,
    /// The upload's filename: the format derives the manifest's place from it.
    pub filename: String,
}

impl Findings {
    pub fn total(&self) -> u64 {
        self.listed.len() as u64 + self.unlisted
    }
}

/// What one scan has counted and decided so far.
pub struct ScanState {
    pub limits: ScanLimits,
    uncompressed: Cell<u64>,
    /// Bytes of the object itself read so far, for the overall expansion ratio.
    read: Cell<u64>,
    entries: Cell<u64>,
    failure: RefCell<Option<ScanError>>,
    partial: RefCell<Option<LimitHit>>,
    findings: RefCell<BTreeSet<ScanFinding>>,
    unlisted: Cell<u64>,
    probe: Option<ManifestProbe>,
    manifest: RefCell<Option<Manifest>>,
}

impl ScanState {
    pub fn new(limits: ScanLimits) -> Self {
        Self {
            limits,
            uncompressed: Cell::new(0),
            read: Cell::new(0),
            entries: Cell::new(0),
            failure: RefCell::new(None),
            partial: RefCell::new(None),
            findings: RefCell::new(BTreeSet::new()),
            unlisted: Cell::new(0),
            probe: None,
            manifest: RefCell::new(None),
        }
    }

    /// Keeps the manifest `probe` recognises among the entries at the archive's top level.
    pub fn with_probe(mut self, probe: Option<ManifestProbe>) -> Self {
        self.probe = probe;
        self
    }

    /// Whether the top-level entry `parts` is the manifest.
    pub fn is_manifest(&self, parts: &[String]) -> bool {
        self.probe
            .as_ref()
            .is_some_and(|p| p.format.is_manifest(&p.filename, parts))
    }

    /// Records a manifest's first bytes; a second one is only counted.
    pub fn keep_manifest(&self, path: String, bytes: &[u8], complete: bool) {
        let mut slot = self.manifest.borrow_mut();
        match &mut *slot {
            Some(first) => first.others += 1,
            None => {
                *slot = Some(Manifest {
                    path,
                    text: String::from_utf8_lossy(bytes).into_owned(),
                    complete,
                    others: 0,
                })
            }
        }
    }

    /// Records why the scan stops (the first reason wins) and returns the error that
    /// unwinds the readers.
    pub fn fail(&self, e: ScanError) -> io::Error {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            *failure = Some(e);
        }
        io::Error::other("scan stopped")
    }

    pub fn refuse(&self, reason: String) -> io::Error {
        self.fail(ScanError::Refused(reason))
    }

    /// Refuses the upload for reaching a limit of the scan policy.
    pub fn limit(&self, setting: &'static str, value: u64, message: String) -> io::Error {
        self.fail(ScanError::Limit(LimitHit {
            setting,
            value,
            message,
        }))
    }

    /// The cap on expanded bytes is reached: the policy says whether that refuses the
    /// upload or ends the walk with the scan marked partial. Either way nothing more is
    /// expanded.
    fn over_cap(&self, message: String) -> io::Error {
        let hit = LimitHit {
            setting: "max_expanded_bytes",
            value: self.limits.max_uncompressed,
            message,
        };
        match self.limits.oversize {
            Oversize::Refuse => self.fail(ScanError::Limit(hit)),
            Oversize::Partial => {
                self.partial.borrow_mut().get_or_insert(hit);
                io::Error::other("scan cut at the cap")
            }
        }
    }

    /// Whether the walk is over (decided, or cut at the cap); readers stop reading then.
    pub fn stopped(&self) -> bool {
        self.failed() || self.partial.borrow().is_some()
    }

    /// Whether the outcome is decided without a verdict on the content.
    pub fn failed(&self) -> bool {
        self.failure.borrow().is_some()
    }

    /// Whether the walk was cut at the cap on expanded bytes.
    pub fn cut(&self) -> bool {
        self.partial.borrow().is_some()
    }

    /// One more archive entry, anywhere in the upload.
    pub fn count_entry(&self, archive: &str) -> io::Result<()> {
        let n = self.entries.get() + 1;
        self.entries.set(n);
        let max = self.limits.max_entries;
        if n > max {
            return Err(self.limit(
                "max_entries",
                max,
                format!("too many entries: more than {max} in {archive}"),
            ));
        }
        Ok(())
    }

    /// Bytes every decompressor has produced so far.
    pub fn uncompressed(&self) -> u64 {
        self.uncompressed.get()
    }

    pub fn add_hits(&self, hits: BTreeSet<Hit>, path: &str) {
        let mut findings = self.findings.borrow_mut();
        for h in hits {
            // An archive of many infected entries must not grow memory with their number.
            if findings.len() >= MAX_FINDINGS {
                self.unlisted.set(self.unlisted.get() + 1);
                continue;
            }
            findings.insert(ScanFinding {
                rule: h.rule,
                category: h.category,
                path: path.to_owned(),
            });
        }
    }

    /// The outcome: findings (the most specific path for each rule), or why there are none.
    pub fn finish(self, walked: io::Result<()>, name: &str) -> Result<Findings, ScanError> {
        if let Some(e) = self.failure.into_inner() {
            return Err(e);
        }
        let partial = self.partial.into_inner();
        // A walk cut at the cap unwinds with an error that is not the content's.
        if let (Err(e), None) = (walked, &partial) {
            // Every reader records its reason; an error without one is the content's.
            return Err(ScanError::Refused(format!("cannot scan {name}: {e}")));
        }
        let all = self.findings.into_inner();
        // A rule that matched an entry also matches the container when the entry is stored
        // uncompressed: report it where a person can find it.
        let specific = all
            .iter()
            .filter(|f| {
                !all.iter().any(|g| {
                    g.rule == f.rule
                        && g.path.len() > f.path.len()
                        && g.path.starts_with(&f.path)
                        && g.path.as_bytes().get(f.path.len()) == Some(&b'/')
                })
            })
            .cloned()
            .collect();
        Ok(Findings {
            listed: specific,
            unlisted: self.unlisted.get(),
            partial,
            manifest: self.manifest.into_inner(),
        })
    }
}

/// The object itself: records storage errors as such, and stops reading once the outcome
/// is decided (a refused archive is not read to its end).
pub struct Source<'s, R> {
    inner: R,
    state: &'s ScanState,
}

impl<'s, R: Read> Source<'s, R> {
    pub fn new(inner: R, state: &'s ScanState) -> Self {
        Self { inner, state }
    }
}

impl<R: Read> Read for Source<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A walk cut at the cap still reads the object to its end (it is hashed as it
        // streams), without looking at it.
        if self.state.failed() {
            return Err(io::Error::other("scan stopped"));
        }
        let n = self
            .inner
            .read(buf)
            .map_err(|e| self.state.fail(ScanError::Source(e.to_string())))?;
        self.state.read.set(self.state.read.get() + n as u64);
        Ok(n)
    }
}

/// Counts the bytes read through it (a decompressor's input), for the ratio check.
pub struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Counted<R> {
    pub fn new(inner: R, count: Rc<Cell<u64>>) -> Self {
        Self { inner, count }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// A decompressor's output, checked as it is produced: the whole upload's uncompressed
/// total, and this stream's expansion ratio. Reading stops at the first byte over a limit,
/// so a bomb costs what it took to reach the limit, not what it claims.
pub struct Inflated<'s, R> {
    inner: R,
    state: &'s ScanState,
    /// `zip` or `gzip`, for the refusal.
    format: &'static str,
    path: String,
    input: Rc<Cell<u64>>,
    input_start: u64,
    output: u64,
}

impl<'s, R: Read> Inflated<'s, R> {
    pub fn new(
        inner: R,
        state: &'s ScanState,
        format: &'static str,
        path: &str,
        input: Rc<Cell<u64>>,
    ) -> Self {
        let input_start = input.get();
        Self {
            inner,
            state,
            format,
            path: path.to_owned(),
            input,
            input_start,
            output: 0,
        }
    }
}

impl<R: Read> Read for Inflated<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.output += n as u64;
        let total = self.state.uncompressed.get() + n as u64;
        self.state.uncompressed.set(total);
        let limits = &self.state.limits;
        // A bomb expands far more than it weighs, this stream or the whole upload so far;
        // a big archive of ordinary data does not, and only meets the cap below.
        let consumed = (self.input.get() - self.input_start).max(1);
        if self.output > limits.ratio_min_output && self.output / consumed > limits.max_ratio {
            return Err(self.state.limit(
                "max_ratio",
                limits.max_ratio,
                format!(
                    "{} bomb: {} expands {}:1 ({} from {}), more than {}:1",
                    self.format,
                    self.path,
                    self.output / consumed,
                    human(self.output),
                    human(consumed),
                    limits.max_ratio
                ),
            ));
        }
        let read = self.state.read.get().max(1);
        if total > limits.ratio_min_output && total / read > limits.max_ratio {
            return Err(self.state.limit(
                "max_ratio",
                limits.max_ratio,
                format!(
                    "{} bomb: the upload expands {}:1 overall ({} from {}, up to {}), more than {}:1",
                    self.format,
                    total / read,
                    human(total),
                    human(read),
                    self.path,
                    limits.max_ratio
                ),
            ));
        }
        if total > limits.max_uncompressed {
            return Err(self.state.over_cap(format!(
                "archive too large to scan: {} expands past {} of content",
                self.path,
                human(limits.max_uncompressed)
            )));
        }
        Ok(n)
    }
}

/// Passes every byte read through it to YARA, and keeps the first bytes when asked (a zip
/// symlink's target is its content).
pub struct Scanned<'s, R> {
    inner: R,
    state: &'s ScanState,
    scanner: WindowScanner,
    keep: Option<Vec<u8>>,
    keep_max: usize,
    total: u64,
}

impl<'s, R: Read> Scanned<'s, R> {
    pub fn new(inner: R, state: &'s ScanState, keep_max: usize) -> io::Result<Self> {
        let scanner = WindowScanner::new(&state.limits).map_err(|e| state.fail(e.into()))?;
        Ok(Self {
            inner,
            state,
            scanner,
            keep: (keep_max > 0).then(Vec::new),
            keep_max,
            total: 0,
        })
    }

    /// Scans the last window; returns the hits and the kept bytes if the content was no
    /// longer than asked.
    pub fn finish(self) -> io::Result<(BTreeSet<Hit>, Option<Vec<u8>>)> {
        let hits = self
            .scanner
            .finish()
            .map_err(|e| self.state.fail(e.into()))?;
        let kept = self.keep.filter(|_| self.total <= self.keep_max as u64);
        Ok((hits, kept))
    }
}

impl<R: Read> Read for Scanned<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        self.scanner
            .feed(data)
            .map_err(|e| self.state.fail(e.into()))?;
        if let Some(keep) = &mut self.keep {
            let room = self.keep_max.saturating_sub(keep.len());
            keep.extend_from_slice(&data[..room.min(n)]);
        }
        self.total += n as u64;
        Ok(n)
    }
}
