//! `trove search QUERY`: the versions (or, for `sha256:`, the files) the query finds, as far
//! as `--limit`, following the server's cursors.

use serde_json::Value;

use crate::client::api::{self, Api};
use crate::client::ls::{cells, fields, text};
use crate::client::output::{OutputArgs, human_bytes, table};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The query; several words are joined with spaces (quote what the shell would split
    /// or expand, such as `name:acme-*`).
    #[arg(required = true, num_args = 1..)]
    query: Vec<String>,
    /// Show at most this many results.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let api = Api::new(&crate::client::config::current()?, api::BRIEF)?;
    let q = args.query.join(" ");
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    let mut items: Vec<Value> = Vec::new();
    let mut files = false;
    let mut cursor: Option<String> = None;
    while items.len() < limit {
        let mut url = api.endpoint(&["v1", "search"]);
        url.query_pairs_mut()
            .append_pair("q", &q)
            .append_pair("limit", &(limit - items.len()).min(200).to_string());
        if let Some(cursor) = &cursor {
            url.query_pairs_mut().append_pair("cursor", cursor);
        }
        let page: Value = api.get(url).await?;
        files = page.get("results").and_then(Value::as_str) == Some("files");
        if let Some(found) = page.get("items").and_then(Value::as_array) {
            items.extend(found.iter().cloned());
        }
        match page.get("next_cursor").and_then(Value::as_str) {
            // A page may be short while more follows: the server reads a bounded part of
            // its index per request.
            Some(next) if cursor.as_deref() != Some(next) => cursor = Some(next.to_owned()),
            _ => break,
        }
    }
    items.truncate(limit);
    let mut rows = if files {
        vec![cells(&[
            "REPOSITORY",
            "PACKAGE",
            "VERSION",
            "FILE",
            "SIZE",
            "SHA256",
        ])]
    } else {
        vec![cells(&[
            "REPOSITORY",
            "PACKAGE",
            "VERSION",
            "PUBLISHED",
            "DESCRIPTION",
        ])]
    };
    rows.extend(items.iter().map(|hit| {
        let mut row = fields(hit, &["repository", "package", "version"]);
        if hit.get("yanked").is_some_and(|y| !y.is_null()) {
            row[2].push_str(" (yanked)");
        }
        match hit.get("file") {
            Some(file) if files => {
                let size = file.get("size").and_then(Value::as_u64).map(human_bytes);
                row.extend([
                    text(file, "filename"),
                    size.unwrap_or_default(),
                    text(file, "sha256"),
                ]);
            }
            _ => row.extend(fields(hit, &["published_at", "description"])),
        }
        row
    }));
    args.out.emit(&items, |items| {
        if items.is_empty() {
            "(nothing found)".to_owned()
        } else {
            table(&rows)
        }
    })
}
