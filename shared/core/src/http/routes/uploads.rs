use axum::extract::State;
use axum::http::StatusCode;

use crate::domain::ids::UploadId;
use crate::http::AppState;
use crate::http::extract::{Json, Path};
use crate::http::problem::ApiError;
use crate::http::routes::problems::problems;
use crate::services::access::caller::Caller;
use crate::services::catalog::uploads::{self, CreateUpload, UploadTicket, UploadView};

problems!(CreateUploadProblems: 400 "Invalid input", 401, 404 "No such repository", 409 "The file is already published, or the version deleted", 413 "Declared size over the repository limit");
#[utoipa::path(operation_id = "create_upload", post, path = "/v1/repositories/{repo}/uploads", tag = "uploads",
    params(("repo" = String, Path, description = "Repository name", max_length = 64)),
    request_body = CreateUpload,
    responses(
        (status = 201, description = "PUT the bytes to `url` with exactly `headers`", body = UploadTicket),
        CreateUploadProblems,
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(repo): Path<String>,
    Json(req): Json<CreateUpload>,
) -> Result<(StatusCode, Json<UploadTicket>), ApiError> {
    let ticket = uploads::request(&state.ctx, &caller, &repo, req).await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

problems!(GetUploadProblems: 401, 404 "No such upload");
#[utoipa::path(operation_id = "get_upload", get, path = "/v1/repositories/{repo}/uploads/{upload_id}", tag = "uploads",
    params(
        ("repo" = String, Path, description = "Repository name", max_length = 64),
        ("upload_id" = String, Path, description = "Upload id", pattern = "^[0-9a-z]{26}$", max_length = 26),
    ),
    responses(
        (status = 200, description = "The upload's state", body = UploadView),
        GetUploadProblems,
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, upload_id)): Path<(String, UploadId)>,
) -> Result<Json<UploadView>, ApiError> {
    Ok(Json(
        uploads::get(&state.ctx, &caller, &repo, upload_id.as_str()).await?,
    ))
}
