//! The PyPI routes, where pip, uv and twine point unchanged: the simple index (PEP 503 HTML,
//! PEP 691 JSON), file links, and twine's `legacy` upload.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::domain::keys;
use crate::domain::model::{Format, Upload};
use crate::domain::names::{FileName, PackageName, VersionName};
use crate::formats::pypi::{self, simple};
use crate::http::AppState;
use crate::http::extract::Path;
use crate::http::problem::{ApiError, Problem};
use crate::http::routes::client_pages::{self, redirect};
use crate::http::routes::problems::problems;
use crate::services::access::caller::Caller;
use crate::services::catalog::page_cache::{Page, PageKey};
use crate::services::catalog::publish::{self, Declared, Outcome};
use crate::services::catalog::{index, packages};
use crate::services::{Context, Error};

/// Longest value of a field the upload reads.
const MAX_FIELD: u64 = 1024;
/// Longest field the upload skips unread (twine sends the README as `description`).
const MAX_SKIPPED_FIELD: u64 = 4 * 1024 * 1024;
/// Bytes before the file part: every field, part header and boundary. Well above what twine
/// sends, because the parser reads ahead into the file before it hands the file part over.
const MAX_BEFORE_FILE: u64 = 16 * 1024 * 1024;
/// The fields the upload reads.
const FIELDS: [&str; 4] = [":action", "name", "version", "sha256_digest"];

problems!(SimpleIndexProblems: 401, 404 "No such Python repository", 406 "None of the accepted media types is served");

#[utoipa::path(operation_id = "pypi_simple_index", get, path = "/pypi/{tenant}/{repo}/simple/", tag = "pypi",
    params(
        ("tenant" = String, Path, description = "Tenant name", max_length = 63),
        ("repo" = String, Path, description = "Repository name (format pypi)", max_length = 64),
    ),
    responses(
        (status = 200, description = "The projects the caller may read: PEP 503 HTML or PEP 691 JSON, by `Accept`", content_type = "text/html"),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        SimpleIndexProblems,
    ))]
pub async fn simple_index(
    State(state): State<AppState>,
    caller: Caller,
    Path((_tenant, repo)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let form = negotiate(&headers)?;
    let ctx = &state.ctx;
    let repository = index::repository(ctx, &caller, &repo, Format::Pypi).await?;
    let names: Vec<String> = index::packages(ctx, &caller, &repository)
        .await?
        .into_iter()
        .map(|n| n.to_string())
        .collect();
    let body = Bytes::from(simple::render_index(form, &names));
    let etag = etag(form, &body);
    Ok(page(&headers, form, body, &etag))
}

problems!(SimpleProjectProblems: 400 "Not a valid project name", 401, 404 "No such project", 406 "None of the accepted media types is served");

#[utoipa::path(operation_id = "pypi_simple_project", get, path = "/pypi/{tenant}/{repo}/simple/{package}/", tag = "pypi",
    params(
        ("tenant" = String, Path, description = "Tenant name", max_length = 63),
        ("repo" = String, Path, description = "Repository name (format pypi)", max_length = 64),
        ("package" = String, Path, description = "Project name; another spelling redirects to its PEP 503 normal form", max_length = 128),
    ),
    responses(
        (status = 200, description = "The project's files: PEP 503 HTML or PEP 691 JSON, by `Accept`", content_type = "text/html"),
        (status = 301, description = "To the project's normalised name"),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        SimpleProjectProblems,
    ))]
