//! The npm registry routes, where npm and pnpm point unchanged (`registry=…/npm/{tenant}/{repo}/`):
//! packuments, tarballs, publish, dist-tags, deprecate and unpublish (both as npm sends
//! them: a changed packument), ping, whoami and the audit endpoint npm calls on install.
//! npm prints a failure's `{"error": …}`: every problem these routes answer (the guard's
//! too) is rewritten to that shape (`client_pages::client_errors`).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::domain::names::PackageName;
use crate::formats::PackageFormat as _;
use crate::formats::npm;
use crate::http::AppState;
use crate::http::extract::Path;
use crate::http::problem::ApiError;
use crate::http::routes::client_pages::{
    ok_json, origin, page, read_body, redirect, too_large_hint,
};
use crate::http::routes::problems::problems;
use crate::services::Error;
use crate::services::access::caller::Caller;
use crate::services::catalog::npm::{self as registry, Form, SentDocument};
use crate::services::catalog::publish::Outcome;
use crate::services::catalog::{dist_tags, index, packages};

/// The prefix of every npm route.
pub const PREFIX: &str = "/npm/";
/// A published document carries the tarball in base64 (4/3 of it) beside its metadata.
const DOCUMENT_OVERHEAD: u64 = 1 << 20;
/// A document that changes a package (deprecate, unpublish) holds no tarball.
const MAX_DOCUMENT: u64 = 16 << 20;

/// `/npm/{tenant}/{repo}`: the registry.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RegistryPath {
    /// Tenant name.
    #[param(max_length = 63)]
    pub tenant: String,
    /// Repository name (format npm).
    #[param(max_length = 64)]
    pub repo: String,
}

/// A package of the registry; a scoped name as `@scope%2fname` or `@scope/name`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PackagePath {
    /// Tenant name.
    #[param(max_length = 63)]
    pub tenant: String,
    /// Repository name (format npm).
    #[param(max_length = 64)]
    pub repo: String,
    /// Package name; a scoped one as `@scope%2fname`.
    #[param(max_length = 214)]
    pub package: String,
}

/// A tarball of a package.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TarballPath {
    /// Tenant name.
    #[param(max_length = 63)]
    pub tenant: String,
    /// Repository name (format npm).
    #[param(max_length = 64)]
    pub repo: String,
    /// Package name.
    #[param(max_length = 214)]
    pub package: String,
    /// `{name}-{version}.tgz` (the name without its scope).
    #[param(max_length = 255)]
    pub filename: String,
}

/// A tarball of a package, at the `_rev` a client read the package at.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TarballRevPath {
    /// Tenant name.
    #[param(max_length = 63)]
    pub tenant: String,
    /// Repository name (format npm).
    #[param(max_length = 64)]
    pub repo: String,
    /// Package name.
    #[param(max_length = 214)]
    pub package: String,
    /// `{name}-{version}.tgz` (the name without its scope).
    #[param(max_length = 255)]
    pub filename: String,
    /// The `_rev` the package was read at.
    #[param(max_length = 64)]
    pub rev: String,
}

/// A package at the `_rev` a client read it at.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RevPath {
    /// Tenant name.
    #[param(max_length = 63)]
    pub tenant: String,
    /// Repository name (format npm).
    #[param(max_length = 64)]
    pub repo: String,
    /// Package name.
    #[param(max_length = 214)]
    pub package: String,
    /// The `_rev` the package was read at.
    #[param(max_length = 64)]
    pub rev: String,
}

/// A dist-tag of a package.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TagPath {
    /// Tenant name.
    #[param(max_length = 63)]
    pub tenant: String,
    /// Repository name (format npm).
    #[param(max_length = 64)]
    pub repo: String,
    /// Package name.
    #[param(max_length = 214)]
    pub package: String,
    /// The tag: not a SemVer version or range.
    #[param(max_length = 64)]
    pub tag: String,
}

