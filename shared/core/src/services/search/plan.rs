//! Which index ranges a query starts from (its "ways in"), and whether a hit matches it.
//!
//! A query is read from the key ranges of one term that every result must satisfy (the
//! cheapest such term of an AND; every branch of an OR), and the whole expression is then
//! checked on each entry found. What each way costs is in the README's search section: a
//! name, checksum, tag or label touches only matching entries; a repository, a principal,
//! a date range or a word touches entries of that repository, principal, period or word;
//! a query with none of these (only `-`, `version:` or `status:` terms) reads the caller's
//! repositories whole, in bounded pages.

use std::cmp::Ordering;

use crate::domain::model::{Format, Version};
use crate::services::search::index::{Entry, tokens};
use crate::services::search::query::{
    Comparator, DateRange, Expr, FormatName, Op, Pattern, StatusName, Term,
};

/// One key range of the index a query reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Way {
    Sha(String),
    NameExact(String),
    NamePrefix(String),
    Tag(String),
    Label(String, Option<String>),
    By(String),
    /// One repository (also what `Repos` and `Everything` become once the caller's
    /// repositories are known).
    Repo(String),
    Word(String),
    Published(DateRange),
    /// The repositories whose name matches, or of one format.
    Repos(RepoSelector),
    /// Every repository the caller may read.
    Everything,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RepoSelector {
    Named(Pattern),
    Format(Format),
}

impl Way {
    /// Smaller reads fewer entries that the query then drops.
    fn cost(&self) -> u8 {
        match self {
            Way::Sha(_) => 0,
            Way::NameExact(_) | Way::Tag(_) | Way::Label(_, Some(_)) => 1,
            Way::NamePrefix(_) | Way::By(_) | Way::Repo(_) => 2,
            Way::Word(_) | Way::Label(_, None) => 3,
            Way::Published(_) | Way::Repos(_) => 4,
            Way::Everything => 9,
        }
    }

    /// Whether this range holds the hit's entry: a hit found again by a later way of the
    /// same plan is not shown twice.
    pub fn holds(&self, entry: &Entry, version: &Version) -> bool {
        let name = entry.lower_name();
        match self {
            Way::Sha(prefix) => entry
                .file
                .as_ref()
                .is_some_and(|f| f.sha256.as_str().starts_with(prefix.as_str())),
            Way::NameExact(n) => name == *n,
            Way::NamePrefix(p) => name.starts_with(p.as_str()),
            Way::Tag(tag) => version.tags.contains(tag),
            Way::Label(k, v) => label_holds(version, k, v.as_deref()),
            Way::By(by) => entry.published_by.as_deref() == Some(by.as_str()),
            Way::Repo(r) => entry.repository.as_str() == r,
            Way::Word(w) => has_word(entry, w),
            Way::Published(range) => range.contains(entry.published_at),
            Way::Repos(RepoSelector::Named(p)) => p.matches(entry.repository.as_str()),
            Way::Repos(RepoSelector::Format(f)) => entry.format == *f,
            Way::Everything => true,
        }
    }
}

/// How a query is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Read in this order: the first ones hold the best matches (an exact name before the
    /// names that merely contain the word).
    pub ways: Vec<Way>,
    /// The results are files (the query names a checksum), not versions.
    pub files: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

pub fn plan(expr: &Expr) -> Result<Plan, PlanError> {
    let files = mentions_sha(expr);
    let ways = ways_in(expr).map_or_else(|| vec![Way::Everything], |(ways, _)| ways);
    if files && !ways.iter().all(|w| matches!(w, Way::Sha(_))) {
        return Err(PlanError(
            "sha256: must hold for every result: it cannot stand under OR or after -, \
             beside other terms"
                .into(),
        ));
    }
    Ok(Plan { ways, files })
}

fn mentions_sha(expr: &Expr) -> bool {
    match expr {
        Expr::And(xs) | Expr::Or(xs) => xs.iter().any(mentions_sha),
        Expr::Not(x) => mentions_sha(x),
        Expr::Term(t) => matches!(t, Term::Sha256(_)),
    }
}

