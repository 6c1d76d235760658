//! The signature engine: YARA over the rule files shipped in `rules/`, compiled once per
//! process. YARA scans buffers, not streams, so [`WindowScanner`] cuts a stream into
//! bounded windows that overlap by more than the longest possible match.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use yara::{CallbackMsg, CallbackReturn, Compiler, Rules, ScanFlags, Scanner, YaraError};

use super::limits::ScanLimits;

/// The engine as recorded with each result: the libyara that `yara-sys` 0.18 vendors.
pub const ENGINE: &str = "yara 4.2.3";

/// Every file of `rules/`, embedded so a binary carries its rules (a test checks the list
/// is complete).
pub const RULE_FILES: &[(&str, &str)] = &[
    ("malware.yar", include_str!("../../../rules/malware.yar")),
    ("secrets.yar", include_str!("../../../rules/secrets.yar")),
];

/// The category a rule without a known tag is reported under.
const DEFAULT_CATEGORY: &str = "malware";
const CATEGORIES: [&str; 2] = ["malware", "secret"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The shipped rules are broken: a bug, not the upload's fault.
    #[error("the scan rules do not compile: {0}")]
    Rules(String),
    /// The content made YARA give up (timeout, too many matches): refusing is the answer.
    #[error("the scanner could not finish: {0}")]
    Content(String),
    /// Anything else libyara reports (e.g. out of memory): worth a retry.
    #[error("scan failed: {0}")]
    Internal(String),
}

impl From<YaraError> for EngineError {
    fn from(e: YaraError) -> Self {
        match e.kind {
            yara_sys::Error::ScanTimeout | yara_sys::Error::TooManyMatches => {
                EngineError::Content(e.to_string())
            }
            _ => EngineError::Internal(e.to_string()),
        }
    }
}

/// First 12 hex digits of the SHA-256 over every rule file's name and text.
pub fn rules_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h = Sha256::new();
        for (name, text) in RULE_FILES {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(text.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())[..12].to_owned()
    })
}

/// The compiled rules, built on first use and kept for the life of the process.
pub fn rules() -> Result<&'static Rules, EngineError> {
    static RULES: OnceLock<Result<Rules, String>> = OnceLock::new();
    RULES
        .get_or_init(compile)
        .as_ref()
        .map_err(|e| EngineError::Rules(e.clone()))
}

fn compile() -> Result<Rules, String> {
    let mut compiler = Compiler::new().map_err(|e| e.to_string())?;
    for (name, text) in RULE_FILES {
        compiler = compiler
            .add_rules_str(text)
            .map_err(|e| format!("{name}: {e}"))?;
    }
    compiler.compile_rules().map_err(|e| e.to_string())
}

/// A rule that matched, with its category (`malware`, `secret`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    pub rule: String,
    pub category: String,
}

/// Scans a stream fed piece by piece with memory bounded by `window + overlap`.
///
/// The buffer fills to `window + overlap` bytes, is scanned, and keeps its last `overlap`
/// bytes as the start of the next window. A match of at most `overlap` bytes that crosses
/// a cut therefore lies whole inside the next window. Hits are kept per rule, so a match
/// seen twice (inside the overlap) counts once.
pub struct WindowScanner {
    scanner: Scanner<'static>,
    buf: Vec<u8>,
    capacity: usize,
    overlap: usize,
    /// Bytes arrived since the last scan.
    fresh: bool,
    hits: BTreeSet<Hit>,
}

impl WindowScanner {
    pub fn new(limits: &ScanLimits) -> Result<Self, EngineError> {
        let mut scanner = rules()?.scanner()?;
        scanner.set_flags(ScanFlags::REPORT_RULES_MATCHING);
        scanner.set_timeout(limits.window_timeout_secs);
        let overlap = limits.overlap;
        Ok(Self {
            scanner,
            // Grows with what arrives: a 10-byte entry does not cost a whole window.
            buf: Vec::new(),
            capacity: limits.window.max(1) + overlap,
            overlap,
            fresh: false,
            hits: BTreeSet::new(),
        })
    }

    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), EngineError> {
        while !data.is_empty() {
            let take = (self.capacity - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            self.fresh = true;
            if self.buf.len() == self.capacity {
                self.scan()?;
                let keep_from = self.buf.len() - self.overlap;
                self.buf.copy_within(keep_from.., 0);
                self.buf.truncate(self.overlap);
            }
        }
        Ok(())
    }

    /// Scans what is left and returns every rule that matched anywhere in the stream.
    pub fn finish(mut self) -> Result<BTreeSet<Hit>, EngineError> {
        if self.fresh {
            self.scan()?;
        }
        Ok(self.hits)
    }

    fn scan(&mut self) -> Result<(), EngineError> {
        let hits = &mut self.hits;
        self.scanner.scan_mem_callback(&self.buf, |msg| {
            if let CallbackMsg::RuleMatching(rule) = msg {
                let category = rule
                    .tags
                    .iter()
                    .find(|t| CATEGORIES.contains(t))
                    .copied()
                    .unwrap_or(DEFAULT_CATEGORY);
                hits.insert(Hit {
                    rule: rule.identifier.to_owned(),
                    category: category.to_owned(),
                });
            }
            CallbackReturn::Continue
        })?;
        self.fresh = false;
        Ok(())
    }
}
