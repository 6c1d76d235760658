use axum::extract::State;

use crate::http::AppState;
use crate::http::extract::{Json, Query};
use crate::http::problem::ApiError;
use crate::http::routes::problems::problems;
use crate::services::access::caller::Caller;
use crate::services::search::{self, SearchPage, SearchParams};

problems!(SearchProblems: 400 "Invalid query: the detail names the position and the fields", 401);
/// Searches the caller's tenant. Fields: `name:` (exact, or a glob with `*` and `?`),
/// `repo:`, `format:` (`generic`, `pypi`, `npm`, `cargo`), `version:` (`1.2.0`, `>=1.2,<2`,
/// `!=1.3`; in the format's order: PEP 440, SemVer, or part by part for generic),
/// `sha256:` (64 hex digits, or a prefix of 12 or more; the results are then files),
/// `status:` (`published`, `yanked`), `published:` (`2026-01-01`, `>2026-01-01`,
/// `2026-01-01..2026-02-01`, `<7d` for the last 7 days, `h`/`d`/`w`), `by:` (the principal
/// that published), `tag:` and `label:key=value` (set with `PUT …/labels`), and free words
/// (a package name, or the start of a word of its name or description). Terms combine with
/// AND; `OR` (upper case), parentheses and a leading `-` (NOT); quote values with spaces.
/// Exact name matches come first; only what the caller may read is shown.
#[utoipa::path(operation_id = "search", get, path = "/v1/search", tag = "search",
    params(SearchParams),
    responses(
        (status = 200, description = "A page of versions (files, for sha256:)", body = SearchPage),
        SearchProblems,
    ))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchPage>, ApiError> {
    Ok(Json(search::search(&state.ctx, &caller, &params).await?))
}