problems!(ReadProblems as NpmError: 400 "Not a valid package name", 401, 404 "No such package (or the caller may not read it)");
problems!(WriteProblems as NpmError: 400 "Invalid document, or the pipeline refused the tarball: the reason is in `error`", 401, 403 "The caller may read the package but not change it", 404 "No such package or registry", 409 "The version exists, or the package changed meanwhile", 413 "Larger than the repository's max_file_size");

fn package_name(raw: &str) -> Result<PackageName, Error> {
    Ok(PackageName::parse(raw)?)
}

#[utoipa::path(operation_id = "npm_packument", get, path = "/npm/{tenant}/{repo}/{package}", tag = "npm",
    params(PackagePath),
    responses(
        (status = 200, description = "The packument: full (`application/json`) or abbreviated (`application/vnd.npm.install-v1+json`), by `Accept`", content_type = "application/json"),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        ReadProblems,
    ))]
pub async fn packument(
    State(state): State<AppState>,
    caller: Caller,
    Path(PackagePath { repo, package, .. }): Path<PackagePath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &repo).await?;
    let name = package_name(&package)?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let form = if accept.contains(npm::packument::ABBREVIATED) {
        Form::Abbreviated
    } else {
        Form::Full
    };
    let origin = origin(&headers)?;
    let doc = registry::packument(ctx, &caller, &repository, &name, &origin, form).await?;
    Ok(page(
        &headers,
        form.content_type(),
        doc.body.clone(),
        &doc.etag,
    ))
}

#[utoipa::path(operation_id = "npm_tarball", get, path = "/npm/{tenant}/{repo}/{package}/-/{filename}", tag = "npm",
    params(TarballPath),
    responses(
        (status = 302, description = "Redirect to a short-lived presigned GET of the exact bytes"),
        ReadProblems,
    ))]
pub async fn tarball(
    State(state): State<AppState>,
    caller: Caller,
    Path(TarballPath {
        repo,
        package,
        filename,
        ..
    }): Path<TarballPath>,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &repo).await?;
    let name = package_name(&package)?;
    index::package(ctx, &caller, &repository, &name).await?;
    let not_found = || Error::NotFound(format!("tarball {filename} of {name} not found"));
    let named = npm::Npm
        .parse_filename(&filename)
        .map_err(|_| not_found())?;
    if npm::tarball_filename(name.as_str(), &named.version) != filename {
        return Err(not_found().into());
    }
    let link = packages::download(
        ctx,
        &caller,
        &repo,
        name.as_str(),
        &named.version,
        &filename,
    )
    .await?;
    Ok(redirect(StatusCode::FOUND, &link.url))
}

#[utoipa::path(operation_id = "npm_publish", put, path = "/npm/{tenant}/{repo}/{package}", tag = "npm",
    params(PackagePath),
    request_body(content = Object, content_type = "application/json", description = "`npm publish`'s document (one version, its tarball in `_attachments`), or the packument with `deprecated` changed (`npm deprecate`)"),
    responses(
        (status = 200, description = "Published (the pipeline accepted the tarball), or the deprecations applied"),
        (status = 202, description = "Stored; the pipeline had not decided within the wait"),
        WriteProblems,
    ))]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path(PackagePath { repo, package, .. }): Path<PackagePath>,
    body: Body,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &repo).await?;
    let limit = repository
        .max_file_size
        .saturating_mul(4)
        .div_ceil(3)
        .saturating_add(DOCUMENT_OVERHEAD);
    let bytes = read_body(body, limit)
        .await
        .map_err(|e| too_large_hint(e, &repo, "tarball"))?;
    let name = package_name(&package)?;
    if !has_attachments(&bytes) {
        let sent = SentDocument::parse(&name, &bytes)?;
        registry::deprecate(ctx, &caller, &repository, &name, &sent).await?;
        return Ok(ok_json(StatusCode::OK, json!({"ok": true})));
    }
    let published = npm::parse_publish(name.as_str(), &bytes).map_err(Error::Invalid)?;
    drop(bytes);
    let version = published.version.clone();
    match registry::publish(ctx, &caller, &repository, published).await? {
        Outcome::Published(_) => Ok(ok_json(
            StatusCode::OK,
            json!({"ok": true, "id": name.as_str(), "version": version}),
        )),
        Outcome::Rejected(u) => {
            Err(Error::Invalid(u.reason.unwrap_or_else(|| "refused by the pipeline".into())).into())
        }
        Outcome::Pending(u) => Ok(ok_json(
            StatusCode::ACCEPTED,
            json!({"ok": true, "pending": format!(
                "stored as upload {}; still being checked, it shows in the registry once published",
                u.upload_id
            )}),
        )),
    }
}

