use axum::response::IntoResponse;

#[utoipa::path(operation_id = "healthz", get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, description = "The process serves requests", body = String)))]
pub async fn healthz() -> impl IntoResponse {
    "ok"
}

#[utoipa::path(operation_id = "openapi", get, path = "/openapi.json", tag = "system", security(()),
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi() -> axum::Json<&'static utoipa::openapi::OpenApi> {
    axum::Json(crate::http::openapi_document())
}
