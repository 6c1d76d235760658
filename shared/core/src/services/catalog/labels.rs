//! Tags (`stable`) and labels (`env=prod`) a writer sets on a published version, for people
//! and for search (`tag:`, `label:`). The version and its search entries change in one
//! transaction, so search never finds a version by a label it no longer carries.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::audit_action::AuditAction;
use crate::domain::keys;
use crate::domain::model::to_item;
use crate::ports::{Condition, Key, TableError, Write};
use crate::services::access::caller::Caller;
use crate::services::catalog::repositories;
use crate::services::catalog::versions::{self, VersionRef, VersionView};
use crate::services::records::audit;
use crate::services::search::index::Entry;
use crate::services::search::maintain;
use crate::services::{Context, Error};

pub const MAX_TAGS: usize = 16;
pub const MAX_LABELS: usize = 16;
const MAX_NAME: usize = 64;
const MAX_VALUE: usize = 128;

/// The version's whole set of tags and labels (what is left out is removed).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelsRequest {
    /// Up to 16 words of lower-case letters, digits, `.`, `_` and `-` (1–64 characters).
    #[serde(default)]
    #[schema(schema_with = tag_list, example = json!(["stable", "lts"]))]
    pub tags: BTreeSet<String>,
    /// Up to 16 pairs: keys as tags, values of 1–128 printable characters without `#`.
    #[serde(default)]
    #[schema(schema_with = label_map, example = json!({"env": "prod", "team": "payments"}))]
    pub labels: BTreeMap<String, String>,
}

/// What `check_word` accepts.
fn word() -> Shaped<'static> {
    Shaped {
        max_chars: MAX_NAME,
        pattern: "^[a-z0-9._-]{1,64}$",
    }
}

use crate::domain::bounds::Shaped;

fn tag_list() -> utoipa::openapi::schema::Array {
    crate::domain::bounds::pattern_list(MAX_TAGS, word())
}

fn label_map() -> utoipa::openapi::schema::Object {
    // Values: 1 to 128 characters, none a control character nor `#`.
    let value = Shaped {
        max_chars: MAX_VALUE,
        pattern: "^[^\\x00-\\x1F\\x7F-\\x9F#]{1,128}$",
    };
    crate::domain::bounds::pattern_map(MAX_LABELS, word(), value)
}

impl LabelsRequest {
    fn check(&self) -> Result<(), Error> {
        if self.tags.len() > MAX_TAGS {
            return Err(Error::Invalid(format!(
                "too many tags ({}): at most {MAX_TAGS}",
                self.tags.len()
            )));
        }
        if self.labels.len() > MAX_LABELS {
            return Err(Error::Invalid(format!(
                "too many labels ({}): at most {MAX_LABELS}",
                self.labels.len()
            )));
        }
        for tag in &self.tags {
            check_word("tag", tag)?;
        }
        for (key, value) in &self.labels {
            check_word("label key", key)?;
            let printable = value.chars().all(|c| !c.is_control() && c != '#');
            if value.is_empty() || value.chars().count() > MAX_VALUE || !printable {
                return Err(Error::Invalid(format!(
                    "invalid value of label {key}: use 1 to {MAX_VALUE} printable characters without '#'"
                )));
            }
        }
        Ok(())
    }
}

fn check_word(what: &str, word: &str) -> Result<(), Error> {
    let ok = (1..=MAX_NAME).contains(&word.len())
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid {what} {}: use 1 to {MAX_NAME} lower-case letters, digits, '.', '_' or '-'",
            crate::domain::echo::echo(word)
        )))
    }
}

/// Replaces the version's tags and labels (idempotent; each call is one audited change).
pub async fn put(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
    request: LabelsRequest,
) -> Result<VersionView, Error> {
    let r = VersionRef::parse(repo, package, version)?;
    request.check()?;
    let t = &caller.tenant;
    let repository = repositories::find(ctx, t, &r.repo).await?;
    let mut v = versions::live(ctx, t, &r).await?;
    let entry = maintain::entry_of(ctx, t, &repository, &v)
        .await?
        .map(|(entry, _)| entry);
    let before = entry
        .as_ref()
        .map(|e| keys_of(e, t, &v.tags, &v.labels))
        .unwrap_or_default();
    let rev = v.rev;
    v.tags = request.tags;
    v.labels = request.labels;
    v.rev += 1;
    v.updated_at = ctx.clock.now();
    let mut writes = vec![Write::Put {
        item: to_item(&keys::version(t, &r.repo, &r.package, &r.version), &v)?,
        condition: Some(Condition::Equals("rev".into(), rev.into())),
    }];
    if let Some(entry) = &entry {
        let after = keys_of(entry, t, &v.tags, &v.labels);
        for key in before.iter().filter(|k| !after.contains(k)) {
            writes.push(Write::Delete {
                key: key.clone(),
                condition: None,
            });
        }
        for key in after.iter().filter(|k| !before.contains(k)) {
            writes.push(entry.put(key)?);
        }
    }
    match audit::transact(ctx, caller, AuditAction::VersionLabel, &r.target(), writes).await {
        Ok(()) => Ok(v.into()),
        Err(TableError::TransactionCanceled { failed }) if failed.contains(&0) => Err(
            Error::Conflict(format!("version {} changed concurrently; retry", r.version)),
        ),
        Err(e) => Err(e.into()),
    }
}

fn keys_of(
    entry: &Entry,
    t: &crate::domain::names::TenantName,
    tags: &BTreeSet<String>,
    labels: &BTreeMap<String, String>,
) -> Vec<Key> {
    tags.iter()
        .map(|tag| entry.tag_key(t, tag))
        .chain(labels.iter().map(|(k, v)| entry.label_key(t, k, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_invalid(checked: Result<(), Error>, why: &str) {
        match checked {
            Err(Error::Invalid(m)) => assert!(m.contains(why), "expected {why:?}: {m}"),
            other => panic!("expected Invalid({why:?}), got {other:?}"),
        }
    }

    #[test]
    fn tags_and_labels_are_bounded_words() {
        let ok = LabelsRequest {
            tags: ["stable".into(), "v1.x".into()].into(),
            labels: [("env".into(), "Prod EU-1".into())].into(),
        };
        assert!(ok.check().is_ok());
        for (tags, labels, why) in [
            (vec!["Stable"], vec![], "invalid tag \"Stable\""),
            (vec!["a#b"], vec![], "invalid tag \"a#b\""),
            (vec![""], vec![], "invalid tag \"\""),
            (vec![], vec![("env", "a#b")], "invalid value of label env"),
            (vec![], vec![("env", "")], "invalid value of label env"),
            (
                vec![],
                vec![("env", "line\nbreak")],
                "invalid value of label env",
            ),
            (vec![], vec![("Env", "x")], "invalid label key \"Env\""),
        ] {
            let request = LabelsRequest {
                tags: tags.into_iter().map(str::to_owned).collect(),
                labels: labels
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            };
            assert_invalid(request.check(), why);
        }
        let many = LabelsRequest {
            tags: (0..=MAX_TAGS).map(|i| format!("t{i}")).collect(),
            labels: BTreeMap::new(),
        };
        assert_invalid(many.check(), &format!("too many tags ({})", MAX_TAGS + 1));
        let long = LabelsRequest {
            tags: BTreeSet::new(),
            labels: [("k".into(), "v".repeat(MAX_VALUE + 1))].into(),
        };
        assert_invalid(long.check(), "invalid value of label k");
    }
}
