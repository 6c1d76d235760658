//! PEP 440 versions: parsing with the spec's normalisations (case, `alpha` → `a`, implicit
//! numbers, optional separators, `-N` as a post-release, a leading `v`), the normal form, and
//! the order pip and uv sort by.

use std::cmp::Ordering;
use std::fmt;

/// Longest version text accepted (PyPI's own bound is far below what a key could hold).
const MAX_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PreKind {
    Alpha,
    Beta,
    Rc,
}

impl PreKind {
    fn as_str(self) -> &'static str {
        match self {
            PreKind::Alpha => "a",
            PreKind::Beta => "b",
            PreKind::Rc => "rc",
        }
    }
}

/// One segment of a local version label: numbers sort above words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalPart {
    Num(u64),
    Word(String),
}

/// Equality is PEP 440's: `1.0 == 1.0.0`.
#[derive(Debug, Clone)]
pub struct Version {
    pub epoch: u64,
    pub release: Vec<u64>,
    pub pre: Option<(PreKind, u64)>,
    pub post: Option<u64>,
    pub dev: Option<u64>,
    pub local: Vec<LocalPart>,
}

impl Version {
    pub fn parse(text: &str) -> Result<Version, String> {
        let bad = |why: &str| format!("invalid version {:?}: {why}", shorten(text));
        let s = text.trim();
        if s.is_empty() || s.len() > MAX_LEN {
            return Err(bad(
                "use a PEP 440 version of 1 to 64 characters, e.g. 1.2.0",
            ));
        }
        if !s.is_ascii() {
            return Err(bad("not a PEP 440 version"));
        }
        let lower = s.to_ascii_lowercase();
        let (public, local) = match lower.split_once('+') {
            Some((p, l)) => (p, Some(l)),
            None => (lower.as_str(), None),
        };
        let mut p = Cursor {
            s: public.as_bytes(),
            i: 0,
        };
        if p.peek() == Some(b'v') {
            p.i += 1;
        }
        let first = p.number().ok_or_else(|| bad("not a PEP 440 version"))?;
        let (epoch, first) = if p.eat(b'!') {
            (
                first,
                p.number().ok_or_else(|| bad("not a PEP 440 version"))?,
            )
        } else {
            (0, first)
        };
        let mut release = vec![first];
        while p.peek() == Some(b'.') && p.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            p.i += 1;
            release.push(p.number().ok_or_else(|| bad("not a PEP 440 version"))?);
        }
        let pre = p.pre();
        let post = p.post();
        let dev = p.dev();
        if p.i != p.s.len() {
            return Err(bad("not a PEP 440 version"));
        }
        let local = match local {
            None => Vec::new(),
            Some(l) => parse_local(l).ok_or_else(|| bad("invalid local version label"))?,
        };
        Ok(Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    /// The release with trailing zeros removed: `1.0.0` and `1` are one release.
    fn release_key(&self) -> &[u64] {
        let end = self
            .release
            .iter()
            .rposition(|&n| n != 0)
            .map_or(0, |i| i + 1);
        &self.release[..end]
    }

    /// The normal form without trailing release zeros: equal for versions that compare
    /// equal (`1.0` and `1.0.0`), as `packaging.utils.canonicalize_version` does.
    pub fn canonical(&self) -> String {
        let mut v = self.clone();
        let key = v.release_key().len().max(1);
        v.release.truncate(key);
        v.to_string()
    }

    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(MAX_LEN + 1).collect()
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.s.get(self.i + n).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn number(&mut self) -> Option<u64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if start == self.i {
            return None;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }

    fn rest(&self) -> &[u8] {
        &self.s[self.i..]
    }

    /// Tries `f` from after an optional separator; rewinds when it does not match.
    fn segment<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let start = self.i;
        if matches!(self.peek(), Some(b'.' | b'-' | b'_')) {
            self.i += 1;
        }
        let found = f(self);
        if found.is_none() {
            self.i = start;
        }
        found
    }

    fn word(&mut self, words: &[&str]) -> bool {
        // Longest first, so `preview` is not read as `pre` + `view`.
        let mut words = words.to_vec();
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        for w in words {
            if self.rest().starts_with(w.as_bytes()) {
                self.i += w.len();
                return true;
            }
        }
        false
    }

    /// A number after an optional separator, or 0 when there is none (`1.0a` is `1.0a0`).
    fn implicit_number(&mut self) -> u64 {
        let start = self.i;
        if matches!(self.peek(), Some(b'.' | b'-' | b'_')) {
            self.i += 1;
        }
        match self.number() {
            Some(n) => n,
            None => {
                self.i = start;
                0
            }
        }
    }

    fn pre(&mut self) -> Option<(PreKind, u64)> {
        self.segment(|c| {
            let kind = if c.word(&["alpha", "a"]) {
                PreKind::Alpha
            } else if c.word(&["beta", "b"]) {
                PreKind::Beta
            } else if c.word(&["rc", "c", "preview", "pre"]) {
                PreKind::Rc
            } else {
                return None;
            };
            Some((kind, c.implicit_number()))
        })
    }

    fn post(&mut self) -> Option<u64> {
        // `1.0-1` is the post-release 1.0.post1.
        if self.peek() == Some(b'-') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
            return self.number();
        }
        self.segment(|c| c.word(&["post", "rev", "r"]).then(|| c.implicit_number()))
    }

    fn dev(&mut self) -> Option<u64> {
        self.segment(|c| c.word(&["dev"]).then(|| c.implicit_number()))
    }
}