/// The ranges that together hold every match of `expr`, and what reading them costs; `None`
/// when no range does (a NOT, a version comparison).
fn ways_in(expr: &Expr) -> Option<(Vec<Way>, u8)> {
    match expr {
        Expr::Term(term) => term_ways(term).map(|ways| {
            let cost = ways.iter().map(Way::cost).max().unwrap_or(0);
            (ways, cost)
        }),
        Expr::Not(_) => None,
        Expr::And(xs) => xs.iter().filter_map(ways_in).min_by_key(|(_, cost)| *cost),
        Expr::Or(xs) => {
            let mut ways: Vec<Way> = Vec::new();
            let mut cost = 0;
            for x in xs {
                let (more, c) = ways_in(x)?;
                cost = cost.max(c);
                for way in more {
                    if !ways.contains(&way) {
                        ways.push(way);
                    }
                }
            }
            Some((ways, cost))
        }
    }
}

fn term_ways(term: &Term) -> Option<Vec<Way>> {
    Some(match term {
        Term::Name(Pattern::Exact(n)) => vec![Way::NameExact(n.clone())],
        Term::Name(p @ Pattern::Glob(_)) if !p.literal_prefix().is_empty() => {
            vec![Way::NamePrefix(p.literal_prefix().to_owned())]
        }
        Term::Name(_) => return None,
        Term::Repo(Pattern::Exact(r)) => vec![Way::Repo(r.clone())],
        Term::Repo(p) => vec![Way::Repos(RepoSelector::Named(p.clone()))],
        Term::Format(f) => vec![Way::Repos(RepoSelector::Format(format_of(*f)))],
        Term::Sha256(prefix) => vec![Way::Sha(prefix.clone())],
        Term::Published(range) => vec![Way::Published(*range)],
        Term::By(by) => vec![Way::By(by.clone())],
        Term::Tag(tag) => vec![Way::Tag(tag.clone())],
        Term::Label { key, value } => vec![Way::Label(key.clone(), value.clone())],
        // The name itself first: exact matches rank first.
        Term::Text(word) => {
            let first = tokens(word).next()?;
            vec![Way::NameExact(word.clone()), Way::Word(first)]
        }
        Term::Version(_) | Term::Status(_) => return None,
    })
}

pub fn format_of(f: FormatName) -> Format {
    match f {
        FormatName::Generic => Format::Generic,
        FormatName::Pypi => Format::Pypi,
        FormatName::Npm => Format::Npm,
        FormatName::Cargo => Format::Cargo,
    }
}

/// Whether a hit (the entry found, and the version as stored) matches the whole query.
pub fn matches(expr: &Expr, entry: &Entry, version: &Version) -> bool {
    eval(expr, entry, Some(version)) == Some(true)
}

/// What the entry alone says of the query: `Some(false)` when no version could make it
/// match (so the version need not be read), `None` when it depends on the version.
pub fn may_match(expr: &Expr, entry: &Entry) -> Option<bool> {
    eval(expr, entry, None)
}

/// Three-valued: `None` where a term needs the version and none was given.
fn eval(expr: &Expr, entry: &Entry, version: Option<&Version>) -> Option<bool> {
    match expr {
        Expr::And(xs) => settle(xs, entry, version, false),
        Expr::Or(xs) => settle(xs, entry, version, true),
        Expr::Not(x) => eval(x, entry, version).map(|b| !b),
        Expr::Term(term) => term_value(term, entry, version),
    }
}

/// An AND (`decides` false) or an OR (`decides` true): one child with the deciding value
/// settles it; otherwise any unknown child leaves it unknown.
fn settle(xs: &[Expr], entry: &Entry, version: Option<&Version>, decides: bool) -> Option<bool> {
    let mut unknown = false;
    for x in xs {
        match eval(x, entry, version) {
            Some(b) if b == decides => return Some(decides),
            None => unknown = true,
            Some(_) => {}
        }
    }
    (!unknown).then_some(!decides)
}

