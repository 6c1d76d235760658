use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::ids::{DeliveryId, WebhookId};
use crate::http::AppState;
use crate::http::extract::{Json, Path, Query};
use crate::http::problem::ApiError;
use crate::http::routes::problems::problems;
use crate::services::access::caller::Caller;
use crate::services::pagination::{PageOf, PageParams};
use crate::webhooks::model::{Delivery, Webhook, WebhookWithSecret};
use crate::webhooks::service::{self, CreateWebhook, UpdateWebhook};

problems!(CreateWebhookProblems: 400 "Invalid input or a refused destination", 401, 403 "Needs admin on the tenant or on the repository", 404 "No such repository", 409 "Too many webhooks");
#[utoipa::path(operation_id = "create_webhook", post, path = "/v1/webhooks", tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created; the only answer that shows the secret", body = WebhookWithSecret),
        CreateWebhookProblems,
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateWebhook>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), ApiError> {
    let created = service::create(&state.ctx, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

problems!(ListWebhooksProblems: 400 "Invalid limit or cursor", 401);
#[utoipa::path(operation_id = "list_webhooks", get, path = "/v1/webhooks", tag = "webhooks",
    params(PageParams),
    responses(
        (status = 200, description = "The webhooks the caller manages", body = PageOf<Webhook>),
        ListWebhooksProblems,
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<Webhook>>, ApiError> {
    Ok(Json(service::list(&state.ctx, &caller, &page).await?))
}

problems!(GetWebhookProblems: 401, 403 "Needs admin on the webhook's scope", 404 "No such webhook");
#[utoipa::path(operation_id = "get_webhook", get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id", pattern = "^wh_[0-9a-z]{26}$", max_length = 29)),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        GetWebhookProblems,
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<WebhookId>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(service::get(&state.ctx, &caller, id.as_str()).await?))
}

problems!(UpdateWebhookProblems: 400 "Invalid input or a refused destination", 401, 403 "Needs admin on the webhook's scope", 404 "No such webhook", 409 "Changed concurrently");
#[utoipa::path(operation_id = "update_webhook", patch, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id", pattern = "^wh_[0-9a-z]{26}$", max_length = 29)),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The webhook; with `secret` when it was changed", body = Webhook),
        UpdateWebhookProblems,
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<WebhookId>,
    Json(req): Json<UpdateWebhook>,
) -> Result<Response, ApiError> {
    let (webhook, secret) = service::update(&state.ctx, &caller, id.as_str(), req).await?;
    Ok(match secret {
        Some(secret) => Json(WebhookWithSecret { webhook, secret }).into_response(),
        None => Json(webhook).into_response(),
    })
}

problems!(DeleteWebhookProblems: 401, 403 "Needs admin on the webhook's scope", 404 "No such webhook");
#[utoipa::path(operation_id = "delete_webhook", delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id", pattern = "^wh_[0-9a-z]{26}$", max_length = 29)),
    responses(
        (status = 204, description = "Deleted"),
        DeleteWebhookProblems,
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<WebhookId>,
) -> Result<StatusCode, ApiError> {
    service::delete(&state.ctx, &caller, id.as_str()).await?;
    Ok(StatusCode::NO_CONTENT)
}

problems!(PingWebhookProblems: 401, 403 "Needs admin on the webhook's scope", 404 "No such webhook");
#[utoipa::path(operation_id = "ping_webhook", post, path = "/v1/webhooks/{id}/ping", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id", pattern = "^wh_[0-9a-z]{26}$", max_length = 29)),
    responses(
        (status = 202, description = "A ping delivery, queued", body = Delivery),
        PingWebhookProblems,
    ))]
pub async fn ping(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<WebhookId>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let delivery = service::ping(&state.ctx, &caller, id.as_str()).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}

problems!(ListWebhookDeliveriesProblems: 400 "Invalid limit or cursor", 401, 403 "Needs admin on the webhook's scope", 404 "No such webhook");
#[utoipa::path(operation_id = "list_webhook_deliveries", get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id", pattern = "^wh_[0-9a-z]{26}$", max_length = 29), PageParams),
    responses(
        (status = 200, description = "Deliveries, newest first, with every attempt", body = PageOf<Delivery>),
        ListWebhookDeliveriesProblems,
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<WebhookId>,
    Query(page): Query<PageParams>,
) -> Result<Json<PageOf<Delivery>>, ApiError> {
    Ok(Json(
        service::deliveries(&state.ctx, &caller, id.as_str(), &page).await?,
    ))
}

problems!(RedeliverWebhookDeliveryProblems: 401, 403 "Needs admin on the webhook's scope", 404 "No such webhook or delivery");
#[utoipa::path(operation_id = "redeliver_webhook_delivery", post,
    path = "/v1/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks",
    params(
        ("id" = String, Path, description = "Webhook id", pattern = "^wh_[0-9a-z]{26}$", max_length = 29),
        ("delivery" = String, Path, description = "Delivery id", pattern = "^[0-9a-z]{26}$", max_length = 26),
    ),
    responses(
        (status = 202, description = "A new delivery of the same event, queued", body = Delivery),
        RedeliverWebhookDeliveryProblems,
    ))]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delivery)): Path<(WebhookId, DeliveryId)>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let delivery = service::redeliver(&state.ctx, &caller, id.as_str(), delivery.as_str()).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}
