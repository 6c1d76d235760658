//! Reads a plan's ranges in order, a bounded page at a time, and keeps the entries whose
//! version (read from the table, so yanks, tags and deletions are current) matches the
//! whole query and which the caller may read.

use std::collections::BTreeMap;

use base64::Engine as _;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::domain::access::{Role, Target};
use crate::domain::keys;
use crate::domain::model::{FileRecord, Repository, Version, from_item};
use crate::domain::names::TenantName;
use crate::ports::Query;
use crate::ports::table::query_all;
use crate::services::access::caller::Caller;
use crate::services::search::index::{self, Entry};
use crate::services::search::plan::{self, RepoSelector, Way};
use crate::services::search::query::Expr;
use crate::services::{Context, Error};

/// Index entries one request reads at most: a query that matches little of a large range
/// answers a short page and a cursor rather than reading on.
pub const EXAMINE_BUDGET: usize = 2_000;
/// Versions read at once to check the entries of a page.
const PARALLEL_READS: usize = 16;
/// Above every character a key holds: the end of a prefix's range.
const LAST: &str = "\u{10FFFF}";
/// Below every key: DynamoDB refuses an empty string as a range's end.
const FIRST: &str = "\u{1}";

/// Where a search stopped: the way it was reading and the last key it examined there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    /// The query's fingerprint: a cursor answers only the query that made it.
    q: String,
    w: usize,
    k: String,
}

impl Cursor {
    fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(text: &str, fingerprint: &str, ways: usize) -> Result<Self, Error> {
        let invalid = || {
            Error::Invalid(
                "invalid cursor: use the next_cursor of the previous page of this query".into(),
            )
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.q != fingerprint || cursor.w >= ways {
            return Err(invalid());
        }
        Ok(cursor)
    }
}

/// A query's fingerprint for its cursors.
pub fn fingerprint(q: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(q.as_bytes())[..8])
}

/// One range of the index, both ends included.
#[derive(Debug, Clone, PartialEq)]
struct Range {
    pk: String,
    from: String,
    to: String,
}

impl Range {
    fn prefix(pk: String, prefix: &str) -> Self {
        Self {
            pk,
            from: if prefix.is_empty() {
                FIRST.to_owned()
            } else {
                prefix.to_owned()
            },
            to: format!("{prefix}{LAST}"),
        }
    }
}

fn range_of(t: &TenantName, way: &Way) -> Option<Range> {
    let p = |w: &str| keys::search_partition(t, w);
    Some(match way {
        Way::Sha(prefix) => Range::prefix(p(index::SHA), prefix),
        Way::NameExact(name) => Range::prefix(p(index::NAME), &format!("{name}#")),
        Way::NamePrefix(prefix) => Range::prefix(p(index::NAME), prefix),
        Way::Tag(tag) => Range::prefix(p(&index::tag_way(tag)), ""),
        Way::Label(key, Some(value)) => {
            Range::prefix(p(&index::label_way(key)), &format!("{value}#"))
        }
        Way::Label(key, None) => Range::prefix(p(&index::label_way(key)), ""),
        Way::By(by) => Range::prefix(p(&index::by_way(by)), ""),
        Way::Repo(repo) => Range::prefix(p(&index::repo_way(repo)), ""),
        Way::Word(word) => Range::prefix(p(index::WORD), word),
        Way::Published(range) => {
            let ms = |at: time::OffsetDateTime| {
                i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(0)
            };
            Range {
                pk: p(index::PUB),
                // Newest first: the end of the period is the start of the range.
                from: range
                    .to
                    .map_or_else(|| FIRST.to_owned(), |to| keys::newest_first(ms(to) - 1)),
                to: range.from.map_or_else(
                    || LAST.to_owned(),
                    |from| format!("{}#{LAST}", keys::newest_first(ms(from))),
                ),
            }
        }
        // Expanded into `Repo` ways before reading.
        Way::Repos(_) | Way::Everything => return None,
    })
}

/// The caller's ways: what names several repositories becomes one way per repository the
/// caller may read, and a repository the caller may not read is not read at all.
fn expand(ways: Vec<Way>, repos: &BTreeMap<String, Repository>, caller: &Caller) -> Vec<Way> {
    let visible = |name: &str| {
        repos
            .get(name)
            .is_some_and(|r| caller.rights.sees_repository(&r.name))
    };
    let mut out: Vec<Way> = Vec::new();
    let push = |way: Way, out: &mut Vec<Way>| {
        if !out.contains(&way) {
            out.push(way);
        }
    };
    for way in ways {
        match way {
            Way::Repo(r) => {
                if visible(&r) {
                    push(Way::Repo(r), &mut out);
                }
            }
            Way::Repos(selector) => {
                for (name, repo) in repos {
                    let selected = match &selector {
                        RepoSelector::Named(p) => p.matches(name),
                        RepoSelector::Format(f) => repo.format == *f,
                    };
                    if selected && visible(name) {
                        push(Way::Repo(name.clone()), &mut out);
                    }
                }
            }
            Way::Everything => {
                for name in repos.keys() {
                    if visible(name) {
                        push(Way::Repo(name.clone()), &mut out);
                    }
                }
            }
            other => push(other, &mut out),
        }
    }
    out
}

/// A result: the entry found and the version as stored (the file too, under `SHA`).
pub struct Hit {
    pub entry: Entry,
    pub version: Version,
}

pub struct Found {
    pub hits: Vec<Hit>,
    pub cursor: Option<String>,
}

