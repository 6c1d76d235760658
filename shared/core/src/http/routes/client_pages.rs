//! What package managers' own routes answer alike: an index page with its ETag (304 when the
//! client holds it already), a redirect, and failures in the shape the client prints.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::http::problem::CONTENT_TYPE as PROBLEM;
use crate::services::Error;

/// An index page with its ETag; 304 when the client holds it already.
pub fn page(headers: &HeaderMap, content_type: &'static str, body: Bytes, etag: &str) -> Response {
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=0, must-revalidate"),
    );
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if fresh {
        h.remove(header::CONTENT_TYPE);
    }
    response
}

pub fn redirect(status: StatusCode, to: &str) -> Response {
    let mut response = status.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// The error body a package manager prints, for the routes under its prefix.
fn client_shape(path: &str) -> Option<fn(&str) -> serde_json::Value> {
    use super::problems::{Shape, shape_of};
    match shape_of(path) {
        // npm prints `error` after the status line.
        Shape::NpmError => Some(|detail| json!({ "error": detail })),
        // cargo prints each `errors[].detail`.
        Shape::CargoErrors => Some(|detail| json!({ "errors": [{ "detail": detail }] })),
        Shape::Problem => None,
    }
}

/// Package managers print their own error shape, not a problem's `detail`: on their routes
/// every problem answer (the guard's and the router's too) is rewritten to it, with its
/// status and headers (`WWW-Authenticate`, `Retry-After`) kept.
pub async fn client_errors(req: Request, next: Next) -> Response {
    let Some(shape) = client_shape(req.uri().path()) else {
        return next.run(req).await;
    };
    let response = next.run(req).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM.as_bytes());
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|p| p["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| parts.status.to_string());
    let body = serde_json::to_vec(&shape(&detail)).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// Reads a body up to `limit` bytes (413 past it).
pub async fn read_body(body: Body, limit: u64) -> Result<Bytes, Error> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            Error::TooLarge(format!("the document is larger than {limit} bytes"))
        } else {
            Error::Invalid(format!("the body could not be read: {e}"))
        }
    })
}

/// A JSON answer as package managers read it (`application/json`, not problem+json).
pub fn ok_json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A publish too large for the client's own route names the way that takes any size.
pub fn too_large_hint(e: Error, repo: &str, what: &str) -> Error {
    match e {
        Error::TooLarge(why) => Error::TooLarge(format!(
            "{why}: publish a {what} this large through the presigned upload \
             (POST /v1/repositories/{repo}/uploads), which takes up to the repository's \
             max_file_size"
        )),
        other => other,
    }
}

/// `scheme://host` as the client reached the registry: links a package manager follows
/// (npm's tarballs, cargo's `dl` and `api`) must sit under the registry's own prefix,
/// where the client sends its token.
pub fn origin(headers: &HeaderMap) -> Result<String, Error> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let valid = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !valid {
        return Err(Error::Invalid(
            "the Host header is missing or not a host name".into(),
        ));
    }
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
    {
        Some("https") => "https",
        _ => "http",
    };
    Ok(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_the_clients_and_a_hostile_host_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(origin(&h).expect("origin"), "http://127.0.0.1:8080");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(origin(&h).expect("origin"), "https://127.0.0.1:8080");
        h.insert(header::HOST, HeaderValue::from_static("evil.example/x?"));
        for headers in [h, HeaderMap::new()] {
            match origin(&headers) {
                Err(Error::Invalid(m)) => {
                    assert_eq!(m, "the Host header is missing or not a host name")
                }
                other => panic!("{headers:?}: expected Invalid, got {other:?}"),
            }
        }
    }
}
