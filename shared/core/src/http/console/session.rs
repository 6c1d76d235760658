//! The console's session: an API key, given once on the sign-in form, is exchanged for a
//! Trove access token kept in an HttpOnly, SameSite=Strict cookie (never readable by
//! scripts); every change also carries a CSRF token derived from the session token, in the
//! form or in `X-CSRF-Token`.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::http::AppState;
use crate::services::Error;
use crate::services::access::authn::Decision;
use crate::services::access::caller::Caller;
use crate::services::access::tokens;

pub const COOKIE: &str = "trove_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";
/// How long a sign-in lasts (a working day), never past the key's own expiry. Revoking the
/// key ends it within `authn::REVOCATION_BOUND`.
pub const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(8 * 3600);

/// A signed-in person on one request.
pub struct Session {
    pub caller: Caller,
    /// The access token the cookie holds (the API is called with it).
    pub token: String,
    pub csrf: String,
}

impl Session {
    /// Whether `given` is this session's CSRF token (in constant time).
    pub fn csrf_matches(&self, given: Option<&str>) -> bool {
        use subtle_eq::eq;
        given.is_some_and(|g| eq(g.as_bytes(), self.csrf.as_bytes()))
    }
}

mod subtle_eq {
    /// Equal length and bytes, without stopping at the first difference.
    pub fn eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// The session token in the request's cookies, if any.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The signed-in session, or `None` (no cookie, an expired or revoked credential).
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    request_id: String,
) -> Result<Option<Session>, Error> {
    let Some(token) = token_of(headers) else {
        return Ok(None);
    };
    let identity = match state
        .authorizer
        .decide(&state.ctx, Some(&token), ip)
        .await?
    {
        Decision::Allowed(identity) => identity,
        Decision::Anonymous | Decision::Denied(_) => return Ok(None),
    };
    let csrf = csrf_for(state, &token).await?;
    Ok(Some(Session {
        caller: Caller::new(&identity, ip, request_id),
        token,
        csrf,
    }))
}

/// The CSRF token of a session: an HMAC of its token under a key derived from the
/// deployment's root secret, so it needs no storage and dies with the session.
async fn csrf_for(state: &AppState, token: &str) -> Result<String, Error> {
    let root = tokens::root_secret(&state.ctx).await?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&root)
        .map_err(|e| Error::Internal(format!("csrf key: {e}")))?;
    mac.update(b"trove console csrf\n");
    mac.update(token.as_bytes());
    Ok(hex::encode(&mac.finalize().into_bytes()[..20]))
}

/// Signs in with an API key: the access token to keep in the cookie and its lifetime, or
/// `None` when the key is not accepted (the same answer for every reason).
pub async fn sign_in(
    state: &AppState,
    api_key: &str,
    ip: Option<IpAddr>,
) -> Result<Option<(String, u64)>, Error> {
    let identity = match state
        .authorizer
        .decide(&state.ctx, Some(api_key), ip)
        .await?
    {
        Decision::Allowed(identity) => identity,
        Decision::Anonymous | Decision::Denied(_) => return Ok(None),
    };
    // As `POST /v1/auth/token`: only a key makes a token, never one that outlives it.
    let issued = match tokens::issue_with_key(
        &state.ctx,
        identity.tenant.as_str(),
        &identity.principal,
        &identity.credential,
        identity.expires_at,
        SESSION_TTL,
    )
    .await
    {
        Ok(issued) => issued,
        Err(Error::Invalid(_) | Error::Unauthenticated) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some((issued.access_token, issued.expires_in)))
}

/// The `Set-Cookie` that keeps `token` for `max_age` seconds (0 and an empty token: sign
/// out). `Secure` whenever the person reached the console over HTTPS.
pub fn set_cookie(token: &str, max_age: u64, secure: bool) -> Option<HeaderValue> {
    let cookie = Cookie::build((COOKIE, token.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age).unwrap_or(0),
        ))
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// Whether a form post comes from a page of this origin: browsers say where a request
/// comes from (`Sec-Fetch-Site`, or at least `Origin`); a client that sends neither is no
/// browser another site could drive.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// Whether the person reached the console over HTTPS (API Gateway and proxies say so).
pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().map(str::trim) == Some("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_http_only_strict_and_read_back() {
        let value = set_cookie("tok123", 3600, true).expect("header");
        let text = value.to_str().expect("ascii");
        for part in [
            "trove_session=tok123",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; trove_session=tok123; c=d"),
        );
        assert_eq!(token_of(&headers).as_deref(), Some("tok123"));
        headers.insert(header::COOKIE, HeaderValue::from_static("trove_session="));
        assert_eq!(
            token_of(&headers),
            None,
            "a signed-out cookie is no session"
        );
        let cleared = set_cookie("", 0, false).expect("header");
        assert!(cleared.to_str().expect("ascii").contains("Max-Age=0"));
        assert!(!cleared.to_str().expect("ascii").contains("Secure"));
    }

    #[test]
    fn only_this_origin_may_post_the_sign_in_form() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            same_origin(&h)
        };
        assert!(with(&[("sec-fetch-site", "same-origin")]));
        assert!(
            with(&[("sec-fetch-site", "none")]),
            "typed in or a bookmark"
        );
        assert!(!with(&[("sec-fetch-site", "cross-site")]));
        assert!(
            !with(&[("sec-fetch-site", "same-site")]),
            "a sibling subdomain is another site"
        );
        assert!(with(&[
            ("origin", "http://trove.test:8080"),
            ("host", "trove.test:8080")
        ]));
        assert!(!with(&[
            ("origin", "https://evil.example"),
            ("host", "trove.test")
        ]));
        assert!(!with(&[("origin", "null"), ("host", "trove.test")]));
        assert!(with(&[]), "no browser: curl, a test");
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        assert!(subtle_eq::eq(b"abc", b"abc"));
        assert!(!subtle_eq::eq(b"abc", b"abd"));
        assert!(!subtle_eq::eq(b"abc", b"ab"));
    }
}
