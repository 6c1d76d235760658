//! The tenant's daily reports (tenant admins).

use axum::extract::State;

use crate::http::AppState;
use crate::http::extract::{Json, Path, Query};
use crate::http::problem::ApiError;
use crate::http::routes::problems::problems;
use crate::services::access::caller::Caller;
use crate::services::pagination::{PageOf, PageParams};
use crate::services::records::reports::{self, ReportView};

problems!(ListReportsProblems: 400 "Invalid input", 401, 403 "Not a tenant admin");
#[utoipa::path(operation_id = "list_reports", get, path = "/v1/reports", tag = "reports",
    params(PageParams),
    responses(
        (status = 200, description = "A page of daily reports, newest first, with short-lived links to their files", body = PageOf<ReportView>),
        ListReportsProblems,
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<ReportView>>, ApiError> {
    Ok(Json(reports::list(&state.ctx, &caller, &page).await?))
}

problems!(GetReportProblems: 400 "Malformed date", 401, 403 "Not a tenant admin", 404 "No report for that day");
#[utoipa::path(operation_id = "get_report", get, path = "/v1/reports/{date}", tag = "reports",
    params(("date" = String, Path, description = "The report's day, YYYY-MM-DD (UTC)", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", format = Date, max_length = 10)),
    responses(
        (status = 200, description = "The report, with short-lived links to its files", body = ReportView),
        GetReportProblems,
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(date): Path<String>,
) -> Result<Json<ReportView>, ApiError> {
    Ok(Json(reports::get(&state.ctx, &caller, &date).await?))
}