fn term_value(term: &Term, entry: &Entry, version: Option<&Version>) -> Option<bool> {
    Some(match term {
        Term::Name(p) => p.matches(&entry.lower_name()),
        Term::Repo(p) => p.matches(entry.repository.as_str()),
        Term::Format(f) => entry.format == format_of(*f),
        Term::Version(comparators) => comparators
            .iter()
            .all(|c| compare_holds(entry.format, entry.version.as_str(), c)),
        Term::Sha256(prefix) => entry
            .file
            .as_ref()
            .is_some_and(|f| f.sha256.as_str().starts_with(prefix.as_str())),
        Term::Status(StatusName::Published) => version?.yanked.is_none(),
        Term::Status(StatusName::Yanked) => version?.yanked.is_some(),
        Term::Published(range) => range.contains(entry.published_at),
        Term::By(by) => entry.published_by.as_deref() == Some(by.as_str()),
        Term::Tag(tag) => version?.tags.contains(tag),
        Term::Label { key, value } => label_holds(version?, key, value.as_deref()),
        Term::Text(word) => entry.lower_name().contains(word.as_str()) || has_word(entry, word),
    })
}

fn label_holds(version: &Version, key: &str, value: Option<&str>) -> bool {
    match (version.labels.get(key), value) {
        (Some(v), Some(want)) => v == want,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// A word of the name or description starts with `word` (`widg` finds `widget`).
fn has_word(entry: &Entry, word: &str) -> bool {
    let Some(first) = tokens(word).next() else {
        return false;
    };
    tokens(entry.package.as_str())
        .chain(entry.description.iter().flat_map(|d| tokens(d)))
        .any(|w| w.starts_with(&first))
}

fn compare_holds(format: Format, version: &str, c: &Comparator) -> bool {
    let order = version_order(format, version, &c.version);
    match c.op {
        Op::Eq => order == Ordering::Equal,
        Op::Ne => order != Ordering::Equal,
        Op::Lt => order == Ordering::Less,
        Op::Le => order != Ordering::Greater,
        Op::Gt => order == Ordering::Greater,
        Op::Ge => order != Ordering::Less,
    }
}

/// The format's own order (PEP 440, SemVer); for `generic`, [`generic_order`].
pub fn version_order(format: Format, a: &str, b: &str) -> Ordering {
    match crate::formats::for_format(format) {
        Some(f) => f.compare_versions(a, b),
        None => generic_order(a, b),
    }
}

/// Generic versions: parts split at `.`, `-`, `+` and `_`, compared in turn, numerically
/// when both are numbers (`1.10` > `1.9`), else as text; text before a number, as a
/// pre-release before its release. Where one runs out, missing numbers count as 0:
/// `1.0-rc1` < `1.0` = `1.0.0` < `1.0.1`.
pub fn generic_order(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| {
        s.split(['.', '-', '+', '_'])
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let order = match (x.parse::<u128>(), y.parse::<u128>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            (Ok(_), Err(_)) => Ordering::Greater,
            (Err(_), Ok(_)) => Ordering::Less,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    let (rest, longer) = match pa.len().cmp(&pb.len()) {
        Ordering::Equal => return Ordering::Equal,
        Ordering::Greater => (&pa[pb.len()..], Ordering::Greater),
        Ordering::Less => (&pb[pa.len()..], Ordering::Less),
    };
    for part in rest {
        match part.parse::<u128>() {
            Ok(0) => continue,
            Ok(_) => return longer,
            Err(_) => return longer.reverse(),
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::search::query::parse;

    fn plan_of(q: &str) -> Result<Plan, PlanError> {
        let expr = parse(q, time::macros::datetime!(2026-12-01 00:00 UTC)).expect("parses");
        plan(&expr)
    }

    fn ways(q: &str) -> Vec<Way> {
        plan_of(q).expect("plans").ways
    }

    #[test]
    fn each_field_starts_from_its_own_range() {
        assert_eq!(ways("name:widget"), [Way::NameExact("widget".into())]);
        assert_eq!(ways("name:acme-*"), [Way::NamePrefix("acme-".into())]);
        assert_eq!(ways("repo:libs"), [Way::Repo("libs".into())]);
        assert_eq!(
            ways("format:npm"),
            [Way::Repos(RepoSelector::Format(Format::Npm))]
        );
        assert_eq!(ways("by:user_1"), [Way::By("user_1".into())]);
        assert_eq!(ways("tag:stable"), [Way::Tag("stable".into())]);
        assert_eq!(
            ways("label:env=prod"),
            [Way::Label("env".into(), Some("prod".into()))]
        );
        assert!(matches!(ways("published:<7d")[..], [Way::Published(_)]));
        assert_eq!(
            ways("widget"),
            [Way::NameExact("widget".into()), Way::Word("widget".into())],
            "exact names rank first"
        );
        let p = plan_of("sha256:0123456789ab").expect("plans");
        assert!(p.files);
        assert_eq!(p.ways, [Way::Sha("0123456789ab".into())]);
    }

    #[test]
    fn an_and_starts_from_its_narrowest_term_and_an_or_from_all_of_its_branches() {
        assert_eq!(
            ways("repo:libs name:widget version:>=1"),
            [Way::NameExact("widget".into())]
        );
        assert_eq!(
            ways("published:<7d by:ci"),
            [Way::By("ci".into())],
            "a principal's range before a period's"
        );
        assert_eq!(
            ways("name:a OR name:b"),
            [Way::NameExact("a".into()), Way::NameExact("b".into())]
        );
        assert_eq!(
            ways("(name:a OR tag:x) repo:libs"),
            [Way::NameExact("a".into()), Way::Tag("x".into())]
        );
    }

    #[test]
    fn terms_without_a_range_read_everything_the_caller_may_read() {
        assert_eq!(ways("-name:a"), [Way::Everything]);
        assert_eq!(ways("version:>=2"), [Way::Everything]);
        assert_eq!(ways("status:yanked"), [Way::Everything]);
        assert_eq!(ways("name:*-utils"), [Way::Everything]);
        assert_eq!(ways("name:a OR -tag:x"), [Way::Everything]);
        assert_eq!(
            ways("-name:a repo:libs"),
            [Way::Repo("libs".into())],
            "an AND still starts from its positive term"
        );
    }

    #[test]
    fn a_checksum_must_hold_for_every_result() {
        assert!(plan_of("sha256:0123456789ab name:x").expect("plans").files);
        assert!(plan_of("sha256:0123456789ab OR sha256:ba9876543210").is_ok());
        for q in [
            "sha256:0123456789ab OR name:x",
            "-sha256:0123456789ab",
            "name:x -sha256:0123456789ab",
        ] {
            let e = plan_of(q).expect_err(q);
            assert!(e.0.contains("sha256:"), "{q}: {e}");
        }
    }

    #[test]
    fn generic_versions_compare_part_by_part() {
        use Ordering::*;
        assert_eq!(generic_order("1.10", "1.9"), Greater);
        assert_eq!(generic_order("1.0", "1.0.1"), Less);
        assert_eq!(generic_order("1.0", "1.0.0"), Equal);
        assert_eq!(generic_order("1.0-rc1", "1.0"), Less, "a pre-release");
        assert_eq!(generic_order("1.0.0", "1.0-rc1"), Greater);
        assert_eq!(generic_order("2024.01.5", "2024.1.5"), Equal);
        assert_eq!(generic_order("1.0-rc1", "1.0-1"), Less);
        assert_eq!(generic_order("build-a", "build-b"), Less);
        assert_eq!(
            version_order(Format::Pypi, "1.0rc1", "1.0"),
            Less,
            "PEP 440 for pypi"
        );
        assert_eq!(version_order(Format::Npm, "1.0.0-beta", "1.0.0"), Less);
    }
}