pub async fn simple_project(
    State(state): State<AppState>,
    caller: Caller,
    Path((tenant, repo, project)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let form = negotiate(&headers)?;
    let ctx = &state.ctx;
    let repository = index::repository(ctx, &caller, &repo, Format::Pypi).await?;
    let normal = pypi::names::normalize(&project).map_err(Error::Invalid)?;
    if normal != project {
        let to = format!("/pypi/{tenant}/{repo}/simple/{normal}/");
        return Ok(redirect(StatusCode::MOVED_PERMANENTLY, &to));
    }
    let name = PackageName::parse(&normal).map_err(Error::from)?;
    let package = index::package(ctx, &caller, &repository, &name).await?;
    let key = PageKey::new(&caller.tenant, &repository, &package, form.content_type());
    if let Some(cached) = ctx.index_pages.get(&key, package.rev) {
        return Ok(page(&headers, form, cached.body.clone(), &cached.etag));
    }
    let rev = package.rev;
    let found = index::package_files(ctx, &caller, &repository, package).await?;
    let files = found
        .files
        .into_iter()
        .map(|f| simple::IndexFile {
            url: format!(
                "../../files/{}/{}/{}",
                found.package.name, f.version, f.file.filename
            ),
            filename: f.file.filename.to_string(),
            sha256: f.file.sha256.to_string(),
            size: f.file.size,
            upload_time: f.file.created_at,
            requires_python: f.file.attributes.get(pypi::REQUIRES_PYTHON).cloned(),
            yanked: f.yanked.map(|y| y.reason),
            core_metadata: f.file.core_metadata.map(|sha| sha.to_string()),
        })
        .collect();
    let project = simple::ProjectPage {
        name: found.package.name.to_string(),
        versions: found.versions.iter().map(|v| v.to_string()).collect(),
        files,
    };
    let body = Bytes::from(simple::render_project(form, &project));
    let etag = etag(form, &body);
    let response = page(&headers, form, body.clone(), &etag);
    ctx.index_pages.put(key, Page { rev, body, etag });
    Ok(response)
}

problems!(DownloadProblems: 401, 404 "No such file, or no core metadata for it");

#[utoipa::path(operation_id = "pypi_download", get, path = "/pypi/{tenant}/{repo}/files/{package}/{version}/{filename}", tag = "pypi",
    params(
        ("tenant" = String, Path, description = "Tenant name", max_length = 63),
        ("repo" = String, Path, description = "Repository name (format pypi)", max_length = 64),
        ("package" = String, Path, description = "Project name (normalised)", max_length = 128),
        ("version" = String, Path, description = "Version", max_length = 64),
        ("filename" = String, Path, description = "File name", max_length = 255),
    ),
    responses(
        (status = 302, description = "Redirect to a short-lived presigned GET of the exact bytes; for `{filename}.metadata`, of the wheel's core metadata (PEP 658)"),
        DownloadProblems,
    ))]
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path((_tenant, repo, package, version, filename)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> Result<Response, ApiError> {
    let ctx = &state.ctx;
    index::repository(ctx, &caller, &repo, Format::Pypi).await?;
    // No distribution's name ends so (wheels and sdists only), so this is PEP 658's URL.
    let link = match filename.strip_suffix(".metadata") {
        Some(file) => {
            packages::core_metadata(ctx, &caller, &repo, &package, &version, file).await?
        }
        None => {
            packages::download(ctx, &caller, &repo, &package, &version, &filename)
                .await?
                .url
        }
    };
    Ok(redirect(StatusCode::FOUND, &link))
}

/// The form twine sends (`multipart/form-data`); fields it sends besides these are skipped.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct LegacyUpload {
    /// Always `file_upload`.
    #[serde(rename = ":action")]
    #[schema(example = "file_upload", max_length = 16)]
    action: String,
    /// The project's name (any spelling of it).
    #[schema(example = "widget", max_length = 128)]
    name: String,
    #[schema(example = "1.0.0", max_length = 64)]
    version: String,
    /// Hex SHA-256 of `content`: the stored bytes must match it.
    #[schema(max_length = 64)]
    sha256_digest: Option<String>,
    /// The wheel or sdist; its filename is the part's `filename`. At most the repository's
    /// `max_file_size`.
    #[schema(value_type = String, format = Binary, max_length = 5368709120_usize)]
    content: Vec<u8>,
}

problems!(UploadProblems: 400 "Invalid input, or the pipeline refused the file: the reason is in the body and the reason phrase", 401, 403 "The caller may read the project but not publish to it", 404 "No such Python repository", 409 "This file is already published (twine --skip-existing skips it)", 413 "Larger than the repository's max_file_size");

