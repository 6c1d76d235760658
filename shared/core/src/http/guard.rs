//! The access layer every route sits behind: identity (from the host's authorizer, or decided
//! here), rate limits, then the route's rule from `permissions::RULES`. Handlers only ever
//! see a `Caller` this layer has let through.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use axum::RequestExt as _;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::domain::access::Target;
use crate::domain::audit_action::AuditAction;
use crate::domain::names::{PackageName, RepoName};
use crate::http::AppState;
use crate::http::permissions::{self, Need, Rule};
use crate::http::problem::{ApiError, Problem};
use crate::services::Error;
use crate::services::access::authn::{Decision, Denial};
use crate::services::access::caller::{Caller, Identity, PrincipalKind};
use crate::services::access::rate_limit::{Decision as Limit, Tier};
use crate::services::records::audit;

/// The key of the authorizer context entry carrying the `Identity` (JSON) to route functions.
pub const IDENTITY_CONTEXT_KEY: &str = "identity";

/// The client's address, as the host saw it (API Gateway's `sourceIp`, or the socket peer).
#[derive(Debug, Clone, Copy)]
pub struct SourceIp(pub Option<IpAddr>);

pub(crate) fn source_ip(req: &Request) -> Option<IpAddr> {
    if let Some(SourceIp(ip)) = req.extensions().get::<SourceIp>() {
        return *ip;
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The credential, if any: a Bearer token, or the password of Basic credentials (any
/// username: package managers such as pip and twine send an API key that way). Another
/// scheme, or a malformed header, counts as a credential that fails (`Some("")`), not as none.
pub fn bearer(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    credential(headers, false)
}

/// Paths whose clients send a token without a scheme: cargo's registry routes.
const BARE_TOKEN_PREFIXES: &[&str] = &[crate::http::routes::cargo::PREFIX];

/// The credential of a request to `path`: [`bearer`]'s, or on the routes of a client that
/// sends its token bare (cargo), that token.
pub fn credential_for<'h>(path: &str, headers: &'h HeaderMap) -> Option<Cow<'h, str>> {
    let bare = BARE_TOKEN_PREFIXES.iter().any(|p| path.starts_with(p));
    credential(headers, bare)
}

fn credential(headers: &HeaderMap, bare: bool) -> Option<Cow<'_, str>> {
    let value = headers.get(AUTHORIZATION)?;
    let Ok(value) = value.to_str() else {
        return Some(Cow::Borrowed(""));
    };
    let value = value.trim();
    let Some((scheme, token)) = value.split_once(' ') else {
        // One word: a scheme without its credentials (`Bearer`) fails, and so does a bare
        // token unless this client sends it so.
        let scheme_only = ["bearer", "basic"]
            .iter()
            .any(|s| value.eq_ignore_ascii_case(s));
        return Some(Cow::Borrowed(if bare && !scheme_only { value } else { "" }));
    };
    Some(if scheme.eq_ignore_ascii_case("bearer") {
        Cow::Borrowed(token.trim())
    } else if scheme.eq_ignore_ascii_case("basic") {
        Cow::Owned(basic_password(token.trim()).unwrap_or_default())
    } else {
        Cow::Borrowed("")
    })
}

/// The password of `user:password` in base64.
fn basic_password(encoded: &str) -> Option<String> {
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_owned())
}

fn rules_by_route() -> &'static HashMap<(String, String), &'static Rule> {
    static TABLE: OnceLock<HashMap<(String, String), &'static Rule>> = OnceLock::new();
    TABLE.get_or_init(|| {
        crate::http::route_table()
            .into_iter()
            .filter_map(|r| {
                let rule = permissions::rule(&r.operation_id)?;
                Some(((r.method, r.path), rule))
            })
            .collect()
    })
}

fn denial(d: Denial) -> Response {
    match d {
        Denial::Unauthenticated => ApiError::from(Error::Unauthenticated).into_response(),
        Denial::Blocked(reason) => Problem::new(StatusCode::FORBIDDEN, reason).into_response(),
        Denial::TooManyFailures { retry_after_secs } => ApiError(
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed authentication attempts from your address; retry in {retry_after_secs} s"
                ),
            ),
            Some(retry_after_secs),
        )
        .into_response(),
    }
}

