use axum::extract::State;
use axum::http::StatusCode;

use crate::domain::model::{Repository, Retention, ScanPolicy};
use crate::http::AppState;
use crate::http::extract::{Json, Path, Query};
use crate::http::problem::ApiError;
use crate::http::routes::problems::problems;
use crate::services::access::caller::Caller;
use crate::services::catalog::repositories::{self, CreateRepository};
use crate::services::pagination::{PageOf, PageParams};

problems!(CreateRepositoryProblems: 400 "Invalid input", 401, 409 "Already exists", 413 "Body too large");
#[utoipa::path(operation_id = "create_repository", post, path = "/v1/repositories", tag = "repositories",
    request_body = CreateRepository,
    responses(
        (status = 201, description = "Created", body = Repository),
        CreateRepositoryProblems,
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateRepository>,
) -> Result<(StatusCode, Json<Repository>), ApiError> {
    let repo = repositories::create(&state.ctx, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(repo)))
}

problems!(ListRepositoriesProblems: 400 "Invalid limit or cursor", 401);
#[utoipa::path(operation_id = "list_repositories", get, path = "/v1/repositories", tag = "repositories",
    params(PageParams),
    responses(
        (status = 200, description = "A page of repositories", body = PageOf<Repository>),
        ListRepositoriesProblems,
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<Repository>>, ApiError> {
    Ok(Json(repositories::list(&state.ctx, &caller, &page).await?))
}

problems!(GetRepositoryProblems: 400 "Invalid name", 401, 404 "No such repository");
#[utoipa::path(operation_id = "get_repository", get, path = "/v1/repositories/{repo}", tag = "repositories",
    params(("repo" = String, Path, description = "Repository name", max_length = 64)),
    responses(
        (status = 200, description = "The repository", body = Repository),
        GetRepositoryProblems,
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(repo): Path<String>,
) -> Result<Json<Repository>, ApiError> {
    Ok(Json(repositories::get(&state.ctx, &caller, &repo).await?))
}

problems!(DeleteRepositoryProblems: 400 "Invalid name", 401, 403 "Not an admin of the tenant", 404 "No such repository", 409 "The repository still holds versions, or changed meanwhile");
#[utoipa::path(operation_id = "delete_repository", delete, path = "/v1/repositories/{repo}", tag = "repositories",
    params(("repo" = String, Path, description = "Repository name", max_length = 64)),
    responses(
        (status = 204, description = "Deleted"),
        DeleteRepositoryProblems,
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(repo): Path<String>,
) -> Result<StatusCode, ApiError> {
    repositories::delete(&state.ctx, &caller, &repo).await?;
    Ok(StatusCode::NO_CONTENT)
}

problems!(PutRetentionProblems: 400 "Invalid policy", 401, 403 "Not an admin of the repository", 404 "No such repository");
#[utoipa::path(operation_id = "put_retention", put, path = "/v1/repositories/{repo}/retention", tag = "repositories",
    params(("repo" = String, Path, description = "Repository name", max_length = 64)),
    request_body = Retention,
    responses(
        (status = 200, description = "The repository with its new retention policy", body = Repository),
        PutRetentionProblems,
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

problems!(PutScanPolicyProblems: 400 "Invalid policy", 401, 403 "Not an admin of the repository", 404 "No such repository");
#[utoipa::path(operation_id = "put_scan_policy", put, path = "/v1/repositories/{repo}/scan-policy", tag = "repositories",
    params(("repo" = String, Path, description = "Repository name", max_length = 64)),
    request_body = ScanPolicy,
    responses(
        (status = 200, description = "The repository with its new scan policy", body = Repository),
        PutScanPolicyProblems,
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
