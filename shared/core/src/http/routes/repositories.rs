use axum::extract::State;
use axum::http::StatusCode;

use crate::domain::model::{Repository, Retention, ScanPolicy};
use crate::http::AppState;
use crate::http::extract::{Json, Path, Query};
use crate::http::problem::{ApiError, Problem};
use crate::services::access::caller::Caller;
use crate::services::catalog::repositories::{self, CreateRepository};
use crate::services::pagination::{PageOf, PageParams};

#[utoipa::path(operation_id = "create_repository", post, path = "/v1/repositories", tag = "repositories",
    request_body = CreateRepository,
    responses(
        (status = 201, description = "Created", body = Repository),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already exists", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateRepository>,
) -> Result<(StatusCode, Json<Repository>), ApiError> {
    let repo = repositories::create(&state.ctx, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(repo)))
}

#[utoipa::path(operation_id = "list_repositories", get, path = "/v1/repositories", tag = "repositories",
    params(PageParams),
    responses(
        (status = 200, description = "A page of repositories", body = PageOf<Repository>),
        (status = 400, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<Repository>>, ApiError> {
    Ok(Json(repositories::list(&state.ctx, &caller, &page).await?))
}

#[utoipa::path(operation_id = "get_repository", get, path = "/v1/repositories/{repo}", tag = "repositories",
    params(("repo" = String, Path, description = "Repository name", max_length = 64)),
    responses(
        (status = 200, description = "The repository", body = Repository),
        (status = 400, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such repository", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(repo): Path<String>,
) -> Result<Json<Repository>, ApiError> {
    Ok(Json(repositories::get(&state.ctx, &caller, &repo).await?))
}

#[utoipa::path(operation_id = "delete_repository", delete, path = "/v1/repositories/{repo}", tag = "repositories",
    params(("repo" = String, Path, description = "Repository name", max_length = 64)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of the tenant", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such repository", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The repository still holds versions, or changed meanwhile", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(repo): Path<String>,
) -> Result<StatusCode, ApiError> {
    repositories::delete(&state.ctx, &caller, &repo).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "put_retention", put, path = "/v1/repositories/{repo}/retention", tag = "repositories",
    params(("repo" = String, Path, description = "Repository name", max_length = 64)),
    request_body = Retention,
    responses(
        (status = 200, description = "The repository with its new retention policy", body = Repository),
        (status = 400, description = "Invalid policy", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of the repository", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such repository", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_retention(
    State(state): State<AppState>,
    caller: Caller,
    Path(repo): Path<String>,
    Json(retention): Json<Retention>,
) -> Result<Json<Repository>, ApiError> {
    Ok(Json(
        repositories::put_retention(&state.ctx, &caller, &repo, retention).await?,
    ))
}

#[utoipa::path(operation_id = "put_scan_policy", put, path = "/v1/repositories/{repo}/scan-policy", tag = "repositories",
    params(("repo" = String, Path, description = "Repository name", max_length = 64)),
    request_body = ScanPolicy,
    responses(
        (status = 200, description = "The repository with its new scan policy", body = Repository),
        (status = 400, description = "Invalid policy", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of the repository", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such repository", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_scan_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(repo): Path<String>,
    Json(policy): Json<ScanPolicy>,
) -> Result<Json<Repository>, ApiError> {
    Ok(Json(
        repositories::put_scan_policy(&state.ctx, &caller, &repo, policy).await?,
    ))
}
