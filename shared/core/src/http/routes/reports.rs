//! The tenant's daily reports (tenant admins).

use axum::extract::State;

use crate::http::AppState;
use crate::http::extract::{Json, Path, Query};
use crate::http::problem::{ApiError, Problem};
use crate::services::access::caller::Caller;
use crate::services::pagination::{PageOf, PageParams};
use crate::services::records::reports::{self, ReportView};

#[utoipa::path(operation_id = "list_reports", get, path = "/v1/reports", tag = "reports",
    params(PageParams),
    responses(
        (status = 200, description = "A page of daily reports, newest first, with short-lived links to their files", body = PageOf<ReportView>),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a tenant admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<ReportView>>, ApiError> {
    Ok(Json(reports::list(&state.ctx, &caller, &page).await?))
}

#[utoipa::path(operation_id = "get_report", get, path = "/v1/reports/{date}", tag = "reports",
    params(("date" = String, Path, description = "The report's day, YYYY-MM-DD (UTC)", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", max_length = 10)),
    responses(
        (status = 200, description = "The report, with short-lived links to its files", body = ReportView),
        (status = 400, description = "Malformed date", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a tenant admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No report for that day", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(date): Path<String>,
) -> Result<Json<ReportView>, ApiError> {
    Ok(Json(reports::get(&state.ctx, &caller, &date).await?))
}