/// Runs `expr` as planned for `caller`, from `cursor`, until `limit` hits or the budget.
pub async fn run(
    ctx: &Context,
    caller: &Caller,
    expr: &Expr,
    planned: plan::Plan,
    fingerprint: &str,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Found, Error> {
    let t = &caller.tenant;
    let repos: BTreeMap<String, Repository> = query_all(
        ctx.table.as_ref(),
        Query::new(keys::repos_partition(t)).limit(1000),
    )
    .await?
    .into_iter()
    .map(|item| from_item::<Repository>(item).map(|r| (r.name.to_string(), r)))
    .collect::<Result<_, _>>()?;
    let ways = expand(planned.ways, &repos, caller);
    let (repos, files) = (&repos, planned.files);
    let (mut w, mut after) = match cursor {
        Some(text) => {
            let c = Cursor::decode(text, fingerprint, ways.len())?;
            (c.w, Some(c.k))
        }
        None => (0, None),
    };
    let mut hits: Vec<Hit> = Vec::new();
    let mut examined = 0;
    while w < ways.len() {
        let Some(range) = range_of(t, &ways[w]) else {
            w += 1;
            continue;
        };
        let from = match &after {
            // Just above the last key examined: no key holds this character.
            Some(k) => format!("{k}\u{1}"),
            None => range.from.clone(),
        };
        if from > range.to {
            (w, after) = (w + 1, None);
            continue;
        }
        let want = limit - hits.len();
        let page_size = (want * 2).clamp(25, 500).min(EXAMINE_BUDGET - examined);
        let page = ctx
            .table
            .query(
                &Query::new(range.pk.clone())
                    .between(from, range.to.clone())
                    .limit(page_size),
            )
            .await?;
        let exhausted = page.cursor.is_none();
        let mut candidates = Vec::with_capacity(page.items.len());
        let mut last_key = None;
        for item in page.items {
            examined += 1;
            let sk = item
                .get(crate::ports::table::SK)
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            let Ok(entry) = Entry::from_item(item) else {
                continue;
            };
            let Some(sk) = sk else { continue };
            last_key = Some(sk.clone());
            if !readable(caller, repos, &entry) || plan::may_match(expr, &entry) == Some(false) {
                continue;
            }
            candidates.push((sk, entry));
        }
        let checked = futures::stream::iter(candidates.into_iter().map(|(sk, entry)| async move {
            let found = current(ctx, t, repos, &entry, files).await;
            (sk, entry, found)
        }))
        .buffered(PARALLEL_READS)
        .collect::<Vec<_>>()
        .await;
        for (sk, entry, found) in checked {
            let version = match found? {
                Current::Live(version) => version,
                Current::Stale => {
                    // Best effort: the next search that meets it tries again. Only if the
                    // publish that wrote it still owns it (a later one rewrites the key).
                    let key = crate::ports::Key::new(range.pk.clone(), sk);
                    let _ = ctx.table.delete(&key, Some(entry.owned())).await;
                    continue;
                }
            };
            if !plan::matches(expr, &entry, &version)
                || ways[..w]
                    .iter()
                    .any(|earlier| earlier.holds(&entry, &version))
            {
                continue;
            }
            hits.push(Hit { entry, version });
            if hits.len() == limit {
                let c = Cursor {
                    q: fingerprint.to_owned(),
                    w,
                    k: sk,
                };
                return Ok(Found {
                    hits,
                    cursor: Some(c.encode()),
                });
            }
        }
        if exhausted {
            (w, after) = (w + 1, None);
        } else if let Some(k) = last_key {
            after = Some(k);
        }
        if examined >= EXAMINE_BUDGET && w < ways.len() {
            // Where to go on: past the last key read, or the start of the next way.
            let k = after.clone().unwrap_or_default();
            let c = Cursor {
                q: fingerprint.to_owned(),
                w,
                k,
            };
            return Ok(Found {
                hits,
                cursor: Some(c.encode()),
            });
        }
    }
    Ok(Found { hits, cursor: None })
}

/// Whether the caller may read the entry's package, in the repository it was published to.
fn readable(caller: &Caller, repos: &BTreeMap<String, Repository>, entry: &Entry) -> bool {
    repos.get(entry.repository.as_str()).is_some_and(|r| {
        caller
            .rights
            .can(Role::Reader, &Target::Package(&r.name, &entry.package))
    })
}

enum Current {
    Live(Version),
    /// The entry points at a version or file deleted, or into a repository deleted since:
    /// it is removed. Entries are written in the transaction that writes what they point
    /// at, and both adapters read the base table consistently, so an entry whose version
    /// cannot be read is stale, never early.
    Stale,
}

async fn current(
    ctx: &Context,
    t: &TenantName,
    repos: &BTreeMap<String, Repository>,
    entry: &Entry,
    files: bool,
) -> Result<Current, Error> {
    let same_instance = repos
        .get(entry.repository.as_str())
        .is_some_and(|r| r.id == entry.repository_id);
    if !same_instance {
        return Ok(Current::Stale);
    }
    let (r, p, v) = (&entry.repository, &entry.package, &entry.version);
    let Some(item) = ctx.table.get(&keys::version(t, r, p, v)).await? else {
        return Ok(Current::Stale);
    };
    let version: Version = from_item(item)?;
    if version.deleted {
        return Ok(Current::Stale);
    }
    if let (Some(file), true) = (&entry.file, files) {
        let stored = ctx
            .table
            .get(&keys::file(t, r, p, v, &file.filename))
            .await?
            .map(from_item::<FileRecord>)
            .transpose()?;
        match stored {
            Some(f) if f.sha256 == file.sha256 => {}
            _ => return Ok(Current::Stale),
        }
    }
    Ok(Current::Live(version))
}