#[utoipa::path(operation_id = "pypi_upload", post, path = "/pypi/{tenant}/{repo}/legacy/", tag = "pypi",
    params(
        ("tenant" = String, Path, description = "Tenant name", max_length = 63),
        ("repo" = String, Path, description = "Repository name (format pypi)", max_length = 64),
    ),
    request_body(content = LegacyUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Published (the pipeline accepted the file)"),
        (status = 202, description = "Stored; the pipeline had not decided within the wait. It shows in the index once published"),
        UploadProblems,
    ))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path((_tenant, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match receive(&state.ctx, &caller, &repo, &headers, body).await {
        Ok(response) => response,
        Err(e) => refusal(e),
    }
}

async fn receive(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let repository = index::repository(ctx, caller, repo, Format::Pypi).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(invalid)?;
    let file_started = Arc::new(AtomicBool::new(false));
    let body = bounded_before_file(body, Arc::clone(&file_started));
    let mut form =
        multer::Multipart::with_constraints(body, boundary, constraints(repository.max_file_size));
    let mut fields: HashMap<&'static str, String> = HashMap::new();
    let content = loop {
        let Some(mut part) = form.next_field().await.map_err(invalid)? else {
            return Err(bad("the form has no content part (the file)"));
        };
        let Some(name) = part.name() else {
            return Err(bad("malformed multipart body: a part has no name"));
        };
        if name == "content" {
            file_started.store(true, Ordering::Relaxed);
            break part;
        }
        if let Some(field) = FIELDS.iter().find(|f| **f == name) {
            let value = part.bytes().await.map_err(invalid)?;
            let value = String::from_utf8(Vec::from(value)).map_err(|_| {
                bad(format!(
                    "malformed multipart body: field {field} is not UTF-8"
                ))
            })?;
            fields.insert(field, value.trim().to_owned());
            continue;
        }
        // Skipped unread, bounded by the per-field limit.
        while part.chunk().await.map_err(invalid)?.is_some() {}
    };
    let filename = content
        .file_name()
        .ok_or_else(|| bad("the content part names no filename"))?
        .to_owned();
    match fields.get(":action").map(String::as_str) {
        Some("file_upload") => {}
        Some(other) => {
            return Err(bad(format!(
                "unsupported :action {}: only file_upload is",
                crate::domain::echo::echo(other)
            )));
        }
        None => return Err(bad("field :action is missing")),
    }
    let field = |name: &str| {
        fields
            .get(name)
            .cloned()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad(format!("field {name} is missing (send it before content)")))
    };
    let declared = Declared {
        package: field("name")?,
        version: field("version")?,
        filename: filename.clone(),
        sha256: fields
            .get("sha256_digest")
            .filter(|v| !v.is_empty())
            .map(|v| v.to_ascii_lowercase()),
    };
    // The form ends with the file: what follows it is not read.
    let body = content.map(|chunk| chunk.map_err(|e| malformed(&e)));
    let outcome = match publish::publish(ctx, caller, repo, declared.clone(), body).await {
        Ok(outcome) => outcome,
        Err(Error::Conflict(why)) => return Err(conflict(ctx, caller, repo, &declared, why).await),
        Err(e) => return Err(e.into()),
    };
    Ok(match outcome {
        Outcome::Published(u) => text(StatusCode::OK, format!("published {}\n", u.filename)),
        Outcome::Rejected(u) => {
            let why = u.reason.unwrap_or_else(|| "refused by the pipeline".into());
            return Err(ApiError::from(Problem::new(StatusCode::BAD_REQUEST, why)));
        }
        Outcome::Pending(u) => text(StatusCode::ACCEPTED, pending(&u)),
    })
}

/// The fields are small: the ones the upload reads are held to `MAX_FIELD`, the others (a
/// README) to `MAX_SKIPPED_FIELD`. The file is held to the repository's limit as it is
/// stored (413), so the parser's own limit on it is only the whole body's.
fn constraints(max_file_size: u64) -> multer::Constraints {
    let limits = FIELDS.iter().fold(
        multer::SizeLimit::new()
            .whole_stream(max_file_size.saturating_add(2 * MAX_BEFORE_FILE))
            .per_field(MAX_SKIPPED_FIELD)
            .for_field("content", u64::MAX),
        |limits, field| limits.for_field(*field, MAX_FIELD),
    );
    multer::Constraints::new().size_limit(limits)
}

