//! The one error body: `application/problem+json` (RFC 9457). A 5xx says nothing internal;
//! its detail goes to the log with the request id.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::echo::sanitize;
use crate::services::Error;

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: String,
    #[schema(example = "Not Found")]
    pub title: String,
    #[schema(example = 404)]
    pub status: u16,
    #[schema(example = "repository libs not found")]
    pub detail: String,
}

/// The longest `detail`, in characters. Details quote client input with `domain::echo`;
/// this bound and escaping hold for any detail, however it was built.
pub const MAX_DETAIL_CHARS: usize = 512;

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: sanitize(&detail.into(), MAX_DETAIL_CHARS),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if status == StatusCode::UNAUTHORIZED {
            // Basic too: pip and twine send credentials (keyring, netrc) only when asked so.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer, Basic realm=\"trove\""),
            );
        }
        response
    }
}

/// What a handler returns on failure.
#[derive(Debug)]
pub struct ApiError(pub Problem, pub Option<u64>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        if let Some(secs) = self.1 {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError(p, None)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unavailable(_) | Error::CoolingDown { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) | Error::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let detail = match &e {
            Error::Internal(m) | Error::Unavailable(m) | Error::Misconfigured(m) => {
                tracing::error!(error = %m, status = status.as_u16(), "request failed");
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    "the service is temporarily unavailable; retry shortly".to_owned()
                } else {
                    "an internal error occurred; it has been logged".to_owned()
                }
            }
            Error::CoolingDown { retry_after_secs } => {
                tracing::warn!(
                    retry_after_secs,
                    "request refused: the table circuit is open"
                );
                "the service is temporarily unavailable; retry shortly".to_owned()
            }
            other => other.to_string(),
        };
        let retry_after = match &e {
            Error::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Error::Unavailable(_) => Some(1),
            Error::CoolingDown { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        ApiError(Problem::new(status, detail), retry_after)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let detail = match &r {
            JsonRejection::MissingJsonContentType(_) => {
                "send the body as JSON with content-type: application/json".to_owned()
            }
            JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                "request body too large".to_owned()
            }
            _ => r.body_text(),
        };
        ApiError(Problem::new(r.status(), detail), None)
    }
}

/// A path id of the wrong shape (a `domain::ids` type refusing it) names nothing that could
/// exist: 404 with the id's own message. Anything else about the path is a 400.
impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        use axum::extract::path::ErrorKind;
        if let PathRejection::FailedToDeserializePathParams(e) = &r
            && let ErrorKind::Message(m) = e.kind()
        {
            return ApiError(Problem::new(StatusCode::NOT_FOUND, m.clone()), None);
        }
        ApiError(Problem::new(StatusCode::BAD_REQUEST, r.body_text()), None)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError(Problem::new(StatusCode::BAD_REQUEST, r.body_text()), None)
    }
}
