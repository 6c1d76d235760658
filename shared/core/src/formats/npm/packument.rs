//! The packument: npm's document of a package, in the full form (`application/json`, what
//! `npm install`, `npm view` and every write read) and the abbreviated one
//! (`application/vnd.npm.install-v1+json`, what installers may ask for first). Each version
//! is the document kept when it was published (`MANIFEST`) with `dist` from the stored bytes.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The abbreviated form's media type.
pub const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

/// One published version, as the packument shows it.
#[derive(Debug, Clone)]
pub struct Release<'a> {
    pub version: &'a str,
    /// The version document kept at publish (`npm.manifest`); `None` shows name and version.
    pub manifest: Option<&'a str>,
    pub integrity: Option<&'a str>,
    pub shasum: Option<&'a str>,
    /// Absolute URL of the tarball, under the registry's prefix (npm matches tokens by it).
    pub tarball: String,
    pub deprecated: Option<&'a str>,
    pub published: OffsetDateTime,
}

/// A package's whole packument input, versions oldest first.
#[derive(Debug, Clone)]
pub struct Packument<'a> {
    pub name: &'a str,
    /// `_rev`: changes with every change of the package (npm writes it back).
    pub rev: String,
    pub tags: &'a BTreeMap<String, String>,
    pub releases: Vec<Release<'a>>,
    pub created: OffsetDateTime,
    pub modified: OffsetDateTime,
}

