//! The console speaks the JSON API in-process, as any client would: every read and change
//! goes through the same router, so the guard, the permission table, rate limits and the
//! audit trail decide and record exactly as for any other client. The browser's own calls
//! (uploads) come through [`bridge`], which turns the session cookie into the bearer
//! credential once the CSRF token matches.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::http::console::session::{CSRF_HEADER, Session};
use crate::http::guard::SourceIp;
use crate::http::problem::Problem;

/// What the API answered when it did not succeed: its status and the problem's detail.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    pub detail: String,
}

/// Calls the API as the session's person; the JSON answer, or the refusal.
pub async fn call(
    api: &Router,
    session: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, Refusal> {
    let response = send(api, session, method, path, body).await?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| Refusal {
            status: StatusCode::BAD_GATEWAY,
            detail: e.to_string(),
        })?
        .to_bytes();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        Err(Refusal {
            status,
            detail: value["detail"]
                .as_str()
                .map_or_else(|| status.to_string(), str::to_owned),
        })
    }
}

/// The API's response itself (a redirect to a download, say).
pub async fn send(
    api: &Router,
    session: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Response, Refusal> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", session.token))
        .header("x-request-id", session.caller.request_id.as_str())
        .extension(SourceIp(session.caller.source_ip));
    let body = match body {
        Some(v) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let request = request.body(body).map_err(|e| Refusal {
        status: StatusCode::BAD_REQUEST,
        detail: e.to_string(),
    })?;
    api.clone().oneshot(request).await.map_err(|e| Refusal {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        detail: e.to_string(),
    })
}

/// `ANY /console/api/{*path}`: the browser's calls to the API with the session's
/// credential, refused without the session's CSRF token.
pub async fn bridge(
    api: &Router,
    session: Option<&Session>,
    request: Request<Body>,
    path: &str,
) -> Response {
    let Some(session) = session else {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "sign in again: the session has ended",
        )
        .into_response();
    };
    let given = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok());
    if !session.csrf_matches(given) {
        return Problem::new(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token")
            .into_response();
    }
    let (mut parts, body) = request.into_parts();
    let target = match parts.uri.query() {
        Some(q) => format!("/{path}?{q}"),
        None => format!("/{path}"),
    };
    let Ok(uri) = target.parse() else {
        return Problem::new(StatusCode::BAD_REQUEST, "not a path").into_response();
    };
    parts.uri = uri;
    parts.headers.remove(header::COOKIE);
    // A request of its own: not the console route's match, and never an identity a gateway
    // put on the request (only the session's credential speaks).
    parts.extensions = axum::http::Extensions::new();
    parts.headers.remove(CSRF_HEADER);
    let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {}", session.token)) else {
        return Problem::new(StatusCode::UNAUTHORIZED, "sign in again").into_response();
    };
    parts.headers.insert(header::AUTHORIZATION, bearer);
    parts.extensions.insert(SourceIp(session.caller.source_ip));
    match api.clone().oneshot(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    }
}
