//! The Cargo registry routes, where cargo points unchanged (`[registries.trove] index =
//! "sparse+…/cargo/{tenant}/{repo}/index/"`): `config.json`, the sparse index files, the
//! download link, publish, yank, owners and search. cargo sends its token without a scheme
//! (`guard::credential_for` takes it) and prints a failure's `errors[].detail`: every problem these
//! routes answer is rewritten to that shape (`client_pages::client_errors`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::formats::cargo as format;
use crate::http::AppState;
use crate::http::extract::{Path, Query};
use crate::http::problem::ApiError;
use crate::http::routes::client_pages::{
    ok_json, origin, page, read_body, redirect, too_large_hint,
};
use crate::http::routes::problems::problems;
use crate::services::Error;
use crate::services::access::caller::Caller;
use crate::services::catalog::cargo::{self as registry, MAX_PER_PAGE};
use crate::services::catalog::packages;
use crate::services::catalog::publish::Outcome;

/// The prefix of every Cargo route.
pub const PREFIX: &str = "/cargo/";
/// What cargo's publish body holds besides the crate: two lengths and the metadata JSON.
const METADATA_OVERHEAD: u64 = 1 << 20;
/// Longest search (a crate's name is at most 64 characters).
const MAX_SEARCH_WORDS: usize = 64;

/// Most owners one `cargo owner` call names.
const MAX_OWNERS: usize = 64;

/// `/cargo/{tenant}/{repo}`: the registry.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RegistryPath {
    /// Tenant name.
    #[param(max_length = 63)]
    pub tenant: String,
    /// Repository name (format cargo).
    #[param(max_length = 64)]
    pub repo: String,
}

/// An index file of one- or two-letter crates (`1/a`, `2/ab`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ShortIndexPath {
    /// Tenant name.
    #[param(max_length = 63)]
    pub tenant: String,
    /// Repository name (format cargo).
    #[param(max_length = 64)]
    pub repo: String,
    /// `1` or `2`.
    #[param(max_length = 2)]
    pub dir: String,
    /// The crate's name, lower case.
    #[param(max_length = 64)]
    pub name: String,
}

/// An index file of a longer crate (`3/a/abc`, `se/rd/serde`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct LongIndexPath {
    /// Tenant name.
    #[param(max_length = 63)]
    pub tenant: String,
    /// Repository name (format cargo).
    #[param(max_length = 64)]
    pub repo: String,
    /// `3`, or the name's first two characters.
    #[param(max_length = 2)]
    pub dir: String,
    /// The name's first character (after `3`), or its third and fourth.
    #[param(max_length = 2)]
    pub subdir: String,
    /// The crate's name, lower case.
    #[param(max_length = 64)]
    pub name: String,
}

/// A crate of the registry.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CratePath {
    /// Tenant name.
    #[param(max_length = 63)]
    pub tenant: String,
    /// Repository name (format cargo).
    #[param(max_length = 64)]
    pub repo: String,
    /// The crate's name.
    #[param(max_length = 64)]
    pub name: String,
}

/// A version of a crate.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CrateVersionPath {
    /// Tenant name.
    #[param(max_length = 63)]
    pub tenant: String,
    /// Repository name (format cargo).
    #[param(max_length = 64)]
    pub repo: String,
    /// The crate's name.
    #[param(max_length = 64)]
    pub name: String,
    /// The version (SemVer).
    #[param(max_length = 64)]
    pub version: String,
}

/// `cargo search`'s query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words of the name (case-insensitive; `-` and `_` alike).
    #[serde(default)]
    #[param(max_length = 64)] // MAX_SEARCH_WORDS
    pub q: String,
    /// At most this many crates (1–100, 10 by default).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<usize>,
}

/// `cargo owner --add|--remove`'s body: `{"users": [principal ids]}`.
#[derive(Debug, Deserialize)]
pub struct OwnersChange {
    pub users: Vec<String>,
}

impl utoipa::PartialSchema for OwnersChange {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        let id = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(32))
            .description(Some("A principal id: `user_…`, `sa_…` or `group_…`"));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "users",
                ArrayBuilder::new()
                    .items(id)
                    .min_items(Some(1))
                    .max_items(Some(MAX_OWNERS)),
            )
            .required("users")
            .into()
    }
}

impl ToSchema for OwnersChange {}

/// cargo's publish body, as the OpenAPI description states it: bytes, at most a
/// repository's largest `max_file_size` and the metadata.
pub struct PublishBody;

impl utoipa::PartialSchema for PublishBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .max_length(Some(5 * 1024 * 1024 * 1024 + 1024 * 1024))
            .description(Some(
                "u32 LE length, the metadata JSON, u32 LE length, the `.crate`",
            ))
            .into()
    }
}

impl ToSchema for PublishBody {}

problems!(ReadProblems as CargoErrors: 400 "Not a valid crate name or index path", 401, 404 "No such crate (or the caller may not read it)");
problems!(WriteProblems as CargoErrors: 400 "Invalid body, or the pipeline refused the crate: the reason is in `errors[].detail`", 401, 403 "The caller may read the crate but not change it", 404 "No such crate or registry", 409 "The version exists, or changed meanwhile", 413 "Larger than the repository's max_file_size");

