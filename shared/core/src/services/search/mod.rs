//! Search over a tenant's catalogue (`GET /v1/search?q=`): the query language (`query`),
//! which index ranges a query reads (`plan`), the index items written with each publish
//! (`index`), and the bounded read that answers a page (`run`).

pub mod index;
pub mod maintain;
pub mod plan;
pub mod query;
pub mod run;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::domain::model::{Format, Yanked};
use crate::domain::names::{FileName, PackageName, RepoName, Sha256Hex, VersionName};
use crate::services::access::caller::Caller;
use crate::services::{Context, Error};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 200;

/// `?q=&limit=&cursor=` of `GET /v1/search`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The query: `name:` (exact or glob, `acme-*`), `repo:`, `format:`, `version:`
    /// (`>=1.2,<2`, in the format's order), `sha256:` (64 hex digits or a prefix of at
    /// least 12), `status:` (`published`, `yanked`), `published:` (`>2026-01-01`,
    /// `2026-01-01..2026-02-01`, `<7d`), `by:` (a principal id), `tag:`,
    /// `label:key=value`, and free words (package names and descriptions). Terms combine
    /// with AND; `OR`, parentheses and a leading `-` (NOT); quote values with spaces.
    #[param(max_length = 1024, example = "name:acme-* version:>=2 published:<30d")]
    pub q: String,
    /// Results per page, 1 to 200 (default 20). A page may hold fewer while
    /// `next_cursor` is present: each request reads a bounded part of the index.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page of the same query.
    #[serde(default, deserialize_with = "crate::domain::bounds::cursor_param")]
    #[param(max_length = 2048)]
    pub cursor: Option<String>,
}

/// A version the query found (with the file, for a `sha256:` query).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    #[schema(value_type = String, example = "libs")]
    pub repository: RepoName,
    pub format: Format,
    #[schema(value_type = String, example = "acme-widget")]
    pub package: PackageName,
    #[schema(value_type = String, example = "2.1.0")]
    pub version: VersionName,
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
    /// The principal whose upload published it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yanked: Option<Yanked>,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub file_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileHit>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileHit {
    #[schema(value_type = String)]
    pub filename: FileName,
    pub size: u64,
    #[schema(value_type = String)]
    pub sha256: Sha256Hex,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchPage {
    /// `versions`, or `files` for a query with `sha256:`.
    #[schema(example = "versions")]
    pub results: &'static str,
    pub items: Vec<SearchHit>,
    /// Present when more may follow: pass it as `cursor` with the same `q`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Parses and plans `q`: a 400 names the position of the problem and the fields there are.
pub fn prepare(q: &str, now: OffsetDateTime) -> Result<(query::Expr, plan::Plan), Error> {
    let fields = query::FIELDS.join(", ");
    let expr = query::parse(q, now)
        .map_err(|e| Error::Invalid(format!("invalid query: {e}; fields are {fields}")))?;
    let planned = plan::plan(&expr).map_err(|e| Error::Invalid(format!("invalid query: {e}")))?;
    Ok((expr, planned))
}

pub async fn search(
    ctx: &Context,
    caller: &Caller,
    params: &SearchParams,
) -> Result<SearchPage, Error> {
    let limit = match params.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(n) => {
            return Err(Error::Invalid(format!(
                "invalid limit {n}: use a number from 1 to {MAX_LIMIT}"
            )));
        }
    };
    let (expr, planned) = prepare(&params.q, ctx.clock.now())?;
    let files = planned.files;
    let found = run::run(
        ctx,
        caller,
        &expr,
        planned,
        &run::fingerprint(&params.q),
        limit,
        params.cursor.as_deref(),
    )
    .await?;
    Ok(SearchPage {
        results: if files { "files" } else { "versions" },
        items: found.hits.into_iter().map(hit_view).collect(),
        next_cursor: found.cursor,
    })
}

fn hit_view(hit: run::Hit) -> SearchHit {
    let run::Hit { entry, version } = hit;
    SearchHit {
        repository: entry.repository,
        format: entry.format,
        package: entry.package,
        version: entry.version,
        published_at: entry.published_at,
        published_by: entry.published_by,
        description: entry.description,
        yanked: version.yanked,
        tags: version.tags,
        labels: version.labels,
        file_count: version.file_count,
        file: entry.file.map(|f| FileHit {
            filename: f.filename,
            size: f.size,
            sha256: f.sha256,
        }),
    }
}
