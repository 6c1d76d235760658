//! The query language of `GET /v1/search?q=...`: query text in, an [`Expr`] out, no I/O.
//!
//! ```text
//! query   = or
//! or      = and { "OR" and }
//! and     = unary { ["AND"] unary }        adjacent terms are ANDed
//! unary   = ["-"] primary                  no space between "-" and what it negates
//! primary = "(" or ")" | term
//! term    = field ":" value | '"' phrase '"' | word
//! value   = '"' quoted '"' | characters up to whitespace or ")"
//! ```
//!
//! `AND` and `OR` are operators only as whole, unquoted, upper-case words; `and` and `or`
//! are free words. `-` binds tighter than AND, which binds tighter than OR. Inside quotes
//! `\"` and `\\` escape; any other backslash is kept as typed. Field names are
//! case-insensitive; what each field accepts is documented on [`Term`]. A quoted value means
//! the same as the unquoted one: quotes only let it hold spaces, `)` or a keyword.
//!
//! Limits: [`MAX_QUERY_LEN`] bytes, [`MAX_TERMS`] terms, [`MAX_DEPTH`] nested parentheses,
//! 256 characters per value. Error positions are 1-based characters, not bytes, because
//! they are shown to a person next to the text they typed.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

pub const MAX_QUERY_LEN: usize = 1024; // bytes
pub const MAX_TERMS: usize = 32;
pub const MAX_DEPTH: usize = 16; // nesting of parentheses
pub const FIELDS: &[&str] = &[
    "name",
    "repo",
    "format",
    "version",
    "sha256",
    "status",
    "published",
    "by",
    "tag",
    "label",
];

/// Longest value, in characters once quotes and escapes are resolved.
const MAX_VALUE_CHARS: usize = 256;
const MAX_COMPARATORS: usize = 8;
/// Largest N of a relative age `Nh`, `Nd` or `Nw`.
const MAX_AGE: u64 = 100_000;
const SHA256_MIN: usize = 12;
const SHA256_MAX: usize = 64;

const PUBLISHED_FORMS: &str = "published: use a date like 2026-01-01, >=2026-01-01, \
     2026-01-01..2026-02-01, a time like 2026-01-01T12:00:00Z, or an age like <7d";
const VERSION_FORMS: &str = "use e.g. version:1.2.3 or version:>=1.2,<2";

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// At least two children, none of them an `And`.
    And(Vec<Expr>),
    /// At least two children, none of them an `Or`.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Term(Term),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// `name:widget` exact (lower-cased); `name:acme-*` glob with `*` and `?` (lower-cased)
    Name(Pattern),
    /// `repo:libs` exact or glob, lower-cased
    Repo(Pattern),
    /// `format:pypi` one of generic, pypi, npm, cargo (case-insensitive)
    Format(FormatName),
    /// `version:1.2.3` (equals), `version:>=1.2,<2` (comma = all must hold); ops: = == != < <= > >=
    Version(Vec<Comparator>),
    /// `sha256:` lower-case hex, 12..=64 hex digits; a prefix when shorter than 64
    Sha256(String),
    /// `status:published` | `status:yanked` (case-insensitive)
    Status(StatusName),
    /// `published:` resolved against `now` to a half-open interval [from, to).
    ///
    /// A date is a whole UTC day and an RFC 3339 time a single instant, so `>X` starts at
    /// the end of X (the next day, or X + 1 ns) and `<=X` ends there. Ranges `X..Y` include
    /// both ends. An age `Nh`/`Nd`/`Nw` counts back from `now`: `<7d`, `<=7d` and `7d`
    /// mean [now−7d, ∞), `>7d` and `>=7d` mean (−∞, now−7d).
    Published(DateRange),
    /// `by:` principal id, as typed (case-sensitive, non-empty)
    By(String),
    /// `tag:stable`: as typed, non-empty
    Tag(String),
    /// `label:key=value` or `label:key` (any value); key and value as typed, key non-empty.
    /// `label:key=` asks for an empty value.
    Label { key: String, value: Option<String> },
    /// A free word or a quoted phrase (lower-cased): matches package names and descriptions
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Exact(String),
    Glob(String),
}

impl Pattern {
    /// The literal text before the first wildcard (the whole value for Exact).
    pub fn literal_prefix(&self) -> &str {
        match self {
            Pattern::Exact(s) => s,
            Pattern::Glob(s) => s.split(['*', '?']).next().unwrap_or_default(),
        }
    }

    /// Whether `candidate` (already lower-cased) matches: equality for Exact; for Glob `*`
    /// is any run of characters (also none), `?` exactly one character.
    pub fn matches(&self, candidate: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == candidate,
            Pattern::Glob(p) => glob_matches(p, candidate),
        }
    }

    fn new(value: &str) -> Self {
        let lower = value.to_lowercase();
        if lower.contains(['*', '?']) {
            Pattern::Glob(lower)
        } else {
            Pattern::Exact(lower)
        }
    }
}

/// Two-pointer matching with a single backtrack point: only the most recent `*` ever needs
/// to swallow more, which keeps the worst case at O(n·m) without recursion.
fn glob_matches(pattern: &str, text: &str) -> bool {
    // Byte offsets, always moved by whole characters so that `?` is one character.
    let (mut pi, mut ti) = (0, 0);
    // After a `*`: where the pattern resumes, and how far into the text the star reaches.
    let mut star: Option<(usize, usize)> = None;
    while let Some(tc) = char_at(text, ti) {
        match char_at(pattern, pi) {
            Some('*') => {
                pi += 1;
                star = Some((pi, ti));
                continue;
            }
            Some(pc) if pc == '?' || pc == tc => {
                pi += pc.len_utf8();
                ti += tc.len_utf8();
                continue;
            }
            _ => {}
        }
        let Some((resume, reach)) = star else {
            return false;
        };
        let Some(swallowed) = char_at(text, reach) else {
            return false;
        };
        let reach = reach + swallowed.len_utf8();
        star = Some((resume, reach));
        pi = resume;
        ti = reach;
    }
    pattern
        .get(pi..)
        .is_some_and(|rest| rest.chars().all(|c| c == '*'))
}

