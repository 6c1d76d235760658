//! A crate's file in the sparse index: one JSON object per published version, one per line,
//! as cargo resolves dependencies from it without downloading any `.crate`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A feature's name and what it enables.
pub type Features = BTreeMap<String, Vec<String>>;

/// What the index says of a version, read from its `Cargo.toml` when it was published (the
/// [`super::INDEX_ENTRY`] attribute); the rest of the line is the registry's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub vers: String,
    pub deps: Vec<Dependency>,
    pub features: Features,
    /// Features using `dep:` or `?/`, which cargo older than 1.60 cannot read: apart, so
    /// those cargos still read the rest of the line.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features2: Features,
    pub links: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_version: Option<String>,
    /// 2 when `features2` is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The name the dependent uses (a renamed dependency's new name).
    pub name: String,
    pub req: String,
    pub features: Vec<String>,
    pub optional: bool,
    pub default_features: bool,
    /// The `cfg(…)` or target triple it applies to; all targets when `None`.
    pub target: Option<String>,
    pub kind: DependencyKind,
    /// The index of the registry it comes from; this registry when `None`.
    pub registry: Option<String>,
    /// The crate's real name, when the dependent renamed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DependencyKind {
    Normal,
    Dev,
    Build,
}

/// One published version as the index shows it.
#[derive(Debug, Clone, Copy)]
pub struct IndexLine<'a> {
    /// The file's [`super::INDEX_ENTRY`] attribute.
    pub entry: &'a str,
    /// SHA-256 of the `.crate`, lower-case hex.
    pub cksum: &'a str,
    pub yanked: bool,
    pub pubtime: Option<OffsetDateTime>,
}

/// A line in the order written out; cargo reads the keys in any order, but the same
/// versions always give the same bytes (and the same ETag).
#[derive(Serialize)]
struct Line<'a> {
    name: &'a str,
    vers: &'a str,
    deps: &'a [Dependency],
    cksum: &'a str,
    features: &'a Features,
    #[serde(skip_serializing_if = "no_features")]
    features2: &'a Features,
    yanked: bool,
    links: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rust_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    v: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pubtime: Option<String>,
}

fn no_features(features: &&Features) -> bool {
    features.is_empty()
}

/// The index file of one crate: each line's JSON and `\n`, in the order given. A line
/// whose entry does not read is left out: one bad record must not hide every version.
pub fn render_index(lines: &[IndexLine<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        let entry: Entry = match serde_json::from_str(line.entry) {
            Ok(entry) => entry,
            Err(why) => {
                tracing::warn!(cksum = line.cksum, %why, "cargo index entry unreadable: line left out");
                continue;
            }
        };
        let rendered = Line {
            name: &entry.name,
            vers: &entry.vers,
            deps: &entry.deps,
            cksum: line.cksum,
            features: &entry.features,
            features2: &entry.features2,
            yanked: line.yanked,
            links: entry.links.as_deref(),
            rust_version: entry.rust_version.as_deref(),
            v: entry.v,
            pubtime: line.pubtime.and_then(pubtime),
        };
        if let Ok(json) = serde_json::to_vec(&rendered) {
            out.extend_from_slice(&json);
            out.push(b'\n');
        }
    }
    out
}

/// RFC 3339 in UTC to the second, as cargo writes it: `2025-01-31T12:00:00Z`.
fn pubtime(at: OffsetDateTime) -> Option<String> {
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .ok()?;
    at.format(&Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const CKSUM: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn entry(vers: &str) -> String {
        json!({
            "name": "widget",
            "vers": vers,
            "deps": [{
                "name": "serde",
                "req": "^1.0",
                "features": ["derive"],
                "optional": false,
                "default_features": true,
                "target": null,
                "kind": "normal",
                "registry": "https://github.com/rust-lang/crates.io-index",
            }],
            "features": {"default": ["std"], "std": []},
            "links": null,
        })
        .to_string()
    }

    fn lines(bytes: &[u8]) -> Vec<String> {
        let text = std::str::from_utf8(bytes).expect("UTF-8");
        assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn each_version_is_one_line_in_the_given_order() {
        let (first, second) = (entry("1.0.0"), entry("1.1.0"));
        let index = render_index(&[
            IndexLine {
                entry: &first,
                cksum: CKSUM,
                yanked: false,
                pubtime: None,
            },
            IndexLine {
                entry: &second,
                cksum: "ab",
                yanked: true,
                pubtime: None,
            },
        ]);
        let lines = lines(&index);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            format!(
                "{{\"name\":\"widget\",\"vers\":\"1.0.0\",\"deps\":[{{\"name\":\"serde\",\
                 \"req\":\"^1.0\",\"features\":[\"derive\"],\"optional\":false,\
                 \"default_features\":true,\"target\":null,\"kind\":\"normal\",\
                 \"registry\":\"https://github.com/rust-lang/crates.io-index\"}}],\
                 \"cksum\":\"{CKSUM}\",\"features\":{{\"default\":[\"std\"],\"std\":[]}},\
                 \"yanked\":false,\"links\":null}}"
            )
        );
        let second: Value = serde_json::from_str(&lines[1]).expect("JSON");
        assert_eq!(second["vers"], "1.1.0");
        assert_eq!(second["yanked"], true);
        assert_eq!(second["cksum"], "ab");
    }

    #[test]
    fn later_fields_follow_in_a_fixed_order() {
        let entry = json!({
            "name": "widget", "vers": "2.0.0", "deps": [],
            "features": {}, "features2": {"serde": ["dep:serde"]},
            "links": "z", "rust_version": "1.70", "v": 2,
        })
        .to_string();
        let at = time::macros::datetime!(2025-01-31 13:00:00.123456789 +01:00);
        let index = render_index(&[IndexLine {
            entry: &entry,
            cksum: CKSUM,
            yanked: false,
            pubtime: Some(at),
        }]);
        let line = &lines(&index)[0];
        let keys = [
            "\"name\"",
            "\"vers\"",
            "\"deps\"",
            "\"cksum\"",
            "\"features\"",
            "\"features2\"",
            "\"yanked\"",
            "\"links\"",
            "\"rust_version\"",
            "\"v\"",
            "\"pubtime\"",
        ];
        let at: Vec<usize> = keys
            .iter()
            .map(|k| {
                line.find(k)
                    .unwrap_or_else(|| panic!("{k} missing: {line}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
        let parsed: Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(parsed["pubtime"], "2025-01-31T12:00:00Z");
        assert_eq!(parsed["v"], 2);
        assert_eq!(parsed["features2"], json!({"serde": ["dep:serde"]}));
        assert_eq!(parsed["links"], "z");
    }

    #[test]
    fn an_unreadable_entry_is_left_out() {
        let good = entry("1.0.0");
        let line = |entry| IndexLine {
            entry,
            cksum: CKSUM,
            yanked: false,
            pubtime: None,
        };
        let index = render_index(&[
            line("{not json"),
            line(&good),
            line("[]"),
            line("{\"name\":\"widget\"}"),
        ]);
        let lines = lines(&index);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("\"vers\":\"1.0.0\""), "{}", lines[0]);
        assert!(render_index(&[]).is_empty());
    }
}