fn tier(identity: &Identity) -> Tier {
    if identity.rights.is_tenant_admin() {
        Tier::Admin
    } else if identity.kind == PrincipalKind::ServiceAccount {
        Tier::ServiceAccount
    } else {
        Tier::User
    }
}

/// Rate limiting never takes the service down with it: if the table cannot answer, the
/// request goes on (and the failure is logged).
async fn within_limit(
    state: &AppState,
    bucket: &str,
    limit: crate::services::access::rate_limit::Limit,
) -> Result<(), Error> {
    let ctx = &state.ctx;
    match state
        .authorizer
        .limiter
        .take(ctx.table.as_ref(), bucket, limit, ctx.clock.now())
        .await
    {
        Ok(Limit::Allowed) => Ok(()),
        Ok(Limit::Limited { retry_after_secs }) => Err(Error::RateLimited { retry_after_secs }),
        Err(e) => {
            tracing::warn!(error = %e, "rate limit not checked");
            Ok(())
        }
    }
}

fn path_names(params: &RawPathParams) -> Result<(Option<RepoName>, Option<PackageName>), Error> {
    let mut repo = None;
    let mut package = None;
    for (name, value) in params {
        match name {
            "repo" => repo = Some(RepoName::parse(value)?),
            "package" => {
                let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                package = Some(PackageName::parse(&value)?);
            }
            _ => {}
        }
    }
    Ok((repo, package))
}

/// The tenant a path names (`/pypi/{tenant}/...`: package managers' URLs carry it), if any.
fn path_tenant(params: &RawPathParams) -> Option<&str> {
    params
        .iter()
        .find_map(|(name, value)| (name == "tenant").then_some(value))
}

fn repo_not_found(repo: &RepoName) -> Error {
    Error::NotFound(format!("repository {repo} not found"))
}

/// Whether the caller passes the rule, given the path's names.
fn check(caller: &Caller, need: Need, params: &RawPathParams) -> Result<(), Error> {
    // A credential acts in its own tenant only: another tenant's repository is not there.
    if let Some(tenant) = path_tenant(params)
        && tenant != caller.tenant.as_str()
    {
        let (repo, _) = path_names(params)?;
        let what = repo.map_or_else(|| "repository".to_owned(), |r| format!("repository {r}"));
        return Err(Error::NotFound(format!("{what} not found")));
    }
    let (repo, package) = path_names(params)?;
    permits(caller, need, repo.as_ref(), package.as_ref())
}

/// Whether the caller meets `need` on the named repository and package: what the guard
/// decides for a route, and what the console asks before it shows an action.
pub fn permits(
    caller: &Caller,
    need: Need,
    repo: Option<&RepoName>,
    package: Option<&PackageName>,
) -> Result<(), Error> {
    match need {
        Need::Public | Need::Authenticated => Ok(()),
        Need::PlatformAdmin => {
            if caller.is_platform_admin() {
                Ok(())
            } else {
                Err(Error::Forbidden(
                    "only platform admins (admins of the tenant default) may do this".into(),
                ))
            }
        }
        Need::Tenant(role) => caller.require(role, &Target::Tenant, || {
            Error::Forbidden(format!("this needs the {role} role on the tenant"))
        }),
        Need::InRepository(_) => {
            let repo = repo.ok_or_else(|| Error::Internal("rule needs {repo}".into()))?;
            if caller.rights.sees_repository(repo) {
                Ok(())
            } else {
                Err(repo_not_found(repo))
            }
        }
        Need::Repository(role) => {
            let repo = repo.ok_or_else(|| Error::Internal("rule needs {repo}".into()))?;
            if !caller.rights.sees_repository(repo) {
                return Err(repo_not_found(repo));
            }
            caller.require(role, &Target::Repository(repo), || repo_not_found(repo))
        }
        Need::Package(role) => {
            let (repo, package) = repo
                .zip(package)
                .ok_or_else(|| Error::Internal("rule needs {repo} and {package}".into()))?;
            if !caller.rights.sees_repository(repo) {
                return Err(repo_not_found(repo));
            }
            caller.require(role, &Target::Package(repo, package), || {
                Error::NotFound(format!("package {package} not found in {repo}"))
            })
        }
    }
}

fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // HEAD is served by the GET route of the same path, under the same rule.
    let method = match req.method().as_str() {
        "HEAD" => "GET".to_owned(),
        m => m.to_owned(),
    };
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let Some(rule) = rules_by_route().get(&(method, path)).copied() else {
        // A route without a rule is a build mistake the tests catch; never serve it.
        tracing::error!("route without a permission rule");
        return ApiError::from(Error::Internal("route without a permission rule".into()))
            .into_response();
    };
    let ip = source_ip(&req);
    if rule.need == Need::Public {
        let bucket = format!("anon#{}", ip.map(|i| i.to_string()).unwrap_or_default());
        if let Err(e) = within_limit(&state, &bucket, state.ctx.settings.anonymous_limit).await {
            return ApiError::from(e).into_response();
        }
        return next.run(req).await;
    }
    let identity = match req.extensions().get::<Arc<Identity>>() {
        Some(identity) => identity.clone(),
        None => match state
            .authorizer
            .decide(
                &state.ctx,
                credential_for(req.uri().path(), req.headers()).as_deref(),
                ip,
            )
            .await
        {
            Ok(Decision::Allowed(identity)) => identity,
            Ok(Decision::Anonymous) => return denial(Denial::Unauthenticated),
            Ok(Decision::Denied(d)) => return denial(d),
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    let limits = match state
        .authorizer
        .policies
        .get(&state.ctx, &identity.tenant)
        .await
    {
        Ok(policy) => policy.limits.for_tier(tier(&identity)),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let bucket = format!("p#{}#{}", identity.tenant, identity.principal);
    if let Err(e) = within_limit(&state, &bucket, limits).await {
        return ApiError::from(e).into_response();
    }
    let caller = Caller::new(&identity, ip, request_id(&req));
    let params = match req.extract_parts::<RawPathParams>().await {
        Ok(p) => p,
        Err(e) => {
            return ApiError(Problem::new(StatusCode::BAD_REQUEST, e.body_text()), None)
                .into_response();
        }
    };
    if let Err(e) = check(&caller, rule.need, &params) {
        if let Some(action) = rule.audit
            && matches!(e, Error::Forbidden(_) | Error::NotFound(_))
        {
            audit::denied(&state.ctx, &caller, action, req.uri().path()).await;
        }
        return ApiError::from(e).into_response();
    }
    req.extensions_mut().insert(caller);
    let response = next.run(req).await;
    if response.status().is_success() && rule.audit.is_some_and(changes_access) {
        state.authorizer.forget_verified();
    }
    response
}

/// Actions after which a verified credential may prove less (or more) than before.
fn changes_access(action: AuditAction) -> bool {
    use AuditAction::*;
    matches!(
        action,
        GrantCreate
            | GrantDelete
            | ApiKeyCreate
            | ApiKeyRevoke
            | GroupMemberAdd
            | GroupMemberRemove
            | PolicyUpdate
            | OidcProviderCreate
            | OidcProviderDelete
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().expect("header value"));
        h
    }

    #[test]
    fn a_credential_comes_as_bearer_as_a_basic_password_or_bare_to_cargo_only() {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode("__token__:trove_k");
        assert_eq!(bearer(&with("Bearer trove_k")).as_deref(), Some("trove_k"));
        assert_eq!(
            bearer(&with(&format!("Basic {basic}"))).as_deref(),
            Some("trove_k")
        );
        // A bare token is refused, but on cargo's routes, where cargo sends it so.
        assert_eq!(bearer(&with("trove_k")).as_deref(), Some(""));
        let cargo = "/cargo/default/crates/index/config.json";
        assert_eq!(
            credential_for(cargo, &with("trove_k")).as_deref(),
            Some("trove_k")
        );
        assert_eq!(
            credential_for("/v1/repositories", &with("trove_k")).as_deref(),
            Some("")
        );
        assert_eq!(
            credential_for(cargo, &with("Bearer trove_k")).as_deref(),
            Some("trove_k")
        );
        // A scheme without credentials, or one Trove does not speak, fails.
        assert_eq!(credential_for(cargo, &with("Bearer")).as_deref(), Some(""));
        assert_eq!(bearer(&with("Digest trove_k")).as_deref(), Some(""));
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
