use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::http::AppState;
use crate::http::extract::{Json, Path, Query};
use crate::http::problem::ApiError;
use crate::http::routes::problems::problems;
use crate::services::access::caller::Caller;
use crate::services::catalog::labels::{self, LabelsRequest};
use crate::services::catalog::packages::{
    self, DownloadLink, PackageListParams, PackageView, VersionDetail,
};
use crate::services::catalog::versions::{self, VersionView};
use crate::services::catalog::yanks::{self, YankRequest};
use crate::services::pagination::{PageOf, PageParams};

problems!(ListPackagesProblems: 400 "Invalid input", 401, 404 "No such repository");
#[utoipa::path(operation_id = "list_packages", get, path = "/v1/repositories/{repo}/packages", tag = "packages",
    params(("repo" = String, Path, description = "Repository name", max_length = 64), PackageListParams),
    responses(
        (status = 200, description = "A page of packages, by name", body = PageOf<PackageView>),
        ListPackagesProblems,
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(repo): Path<String>,
    Query(params): Query<PackageListParams>,
) -> Result<Json<PageOf<PackageView>>, ApiError> {
    Ok(Json(
        packages::list(&state.ctx, &caller, &repo, &params).await?,
    ))
}

problems!(GetPackageProblems: 401, 404 "No such package");
#[utoipa::path(operation_id = "get_package", get, path = "/v1/repositories/{repo}/packages/{package}", tag = "packages",
    params(("repo" = String, Path, description = "Repository name", max_length = 64), ("package" = String, Path, description = "Package name", max_length = 128)),
    responses(
        (status = 200, description = "The package", body = PackageView),
        GetPackageProblems,
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, package)): Path<(String, String)>,
) -> Result<Json<PackageView>, ApiError> {
    Ok(Json(
        packages::get(&state.ctx, &caller, &repo, &package).await?,
    ))
}

problems!(ListVersionsProblems: 401, 404 "No such package");
#[utoipa::path(operation_id = "list_versions", get, path = "/v1/repositories/{repo}/packages/{package}/versions", tag = "packages",
    params(("repo" = String, Path, description = "Repository name", max_length = 64), ("package" = String, Path, description = "Package name", max_length = 128), PageParams),
    responses(
        (status = 200, description = "A page of published versions", body = PageOf<VersionView>),
        ListVersionsProblems,
    ))]
pub async fn list_versions(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, package)): Path<(String, String)>,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<VersionView>>, ApiError> {
    Ok(Json(
        packages::list_versions(&state.ctx, &caller, &repo, &package, &page).await?,
    ))
}

problems!(GetVersionProblems: 401, 404 "No such version");
#[utoipa::path(operation_id = "get_version", get, path = "/v1/repositories/{repo}/packages/{package}/versions/{version}", tag = "packages",
    params(("repo" = String, Path, description = "Repository name", max_length = 64), ("package" = String, Path, description = "Package name", max_length = 128), ("version" = String, Path, description = "Version", max_length = 64)),
    responses(
        (status = 200, description = "The version and its files", body = VersionDetail),
        GetVersionProblems,
    ))]
pub async fn get_version(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, package, version)): Path<(String, String, String)>,
) -> Result<Json<VersionDetail>, ApiError> {
    Ok(Json(
        packages::get_version(&state.ctx, &caller, &repo, &package, &version).await?,
    ))
}

problems!(DeleteVersionProblems: 401, 404 "No such version", 409 "Changed concurrently");
#[utoipa::path(operation_id = "delete_version", delete, path = "/v1/repositories/{repo}/packages/{package}/versions/{version}", tag = "packages",
    params(("repo" = String, Path, description = "Repository name", max_length = 64), ("package" = String, Path, description = "Package name", max_length = 128), ("version" = String, Path, description = "Version", max_length = 64)),
    responses(
        (status = 204, description = "Deleted: no longer listed or downloadable"),
        DeleteVersionProblems,
    ))]
pub async fn delete_version(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, package, version)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    packages::delete_version(&state.ctx, &caller, &repo, &package, &version).await?;
    Ok(StatusCode::NO_CONTENT)
}

problems!(PinVersionProblems: 401, 403 "Not a maintainer of the package", 404 "No such version", 409 "Changed concurrently");
#[utoipa::path(operation_id = "pin_version", put, path = "/v1/repositories/{repo}/packages/{package}/versions/{version}/pin", tag = "packages",
    params(("repo" = String, Path, description = "Repository name", max_length = 64), ("package" = String, Path, description = "Package name", max_length = 128), ("version" = String, Path, description = "Version", max_length = 64)),
    responses(
        (status = 200, description = "Pinned: the retention policy never removes it", body = VersionView),
        PinVersionProblems,
    ))]
pub async fn pin_version(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, package, version)): Path<(String, String, String)>,
) -> Result<Json<VersionView>, ApiError> {
    Ok(Json(
        versions::set_pinned(&state.ctx, &caller, &repo, &package, &version, true).await?,
    ))
}