fn stamp(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn version_doc(name: &str, r: &Release<'_>) -> Map<String, Value> {
    let mut doc = r
        .manifest
        .and_then(|m| serde_json::from_str::<Map<String, Value>>(m).ok())
        .unwrap_or_default();
    doc.insert("name".into(), name.into());
    doc.insert("version".into(), r.version.into());
    doc.entry("_id")
        .or_insert_with(|| format!("{name}@{}", r.version).into());
    let mut dist = Map::new();
    dist.insert("tarball".into(), r.tarball.clone().into());
    if let Some(s) = r.shasum {
        dist.insert("shasum".into(), s.into());
    }
    if let Some(i) = r.integrity {
        dist.insert("integrity".into(), i.into());
    }
    doc.insert("dist".into(), Value::Object(dist));
    match r.deprecated {
        Some(reason) => {
            // npm shows a deprecation only when the message is non-empty.
            let reason = if reason.is_empty() {
                "deprecated"
            } else {
                reason
            };
            doc.insert("deprecated".into(), reason.into());
        }
        None => {
            doc.remove("deprecated");
        }
    }
    doc
}

/// The full packument.
pub fn full(p: &Packument<'_>) -> Vec<u8> {
    let mut versions = Map::new();
    let mut time = Map::new();
    time.insert("created".into(), stamp(p.created).into());
    time.insert("modified".into(), stamp(p.modified).into());
    let mut latest_doc = None;
    for r in &p.releases {
        let doc = version_doc(p.name, r);
        if p.tags
            .get(crate::services::catalog::dist_tags::LATEST)
            .map(String::as_str)
            == Some(r.version)
        {
            latest_doc = Some(doc.clone());
        }
        time.insert(r.version.into(), stamp(r.published).into());
        versions.insert(r.version.into(), Value::Object(doc));
    }
    let mut out = Map::new();
    out.insert("_id".into(), p.name.into());
    out.insert("_rev".into(), p.rev.clone().into());
    out.insert("name".into(), p.name.into());
    out.insert("dist-tags".into(), json!(p.tags));
    // The package's summary fields are its latest version's, as on the public registry.
    if let Some(doc) = latest_doc {
        for field in [
            "description",
            "license",
            "homepage",
            "keywords",
            "repository",
            "author",
        ] {
            if let Some(v) = doc.get(field) {
                out.insert(field.into(), v.clone());
            }
        }
    }
    out.insert("versions".into(), Value::Object(versions));
    out.insert("time".into(), Value::Object(time));
    serde_json::to_vec(&Value::Object(out)).unwrap_or_default()
}

/// The abbreviated packument: what an installer needs to resolve, nothing more.
pub fn abbreviated(p: &Packument<'_>) -> Vec<u8> {
    let mut versions = Map::new();
    for r in &p.releases {
        let doc = version_doc(p.name, r);
        versions.insert(r.version.into(), Value::Object(super::abbreviated(&doc)));
    }
    let out = json!({
        "name": p.name,
        "modified": stamp(p.modified),
        "dist-tags": p.tags,
        "versions": versions,
    });
    serde_json::to_vec(&out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_780_000_000 + secs).expect("time")
    }

    fn sample(tags: &BTreeMap<String, String>) -> Packument<'_> {
        Packument {
            name: "@acme/widget",
            rev: "3-abc".into(),
            tags,
            releases: vec![
                Release {
                    version: "1.0.0",
                    manifest: Some(
                        r#"{"name":"@acme/widget","version":"1.0.0","description":"old","dependencies":{"left-pad":"^1.0.0"},"scripts":{"test":"x"},"deprecated":"from the tarball"}"#,
                    ),
                    integrity: Some("sha512-AAAA"),
                    shasum: Some("0123"),
                    tarball: "http://h/npm/default/js/@acme/widget/-/widget-1.0.0.tgz".into(),
                    deprecated: Some("use 2"),
                    published: at(1),
                },
                Release {
                    version: "2.0.0",
                    manifest: Some(
                        r#"{"name":"@acme/widget","version":"2.0.0","description":"new","license":"MIT"}"#,
                    ),
                    integrity: Some("sha512-BBBB"),
                    shasum: None,
                    tarball: "http://h/npm/default/js/@acme/widget/-/widget-2.0.0.tgz".into(),
                    deprecated: None,
                    published: at(2),
                },
            ],
            created: at(0),
            modified: at(3),
        }
    }

    #[test]
    fn the_full_form_carries_every_version_with_dist_time_and_the_latest_summary() {
        let tags = BTreeMap::from([("latest".to_owned(), "2.0.0".to_owned())]);
        let doc: Value = serde_json::from_slice(&full(&sample(&tags))).expect("json");
        assert_eq!(doc["_id"], "@acme/widget");
        assert_eq!(doc["_rev"], "3-abc");
        assert_eq!(doc["dist-tags"]["latest"], "2.0.0");
        assert_eq!(doc["description"], "new", "the latest version's");
        assert_eq!(doc["license"], "MIT");
        let v1 = &doc["versions"]["1.0.0"];
        assert_eq!(v1["dependencies"]["left-pad"], "^1.0.0");
        assert_eq!(v1["dist"]["integrity"], "sha512-AAAA");
        assert_eq!(v1["dist"]["shasum"], "0123");
        assert_eq!(
            v1["dist"]["tarball"],
            "http://h/npm/default/js/@acme/widget/-/widget-1.0.0.tgz"
        );
        assert_eq!(
            v1["deprecated"], "use 2",
            "the registry's mark, not the tarball's"
        );
        assert_eq!(v1["_id"], "@acme/widget@1.0.0");
        assert!(doc["versions"]["2.0.0"].get("deprecated").is_none());
        assert!(doc["versions"]["2.0.0"]["dist"].get("shasum").is_none());
        assert_eq!(doc["time"]["2.0.0"], stamp(at(2)));
        assert_eq!(doc["time"]["created"], stamp(at(0)));
    }

    #[test]
    fn the_abbreviated_form_keeps_what_installers_resolve_with() {
        let tags = BTreeMap::from([("latest".to_owned(), "2.0.0".to_owned())]);
        let doc: Value = serde_json::from_slice(&abbreviated(&sample(&tags))).expect("json");
        assert_eq!(doc["name"], "@acme/widget");
        assert_eq!(doc["modified"], stamp(at(3)));
        let v1 = &doc["versions"]["1.0.0"];
        assert_eq!(v1["dependencies"]["left-pad"], "^1.0.0");
        assert_eq!(v1["deprecated"], "use 2");
        assert_eq!(v1["dist"]["integrity"], "sha512-AAAA");
        assert!(v1.get("scripts").is_none(), "{v1}");
        assert!(v1.get("description").is_none(), "{v1}");
    }
}
