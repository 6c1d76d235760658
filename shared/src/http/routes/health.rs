use axum::response::IntoResponse;

#[utoipa::path(operation_id = "healthz", get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, description = "The process serves requests", body = String)))]
pub async fn healthz() -> impl IntoResponse {
    "ok"
}
