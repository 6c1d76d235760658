//! The search index: small items that say where a version (or, under `SHA`, a file) can be
//! found, one per way a query may start from (`keys::search_partition`). They are written in
//! the transaction that publishes the version or changes its tags and labels, and carry
//! only what never changes once published (names, format, who and when, description), so a
//! yank or a pin never rewrites them: the search reads those from the version itself.
//!
//! What a version costs: `NAME`, `REPO#<repo>`, `PUB`, `BY#<principal>` and one `WORD` item
//! per distinct word of its name and description (at most [`MAX_WORDS`]), plus one `SHA`
//! item per file and one item per tag or label. Each is a few hundred bytes: one write unit,
//! two inside a transaction.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::keys::{self, UploadId};
use crate::domain::model::{FileRecord, Format, Repository, Upload, Version, from_item, to_item};
use crate::domain::names::{FileName, PackageName, RepoName, Sha256Hex, TenantName, VersionName};
use crate::ports::{Condition, Item, Key, TableError, Write};

/// Words of a name and description kept per version: enough for a description's gist,
/// bounded so a publish transaction stays small.
pub const MAX_WORDS: usize = 24;

/// The partitions (`keys::search_partition`'s `way`).
pub const NAME: &str = "NAME";
pub const PUB: &str = "PUB";
pub const WORD: &str = "WORD";
pub const SHA: &str = "SHA";

pub fn repo_way(repo: &str) -> String {
    format!("REPO#{repo}")
}

pub fn by_way(principal: &str) -> String {
    format!("BY#{principal}")
}

pub fn tag_way(tag: &str) -> String {
    format!("TAG#{tag}")
}

pub fn label_way(key: &str) -> String {
    format!("LABEL#{key}")
}

/// What an index item holds: the version it points to, and the file under `SHA`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub repository: RepoName,
    /// The repository instance (`Repository::id`): entries of a repository deleted and
    /// created again under its name are stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_id: Option<String>,
    pub format: Format,
    pub package: PackageName,
    pub version: VersionName,
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The upload whose publish wrote the entry: a stale entry is removed only if it is
    /// still this one (a later publish under the same names rewrites it).
    pub upload_id: UploadId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub filename: FileName,
    pub size: u64,
    pub sha256: Sha256Hex,
}

impl Entry {
    /// The entry of a version being published by `upload` (the file is added per `SHA` item).
    pub fn of_publish(
        repo: &Repository,
        upload: &Upload,
        version: &Version,
        description: Option<String>,
    ) -> Self {
        Self {
            repository: upload.repository.clone(),
            repository_id: repo.id.clone(),
            format: repo.format,
            package: upload.package.clone(),
            version: upload.version.clone(),
            published_at: version.created_at,
            published_by: upload.created_by.clone(),
            description,
            upload_id: upload.upload_id.clone(),
            file: None,
        }
    }

    pub fn lower_name(&self) -> String {
        self.package.as_str().to_lowercase()
    }