/// Whether a document is a publish (it carries `_attachments`) rather than a change of
/// the packument; read without building the document.
fn has_attachments(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, rename = "_attachments")]
        attachments: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<Probe<'_>>(body).is_ok_and(|p| p.attachments.is_some())
}

/// Longest `_rev` taken back (the packument's are a count and a digest, far shorter).
const MAX_REV: usize = 64;

/// The `_rev` a client echoes back: the registry's writes are conditional on the table's
/// own state, not on it, but an oversized one is refused as the document says.
fn check_rev(rev: &str) -> Result<(), Error> {
    if rev.is_empty() || rev.chars().count() > MAX_REV {
        return Err(Error::Invalid(format!(
            "invalid _rev: use 1 to {MAX_REV} characters"
        )));
    }
    Ok(())
}

#[utoipa::path(operation_id = "npm_unpublish_versions", put, path = "/npm/{tenant}/{repo}/{package}/-rev/{rev}", tag = "npm",
    params(RevPath),
    request_body(content = Object, content_type = "application/json", description = "The packument without the versions to unpublish, dist-tags moved off them"),
    responses(
        (status = 200, description = "The versions missing from the document are unpublished"),
        WriteProblems,
    ))]
pub async fn unpublish_versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(RevPath {
        repo, package, rev, ..
    }): Path<RevPath>,
    body: Body,
) -> Result<Response, ApiError> {
    check_rev(&rev)?;
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &repo).await?;
    let name = package_name(&package)?;
    let bytes = read_body(body, MAX_DOCUMENT).await?;
    let sent = SentDocument::parse(&name, &bytes)?;
    registry::unpublish_missing(ctx, &caller, &repository, &name, &sent).await?;
    Ok(ok_json(StatusCode::OK, json!({"ok": true})))
}

#[utoipa::path(operation_id = "npm_unpublish_package", delete, path = "/npm/{tenant}/{repo}/{package}/-rev/{rev}", tag = "npm",
    params(RevPath),
    responses(
        (status = 200, description = "Every version is unpublished; the name stays taken and no version number is reused"),
        WriteProblems,
    ))]
pub async fn unpublish_package(
    State(state): State<AppState>,
    caller: Caller,
    Path(RevPath {
        repo, package, rev, ..
    }): Path<RevPath>,
) -> Result<Response, ApiError> {
    check_rev(&rev)?;
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &repo).await?;
    let name = package_name(&package)?;
    registry::unpublish_all(ctx, &caller, &repository, &name).await?;
    Ok(ok_json(StatusCode::OK, json!({"ok": true})))
}

#[utoipa::path(operation_id = "npm_delete_tarball", delete, path = "/npm/{tenant}/{repo}/{package}/-/{filename}/-rev/{rev}", tag = "npm",
    params(TarballRevPath),
    responses(
        (status = 200, description = "The tarball's version is unpublished (or already was)"),
        WriteProblems,
    ))]
