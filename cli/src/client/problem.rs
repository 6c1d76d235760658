//! What went wrong talking to the server, worded so a person knows what to do next. The
//! server answers errors as problem+json (`{"type","title","status","detail"}`).

use std::error::Error as _;
use std::fmt;

use serde::Deserialize;

use crate::client::retry::{Transient, is_transient_status};

#[derive(Debug)]
pub enum ApiError {
    /// No connection could be made.
    Unreachable { url: String, cause: String },
    /// The connection broke or timed out mid-request.
    Network { url: String, cause: String },
    /// The server answered an error.
    Problem(Problem),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    pub detail: String,
    /// The server the credential was for, for advice on 401.
    pub server: String,
}

#[derive(Deserialize)]
struct ProblemBody {
    title: Option<String>,
    detail: Option<String>,
}

impl Problem {
    /// Reads an error answer: problem+json's `detail` (or `title`), else the start of the
    /// body, else the status line.
    pub fn from_body(status: u16, body: &[u8], server: &str) -> Self {
        let parsed: Option<ProblemBody> = serde_json::from_slice(body).ok();
        let detail = parsed
            .and_then(|p| p.detail.or(p.title))
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() {
                    format!("HTTP {status}")
                } else {
                    text.chars().take(300).collect()
                }
            });
        Self {
            status,
            detail,
            server: server.to_owned(),
        }
    }

    pub fn detail_mentions(&self, word: &str) -> bool {
        self.detail.to_lowercase().contains(word)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Problem {
            status,
            detail,
            server,
        } = self;
        match status {
            401 => write!(
                f,
                "{server} refused the credential (401: {detail}); run `trove login --url {server}` with a valid API key, or check TROVE_TOKEN"
            ),
            403 => write!(f, "not allowed (403): {detail}"),
            // The server answers 404 for what the caller may not see, too.
            404 => write!(
                f,
                "{detail} (404: it does not exist, or your key may not see it)"
            ),
            _ => write!(f, "{detail} ({status})"),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unreachable { url, cause } => {
                write!(f, "cannot reach the Trove server at {url}: {cause}")
            }
            ApiError::Network { url, cause } => write!(f, "request to {url} failed: {cause}"),
            ApiError::Problem(problem) => problem.fmt(f),
        }
    }
}

impl std::error::Error for ApiError {}

impl Transient for ApiError {
    fn is_transient(&self) -> bool {
        match self {
            ApiError::Unreachable { .. } | ApiError::Network { .. } => true,
            ApiError::Problem(p) => is_transient_status(p.status),
        }
    }
}

impl ApiError {
    /// A transport failure of a request to `url`, shown without the query (presigned URLs
    /// carry their signature there).
    pub fn transport(url: &reqwest::Url, error: &reqwest::Error) -> Self {
        let mut shown = url.clone();
        shown.set_query(None);
        let url = shown.to_string();
        let cause = causes(error);
        if error.is_connect() {
            ApiError::Unreachable { url, cause }
        } else {
            ApiError::Network { url, cause }
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Problem(p) => Some(p.status),
            _ => None,
        }
    }

    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ApiError::Problem(p) => Some(p),
            _ => None,
        }
    }
}

/// The innermost causes of a transport error ("connection refused"), which reqwest's own
/// message leaves out; without the URL, which reqwest repeats with its query.
fn causes(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        if error.is_timeout() {
            return "timed out".into();
        }
        return "connection failed".into();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = "http://127.0.0.1:8080";

    #[test]
    fn a_problem_shows_its_detail() {
        let body = br#"{"type":"about:blank","title":"Conflict","status":409,"detail":"widget 1.0.0 is already published"}"#;
        let p = Problem::from_body(409, body, SERVER);
        assert_eq!(p.detail, "widget 1.0.0 is already published");
        assert_eq!(p.to_string(), "widget 1.0.0 is already published (409)");
    }

    #[test]
    fn a_refused_credential_says_how_to_log_in_again() {
        let body = br#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"invalid credentials"}"#;
        let text = Problem::from_body(401, body, SERVER).to_string();
        assert!(
            text.contains("trove login --url http://127.0.0.1:8080"),
            "{text}"
        );
        assert!(text.contains("invalid credentials"), "{text}");
    }

    #[test]
    fn not_found_may_mean_not_visible() {
        let body = br#"{"title":"Not Found","status":404,"detail":"repository libs not found"}"#;
        let text = Problem::from_body(404, body, SERVER).to_string();
        assert!(text.starts_with("repository libs not found"), "{text}");
        assert!(text.contains("may not see it"), "{text}");
    }

    #[test]
    fn a_body_that_is_no_problem_is_shown_shortened() {
        let p = Problem::from_body(502, b"Bad Gateway", SERVER);
        assert_eq!(p.detail, "Bad Gateway");
        let p = Problem::from_body(500, b"", SERVER);
        assert_eq!(p.detail, "HTTP 500");
        let long = "x".repeat(1000);
        let p = Problem::from_body(500, long.as_bytes(), SERVER);
        assert_eq!(p.detail.len(), 300);
        let p = Problem::from_body(400, br#"{"title":"Bad Request"}"#, SERVER);
        assert_eq!(p.detail, "Bad Request");
    }

    #[test]
    fn server_errors_are_retried_client_errors_are_not() {
        let e = ApiError::Problem(Problem::from_body(503, b"", SERVER));
        assert!(e.is_transient());
        let e = ApiError::Problem(Problem::from_body(409, b"", SERVER));
        assert!(!e.is_transient());
        let e = ApiError::Unreachable {
            url: SERVER.into(),
            cause: "connection refused".into(),
        };
        assert!(e.is_transient());
        assert!(e.to_string().contains(SERVER));
    }
}
