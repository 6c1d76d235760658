//! `trove ls [REPO[/PACKAGE[/VERSION]]]`: repositories, a repository's packages, a package's
//! versions, or a version's files. Listings follow their cursors to the end.

use anyhow::bail;
use reqwest::Url;
use serde_json::Value;

use crate::client::api::{self, Api};
use crate::client::output::{OutputArgs, human_bytes, table};
use crate::client::wire::Page;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to list: nothing (repositories), REPO, REPO/PACKAGE or REPO/PACKAGE/VERSION.
    /// A scoped npm name counts as one: `js/@acme/widget/1.0.0`.
    path: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Where in the tree `ls` looks.
#[derive(Debug, PartialEq, Eq)]
enum Level {
    Repositories,
    Packages {
        repo: String,
    },
    Versions {
        repo: String,
        package: String,
    },
    Files {
        repo: String,
        package: String,
        version: String,
    },
}

fn parse(path: Option<&str>) -> anyhow::Result<Level> {
    let Some(path) = path.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) else {
        return Ok(Level::Repositories);
    };
    let mut segments: Vec<String> = Vec::new();
    let mut rest = path.split('/').peekable();
    while let Some(segment) = rest.next() {
        if segment.is_empty() {
            bail!("{path:?}: empty name between two slashes");
        }
        // `@scope/name` is one npm package name.
        if segments.len() == 1 && segment.starts_with('@') {
            match rest.next() {
                Some(name) if !name.is_empty() => segments.push(format!("{segment}/{name}")),
                _ => bail!("{path:?}: a scoped package is written @scope/name"),
            }
        } else {
            segments.push(segment.to_owned());
        }
    }
    Ok(match segments.as_slice() {
        [repo] => Level::Packages { repo: repo.clone() },
        [repo, package] => Level::Versions {
            repo: repo.clone(),
            package: package.clone(),
        },
        [repo, package, version] => Level::Files {
            repo: repo.clone(),
            package: package.clone(),
            version: version.clone(),
        },
        _ => bail!("{path:?}: expected REPO, REPO/PACKAGE or REPO/PACKAGE/VERSION"),
    })
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let level = parse(args.path.as_deref())?;
    let api = Api::new(&crate::client::config::current()?, api::BRIEF)?;
    let (items, rows) = match &level {
        Level::Repositories => {
            let items = list_all(&api, api.endpoint(&["v1", "repositories"])).await?;
            let mut rows = vec![cells(&["NAME", "FORMAT", "DESCRIPTION"])];
            rows.extend(
                items
                    .iter()
                    .map(|r| fields(r, &["name", "format", "description"])),
            );
            (items, rows)
        }
        Level::Packages { repo } => {
            let url = api.endpoint(&["v1", "repositories", repo, "packages"]);
            let items = list_all(&api, url).await?;
            let mut rows = vec![cells(&["PACKAGE", "LATEST", "UPDATED"])];
            rows.extend(
                items
                    .iter()
                    .map(|p| fields(p, &["name", "latest_version", "updated_at"])),
            );
            (items, rows)
        }
        Level::Versions { repo, package } => {
            let url = api.endpoint(&["v1", "repositories", repo, "packages", package, "versions"]);
            let items = list_all(&api, url).await?;
            let mut rows = vec![cells(&["VERSION", "STATUS", "FILES", "CREATED"])];
            rows.extend(items.iter().map(|v| {
                let mut row = fields(v, &["version", "status", "file_count", "created_at"]);
                if v.get("yanked").is_some_and(|y| !y.is_null()) {
                    row[1].push_str(" (yanked)");
                }
                row
            }));
            (items, rows)
        }
        Level::Files {
            repo,
            package,
            version,
        } => {
            let url = api.endpoint(&[
                "v1",
                "repositories",
                repo,
                "packages",
                package,
                "versions",
                version,
            ]);
            let detail: Value = api.get(url).await?;
            let items = detail
                .get("files")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut rows = vec![cells(&["FILE", "SIZE", "SHA256"])];
            rows.extend(items.iter().map(|f| {
                let size = f.get("size").and_then(Value::as_u64).map(human_bytes);
                vec![
                    text(f, "filename"),
                    size.unwrap_or_default(),
                    text(f, "sha256"),
                ]
            }));
            (items, rows)
        }
    };
    args.out.emit(&items, |items| {
        if items.is_empty() {
            "(none)".to_owned()
        } else {
            table(&rows)
        }
    })
}

/// Every item of a paginated listing.
async fn list_all(api: &Api, url: Url) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page_url = url.clone();
        page_url.query_pairs_mut().append_pair("limit", "100");
        if let Some(cursor) = &cursor {
            page_url.query_pairs_mut().append_pair("cursor", cursor);
        }
        let page: Page<Value> = api.get(page_url).await?;
        let empty = page.items.is_empty();
        items.extend(page.items);
        match page.next_cursor {
            // An empty page with a cursor would loop forever.
            Some(next) if !empty && cursor.as_ref() != Some(&next) => cursor = Some(next),
            _ => return Ok(items),
        }
    }
}

pub(super) fn cells(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

pub(super) fn fields(item: &Value, names: &[&str]) -> Vec<String> {
    names.iter().map(|name| text(item, name)).collect()
}

pub(super) fn text(item: &Value, name: &str) -> String {
    match item.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_level_to_list() {
        assert_eq!(parse(None).expect("ok"), Level::Repositories);
        assert_eq!(parse(Some("/")).expect("ok"), Level::Repositories);
        assert_eq!(
            parse(Some("libs")).expect("ok"),
            Level::Packages {
                repo: "libs".into()
            }
        );
        assert_eq!(
            parse(Some("libs/widget/")).expect("ok"),
            Level::Versions {
                repo: "libs".into(),
                package: "widget".into()
            }
        );
        assert_eq!(
            parse(Some("js/@acme/widget/1.0.0")).expect("ok"),
            Level::Files {
                repo: "js".into(),
                package: "@acme/widget".into(),
                version: "1.0.0".into()
            }
        );
        for (path, why) in [
            (
                "a/b/c/d",
                "expected REPO, REPO/PACKAGE or REPO/PACKAGE/VERSION",
            ),
            ("a//c", "empty name between two slashes"),
            ("js/@acme", "a scoped package is written @scope/name"),
        ] {
            let err = parse(Some(path)).expect_err(path).to_string();
            assert_eq!(err, format!("{path:?}: {why}"));
        }
    }

    #[test]
    fn fields_show_strings_plainly_and_leave_missing_ones_empty() {
        let item = serde_json::json!({"name": "libs", "file_count": 2, "description": null});
        assert_eq!(
            fields(&item, &["name", "file_count", "description", "absent"]),
            vec!["libs", "2", "", ""]
        );
    }
}
