//! The web console: server-rendered pages at `/console/` (and `/` redirects there) that a
//! person reads and changes Trove through. Every page reads and writes through the JSON API
//! in-process (`api`), with the session's credential, so what a person may see and do is
//! what the guard and the permission table allow, audited alike; the console itself only
//! asks the same guard (`guard::permits`) whether to show an action at all. Browsers upload
//! straight to storage with presigned URLs, through the API bridge (`/console/api/…`).

pub mod admin;
pub mod api;
pub mod assets;
pub mod layout;
pub mod pages;
pub mod session;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};

use crate::http::AppState;
use crate::http::console::session::Session;
use crate::http::permissions;

/// The console function's `Handler` in the template.
pub const HANDLER: &str = "console";

/// Its API Gateway routes (method, path): it authenticates its own session, so none is
/// behind the authorizer.
pub const GATEWAY_ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("ANY", "/console"),
    ("ANY", "/console/{proxy+}"),
];

/// What the template's checks read of it: public at the gateway (people sign in on its own
/// page; the API routes its pages call keep their own rules inside).
pub const RULE: crate::http::permissions::Rule = crate::http::permissions::Rule {
    operation_id: HANDLER,
    need: crate::http::permissions::Need::Public,
    audit: None,
    challenges_clients: false,
};

/// What every console handler has: the app, and the API router it calls in-process.
#[derive(Clone)]
pub struct Console {
    pub app: AppState,
    pub api: Router,
}

/// The client's address, as the host saw it (set by [`with_session`]).
#[derive(Clone, Copy)]
pub struct ClientIp(pub Option<std::net::IpAddr>);

/// The signed-in person of the request, if any (set by [`with_session`]).
#[derive(Clone)]
pub struct Viewer(pub Option<Arc<Session>>);

pub(super) fn viewer_of(extensions: &axum::http::Extensions) -> Viewer {
    extensions.get::<Viewer>().cloned().unwrap_or(Viewer(None))
}

/// A page's signed-in person; without a session the request is sent to sign in.
pub struct SignedIn(pub Arc<Session>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Response> {
        pages::signed_in(&viewer_of(&parts.extensions))
            .map(SignedIn)
            .map_err(|r| *r)
    }
}

/// A change a form asks for: the signed-in person, whose CSRF token the form carries, and
/// the form's fields.
pub struct Change(pub Arc<Session>, pub HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Change {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let viewer = viewer_of(request.extensions());
        let axum::extract::Form(form) =
            axum::extract::Form::<HashMap<String, String>>::from_request(request, state)
                .await
                .map_err(IntoResponse::into_response)?;
        let session = pages::checked(&viewer, &form).map_err(|r| *r)?;
        Ok(Change(session, form))
    }
}

/// The console's routes; `api` is the JSON API router it calls.
pub fn router(app: AppState, api: Router) -> Router {
    let console = Console { app, api };
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(pages::repositories))
        .route(
            "/console/sign-in",
            get(pages::sign_in_form).post(pages::sign_in),
        )
        .route("/console/sign-out", post(pages::sign_out))
        .route("/console/repositories", post(pages::create_repository))
        .route("/console/r/{repo}", get(pages::repository))
        .route("/console/r/{repo}/retention", post(pages::put_retention))
        .route(
            "/console/r/{repo}/p/{*rest}",
            get(pages::package_or_version),
        )
        .route("/console/download/{repo}/{*rest}", get(pages::download))
        .route("/console/search", get(pages::search))
        .route("/console/keys", get(pages::keys).post(pages::create_key))
        .route("/console/keys/{id}/revoke", post(pages::revoke_key))
        .route("/console/admin", get(admin::index))
        .route("/console/admin/webhooks/{id}", get(admin::webhook))
        .route(
            "/console/admin/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(admin::redeliver),
        )
        .route("/console/admin/{page}", get(admin::section))
        .route("/console/api/{*path}", any(bridge))
        .route("/console/{*rest}", any(pages::not_found))
        // A method a page does not take: the same problem+json answer as the API's routes.
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            with_session,
        ))
        // Assets need no session: served without looking for one.
        .route(
            "/console/assets/{name}",
            get(|Path(name): Path<String>| async move { assets::serve(&name) }),
        )
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(console)
}

async fn bridge(
    State(console): State<Console>,
    axum::Extension(Viewer(viewer)): axum::Extension<Viewer>,
    Path(path): Path<String>,
    request: Request,
) -> Response {
    api::bridge(&console.api, viewer.as_deref(), request, &path).await
}

/// Finds the session of the request once (cached like any credential by the authorizer).
async fn with_session(
    State(console): State<Console>,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = crate::http::guard::source_ip(&request);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let session = match session::current(&console.app, request.headers(), ip, request_id).await {
        Ok(session) => session,
        Err(e) => {
            tracing::warn!(error = %e, "console session could not be checked");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again shortly").into_response();
        }
    };
    request
        .extensions_mut()
        .insert(Viewer(session.map(Arc::new)));
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
}

/// The console's pages run no inline script, load nothing from elsewhere but storage (the
/// browser PUTs uploads to presigned URLs), and are never framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self' https://*.amazonaws.com; frame-ancestors 'none'; form-action 'self'; \
     base-uri 'none'; object-src 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/console/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Whether the session's person may do `operation_id` on the repository (and package): the
/// guard's own decision for that route, so the console never shows what the API refuses.
pub fn may(
    session: &Session,
    operation_id: &str,
    repo: Option<&crate::domain::names::RepoName>,
    package: Option<&crate::domain::names::PackageName>,
) -> bool {
    let Some(rule) = permissions::rule(operation_id) else {
        return false;
    };
    if crate::http::guard::permits(&session.caller, rule.need, repo, package).is_err() {
        return false;
    }
    // Routes whose use case also needs a role on the package the body names: shown where
    // some grant gives that role inside the repository.
    match (rule.need, repo, package) {
        (permissions::Need::InRepository(Some(role)), Some(repo), None) => {
            session.caller.rights.may_in_repository(role, repo)
        }
        (permissions::Need::InRepository(Some(role)), Some(repo), Some(package)) => session
            .caller
            .rights
            .can(role, &crate::domain::access::Target::Package(repo, package)),
        _ => true,
    }
}
