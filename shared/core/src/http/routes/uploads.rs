use axum::extract::State;
use axum::http::StatusCode;

use crate::domain::ids::UploadId;
use crate::http::AppState;
use crate::http::extract::{Json, Path};
use crate::http::problem::ApiError;
use crate::http::routes::problems::problems;
use crate::services::access::caller::Caller;
use crate::services::catalog::multipart::{self, PartTickets, PartsRequest};
use crate::services::catalog::uploads::{self, CreateUpload, UploadTicket, UploadView};

problems!(CreateUploadProblems: 400 "Invalid input, a part layout storage refuses, or a single PUT over 5 GiB", 401, 404 "No such repository", 409 "The file is already published, or the version deleted", 413 "Declared size over the repository limit");
#[utoipa::path(operation_id = "create_upload", post, path = "/v1/repositories/{repo}/uploads", tag = "uploads",
    params(("repo" = String, Path, description = "Repository name", max_length = 64)),
    request_body = CreateUpload,
    responses(
        (status = 201, description = "PUT the bytes to `url` with exactly `headers`; for an upload in parts, each part to its own URL (`multipart.parts`)", body = UploadTicket),
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

problems!(PartsProblems: 400 "Invalid part numbers or digests", 401, 403 "Needs the writer role on the package", 404 "No such upload", 409 "Not an open upload in parts, complete, or expired");
#[utoipa::path(operation_id = "presign_upload_parts", post, path = "/v1/repositories/{repo}/uploads/{upload_id}/parts", tag = "uploads",
    params(
        ("repo" = String, Path, description = "Repository name", max_length = 64),
        ("upload_id" = String, Path, description = "Upload id", pattern = "^[0-9a-z]{26}$", max_length = 26),
    ),
    request_body = PartsRequest,
    responses(
        (status = 200, description = "A URL per part asked for, bound to its length and SHA-256; asking again for a part replaces what was sent before", body = PartTickets),
        PartsProblems,
    ))]
pub async fn presign_parts(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, upload_id)): Path<(String, UploadId)>,
    Json(req): Json<PartsRequest>,
) -> Result<Json<PartTickets>, ApiError> {
    Ok(Json(
        multipart::presign_parts(&state.ctx, &caller, &repo, upload_id.as_str(), req).await?,
    ))
}

problems!(CompleteProblems: 401, 403 "Needs the writer role on the package", 404 "No such upload", 409 "Parts missing or of the wrong length (the detail names them), not an upload in parts, cancelled, or expired");
#[utoipa::path(operation_id = "complete_upload", post, path = "/v1/repositories/{repo}/uploads/{upload_id}/complete", tag = "uploads",
    params(
        ("repo" = String, Path, description = "Repository name", max_length = 64),
        ("upload_id" = String, Path, description = "Upload id", pattern = "^[0-9a-z]{26}$", max_length = 26),
    ),
    responses(
        (status = 202, description = "Storage joined the parts; the pipeline checks the file (poll the upload). Completing again answers the same", body = UploadView),
        CompleteProblems,
    ))]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, upload_id)): Path<(String, UploadId)>,
) -> Result<(StatusCode, Json<UploadView>), ApiError> {
    let view = multipart::complete(&state.ctx, &caller, &repo, upload_id.as_str()).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

problems!(CancelProblems: 401, 403 "Needs the writer role on the package", 404 "No such upload", 409 "Its bytes arrived already, or it is settled");
#[utoipa::path(operation_id = "cancel_upload", delete, path = "/v1/repositories/{repo}/uploads/{upload_id}", tag = "uploads",
    params(
        ("repo" = String, Path, description = "Repository name", max_length = 64),
        ("upload_id" = String, Path, description = "Upload id", pattern = "^[0-9a-z]{26}$", max_length = 26),
    ),
    responses(
        (status = 204, description = "Cancelled (status `cancelled`); its parts are dropped"),
        CancelProblems,
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path((repo, upload_id)): Path<(String, UploadId)>,
) -> Result<StatusCode, ApiError> {
    multipart::cancel(&state.ctx, &caller, &repo, upload_id.as_str()).await?;
    Ok(StatusCode::NO_CONTENT)
}