fn parse_local(label: &str) -> Option<Vec<LocalPart>> {
    let mut parts = Vec::new();
    for part in label.split(['.', '-', '_']) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        parts.push(if part.bytes().all(|b| b.is_ascii_digit()) {
            LocalPart::Num(part.parse().ok()?)
        } else {
            LocalPart::Word(part.to_owned())
        });
    }
    Some(parts)
}

impl fmt::Display for Version {
    /// The PEP 440 normal form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}!", self.epoch)?;
        }
        let release: Vec<String> = self.release.iter().map(u64::to_string).collect();
        f.write_str(&release.join("."))?;
        if let Some((kind, n)) = self.pre {
            write!(f, "{}{n}", kind.as_str())?;
        }
        if let Some(n) = self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = self.dev {
            write!(f, ".dev{n}")?;
        }
        if !self.local.is_empty() {
            let local: Vec<String> = self
                .local
                .iter()
                .map(|p| match p {
                    LocalPart::Num(n) => n.to_string(),
                    LocalPart::Word(w) => w.clone(),
                })
                .collect();
            write!(f, "+{}", local.join("."))?;
        }
        Ok(())
    }
}

/// `packaging`'s sort key, piece by piece: a dev release of a final version sorts before
/// its pre-releases, a final version after them, post-releases after it.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum PreKey {
    DevOnly,
    Pre(PreKind, u64),
    Final,
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let pre = |v: &Version| match (v.pre, v.post, v.dev) {
            (None, None, Some(_)) => PreKey::DevOnly,
            (Some((k, n)), _, _) => PreKey::Pre(k, n),
            (None, _, _) => PreKey::Final,
        };
        // None sorts before any post-release; no dev part sorts after any dev release.
        let post = |v: &Version| v.post.map_or(-1, i128::from);
        let dev = |v: &Version| v.dev.map_or(i128::MAX, i128::from);
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.release_key().cmp(other.release_key()))
            .then_with(|| pre(self).cmp(&pre(other)))
            .then_with(|| post(self).cmp(&post(other)))
            .then_with(|| dev(self).cmp(&dev(other)))
            .then_with(|| cmp_local(&self.local, &other.local))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn cmp_local(a: &[LocalPart], b: &[LocalPart]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (LocalPart::Num(x), LocalPart::Num(y)) => x.cmp(y),
            (LocalPart::Word(x), LocalPart::Word(y)) => x.cmp(y),
            (LocalPart::Num(_), LocalPart::Word(_)) => Ordering::Greater,
            (LocalPart::Word(_), LocalPart::Num(_)) => Ordering::Less,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn alternate_spellings_normalise() {
        for (given, normal) in [
            ("1.0", "1.0"),
            ("v1.0", "1.0"),
            ("1.0ALPHA1", "1.0a1"),
            ("1.0-beta.2", "1.0b2"),
            ("1.0c1", "1.0rc1"),
            ("1.0.preview3", "1.0rc3"),
            ("1.0a", "1.0a0"),
            ("1.0-1", "1.0.post1"),
            ("1.0.rev4", "1.0.post4"),
            ("1.0post", "1.0.post0"),
            ("1.0-dev", "1.0.dev0"),
            ("1.0_DEV7", "1.0.dev7"),
            ("2!1.0", "2!1.0"),
            ("0!1.0", "1.0"),
            ("1.0+Ubuntu-1_2", "1.0+ubuntu.1.2"),
            ("  1.2.3  ", "1.2.3"),
            ("1.0rc1.post2.dev3", "1.0rc1.post2.dev3"),
            ("01.002", "1.2"),
        ] {
            assert_eq!(v(given).to_string(), normal, "{given}");
        }
    }

    #[test]
    fn non_versions_are_refused() {
        let length = "use a PEP 440 version of 1 to 64 characters";
        let shape = "not a PEP 440 version";
        let local = "invalid local version label";
        let long = "1".repeat(65);
        for (bad, why) in [
            ("", length),
            (&long, length),
            ("abc", shape),
            ("1.0-", shape),
            ("1..0", shape),
            ("1.0+", local),
            ("1.0+a..b", local),
            ("1.0 beta", shape),
            ("1.0foo", shape),
            ("1.0.dev1.post1", shape),
            ("1.0é", shape),
            ("-1.0", shape),
            ("1.0!", shape),
            ("99999999999999999999999", shape),
        ] {
            let err = Version::parse(bad).expect_err(bad);
            assert!(err.starts_with("invalid version "), "{bad:?}: {err}");
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn versions_sort_as_packaging_sorts_them() {
        let ordered = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.1.dev1",
            "1.2",
            "1.10",
            "1!0.1",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn trailing_zeros_do_not_make_another_version() {
        assert_eq!(v("1.0").cmp(&v("1.0.0")), Ordering::Equal);
        assert_eq!(v("1.0").canonical(), v("1.0.0.0").canonical());
        assert_eq!(v("0").canonical(), "0");
        assert_ne!(v("1.0").canonical(), v("1.0.1").canonical());
        assert!(v("1.0rc1").is_prerelease());
        assert!(!v("1.0.post1").is_prerelease());
    }
}