/// The body, refused past `MAX_BEFORE_FILE` bytes until `file_started` is set: the parser
/// holds a part's header section in memory until its blank line, however long it is.
fn bounded_before_file(
    body: Body,
    file_started: Arc<AtomicBool>,
) -> impl Stream<Item = Result<Bytes, String>> + Send + 'static {
    let mut before_file = 0u64;
    body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| format!("the body could not be read: {e}"))?;
        if !file_started.load(Ordering::Relaxed) {
            if before_file > MAX_BEFORE_FILE {
                return Err(format!(
                    "more than {} MiB came before the content part",
                    MAX_BEFORE_FILE >> 20
                ));
            }
            before_file += chunk.len() as u64;
        }
        Ok(chunk)
    })
}

/// The parser's refusal, phrased for the sender.
fn malformed(e: &multer::Error) -> String {
    use multer::Error as E;
    let why = match e {
        E::NoMultipart | E::DecodeContentType(_) => "send the upload as multipart/form-data".into(),
        E::NoBoundary => "the content type names no boundary".into(),
        E::IncompleteStream | E::IncompleteFieldData { .. } => {
            "the body ends before its closing boundary".into()
        }
        E::IncompleteHeaders
        | E::ReadHeaderFailed(_)
        | E::DecodeHeaderName { .. }
        | E::DecodeHeaderValue { .. } => "a part's headers are malformed".into(),
        E::FieldSizeExceeded { limit, field_name } => format!(
            "field {} is longer than {limit} bytes",
            field_name.as_deref().unwrap_or("without a name")
        ),
        E::StreamSizeExceeded { limit } => format!("the body is longer than {limit} bytes"),
        // The body's own failure (`bounded_before_file`) says what it is.
        E::StreamReadFailed(e) => e.to_string(),
        other => other.to_string(),
    };
    format!("malformed multipart body: {why}")
}

/// A file already published answers 409, which `twine upload --skip-existing` skips; any
/// other conflict (a look-alike name, a deleted version) is a refusal it must report.
async fn conflict(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    declared: &Declared,
    why: String,
) -> ApiError {
    let status = match published(ctx, caller, repo, declared).await {
        Some(_) => StatusCode::CONFLICT,
        None => StatusCode::BAD_REQUEST,
    };
    ApiError::from(Problem::new(status, why))
}

async fn published(ctx: &Context, caller: &Caller, repo: &str, d: &Declared) -> Option<()> {
    let named =
        crate::formats::check_upload(&pypi::Pypi, &d.package, &d.version, &d.filename).ok()?;
    let key = keys::file(
        &caller.tenant,
        &crate::domain::names::RepoName::parse(repo).ok()?,
        &PackageName::parse(&named.package).ok()?,
        &VersionName::parse(&named.version).ok()?,
        &FileName::parse(&d.filename).ok()?,
    );
    ctx.table.get(&key).await.ok()?.map(drop)
}

fn pending(u: &Upload) -> String {
    format!(
        "accepted {}: still being checked; it appears in the index once published \
         (GET /v1/repositories/{}/uploads/{} shows its state)\n",
        u.filename, u.repository, u.upload_id
    )
}

fn bad(why: impl Into<String>) -> ApiError {
    Error::Invalid(why.into()).into()
}

fn invalid(e: multer::Error) -> ApiError {
    bad(malformed(&e))
}

/// twine prints only the status line unless `--verbose`: the reason goes there too, as
/// PyPI does (HTTP/1.1 hosts carry it; others drop it).
fn refusal(e: ApiError) -> Response {
    let detail = e.0.detail.clone();
    let mut response = e.into_response();
    let phrase: String = detail
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(300)
        .collect();
    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(phrase.into_bytes()) {
        response.extensions_mut().insert(reason);
    }
    response
}

fn negotiate(headers: &HeaderMap) -> Result<simple::Form, ApiError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    simple::negotiate(accept).ok_or_else(|| {
        ApiError::from(Problem::new(
            StatusCode::NOT_ACCEPTABLE,
            format!("accept {}, {} or text/html", simple::JSON, simple::HTML),
        ))
    })
}

/// A page's ETag: its form and bytes.
fn etag(form: simple::Form, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(form.content_type().as_bytes());
    hasher.update(body);
    format!("\"{}\"", &hex::encode(hasher.finalize())[..32])
}

/// An index page with its ETag; 304 when the client holds it already.
fn page(headers: &HeaderMap, form: simple::Form, body: Bytes, etag: &str) -> Response {
    client_pages::page(headers, form.content_type(), body, etag)
}

fn text(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