fn char_at(s: &str, at: usize) -> Option<char> {
    s.get(at..).and_then(|rest| rest.chars().next())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatName {
    Generic,
    Pypi,
    Npm,
    Cargo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusName {
    Published,
    Yanked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparator {
    pub op: Op,
    pub version: String,
}

/// Half-open [from, to); None = unbounded on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
}

impl DateRange {
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct SyntaxError {
    /// 1-based character (not byte) position in the query where the problem starts.
    pub position: usize,
    pub message: String,
}

fn error(position: usize, message: impl Into<String>) -> SyntaxError {
    SyntaxError {
        position,
        message: message.into(),
    }
}

/// Parses `q`; relative dates are taken back from `now`.
pub fn parse(q: &str, now: OffsetDateTime) -> Result<Expr, SyntaxError> {
    // Checked before anything walks the text, so hostile input costs nothing.
    if q.len() > MAX_QUERY_LEN {
        return Err(error(1, format!("query longer than {MAX_QUERY_LEN} bytes")));
    }
    if q.trim().is_empty() {
        return Err(error(1, "empty query"));
    }
    let mut parser = Parser {
        lexer: Lexer {
            chars: q.chars().collect(),
            at: 0,
            depth: 0,
            terms: 0,
            after_not: false,
            now,
        },
        peeked: None,
    };
    let expr = parser.or(None)?;
    // `or` stops only at the end or at a `)`, and at the top level no `(` is open.
    match parser.peek()? {
        None => Ok(expr),
        Some((_, position)) => Err(error(position, "unmatched `)`")),
    }
}

#[derive(Debug)]
enum Tok {
    Term(Term),
    Not,
    Open,
    Close,
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Term,
    Not,
    Open,
    Close,
    And,
    Or,
}

#[derive(Debug)]
struct Token {
    tok: Tok,
    position: usize,
}

impl Token {
    fn kind(&self) -> Kind {
        match self.tok {
            Tok::Term(_) => Kind::Term,
            Tok::Not => Kind::Not,
            Tok::Open => Kind::Open,
            Tok::Close => Kind::Close,
            Tok::And => Kind::And,
            Tok::Or => Kind::Or,
        }
    }
}

/// A value with the query position of each of its characters, so that an error deep in a
/// quoted, escaped value still points at the right character.
struct Value {
    chars: Vec<(usize, char)>,
    /// Where the value begins in the query (its opening quote, if quoted).
    start: usize,
}

impl Value {
    fn text(&self) -> String {
        self.chars.iter().map(|&(_, c)| c).collect()
    }
}

/// Produces tokens on demand rather than all up front, so that errors come out in the
/// order of the text and a `(` is counted against [`MAX_DEPTH`] before the parser recurses
/// into it.
struct Lexer {
    chars: Vec<char>,
    /// Index into `chars` of the next character to read.
    at: usize,
    depth: usize,
    terms: usize,
    /// The previous token was `-`: what follows is a term even if it reads `AND` or `OR`.
    after_not: bool,
    now: OffsetDateTime,
}

impl Lexer {
    fn get(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    fn next_token(&mut self) -> Result<Option<Token>, SyntaxError> {
        if std::mem::take(&mut self.after_not) {
            return self.term(false).map(Some);
        }
        while self.get(self.at).is_some_and(char::is_whitespace) {
            self.at += 1;
        }
        let Some(c) = self.get(self.at) else {
            return Ok(None);
        };
        let position = self.at + 1;
        let tok = match c {
            '(' => {
                if self.depth >= MAX_DEPTH {
                    return Err(error(
                        position,
                        format!("parentheses nested deeper than {MAX_DEPTH}"),
                    ));
                }
                self.depth += 1;
                self.at += 1;
                Tok::Open
            }
            ')' => {
                // A stray `)` is the parser's to report, where it knows no `(` is open.
                self.depth = self.depth.saturating_sub(1);
                self.at += 1;
                Tok::Close
            }
            '-' => {
                match self.get(self.at + 1) {
                    Some('(') => {}
                    Some(n) if !n.is_whitespace() && n != ')' && n != '-' => {
                        self.after_not = true;
                    }
                    _ => {
                        return Err(error(
                            position,
                            "`-` must be followed directly by a term or a parenthesised group",
                        ));
                    }
                }
                self.at += 1;
                Tok::Not
            }
            _ => return self.term(true).map(Some),
        };
        Ok(Some(Token { tok, position }))
    }

    /// A term, or with `keywords` an `AND` / `OR` operator, starting at `self.at`.
    fn term(&mut self, keywords: bool) -> Result<Token, SyntaxError> {
        let start = self.at;
        let position = start + 1;
        let mut end = start;
        while self
            .get(end)
            .is_some_and(|c| !c.is_whitespace() && c != ')')
        {
            end += 1;
        }
        let word = self.chars.get(start..end).unwrap_or_default();
        if keywords {
            let keyword = match word {
                ['A', 'N', 'D'] => Some(Tok::And),
                ['O', 'R'] => Some(Tok::Or),
                _ => None,
            };
            if let Some(tok) = keyword {
                self.at = end;
                return Ok(Token { tok, position });
            }
        }
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(error(position, format!("more than {MAX_TERMS} terms")));
        }
        if self.get(start) == Some('"') {
            let phrase = self.value(start, end)?;
            if phrase.chars.iter().all(|&(_, c)| c.is_whitespace()) {
                return Err(error(position, "empty phrase"));
            }
            let tok = Tok::Term(Term::Text(phrase.text().to_lowercase()));
            return Ok(Token { tok, position });
        }
        let colon = word.iter().position(|&c| c == ':');
        if let Some(colon) = colon {
            let prefix: String = word.iter().take(colon).collect();
            let lower = prefix.to_ascii_lowercase();
            if let Some(field) = FIELDS.iter().copied().find(|f| *f == lower) {
                let value = self.value(start + colon + 1, end)?;
                let term = field_term(field, &value, position, self.now)?;
                return Ok(Token {
                    tok: Tok::Term(term),
                    position,
                });
            }
            // Only a word that looks like a field name is taken for a mistyped one; a
            // time of day or `c++:` is just text.
            if !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(error(
                    position,
                    format!(
                        "unknown field \"{prefix}\"; fields are {}",
                        FIELDS.join(", ")
                    ),
                ));
            }
        }
        let value = self.value(start, end)?;
        let tok = Tok::Term(Term::Text(value.text().to_lowercase()));
        Ok(Token { tok, position })
    }

    /// The value starting at `from`: quoted, or the unquoted run that ends at `end`.
    fn value(&mut self, from: usize, end: usize) -> Result<Value, SyntaxError> {
        let value = if self.get(from) == Some('"') {
            self.quoted(from)?
        } else {
            self.at = end;
            Value {
                chars: (from..end)
                    .filter_map(|i| self.get(i).map(|c| (i + 1, c)))
                    .collect(),
                start: from + 1,
            }
        };
        if value.chars.len() > MAX_VALUE_CHARS {
            return Err(error(
                value.start,
                format!("value longer than {MAX_VALUE_CHARS} characters"),
            ));
        }
        Ok(value)
    }

    /// The quoted text whose opening quote is at `open`; leaves `self.at` after the closing
    /// quote.
    fn quoted(&mut self, open: usize) -> Result<Value, SyntaxError> {
        let mut chars = Vec::new();
        let mut i = open + 1;
        loop {
            match self.get(i) {
                None => return Err(error(open + 1, "unterminated quote")),
                Some('"') => break,
                Some('\\') => match self.get(i + 1) {
                    Some(escaped @ ('"' | '\\')) => {
                        chars.push((i + 1, escaped));
                        i += 2;
                    }
                    _ => {
                        chars.push((i + 1, '\\'));
                        i += 1;
                    }
                },
                Some(c) => {
                    chars.push((i + 1, c));
                    i += 1;
                }
            }
        }
        let after = i + 1;
        // `"a"b` could mean one word or two: refuse to guess.
        if let Some(c) = self.get(after)
            && !c.is_whitespace()
            && c != ')'
        {
            return Err(error(
                after + 1,
                "expected a space or `)` after the closing quote",
            ));
        }
        self.at = after;
        Ok(Value {
            chars,
            start: open + 1,
        })
    }
}

fn field_term(
    field: &str,
    value: &Value,
    position: usize,
    now: OffsetDateTime,
) -> Result<Term, SyntaxError> {
    if value.chars.is_empty() {
        return Err(error(
            position,
            format!("empty value for field \"{field}\""),
        ));
    }
    let text = value.text();
    let term = match field {
        "name" => Term::Name(Pattern::new(&text)),
        "repo" => Term::Repo(Pattern::new(&text)),
        "format" => Term::Format(match text.to_ascii_lowercase().as_str() {
            "generic" => FormatName::Generic,
            "pypi" => FormatName::Pypi,
            "npm" => FormatName::Npm,
            "cargo" => FormatName::Cargo,
            _ => {
                return Err(error(
                    value.start,
                    "format: use generic, pypi, npm or cargo",
                ));
            }
        }),
        "version" => Term::Version(comparators(value)?),
        "sha256" => {
            let ok = (SHA256_MIN..=SHA256_MAX).contains(&value.chars.len())
                && text.chars().all(|c| c.is_ascii_hexdigit());
            if !ok {
                return Err(error(value.start, "sha256: use 12 to 64 hex digits"));
            }
            Term::Sha256(text.to_ascii_lowercase())
        }
        "status" => Term::Status(match text.to_ascii_lowercase().as_str() {
            "published" => StatusName::Published,
            "yanked" => StatusName::Yanked,
            _ => return Err(error(value.start, "status: use published or yanked")),
        }),
        "published" => Term::Published(published(value, now)?),
        "by" => Term::By(text),
        "tag" => Term::Tag(text),
        "label" => match text.split_once('=') {
            Some(("", _)) => {
                return Err(error(value.start, "label: the key before `=` is empty"));
            }
            Some((key, val)) => Term::Label {
                key: key.to_owned(),
                value: Some(val.to_owned()),
            },
            None => Term::Label {
                key: text,
                value: None,
            },
        },
        // FIELDS and this match are kept in step; a field added to one but not the other
        // must be an error, not a panic.
        _ => {
            return Err(error(
                position,
                format!("field \"{field}\" is not supported"),
            ));
        }
    };
    Ok(term)
}

fn comparators(value: &Value) -> Result<Vec<Comparator>, SyntaxError> {
    const OPS: &[(&str, Op)] = &[
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
    ];
    // Each piece with where to report it if empty: the comma before it, or the value's
    // start for the first.
    let mut pieces = Vec::new();
    let mut begin = 0;
    let mut anchor = value.start;
    for (i, &(position, c)) in value.chars.iter().enumerate() {
        if c == ',' {
            pieces.push((anchor, value.chars.get(begin..i).unwrap_or_default()));
            begin = i + 1;
            anchor = position;
        }
    }
    pieces.push((anchor, value.chars.get(begin..).unwrap_or_default()));

    let mut out = Vec::new();
    for (anchor, piece) in pieces {
        let position = piece.first().map_or(anchor, |&(p, _)| p);
        if piece.is_empty() {
            return Err(error(
                position,
                format!("version: empty comparator; {VERSION_FORMS}"),
            ));
        }
        if out.len() == MAX_COMPARATORS {
            return Err(error(
                position,
                format!("version: at most {MAX_COMPARATORS} comparators"),
            ));
        }
        let text: String = piece.iter().map(|&(_, c)| c).collect();
        let (symbol, op) = OPS
            .iter()
            .copied()
            .find(|(symbol, _)| text.starts_with(symbol))
            .unwrap_or(("", Op::Eq));
        // Every operator symbol is ASCII, so its byte length is its character count.
        let rest = piece.get(symbol.len()..).unwrap_or_default();
        if rest.is_empty() {
            return Err(error(
                position,
                format!("version: a version must follow `{symbol}`; {VERSION_FORMS}"),
            ));
        }
        if let Some(&(p, c)) = rest
            .iter()
            .find(|&&(_, c)| c.is_whitespace() || matches!(c, '<' | '>' | '=' | '!'))
        {
            return Err(error(
                p,
                format!("version: unexpected {c:?} in a version; {VERSION_FORMS}"),
            ));
        }
        out.push(Comparator {
            op,
            version: rest.iter().map(|&(_, c)| c).collect(),
        });
    }
    Ok(out)
}

/// A point in time as typed: a whole UTC day or an instant.
#[derive(Clone, Copy)]
enum Point {
    Day(Date),
    At(OffsetDateTime),
}

impl Point {
    fn parse(s: &str) -> Option<Point> {
        if let Ok(day) = Date::parse(s, format_description!("[year]-[month]-[day]")) {
            return Some(Point::Day(day));
        }
        OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .and_then(|t| t.checked_to_offset(UtcOffset::UTC))
            .map(Point::At)
    }

    fn start(self) -> Option<OffsetDateTime> {
        match self {
            Point::Day(day) => Some(day.midnight().assume_utc()),
            Point::At(t) => Some(t),
        }
    }

    /// The first instant after the point: the next midnight, or 1 ns later.
    fn end(self) -> Option<OffsetDateTime> {
        match self {
            Point::Day(day) => day.next_day().map(|d| d.midnight().assume_utc()),
            Point::At(t) => t.checked_add(Duration::nanoseconds(1)),
        }
    }
}

/// `Nh`, `Nd` or `Nw` as (N, seconds per unit); N is checked by the caller, so that a
/// well-formed but out-of-range age gets its own message.
fn age_shape(s: &str) -> Option<(u64, i64)> {
    let unit = s.chars().last()?;
    let per_unit = match unit.to_ascii_lowercase() {
        'h' => 3_600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    let digits = s.get(..s.len() - unit.len_utf8())?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // More digits than a u64 holds is still an age, just far too large.
    Some((digits.parse().unwrap_or(u64::MAX), per_unit))
}

fn published(value: &Value, now: OffsetDateTime) -> Result<DateRange, SyntaxError> {
    let at = value.start;
    let text = value.text();
    let out_of_range = || error(at, "published: date out of range");
    let bad = || error(at, PUBLISHED_FORMS);
    let point = |s: &str| Point::parse(s).ok_or_else(bad);
    let ago = |s: &str| -> Result<Option<OffsetDateTime>, SyntaxError> {
        let Some((n, per_unit)) = age_shape(s) else {
            return Ok(None);
        };
        if !(1..=MAX_AGE).contains(&n) {
            return Err(error(
                at,
                format!("published: an age is 1 to {MAX_AGE} hours (h), days (d) or weeks (w)"),
            ));
        }
        let seconds = i64::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(per_unit))
            .ok_or_else(out_of_range)?;
        now.checked_sub(Duration::seconds(seconds))
            .map(Some)
            .ok_or_else(out_of_range)
    };

    let ops = [">=", "<=", ">", "<"];
    let range = if let Some((op, rest)) = ops
        .iter()
        .find_map(|op| text.strip_prefix(op).map(|rest| (*op, rest)))
    {
        if let Some(instant) = ago(rest)? {
            // An age counts backwards: less than 7 days ago is after now−7d.
            if op.starts_with('<') {
                DateRange {
                    from: Some(instant),
                    to: None,
                }
            } else {
                DateRange {
                    from: None,
                    to: Some(instant),
                }
            }
        } else {
            let p = point(rest)?;
            match op {
                ">" => DateRange {
                    from: Some(p.end().ok_or_else(out_of_range)?),
                    to: None,
                },
                ">=" => DateRange {
                    from: Some(p.start().ok_or_else(out_of_range)?),
                    to: None,
                },
                "<" => DateRange {
                    from: None,
                    to: Some(p.start().ok_or_else(out_of_range)?),
                },
                _ => DateRange {
                    from: None,
                    to: Some(p.end().ok_or_else(out_of_range)?),
                },
            }
        }
    } else if let Some((first, last)) = text.split_once("..") {
        if first.is_empty() && last.is_empty() {
            return Err(bad());
        }
        let from = match first {
            "" => None,
            s => Some(point(s)?.start().ok_or_else(out_of_range)?),
        };
        let to = match last {
            "" => None,
            s => Some(point(s)?.end().ok_or_else(out_of_range)?),
        };
        DateRange { from, to }
    } else if let Some(instant) = ago(&text)? {
        DateRange {
            from: Some(instant),
            to: None,
        }
    } else {
        let p = point(&text)?;
        DateRange {
            from: Some(p.start().ok_or_else(out_of_range)?),
            to: Some(p.end().ok_or_else(out_of_range)?),
        }
    };
    if let (Some(from), Some(to)) = (range.from, range.to)
        && from >= to
    {
        return Err(error(at, "published: empty date range"));
    }
    Ok(range)
}

/// Recursive descent over the lexer's tokens. Recursion happens only at `(`, which the
/// lexer has already checked against [`MAX_DEPTH`], so the stack stays shallow.
struct Parser {
    lexer: Lexer,
    peeked: Option<Token>,
}

impl Parser {
    fn peek(&mut self) -> Result<Option<(Kind, usize)>, SyntaxError> {
        if self.peeked.is_none() {
            self.peeked = self.lexer.next_token()?;
        }
        Ok(self.peeked.as_ref().map(|t| (t.kind(), t.position)))
    }

    fn bump(&mut self) -> Result<Option<Token>, SyntaxError> {
        if self.peeked.is_none() {
            self.peeked = self.lexer.next_token()?;
        }
        Ok(self.peeked.take())
    }

    /// `open` is the position of the `(` this group began with, None at the top level.
    fn or(&mut self, open: Option<usize>) -> Result<Expr, SyntaxError> {
        let mut alternatives = Vec::new();
        let mut after_or = None;
        loop {
            let Some(expr) = self.and()? else {
                return Err(self.missing_operand(after_or, open));
            };
            match expr {
                Expr::Or(inner) => alternatives.extend(inner),
                other => alternatives.push(other),
            }
            match self.peek()? {
                Some((Kind::Or, position)) => {
                    after_or = Some(position);
                    self.bump()?;
                }
                _ => break,
            }
        }
        combine(alternatives, Expr::Or).ok_or_else(|| error(open.unwrap_or(1), "empty query"))
    }

    /// None when no term starts here; the caller knows best what was missing.
    fn and(&mut self) -> Result<Option<Expr>, SyntaxError> {
        let mut items = Vec::new();
        let mut after_and = None;
        loop {
            match self.peek()? {
                Some((Kind::Term | Kind::Not | Kind::Open, _)) => {
                    match self.unary()? {
                        Expr::And(inner) => items.extend(inner),
                        other => items.push(other),
                    }
                    after_and = None;
                }
                Some((Kind::And, position)) if !items.is_empty() => {
                    if let Some(previous) = after_and {
                        return Err(error(previous, "nothing after AND"));
                    }
                    after_and = Some(position);
                    self.bump()?;
                }
                _ => {
                    if let Some(previous) = after_and {
                        return Err(error(previous, "nothing after AND"));
                    }
                    break;
                }
            }
        }
        Ok(combine(items, Expr::And))
    }

    fn missing_operand(&mut self, after_or: Option<usize>, open: Option<usize>) -> SyntaxError {
        if let Some(position) = after_or {
            return error(position, "nothing after OR");
        }
        match self.peek() {
            Err(e) => e,
            Ok(Some((Kind::Or, position))) => error(position, "nothing before OR"),
            Ok(Some((Kind::And, position))) => error(position, "nothing before AND"),
            Ok(Some((Kind::Close, position))) => match open {
                Some(open) => error(open, "empty parentheses"),
                None => error(position, "unmatched `)`"),
            },
            Ok(None) => match open {
                Some(open) => error(open, "unclosed `(`"),
                None => error(1, "empty query"),
            },
            Ok(Some((_, position))) => error(position, "expected a term"),
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        let token = self.expect_token()?;
        if matches!(token.tok, Tok::Not) {
            let operand = self.expect_token()?;
            return Ok(Expr::Not(Box::new(self.primary(operand)?)));
        }
        self.primary(token)
    }

    fn primary(&mut self, token: Token) -> Result<Expr, SyntaxError> {
        match token.tok {
            Tok::Term(term) => Ok(Expr::Term(term)),
            Tok::Open => {
                let inner = self.or(Some(token.position))?;
                match self.bump()? {
                    Some(Token {
                        tok: Tok::Close, ..
                    }) => Ok(inner),
                    _ => Err(error(token.position, "unclosed `(`")),
                }
            }
            _ => Err(error(token.position, "expected a term")),
        }
    }

    fn expect_token(&mut self) -> Result<Token, SyntaxError> {
        let end = self.lexer.chars.len() + 1;
        self.bump()?
            .ok_or_else(|| error(end, "expected a term at the end"))
    }
}

fn combine(mut items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Option<Expr> {
    match items.len() {
        0 | 1 => items.pop(),
        _ => Some(make(items)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-15 12:00 UTC);

    fn ok(q: &str) -> Expr {
        match parse(q, NOW) {
            Ok(expr) => expr,
            Err(e) => panic!("{q:?} should parse, got {e}"),
        }
    }

    fn fails(q: &str) -> SyntaxError {
        match parse(q, NOW) {
            Ok(expr) => panic!("{q:?} should fail, got {expr:?}"),
            Err(e) => e,
        }
    }

    /// The error's position, and its message.
    fn err_at(q: &str) -> (usize, String) {
        let e = fails(q);
        (e.position, e.message)
    }

    fn term(q: &str) -> Term {
        match ok(q) {
            Expr::Term(t) => t,
            other => panic!("{q:?} should be one term, got {other:?}"),
        }
    }

    fn t(s: &str) -> Expr {
        Expr::Term(Term::Text(s.to_owned()))
    }

    fn not(e: Expr) -> Expr {
        Expr::Not(Box::new(e))
    }

    fn range(q: &str) -> DateRange {
        match term(q) {
            Term::Published(r) => r,
            other => panic!("{q:?} should be a published term, got {other:?}"),
        }
    }

    fn cmp(op: Op, version: &str) -> Comparator {
        Comparator {
            op,
            version: version.to_owned(),
        }
    }

    #[test]
    fn a_single_word_is_a_term_not_an_and_of_one() {
        assert_eq!(ok("Widget"), t("widget"));
        assert_eq!(ok("  widget  "), t("widget"));
    }

    #[test]
    fn adjacent_terms_are_anded_and_flattened() {
        assert_eq!(ok("a b c"), Expr::And(vec![t("a"), t("b"), t("c")]));
        assert_eq!(ok("a\tb\nc"), Expr::And(vec![t("a"), t("b"), t("c")]));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            ok("a b OR c"),
            Expr::Or(vec![Expr::And(vec![t("a"), t("b")]), t("c")])
        );
        assert_eq!(
            ok("a OR b c"),
            Expr::Or(vec![t("a"), Expr::And(vec![t("b"), t("c")])])
        );
    }

    #[test]
    fn explicit_and_is_the_same_as_adjacency() {
        assert_eq!(ok("a AND b"), ok("a b"));
        assert_eq!(
            ok("a AND b OR c AND d"),
            Expr::Or(vec![
                Expr::And(vec![t("a"), t("b")]),
                Expr::And(vec![t("c"), t("d")]),
            ])
        );
        assert_eq!(ok("a AND b c"), Expr::And(vec![t("a"), t("b"), t("c")]));
    }

    #[test]
    fn lower_case_and_or_are_free_words() {
        assert_eq!(ok("a and b"), Expr::And(vec![t("a"), t("and"), t("b")]));
        assert_eq!(ok("a or b"), Expr::And(vec![t("a"), t("or"), t("b")]));
        assert_eq!(ok("Or"), t("or"));
        assert_eq!(ok("ORACLE"), t("oracle"));
        assert_eq!(ok("\"OR\""), t("or"));
    }

    #[test]
    fn or_chains_flatten() {
        assert_eq!(ok("a OR b OR c"), Expr::Or(vec![t("a"), t("b"), t("c")]));
        assert_eq!(
            ok("(a OR (b OR c)) OR d"),
            Expr::Or(vec![t("a"), t("b"), t("c"), t("d")])
        );
    }

    #[test]
    fn not_binds_to_the_next_term_only() {
        assert_eq!(ok("-a b"), Expr::And(vec![not(t("a")), t("b")]));
        assert_eq!(ok("-a OR b"), Expr::Or(vec![not(t("a")), t("b")]));
        assert_eq!(
            ok("-name:foo"),
            not(Expr::Term(Term::Name(Pattern::Exact("foo".into()))))
        );
        assert_eq!(ok("-\"two words\""), not(t("two words")));
        // A `-` inside a word is part of it.
        assert_eq!(ok("acme-utils"), t("acme-utils"));
    }

    #[test]
    fn not_of_a_group() {
        assert_eq!(ok("-(a OR b)"), not(Expr::Or(vec![t("a"), t("b")])));
        assert_eq!(
            ok("x -(a b)"),
            Expr::And(vec![t("x"), not(Expr::And(vec![t("a"), t("b")]))])
        );
    }

    #[test]
    fn after_a_minus_a_keyword_is_a_word() {
        assert_eq!(ok("a -OR"), Expr::And(vec![t("a"), not(t("or"))]));
    }

    #[test]
    fn parentheses_group_and_nest() {
        assert_eq!(
            ok("a (b OR c)"),
            Expr::And(vec![t("a"), Expr::Or(vec![t("b"), t("c")])])
        );
        assert_eq!(
            ok("(a (b c)) d"),
            Expr::And(vec![t("a"), t("b"), t("c"), t("d")])
        );
        assert_eq!(ok("((a))"), t("a"));
        assert_eq!(
            ok("((a OR b) (c OR -(d e)))"),
            Expr::And(vec![
                Expr::Or(vec![t("a"), t("b")]),
                Expr::Or(vec![t("c"), not(Expr::And(vec![t("d"), t("e")]))]),
            ])
        );
    }

    #[test]
    fn a_closing_paren_ends_an_unquoted_value() {
        let name = |s: &str| Expr::Term(Term::Name(Pattern::Exact(s.into())));
        assert_eq!(
            ok("(name:a OR name:b)"),
            Expr::Or(vec![name("a"), name("b")])
        );
        assert_eq!(ok("(name:a)x"), Expr::And(vec![name("a"), t("x")]));
    }

    #[test]
    fn an_open_paren_inside_a_word_is_literal() {
        assert_eq!(ok("foo(bar"), t("foo(bar"));
        assert_eq!(ok("tag:a(b"), Expr::Term(Term::Tag("a(b".into())));
    }

    #[test]
    fn field_names_are_case_insensitive() {
        assert_eq!(
            term("NAME:Widget"),
            Term::Name(Pattern::Exact("widget".into()))
        );
        assert_eq!(term("Format:NPM"), Term::Format(FormatName::Npm));
    }

    #[test]
    fn name_and_repo_are_exact_or_glob_and_lower_cased() {
        assert_eq!(
            term("name:Widget"),
            Term::Name(Pattern::Exact("widget".into()))
        );
        assert_eq!(
            term("name:ACME-*"),
            Term::Name(Pattern::Glob("acme-*".into()))
        );
        assert_eq!(term("name:a?c"), Term::Name(Pattern::Glob("a?c".into())));
        assert_eq!(term("repo:Libs"), Term::Repo(Pattern::Exact("libs".into())));
        assert_eq!(term("repo:lib*"), Term::Repo(Pattern::Glob("lib*".into())));
    }

    #[test]
    fn format_values() {
        assert_eq!(term("format:generic"), Term::Format(FormatName::Generic));
        assert_eq!(term("format:PyPI"), Term::Format(FormatName::Pypi));
        assert_eq!(term("format:npm"), Term::Format(FormatName::Npm));
        assert_eq!(term("format:cargo"), Term::Format(FormatName::Cargo));
        assert_eq!(
            err_at("x format:maven"),
            (10, "format: use generic, pypi, npm or cargo".into())
        );
    }

    #[test]
    fn version_comparators() {
        assert_eq!(
            term("version:1.2.3"),
            Term::Version(vec![cmp(Op::Eq, "1.2.3")])
        );
        assert_eq!(
            term("version:>=1.2,<2"),
            Term::Version(vec![cmp(Op::Ge, "1.2"), cmp(Op::Lt, "2")])
        );
        assert_eq!(
            term("version:=1,==2,!=3,<4,<=5,>6,>=7"),
            Term::Version(vec![
                cmp(Op::Eq, "1"),
                cmp(Op::Eq, "2"),
                cmp(Op::Ne, "3"),
                cmp(Op::Lt, "4"),
                cmp(Op::Le, "5"),
                cmp(Op::Gt, "6"),
                cmp(Op::Ge, "7"),
            ])
        );
        assert_eq!(
            term("version:1.0.0-RC1+build"),
            Term::Version(vec![cmp(Op::Eq, "1.0.0-RC1+build")])
        );
        assert_eq!(
            term("version:\">=1\""),
            Term::Version(vec![cmp(Op::Ge, "1")])
        );
    }

    #[test]
    fn version_errors_point_at_the_comparator() {
        // "version:" is 8 characters: the value starts at 9.
        let (at, message) = err_at("version:>=");
        assert_eq!(at, 9);
        assert!(message.contains("must follow `>=`"), "{message}");
        assert_eq!(err_at("version:1,,2").0, 10);
        assert_eq!(err_at("version:1,").0, 10);
        assert_eq!(err_at("version:,1").0, 9);
        let (at, message) = err_at("version:1<2");
        assert_eq!(at, 10);
        assert!(message.contains("unexpected '<'"), "{message}");
        assert_eq!(err_at("version:>=<1").0, 11);
        assert_eq!(err_at("version:\"1 2\"").0, 11);
        assert_eq!(err_at("version:!1").0, 9);
        let nine = "version:1,2,3,4,5,6,7,8,9";
        assert_eq!(err_at(nine), (25, "version: at most 8 comparators".into()));
        assert!(parse("version:1,2,3,4,5,6,7,8", NOW).is_ok());
    }

    #[test]
    fn sha256_values() {
        let full = "ab".repeat(32);
        assert_eq!(term(&format!("sha256:{full}")), Term::Sha256(full.clone()));
        assert_eq!(
            term("sha256:ABCDEF012345"),
            Term::Sha256("abcdef012345".into())
        );
        let message = "sha256: use 12 to 64 hex digits".to_owned();
        assert_eq!(err_at("sha256:abcdef01234"), (8, message.clone()));
        assert_eq!(err_at(&format!("sha256:{full}0")), (8, message.clone()));
        assert_eq!(err_at("sha256:abcdef01234g"), (8, message));
    }

    #[test]
    fn status_values() {
        assert_eq!(
            term("status:published"),
            Term::Status(StatusName::Published)
        );
        assert_eq!(term("status:YANKED"), Term::Status(StatusName::Yanked));
        assert_eq!(
            err_at("status:gone"),
            (8, "status: use published or yanked".into())
        );
    }

    #[test]
    fn by_and_tag_are_kept_as_typed() {
        assert_eq!(term("by:User-42"), Term::By("User-42".into()));
        assert_eq!(term("by:\"CI Bot\""), Term::By("CI Bot".into()));
        assert_eq!(term("tag:Stable"), Term::Tag("Stable".into()));
    }

    #[test]
    fn label_values() {
        assert_eq!(
            term("label:Env=Prod"),
            Term::Label {
                key: "Env".into(),
                value: Some("Prod".into())
            }
        );
        assert_eq!(
            term("label:team"),
            Term::Label {
                key: "team".into(),
                value: None
            }
        );
        assert_eq!(
            term("label:a=b=c"),
            Term::Label {
                key: "a".into(),
                value: Some("b=c".into())
            }
        );
        assert_eq!(
            term("label:k="),
            Term::Label {
                key: "k".into(),
                value: Some(String::new())
            }
        );
        assert_eq!(
            term("label:\"owner=data team\""),
            Term::Label {
                key: "owner".into(),
                value: Some("data team".into())
            }
        );
        assert_eq!(
            err_at("label:=x"),
            (7, "label: the key before `=` is empty".into())
        );
    }

    #[test]
    fn an_empty_value_names_its_field() {
        assert_eq!(
            err_at("a name:"),
            (3, "empty value for field \"name\"".into())
        );
        assert_eq!(
            err_at("tag:\"\""),
            (1, "empty value for field \"tag\"".into())
        );
        assert_eq!(err_at("(by:)"), (2, "empty value for field \"by\"".into()));
    }

    #[test]
    fn unknown_fields() {
        let (at, message) = err_at("a foo:bar");
        assert_eq!(at, 3);
        assert_eq!(
            message,
            "unknown field \"foo\"; fields are name, repo, format, version, sha256, status, \
             published, by, tag, label"
        );
        // Not a would-be field name: plain text.
        assert_eq!(ok("12:30"), t("12:30"));
        assert_eq!(ok("c++:x"), t("c++:x"));
        assert_eq!(ok(":x"), t(":x"));
        // Quoted, anything goes.
        assert_eq!(ok("\"foo:bar\""), t("foo:bar"));
    }

    #[test]
    fn quoting_and_escapes() {
        assert_eq!(
            term("name:\"My Pkg\""),
            Term::Name(Pattern::Exact("my pkg".into()))
        );
        assert_eq!(ok("\"Two Words\""), t("two words"));
        assert_eq!(ok(r#""say \"hi\" \\ ok""#), t(r#"say "hi" \ ok"#));
        // Any other backslash is literal.
        assert_eq!(ok(r#""a\nb""#), t(r"a\nb"));
        assert_eq!(term("tag:\"a) OR (b\""), Term::Tag("a) OR (b".into()));
        assert_eq!(ok("(\"a b\")"), t("a b"));
        // A quote inside an unquoted word is just a character.
        assert_eq!(ok("ab\"cd"), t("ab\"cd"));
    }

    #[test]
    fn quoting_errors() {
        assert_eq!(err_at("a \"open"), (3, "unterminated quote".into()));
        assert_eq!(err_at("name:\"open"), (6, "unterminated quote".into()));
        // The escaped quote does not close it.
        assert_eq!(err_at(r#"x "a\""#), (3, "unterminated quote".into()));
        assert_eq!(
            err_at("\"a\"b"),
            (4, "expected a space or `)` after the closing quote".into())
        );
        assert_eq!(err_at("x \"\""), (3, "empty phrase".into()));
        assert_eq!(err_at("\"  \""), (1, "empty phrase".into()));
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        // "ünïcödé" is 7 characters but 11 bytes.
        assert_eq!(err_at("\"ünïcödé\" foo:bar").0, 11);
        assert_eq!(err_at("ünïcödé -").0, 9);
        assert_eq!(ok("ÜBER"), t("über"));
    }

    #[test]
    fn minus_errors() {
        let message = "`-` must be followed directly by a term or a parenthesised group".to_owned();
        assert_eq!(err_at("-"), (1, message.clone()));
        assert_eq!(err_at("- a"), (1, message.clone()));
        assert_eq!(err_at("a -"), (3, message.clone()));
        assert_eq!(err_at("(a -)"), (4, message.clone()));
        assert_eq!(err_at("--a"), (1, message));
    }

    #[test]
    fn operators_need_both_sides() {
        assert_eq!(err_at("a OR"), (3, "nothing after OR".into()));
        assert_eq!(err_at("OR a"), (1, "nothing before OR".into()));
        assert_eq!(err_at("a OR OR b"), (3, "nothing after OR".into()));
        assert_eq!(err_at("(a OR) b"), (4, "nothing after OR".into()));
        assert_eq!(err_at("(OR a)"), (2, "nothing before OR".into()));
        assert_eq!(err_at("a AND"), (3, "nothing after AND".into()));
        assert_eq!(err_at("AND a"), (1, "nothing before AND".into()));
        assert_eq!(err_at("a AND AND b"), (3, "nothing after AND".into()));
        assert_eq!(err_at("a AND OR b"), (3, "nothing after AND".into()));
        assert_eq!(err_at("a OR AND b"), (3, "nothing after OR".into()));
    }

    #[test]
    fn parenthesis_errors() {
        assert_eq!(err_at("( )"), (1, "empty parentheses".into()));
        assert_eq!(err_at("a ()"), (3, "empty parentheses".into()));
        assert_eq!(err_at("(a"), (1, "unclosed `(`".into()));
        assert_eq!(err_at("((a)"), (1, "unclosed `(`".into()));
        assert_eq!(err_at("a (b (c) d"), (3, "unclosed `(`".into()));
        assert_eq!(err_at("("), (1, "unclosed `(`".into()));
        assert_eq!(err_at("a)"), (2, "unmatched `)`".into()));
        assert_eq!(err_at("(a)) b"), (4, "unmatched `)`".into()));
        assert_eq!(err_at(") a"), (1, "unmatched `)`".into()));
    }

    #[test]
    fn empty_and_oversized_queries() {
        assert_eq!(err_at(""), (1, "empty query".into()));
        assert_eq!(err_at(" \t\n "), (1, "empty query".into()));
        let long = "a".repeat(MAX_QUERY_LEN + 1);
        assert_eq!(err_at(&long), (1, "query longer than 1024 bytes".into()));
        // The limit is in bytes: 256 four-byte characters fit, one more byte does not.
        let emoji = "😀".repeat(256);
        assert!(parse(&emoji, NOW).is_ok());
        assert_eq!(err_at(&format!("{emoji}a")).0, 1);
    }

    #[test]
    fn term_limit() {
        let fits = vec!["a"; MAX_TERMS].join(" ");
        assert!(parse(&fits, NOW).is_ok());
        // Operators do not count: the 33rd term of `a OR a OR ...` starts at 32 * 5 + 1.
        let over = vec!["a"; MAX_TERMS + 1].join(" OR ");
        assert_eq!(err_at(&over), (32 * 5 + 1, "more than 32 terms".into()));
        let over = vec!["a"; MAX_TERMS + 1].join(" ");
        assert_eq!(err_at(&over).0, 65);
    }

    #[test]
    fn depth_limit() {
        let fits = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(ok(&fits), t("a"));
        let over = format!(
            "{}a{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(
            err_at(&over),
            (17, "parentheses nested deeper than 16".into())
        );
        // Depth is nesting, not the number of groups.
        let siblings = "(a) ".repeat(20);
        assert!(parse(&siblings, NOW).is_ok());
        let negated = format!(
            "{}a{}",
            "-(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(err_at(&negated).0, 2 * MAX_DEPTH + 2);
    }

    #[test]
    fn a_thousand_nested_parens_fail_without_overflowing_the_stack() {
        let balanced = format!("{}a{}", "(".repeat(1000), ")".repeat(1000));
        assert_eq!(err_at(&balanced).0, 1); // longer than MAX_QUERY_LEN
        let within_the_length_limit = format!("{}a", "(".repeat(1000));
        assert_eq!(err_at(&within_the_length_limit).0, MAX_DEPTH + 1);
        let negated = "-(".repeat(500);
        assert_eq!(err_at(&negated).0, 2 * MAX_DEPTH + 2);
    }

    #[test]
    fn value_length_limit() {
        let fits = format!("tag:{}", "x".repeat(256));
        assert!(parse(&fits, NOW).is_ok());
        let message = "value longer than 256 characters".to_owned();
        assert_eq!(
            err_at(&format!("tag:{}", "x".repeat(257))),
            (5, message.clone())
        );
        assert_eq!(
            err_at(&format!("a {}", "x".repeat(257))),
            (3, message.clone())
        );
        assert_eq!(
            err_at(&format!("a \"{}\"", "x".repeat(257))),
            (3, message.clone())
        );
        assert_eq!(
            err_at(&format!("name:\"{}\"", "x".repeat(257))),
            (6, message)
        );
    }

    #[test]
    fn hostile_input_never_panics() {
        let ten_kb = "((\"\\-OR:(".repeat(1200);
        assert!(ten_kb.len() > 10_000);
        assert_eq!(err_at(&ten_kb).0, 1);

        // A small deterministic generator over the characters the grammar cares about,
        // cut to every length up to the limit.
        let alphabet: Vec<char> =
            "()\"\\-: ,.<>=!*?ANDORaé\u{0}\u{202e}\t😀published:name:version:"
                .chars()
                .collect();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            let mut q = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 80) as usize;
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                q.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            if let Err(e) = parse(&q, NOW) {
                assert!(
                    (1..=q.chars().count() + 1).contains(&e.position),
                    "{q:?}: {e}"
                );
            }
        }
        let _ = parse(&"\"".repeat(MAX_QUERY_LEN), NOW);
        let _ = parse(&"\\".repeat(MAX_QUERY_LEN), NOW);
        let _ = parse(&")".repeat(MAX_QUERY_LEN), NOW);
        let _ = parse(&"-".repeat(MAX_QUERY_LEN), NOW);
    }

    #[test]
    fn published_a_day_and_its_comparisons() {
        let day = datetime!(2026-01-01 0:00 UTC);
        let next = datetime!(2026-01-02 0:00 UTC);
        assert_eq!(
            range("published:2026-01-01"),
            DateRange {
                from: Some(day),
                to: Some(next)
            }
        );
        assert_eq!(
            range("published:>2026-01-01"),
            DateRange {
                from: Some(next),
                to: None
            }
        );
        assert_eq!(
            range("published:>=2026-01-01"),
            DateRange {
                from: Some(day),
                to: None
            }
        );
        assert_eq!(
            range("published:<2026-01-01"),
            DateRange {
                from: None,
                to: Some(day)
            }
        );
        assert_eq!(
            range("published:<=2026-01-01"),
            DateRange {
                from: None,
                to: Some(next)
            }
        );
    }

    #[test]
    fn published_ranges() {
        assert_eq!(
            range("published:2026-01-01..2026-02-01"),
            DateRange {
                from: Some(datetime!(2026-01-01 0:00 UTC)),
                to: Some(datetime!(2026-02-02 0:00 UTC))
            }
        );
        assert_eq!(
            range("published:2026-01-01.."),
            DateRange {
                from: Some(datetime!(2026-01-01 0:00 UTC)),
                to: None
            }
        );
        assert_eq!(
            range("published:..2026-01-01"),
            DateRange {
                from: None,
                to: Some(datetime!(2026-01-02 0:00 UTC))
            }
        );
        // A range of one day is that day.
        assert_eq!(
            range("published:2026-01-01..2026-01-01"),
            range("published:2026-01-01")
        );
        assert_eq!(
            range("published:2026-01-01T10:00:00Z..2026-01-01"),
            DateRange {
                from: Some(datetime!(2026-01-01 10:00 UTC)),
                to: Some(datetime!(2026-01-02 0:00 UTC))
            }
        );
    }

    #[test]
    fn published_timestamps_are_instants() {
        let at = datetime!(2026-01-01 12:00 UTC);
        let just_after = datetime!(2026-01-01 12:00:00.000_000_001 UTC);
        assert_eq!(
            range("published:2026-01-01T12:00:00Z"),
            DateRange {
                from: Some(at),
                to: Some(just_after)
            }
        );
        assert_eq!(
            range("published:>2026-01-01T12:00:00Z"),
            DateRange {
                from: Some(just_after),
                to: None
            }
        );
        assert_eq!(
            range("published:>=2026-01-01T14:00:00+02:00"),
            DateRange {
                from: Some(at),
                to: None
            }
        );
        assert_eq!(
            range("published:<2026-01-01T12:00:00Z"),
            DateRange {
                from: None,
                to: Some(at)
            }
        );
        // Normalised to UTC for the planner.
        let from = range("published:>=2026-01-01T14:00:00+02:00").from;
        assert_eq!(from.map(OffsetDateTime::offset), Some(UtcOffset::UTC));
    }

    #[test]
    fn published_relative_ages() {
        let week_ago = datetime!(2026-03-08 12:00 UTC);
        let recent = DateRange {
            from: Some(week_ago),
            to: None,
        };
        assert_eq!(range("published:<7d"), recent);
        assert_eq!(range("published:<=7d"), recent);
        assert_eq!(range("published:7d"), recent);
        assert_eq!(range("published:1w"), recent);
        assert_eq!(range("published:168h"), recent);
        let older = DateRange {
            from: None,
            to: Some(week_ago),
        };
        assert_eq!(range("published:>7d"), older);
        assert_eq!(range("published:>=7d"), older);
        assert_eq!(
            range("published:<24h").from,
            Some(datetime!(2026-03-14 12:00 UTC))
        );
        assert!(parse("published:100000w", NOW).is_ok());
        let message = "published: an age is 1 to 100000 hours (h), days (d) or weeks (w)";
        assert_eq!(err_at("published:0d"), (11, message.into()));
        assert_eq!(err_at("published:<100001h"), (11, message.into()));
        assert_eq!(
            err_at("published:99999999999999999999999d"),
            (11, message.into())
        );
    }

    #[test]
    fn published_errors() {
        let bad = |q: &str| {
            let (at, message) = err_at(q);
            assert_eq!(message, PUBLISHED_FORMS, "{q}");
            assert!(message.contains("2026-01-01"));
            at
        };
        assert_eq!(bad("published:yesterday"), 11);
        assert_eq!(bad("a published:2026-02-30"), 13);
        assert_eq!(bad("published:2026-1-1"), 11);
        assert_eq!(bad("published:.."), 11);
        assert_eq!(bad("published:7d..1d"), 11);
        assert_eq!(bad("published:=2026-01-01"), 11);
        assert_eq!(bad("published:>>2026-01-01"), 11);
        assert_eq!(bad("published:7"), 11);
        assert_eq!(bad("published:\" 2026-01-01\""), 11);
        let empty = (11, "published: empty date range".to_owned());
        assert_eq!(err_at("published:2026-02-01..2026-01-01"), empty);
        assert_eq!(
            err_at("published:2026-01-01T12:00:00Z..2026-01-01T11:00:00Z"),
            empty
        );
        assert_eq!(
            err_at("published:<=9999-12-31").1,
            "published: date out of range"
        );
    }

    #[test]
    fn date_range_contains_is_half_open() {
        let r = range("published:2026-01-01");
        assert!(!r.contains(datetime!(2025-12-31 23:59:59.999_999_999 UTC)));
        assert!(r.contains(datetime!(2026-01-01 0:00 UTC)));
        assert!(r.contains(datetime!(2026-01-01 23:59:59.999_999_999 UTC)));
        assert!(!r.contains(datetime!(2026-01-02 0:00 UTC)));
        // The same instant in another offset.
        assert!(r.contains(datetime!(2026-01-01 1:00 +01:00)));
        assert!(!r.contains(datetime!(2026-01-01 0:30 +01:00)));

        let unbounded = DateRange {
            from: None,
            to: None,
        };
        assert!(unbounded.contains(datetime!(1970-01-01 0:00 UTC)));
        let older = range("published:>7d");
        assert!(older.contains(datetime!(2026-03-08 11:59:59 UTC)));
        assert!(!older.contains(datetime!(2026-03-08 12:00 UTC)));
        let recent = range("published:<7d");
        assert!(recent.contains(datetime!(2026-03-08 12:00 UTC)));
        assert!(recent.contains(NOW));
    }

    #[test]
    fn glob_matching() {
        let glob = |p: &str| Pattern::Glob(p.to_owned());
        assert!(glob("acme-*").matches("acme-widget"));
        assert!(glob("acme-*").matches("acme-"));
        assert!(!glob("acme-*").matches("acme"));
        assert!(!glob("acme-*").matches("xacme-widget"));
        assert!(glob("*-utils").matches("string-utils"));
        assert!(!glob("*-utils").matches("string-utils2"));
        assert!(glob("a?c").matches("abc"));
        assert!(glob("a?c").matches("aéc"));
        assert!(!glob("a?c").matches("ac"));
        assert!(!glob("a?c").matches("abbc"));
        assert!(glob("*").matches(""));
        assert!(glob("*").matches("anything"));
        assert!(glob("a*b*c").matches("aXXbYYc"));
        assert!(glob("a*b*c").matches("abc"));
        assert!(glob("a**b").matches("ab"));
        assert!(glob("*a*a*").matches("banana"));
        assert!(!glob("a*b*c").matches("aXXbYY"));
        assert!(!glob("widget").matches("widgets"));
        assert!(glob("*?").matches("x"));
        assert!(!glob("*?").matches(""));
        // The pathological case backtracks linearly per star, without recursion.
        let text = "a".repeat(5000);
        assert!(!glob(&format!("{}b", "*a".repeat(20))).matches(&text));
    }

    #[test]
    fn exact_patterns_and_literal_prefixes() {
        let exact = Pattern::Exact("widget".into());
        assert!(exact.matches("widget"));
        assert!(!exact.matches("widgets"));
        assert_eq!(exact.literal_prefix(), "widget");
        assert_eq!(Pattern::Glob("acme-*".into()).literal_prefix(), "acme-");
        assert_eq!(Pattern::Glob("ab?c*".into()).literal_prefix(), "ab");
        assert_eq!(Pattern::Glob("*x".into()).literal_prefix(), "");
    }

    #[test]
    fn a_realistic_query() {
        let expr = ok("format:pypi (name:acme-* OR tag:stable) -status:yanked published:<30d");
        let Expr::And(items) = expr else {
            panic!("expected an And");
        };
        assert_eq!(items.len(), 4);
        assert_eq!(items[0], Expr::Term(Term::Format(FormatName::Pypi)));
        assert_eq!(
            items[1],
            Expr::Or(vec![
                Expr::Term(Term::Name(Pattern::Glob("acme-*".into()))),
                Expr::Term(Term::Tag("stable".into())),
            ])
        );
        assert_eq!(items[2], not(Expr::Term(Term::Status(StatusName::Yanked))));
        assert!(matches!(items[3], Expr::Term(Term::Published(_))));
    }

    #[test]
    fn errors_display_their_position() {
        assert_eq!(
            fails("a OR").to_string(),
            "nothing after OR (at character 3)"
        );
    }
}