pub async fn delete_tarball(
    State(state): State<AppState>,
    caller: Caller,
    Path(TarballRevPath {
        repo,
        package,
        filename,
        rev,
        ..
    }): Path<TarballRevPath>,
) -> Result<Response, ApiError> {
    check_rev(&rev)?;
    // A name no tarball could have is refused; a tarball already gone is not an error.
    crate::domain::names::FileName::parse(&filename).map_err(Error::from)?;
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &repo).await?;
    let name = package_name(&package)?;
    registry::delete_tarball(ctx, &caller, &repository, &name, &filename).await?;
    Ok(ok_json(StatusCode::OK, json!({"ok": true})))
}

#[utoipa::path(operation_id = "npm_dist_tags", get, path = "/npm/{tenant}/{repo}/-/package/{package}/dist-tags", tag = "npm",
    params(PackagePath),
    responses(
        (status = 200, description = "The package's dist-tags: tag → version"),
        ReadProblems,
    ))]
pub async fn list_dist_tags(
    State(state): State<AppState>,
    caller: Caller,
    Path(PackagePath { repo, package, .. }): Path<PackagePath>,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &repo).await?;
    let name = package_name(&package)?;
    let tags = dist_tags::list(ctx, &caller, &repository, &name).await?;
    Ok(ok_json(StatusCode::OK, json!(tags)))
}

/// The body of a dist-tag's `PUT`: the version it points at, as a JSON string.
pub struct TagTarget;

impl utoipa::PartialSchema for TagTarget {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(64))
            .examples(["1.0.0"])
            .into()
    }
}

impl utoipa::ToSchema for TagTarget {}

#[utoipa::path(operation_id = "npm_set_dist_tag", put, path = "/npm/{tenant}/{repo}/-/package/{package}/dist-tags/{tag}", tag = "npm",
    params(TagPath),
    request_body(content = TagTarget, content_type = "application/json", description = "The version, as a JSON string"),
    responses(
        (status = 201, description = "The tag points at the version"),
        WriteProblems,
    ))]
pub async fn set_dist_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path(TagPath {
        repo, package, tag, ..
    }): Path<TagPath>,
    body: Body,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &repo).await?;
    let name = package_name(&package)?;
    let bytes = read_body(body, 256).await?;
    let version: String = serde_json::from_slice(&bytes)
        .map_err(|_| Error::Invalid("the body must be the version as a JSON string".into()))?;
    let tags = dist_tags::set(ctx, &caller, &repository, &name, &tag, &version).await?;
    Ok(ok_json(StatusCode::CREATED, json!(tags)))
}

#[utoipa::path(operation_id = "npm_remove_dist_tag", delete, path = "/npm/{tenant}/{repo}/-/package/{package}/dist-tags/{tag}", tag = "npm",
    params(TagPath),
    responses(
        (status = 200, description = "The tag is removed"),
        WriteProblems,
    ))]
pub async fn remove_dist_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path(TagPath {
        repo, package, tag, ..
    }): Path<TagPath>,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    let repository = registry::registry(ctx, &caller, &repo).await?;
    let name = package_name(&package)?;
    let tags = dist_tags::remove(ctx, &caller, &repository, &name, &tag).await?;
    Ok(ok_json(StatusCode::OK, json!(tags)))
}

problems!(SessionProblems as NpmError: 401, 404 "No such npm registry");

#[utoipa::path(operation_id = "npm_ping", get, path = "/npm/{tenant}/{repo}/-/ping", tag = "npm",
    params(RegistryPath),
    responses((status = 200, description = "The registry answers"), SessionProblems))]
pub async fn ping(
    State(state): State<AppState>,
    caller: Caller,
    Path(RegistryPath { repo, .. }): Path<RegistryPath>,
) -> Result<Response, ApiError> {
    registry::registry(&state.ctx, &caller, &repo).await?;
    Ok(ok_json(StatusCode::OK, json!({})))
}

#[utoipa::path(operation_id = "npm_whoami", get, path = "/npm/{tenant}/{repo}/-/whoami", tag = "npm",
    params(RegistryPath),
    responses((status = 200, description = "`{\"username\": …}`: the caller's principal"), SessionProblems))]