#[utoipa::path(operation_id = "cargo_config", get, path = "/cargo/{tenant}/{repo}/index/config.json", tag = "cargo",
    params(RegistryPath),
    responses((status = 200, description = "`{\"dl\", \"api\", \"auth-required\": true}`"), ReadProblems))]
pub async fn config(
    State(state): State<AppState>,
    caller: Caller,
    Path(RegistryPath { tenant, repo }): Path<RegistryPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    registry::registry(&state.ctx, &caller, &repo).await?;
    let origin = origin(&headers)?;
    Ok(ok_json(
        StatusCode::OK,
        registry::config(&origin, &tenant, &repo),
    ))
}

async fn index_answer(
    state: &AppState,
    caller: &Caller,
    repo: &str,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, caller, repo).await?;
    let Some(lower) = format::name_of_index_path(path) else {
        return Err(Error::NotFound(format!(
            "{} is not a crate's index file",
            crate::domain::echo::echo(path)
        ))
        .into());
    };
    let name = registry::crate_named(ctx, caller, &repository, &lower).await?;
    let origin = origin(headers)?;
    let file = registry::index_file(ctx, caller, &repository, &name, &origin).await?;
    Ok(page(
        headers,
        "text/plain; charset=utf-8",
        file.body.clone(),
        &file.etag,
    ))
}

#[utoipa::path(operation_id = "cargo_index_short", get, path = "/cargo/{tenant}/{repo}/index/{dir}/{name}", tag = "cargo",
    params(ShortIndexPath),
    responses((status = 200, description = "The crate's index file: one JSON line per version", content_type = "text/plain"), (status = 304, description = "Unchanged since the `If-None-Match` ETag"), ReadProblems))]
pub async fn index_short(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<ShortIndexPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("{}/{}", p.dir, p.name);
    index_answer(&state, &caller, &p.repo, &path, &headers).await
}

#[utoipa::path(operation_id = "cargo_index_long", get, path = "/cargo/{tenant}/{repo}/index/{dir}/{subdir}/{name}", tag = "cargo",
    params(LongIndexPath),
    responses((status = 200, description = "The crate's index file: one JSON line per version", content_type = "text/plain"), (status = 304, description = "Unchanged since the `If-None-Match` ETag"), ReadProblems))]
pub async fn index_long(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<LongIndexPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("{}/{}/{}", p.dir, p.subdir, p.name);
    index_answer(&state, &caller, &p.repo, &path, &headers).await
}

#[utoipa::path(operation_id = "cargo_download", get, path = "/cargo/{tenant}/{repo}/api/v1/crates/{name}/{version}/download", tag = "cargo",
    params(CrateVersionPath),
    responses((status = 302, description = "Redirect to a short-lived presigned GET of the `.crate`"), ReadProblems))]
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<CrateVersionPath>,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &p.repo).await?;
    let name = registry::crate_named(ctx, &caller, &repository, &p.name).await?;
    crate::services::catalog::index::package(ctx, &caller, &repository, &name).await?;
    let filename = format::crate_filename(name.as_str(), &p.version);
    let link =
        packages::download(ctx, &caller, &p.repo, name.as_str(), &p.version, &filename).await?;
    Ok(redirect(StatusCode::FOUND, &link.url))
}

#[utoipa::path(operation_id = "cargo_search", get, path = "/cargo/{tenant}/{repo}/api/v1/crates", tag = "cargo",
    params(RegistryPath, SearchParams),
    responses((status = 200, description = "`{\"crates\": [{\"name\", \"max_version\", \"description\"}], \"meta\": {\"total\"}}`"), ReadProblems))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Path(RegistryPath { repo, .. }): Path<RegistryPath>,
    Query(q): Query<SearchParams>,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &repo).await?;
    if q.q.chars().count() > MAX_SEARCH_WORDS {
        return Err(Error::Invalid(format!(
            "search for at most {MAX_SEARCH_WORDS} characters of a crate's name"
        ))
        .into());
    }
    let per_page = q.per_page.unwrap_or(10);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        // cargo itself refuses `--limit` over 100.
        return Err(Error::Invalid(format!("per_page: ask for 1 to {MAX_PER_PAGE} crates")).into());
    }
    let (crates, total) = registry::search(ctx, &caller, &repository, &q.q, per_page).await?;
    Ok(ok_json(
        StatusCode::OK,
        json!({"crates": crates, "meta": {"total": total}}),
    ))
}

#[utoipa::path(operation_id = "cargo_list_owners", get, path = "/cargo/{tenant}/{repo}/api/v1/crates/{name}/owners", tag = "cargo",
    params(CratePath),
    responses((status = 200, description = "`{\"users\": [{\"id\", \"login\", \"name\"}]}`: principals with a grant on exactly this crate"), ReadProblems))]
pub async fn list_owners(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<CratePath>,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &p.repo).await?;
    let name = registry::crate_named(ctx, &caller, &repository, &p.name).await?;
    let users = registry::owners(ctx, &caller, &repository, &name).await?;
    Ok(ok_json(StatusCode::OK, json!({ "users": users })))
}