problems!(PutLabelsProblems: 400 "Invalid tags or labels", 401, 403 "Not a writer of the package", 404 "No such version", 409 "Changed concurrently");
#[utoipa::path(operation_id = "put_version_labels", put, path = "/v1/repositories/{repo}/packages/{package}/versions/{version}/labels", tag = "packages",
    params(("repo" = String, Path, description = "Repository name", max_length = 64), ("package" = String, Path, description = "Package name", max_length = 128), ("version" = String, Path, description = "Version", max_length = 64)),
    request_body = LabelsRequest,
    responses(
        (status = 200, description = "The version with its new tags and labels (search finds it by them at once)", body = VersionView),
        PutLabelsProblems,
    ))]
pub async fn put_version_labels(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, package, version)): Path<(String, String, String)>,
    Json(request): Json<LabelsRequest>,
) -> Result<Json<VersionView>, ApiError> {
    Ok(Json(
        labels::put(&state.ctx, &caller, &repo, &package, &version, request).await?,
    ))
}

problems!(UnpinVersionProblems: 401, 403 "Not a maintainer of the package", 404 "No such version", 409 "Changed concurrently");
#[utoipa::path(operation_id = "unpin_version", delete, path = "/v1/repositories/{repo}/packages/{package}/versions/{version}/pin", tag = "packages",
    params(("repo" = String, Path, description = "Repository name", max_length = 64), ("package" = String, Path, description = "Package name", max_length = 128), ("version" = String, Path, description = "Version", max_length = 64)),
    responses(
        (status = 200, description = "Unpinned: the retention policy applies again", body = VersionView),
        UnpinVersionProblems,
    ))]
pub async fn unpin_version(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, package, version)): Path<(String, String, String)>,
) -> Result<Json<VersionView>, ApiError> {
    Ok(Json(
        versions::set_pinned(&state.ctx, &caller, &repo, &package, &version, false).await?,
    ))
}

problems!(YankVersionProblems: 400 "Invalid input", 401, 403 "Not a maintainer of the package", 404 "No such version or file", 409 "Changed concurrently");
#[utoipa::path(operation_id = "yank_version", put, path = "/v1/repositories/{repo}/packages/{package}/versions/{version}/yank", tag = "packages",
    params(("repo" = String, Path, description = "Repository name", max_length = 64), ("package" = String, Path, description = "Package name", max_length = 128), ("version" = String, Path, description = "Version", max_length = 64)),
    request_body = YankRequest,
    responses(
        (status = 200, description = "Yanked (the release, or the one file named): still downloadable, but installers skip it unless pinned to it (PEP 592)", body = VersionDetail),
        YankVersionProblems,
    ))]
pub async fn yank_version(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, package, version)): Path<(String, String, String)>,
    Json(body): Json<YankRequest>,
) -> Result<Json<VersionDetail>, ApiError> {
    let file = body.filename.as_deref();
    Ok(Json(
        yanks::set(
            &state.ctx,
            &caller,
            &repo,
            &package,
            &version,
            file,
            Some(&body),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnyankParams {
    /// Unyank only this file (its release's own yank stays).
    #[param(max_length = 255)]
    pub filename: Option<String>,
}

problems!(UnyankVersionProblems: 400 "Invalid input", 401, 403 "Not a maintainer of the package", 404 "No such version or file", 409 "Changed concurrently");
#[utoipa::path(operation_id = "unyank_version", delete, path = "/v1/repositories/{repo}/packages/{package}/versions/{version}/yank", tag = "packages",
    params(("repo" = String, Path, description = "Repository name", max_length = 64), ("package" = String, Path, description = "Package name", max_length = 128), ("version" = String, Path, description = "Version", max_length = 64), UnyankParams),
    responses(
        (status = 200, description = "Unyanked (the release's own mark, or the one file's): installers consider it again", body = VersionDetail),
        UnyankVersionProblems,
    ))]
pub async fn unyank_version(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, package, version)): Path<(String, String, String)>,
    Query(params): Query<UnyankParams>,
) -> Result<Json<VersionDetail>, ApiError> {
    let file = params.filename.as_deref();
    Ok(Json(
        yanks::set(&state.ctx, &caller, &repo, &package, &version, file, None).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadParams {
    /// `false` answers the link as JSON instead of redirecting to it.
    pub redirect: Option<bool>,
}

problems!(DownloadFileProblems: 401, 404 "No such file");
#[utoipa::path(operation_id = "download_file", get, path = "/v1/repositories/{repo}/packages/{package}/versions/{version}/files/{filename}", tag = "packages",
    params(("repo" = String, Path, description = "Repository name", max_length = 64), ("package" = String, Path, description = "Package name", max_length = 128), ("version" = String, Path, description = "Version", max_length = 64), ("filename" = String, Path, description = "File name", max_length = 255), DownloadParams),
    responses(
        (status = 302, description = "Redirect to a short-lived presigned GET of the exact bytes"),
        (status = 200, description = "With redirect=false: the link", body = DownloadLink),
        DownloadFileProblems,
    ))]
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, package, version, filename)): Path<(String, String, String, String)>,
    Query(params): Query<DownloadParams>,
) -> Result<Response, ApiError> {
    let link =
        packages::download(&state.ctx, &caller, &repo, &package, &version, &filename).await?;
    if params.redirect == Some(false) {
        return Ok(Json(link).into_response());
    }
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, link.url),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response())
}