pub async fn whoami(
    State(state): State<AppState>,
    caller: Caller,
    Path(RegistryPath { repo, .. }): Path<RegistryPath>,
) -> Result<Response, ApiError> {
    registry::registry(&state.ctx, &caller, &repo).await?;
    Ok(ok_json(
        StatusCode::OK,
        json!({"username": caller.principal}),
    ))
}

#[utoipa::path(operation_id = "npm_audit", post, path = "/npm/{tenant}/{repo}/-/npm/v1/security/advisories/bulk", tag = "npm",
    params(RegistryPath),
    responses((status = 200, description = "No advisories: Trove keeps none, and `npm install` must not fail for it"), SessionProblems))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(RegistryPath { repo, .. }): Path<RegistryPath>,
) -> Result<Response, ApiError> {
    registry::registry(&state.ctx, &caller, &repo).await?;
    // The body (the installed versions, gzipped) is not read: there is nothing to match it with.
    Ok(ok_json(StatusCode::OK, json!({})))
}

/// A scoped name arrives as one segment (`@acme%2fwidget`, npm's packument and dist-tag
/// URLs) or two (`@acme/widget`, npm's tarball URLs, and every URL through API Gateway,
/// which decodes the path): the two are joined into one segment before routing.
pub fn join_scoped_segments(path: &str) -> Option<String> {
    let rest = path.strip_prefix(PREFIX)?;
    let segments: Vec<&str> = rest.split('/').collect();
    // tenant, repo, then the registry's own path.
    if segments.len() < 4 {
        return None;
    }
    let mut out: Vec<String> = segments[..2].iter().map(|s| (*s).to_owned()).collect();
    let mut changed = false;
    let mut i = 2;
    while i < segments.len() {
        let s = segments[i];
        if s.starts_with('@') && i + 1 < segments.len() && !s.to_ascii_lowercase().contains("%2f") {
            out.push(format!("{s}%2F{}", segments[i + 1]));
            changed = true;
            i += 2;
        } else {
            out.push(s.to_owned());
            i += 1;
        }
    }
    changed.then(|| format!("{PREFIX}{}", out.join("/")))
}

/// Rewrites a request's path per [`join_scoped_segments`] (applied before routing).
pub fn scoped_paths(mut req: Request) -> Request {
    let Some(joined) = join_scoped_segments(req.uri().path()) else {
        return req;
    };
    let with_query = match req.uri().query() {
        Some(q) => format!("{joined}?{q}"),
        None => joined,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = with_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_names_split_by_a_decoded_path_are_joined_into_one_segment() {
        let j = |p: &str| join_scoped_segments(p);
        assert_eq!(
            j("/npm/default/js/@acme/widget").as_deref(),
            Some("/npm/default/js/@acme%2Fwidget")
        );
        assert_eq!(
            j("/npm/default/js/@acme/widget/-/widget-1.0.0.tgz").as_deref(),
            Some("/npm/default/js/@acme%2Fwidget/-/widget-1.0.0.tgz")
        );
        assert_eq!(
            j("/npm/default/js/-/package/@acme/widget/dist-tags/beta").as_deref(),
            Some("/npm/default/js/-/package/@acme%2Fwidget/dist-tags/beta")
        );
        assert_eq!(
            j("/npm/default/js/@acme%2fwidget"),
            None,
            "already one segment"
        );
        assert_eq!(j("/npm/default/js/widget"), None);
        assert_eq!(j("/v1/repositories/@acme/widget"), None, "npm routes only");
    }

    #[test]
    fn a_publish_is_told_from_a_document_change_by_its_attachments() {
        assert!(has_attachments(
            br#"{"name":"a","_attachments":{"a-1.0.0.tgz":{}}}"#
        ));
        assert!(!has_attachments(br#"{"name":"a","versions":{}}"#));
        assert!(!has_attachments(b"not json"));
    }
}