    fn when(&self) -> String {
        keys::newest_first(
            i64::try_from(self.published_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        )
    }

    /// Where the version stands in `NAME`: name, repository, newest first.
    pub fn name_key(&self, t: &TenantName) -> Key {
        Key::new(
            keys::search_partition(t, NAME),
            format!(
                "{}#{}#{}#{}",
                self.lower_name(),
                self.repository,
                self.when(),
                self.version
            ),
        )
    }

    /// The version's own items (not the files', tags' or labels').
    pub fn version_keys(&self, t: &TenantName) -> Vec<Key> {
        let (name, when, v, r) = (
            self.lower_name(),
            self.when(),
            &self.version,
            &self.repository,
        );
        let by_time = format!("{when}#{r}#{name}#{v}");
        let mut out = vec![
            self.name_key(t),
            Key::new(
                keys::search_partition(t, &repo_way(r.as_str())),
                format!("{name}#{when}#{v}"),
            ),
            Key::new(keys::search_partition(t, PUB), by_time.clone()),
        ];
        if let Some(by) = &self.published_by {
            out.push(Key::new(keys::search_partition(t, &by_way(by)), by_time));
        }
        for word in words(self.package.as_str(), self.description.as_deref()) {
            out.push(Key::new(
                keys::search_partition(t, WORD),
                format!("{word}#{r}#{name}#{when}#{v}"),
            ));
        }
        out
    }

    pub fn file_key(&self, t: &TenantName, file: &FileEntry) -> Key {
        Key::new(
            keys::search_partition(t, SHA),
            format!(
                "{}#{}#{}#{}#{}",
                file.sha256,
                self.repository,
                self.lower_name(),
                self.version,
                file.filename
            ),
        )
    }

    pub fn tag_key(&self, t: &TenantName, tag: &str) -> Key {
        Key::new(
            keys::search_partition(t, &tag_way(tag)),
            format!(
                "{}#{}#{}#{}",
                self.repository,
                self.lower_name(),
                self.when(),
                self.version
            ),
        )
    }

    pub fn label_key(&self, t: &TenantName, key: &str, value: &str) -> Key {
        Key::new(
            keys::search_partition(t, &label_way(key)),
            format!(
                "{value}#{}#{}#{}#{}",
                self.repository,
                self.lower_name(),
                self.when(),
                self.version
            ),
        )
    }

    /// Every item of the version: its own, its tags' and labels', and its files'.
    pub fn all_keys(&self, t: &TenantName, version: &Version, files: &[FileRecord]) -> Vec<Key> {
        let mut out = self.version_keys(t);
        out.extend(version.tags.iter().map(|tag| self.tag_key(t, tag)));
        out.extend(version.labels.iter().map(|(k, v)| self.label_key(t, k, v)));
        out.extend(files.iter().map(|f| self.file_key(t, &FileEntry::of(f))));
        out
    }

    pub fn item(&self, key: &Key) -> Result<Item, TableError> {
        to_item(key, self)
    }

    /// A put of this entry under `key`. Unconditional: the transaction it joins carries the
    /// conditions (on the version, the file), and writing it again writes the same item.
    pub fn put(&self, key: &Key) -> Result<Write, TableError> {
        Ok(Write::Put {
            item: self.item(key)?,
            condition: None,
        })
    }

    /// Removes the item under `key` if this entry's publish still owns it.
    pub fn remove(&self, key: Key) -> Write {
        Write::Delete {
            key,
            condition: Some(self.owned()),
        }
    }

    pub fn owned(&self) -> Condition {
        Condition::Equals("upload_id".into(), self.upload_id.as_str().into())
    }

    pub fn from_item(item: Item) -> Result<Self, TableError> {
        from_item(item)
    }
}

impl FileEntry {
    pub fn of(file: &FileRecord) -> Self {
        Self {
            filename: file.filename.clone(),
            size: file.size,
            sha256: file.sha256.clone(),
        }
    }
}

/// The writes a publish adds to its transaction: the version's items when it is new, and
/// the file's item.
pub fn publish_writes(
    t: &TenantName,
    entry: &Entry,
    new_version: bool,
    file: &FileRecord,
) -> Result<Vec<Write>, TableError> {
    let mut writes = Vec::new();
    if new_version {
        for key in entry.version_keys(t) {
            writes.push(entry.put(&key)?);
        }
    }
    let file = FileEntry::of(file);
    let mut with_file = entry.clone();
    with_file.file = Some(file.clone());
    writes.push(with_file.put(&entry.file_key(t, &file))?);
    Ok(writes)
}

/// The words a free-text term can find a version by: the tokens of its name, then those of
/// its description, lower-cased, each once; tokens are runs of letters and digits (a
/// description's words of one or two letters, and a few of the commonest, say nothing).
pub fn words(name: &str, description: Option<&str>) -> Vec<String> {
    const COMMON: &[&str] = &["the", "and", "for", "with", "from", "that", "this", "you"];
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let name_tokens = tokens(name).filter(|w| !w.is_empty());
    let desc_tokens = description
        .into_iter()
        .flat_map(tokens)
        .filter(|w| w.chars().count() >= 3 && !COMMON.contains(&w.as_str()));
    for word in name_tokens.chain(desc_tokens) {
        if out.len() == MAX_WORDS {
            break;
        }
        if seen.insert(word.clone()) {
            out.push(word);
        }
    }
    out
}

/// Lower-cased runs of letters and digits.
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            repository: RepoName::parse("libs").expect("valid"),
            repository_id: Some("r1".into()),
            format: Format::Npm,
            package: PackageName::parse("Acme.Widget-Kit").expect("valid"),
            version: VersionName::parse("1.2.0").expect("valid"),
            published_at: time::macros::datetime!(2026-03-01 12:00 UTC),
            published_by: Some("user_01".into()),
            description: Some("A widget toolkit for the Web; widget!".into()),
            upload_id: UploadId::new(),
            file: None,
        }
    }

    #[test]
    fn words_are_name_tokens_then_description_words_once_each() {
        let e = entry();
        assert_eq!(
            words(e.package.as_str(), e.description.as_deref()),
            ["acme", "widget", "kit", "toolkit", "web"]
        );
        let long = "word ".repeat(10) + &(0..50).map(|i| format!("w{i:03} ")).collect::<String>();
        assert_eq!(words("x", Some(&long)).len(), MAX_WORDS);
    }

    #[test]
    fn keys_sort_by_name_then_newest_first_and_stay_in_the_tenant() {
        let t = TenantName::parse("acme").expect("valid");
        let older = entry();
        let mut newer = entry();
        newer.published_at += time::Duration::days(1);
        newer.version = VersionName::parse("1.3.0").expect("valid");
        assert!(
            newer.name_key(&t).sk < older.name_key(&t).sk,
            "newest first"
        );
        assert!(older.name_key(&t).sk.starts_with("acme.widget-kit#libs#"));
        for key in older.version_keys(&t) {
            assert!(key.pk.starts_with("T#acme#SEARCH#"), "{key:?}");
        }
        // NAME, REPO, PUB, BY and the five words.
        assert_eq!(older.version_keys(&t).len(), 4 + 5);
    }

    #[test]
    fn a_publish_writes_the_version_once_and_every_file() {
        let t = TenantName::parse("acme").expect("valid");
        let e = entry();
        let file = FileRecord {
            filename: FileName::parse("widget-kit-1.2.0.tgz").expect("valid"),
            size: 3,
            sha256: Sha256Hex::parse(&"ab".repeat(32)).expect("valid"),
            upload_id: e.upload_id.clone(),
            scan: None,
            attributes: Default::default(),
            core_metadata: None,
            yanked: None,
            created_at: e.published_at,
        };
        assert_eq!(publish_writes(&t, &e, true, &file).expect("ok").len(), 10);
        let second = publish_writes(&t, &e, false, &file).expect("ok");
        let [Write::Put { item, .. }] = second.as_slice() else {
            panic!("one put: {second:?}");
        };
        let back = Entry::from_item(item.clone()).expect("reads back");
        assert_eq!(back.file.expect("file").sha256.as_str(), "ab".repeat(32));
        assert!(
            item["sk"]
                .as_str()
                .expect("sk")
                .starts_with(&"ab".repeat(32))
        );
    }
}