#[utoipa::path(operation_id = "cargo_publish", put, path = "/cargo/{tenant}/{repo}/api/v1/crates/new", tag = "cargo",
    params(RegistryPath),
    request_body(content = PublishBody, content_type = "application/octet-stream", description = "cargo's publish body: u32 LE length, metadata JSON, u32 LE length, the `.crate`"),
    responses((status = 200, description = "Published (or still being checked: a warning says so)"), WriteProblems))]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path(RegistryPath { repo, .. }): Path<RegistryPath>,
    body: Body,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &repo).await?;
    let limit = repository.max_file_size.saturating_add(METADATA_OVERHEAD);
    let bytes = read_body(body, limit)
        .await
        .map_err(|e| too_large_hint(e, &repo, "crate"))?;
    let other = match registry::publish(ctx, &caller, &repository, &bytes).await? {
        Outcome::Published(_) => Vec::new(),
        Outcome::Rejected(u) => {
            return Err(Error::Invalid(
                u.reason.unwrap_or_else(|| "refused by the pipeline".into()),
            )
            .into());
        }
        Outcome::Pending(u) => vec![format!(
            "stored as upload {}; still being checked, it shows in the index once published",
            u.upload_id
        )],
    };
    Ok(ok_json(
        StatusCode::OK,
        json!({"warnings": {"invalid_categories": [], "invalid_badges": [], "other": other}}),
    ))
}

async fn yank(
    state: &AppState,
    caller: &Caller,
    p: &CrateVersionPath,
    yanked: bool,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, caller, &p.repo).await?;
    let name = registry::crate_named(ctx, caller, &repository, &p.name).await?;
    registry::set_yanked(ctx, caller, &repository, &name, &p.version, yanked).await?;
    Ok(ok_json(StatusCode::OK, json!({"ok": true})))
}

#[utoipa::path(operation_id = "cargo_yank", delete, path = "/cargo/{tenant}/{repo}/api/v1/crates/{name}/{version}/yank", tag = "cargo",
    params(CrateVersionPath),
    responses((status = 200, description = "Yanked: kept for lockfiles that name it, skipped by new resolutions"), WriteProblems))]
pub async fn yank_version(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<CrateVersionPath>,
) -> Result<Response, ApiError> {
    yank(&state, &caller, &p, true).await
}

#[utoipa::path(operation_id = "cargo_unyank", put, path = "/cargo/{tenant}/{repo}/api/v1/crates/{name}/{version}/unyank", tag = "cargo",
    params(CrateVersionPath),
    responses((status = 200, description = "No longer yanked"), WriteProblems))]
pub async fn unyank_version(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<CrateVersionPath>,
) -> Result<Response, ApiError> {
    yank(&state, &caller, &p, false).await
}

async fn owners_change(
    state: &AppState,
    caller: &Caller,
    p: &CratePath,
    body: Body,
) -> Result<
    (
        crate::domain::model::Repository,
        crate::domain::names::PackageName,
        Vec<String>,
    ),
    ApiError,
> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, caller, &p.repo).await?;
    let name = registry::crate_named(ctx, caller, &repository, &p.name).await?;
    let bytes = read_body(body, 16 * 1024).await?;
    let change: OwnersChange = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Invalid(format!("the body must be {{\"users\": [ids]}}: {e}")))?;
    if change.users.is_empty() || change.users.len() > MAX_OWNERS {
        return Err(Error::Invalid(format!("name 1 to {MAX_OWNERS} owners")).into());
    }
    Ok((repository, name, change.users))
}

#[utoipa::path(operation_id = "cargo_add_owners", put, path = "/cargo/{tenant}/{repo}/api/v1/crates/{name}/owners", tag = "cargo",
    params(CratePath),
    request_body(content = OwnersChange, content_type = "application/json"),
    responses((status = 200, description = "Each principal holds a maintainer grant on the crate"), WriteProblems))]
pub async fn add_owners(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<CratePath>,
    body: Body,
) -> Result<Response, ApiError> {
    let (repository, name, users) = owners_change(&state, &caller, &p, body).await?;
    let msg = registry::add_owners(&state.ctx, &caller, &repository, &name, &users).await?;
    Ok(ok_json(StatusCode::OK, json!({"ok": true, "msg": msg})))
}

#[utoipa::path(operation_id = "cargo_remove_owners", delete, path = "/cargo/{tenant}/{repo}/api/v1/crates/{name}/owners", tag = "cargo",
    params(CratePath),
    request_body(content = OwnersChange, content_type = "application/json"),
    responses((status = 200, description = "The principals' grants on exactly this crate are revoked"), WriteProblems))]
pub async fn remove_owners(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<CratePath>,
    body: Body,
) -> Result<Response, ApiError> {
    let (repository, name, users) = owners_change(&state, &caller, &p, body).await?;
    let msg = registry::remove_owners(&state.ctx, &caller, &repository, &name, &users).await?;
    Ok(ok_json(StatusCode::OK, json!({"ok": true, "msg": msg})))
}
