//! The HTTP API: one router, hosted by `lambda_http` in AWS and by `axum::serve` in
//! `trove serve`. No handler knows its host.

pub mod console;
pub mod extract;
pub mod families;
pub mod guard;
pub mod limits;
pub mod metrics;
pub mod param_patterns;
pub mod permissions;
pub mod problem;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::problem::Problem;
use crate::services::Context;
use crate::services::access::authn::Authorizer;

#[derive(Clone)]
pub struct AppState {
    pub ctx: Arc<Context>,
    pub authorizer: Arc<Authorizer>,
}

impl AppState {
    pub fn new(ctx: Arc<Context>) -> Self {
        let authorizer = Arc::new(Authorizer::new(&ctx.settings));
        Self { ctx, authorizer }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Trove", description = "Multi-tenant artifact repository"),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem)),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every route with its OpenAPI description; the router and the document come from here.
fn api() -> OpenApiRouter<AppState> {
    use routes::{
        access, cargo, health, npm, packages, pypi, reports, repositories, search, uploads,
        webhooks,
    };
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::openapi))
        .routes(routes!(repositories::create, repositories::list))
        .routes(routes!(repositories::get, repositories::delete))
        .routes(routes!(repositories::put_retention))
        .routes(routes!(repositories::put_scan_policy))
        .routes(routes!(uploads::create))
        .routes(routes!(uploads::get))
        .routes(routes!(uploads::presign_parts))
        .routes(routes!(uploads::complete))
        .routes(routes!(uploads::cancel))
        .routes(routes!(packages::list))
        .routes(routes!(packages::get))
        .routes(routes!(packages::list_versions))
        .routes(routes!(packages::get_version, packages::delete_version))
        .routes(routes!(packages::pin_version, packages::unpin_version))
        .routes(routes!(packages::put_version_labels))
        .routes(routes!(search::search))
        .routes(routes!(packages::yank_version, packages::unyank_version))
        .routes(routes!(packages::download))
        .routes(routes!(pypi::simple_index))
        .routes(routes!(pypi::simple_project))
        .routes(routes!(pypi::download))
        .routes(routes!(pypi::upload))
        .routes(routes!(npm::packument, npm::publish))
        .routes(routes!(npm::tarball))
        .routes(routes!(npm::unpublish_versions, npm::unpublish_package))
        .routes(routes!(npm::delete_tarball))
        .routes(routes!(npm::list_dist_tags))
        .routes(routes!(npm::set_dist_tag, npm::remove_dist_tag))
        .routes(routes!(npm::ping))
        .routes(routes!(npm::whoami))
        .routes(routes!(npm::audit))
        .routes(routes!(cargo::config))
        .routes(routes!(cargo::index_short))
        .routes(routes!(cargo::index_long))
        .routes(routes!(cargo::download))
        .routes(routes!(cargo::search))
        .routes(routes!(
            cargo::list_owners,
            cargo::add_owners,
            cargo::remove_owners
        ))
        .routes(routes!(cargo::publish))
        .routes(routes!(cargo::yank_version))
        .routes(routes!(cargo::unyank_version))
        .routes(routes!(access::me))
        .routes(routes!(access::issue_token))
        .routes(routes!(access::create_tenant, access::list_tenants))
        .routes(routes!(access::create_user, access::list_users))
        .routes(routes!(
            access::create_service_account,
            access::list_service_accounts
        ))
        .routes(routes!(access::create_group, access::list_groups))
        .routes(routes!(access::get_group))
        .routes(routes!(access::get_principal))
        .routes(routes!(
            access::add_group_member,
            access::remove_group_member
        ))
        .routes(routes!(access::create_grant, access::list_grants))
        .routes(routes!(access::get_grant, access::delete_grant))
        .routes(routes!(access::create_api_key, access::list_api_keys))
        .routes(routes!(access::revoke_api_key))
        .routes(routes!(access::list_audit))
        .routes(routes!(access::get_policy, access::put_policy))
        .routes(routes!(
            access::create_oidc_provider,
            access::list_oidc_providers
        ))
        .routes(routes!(access::delete_oidc_provider))
        .routes(routes!(reports::list))
        .routes(routes!(reports::get))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::ping))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::redeliver))
}

/// The OpenAPI 3.1 document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api().split_for_parts().1;
    routes::problems::add_router_answers(&mut doc);
    param_patterns::add(&mut doc);
    doc
}

/// The document, built once per process for `GET /openapi.json`.
pub(crate) fn openapi_document() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(openapi)
}

/// One route of the API, as a deployment names it: each is its own Lambda function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: String,
    /// In OpenAPI / API Gateway form: `/v1/repositories/{repo}`.
    pub path: String,
    /// The handler's name, used as the function's `Handler` setting.
    pub operation_id: String,
}

/// Every route of the API, from the same table the router is built from.
pub fn route_table() -> Vec<RouteSpec> {
    routes_of(&openapi())
}

fn routes_of(doc: &utoipa::openapi::OpenApi) -> Vec<RouteSpec> {
    let mut routes = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
            ("HEAD", &item.head),
        ];
        for (method, op) in ops {
            if let Some(op) = op {
                routes.push(RouteSpec {
                    method: method.to_owned(),
                    path: path.clone(),
                    operation_id: op.operation_id.clone().unwrap_or_default(),
                });
            }
        }
    }
    routes
}

/// The API restricted to one route (by operation id), or to the routes of a family
/// (`families`), as one function serves them: anything else answers 404 even if API
/// Gateway were misconfigured to send it.
pub fn router_for_route(state: AppState, operation_id: &str) -> Option<Router> {
    if operation_id == console::HANDLER {
        return Some(console_router(state));
    }
    // One build of the router and its document serves both: building them is most of a
    // function's init.
    let (api, doc) = api().split_for_parts();
    let table = routes_of(&doc);
    let served: Vec<RouteSpec> = match families::family(operation_id) {
        _ if operation_id == families::READ_DOOR_HANDLER => table
            .into_iter()
            .filter(families::read_door_covers)
            .collect(),
        Some(family) => family.routes_in(table),
        None => table
            .into_iter()
            .filter(|r| r.operation_id == operation_id)
            .collect(),
    };
    if served.is_empty() {
        return None;
    }
    let served = Arc::new(served);
    let only = move |req: axum::extract::Request, next: axum::middleware::Next| {
        let served = Arc::clone(&served);
        async move {
            let matched = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(|p| p.as_str().to_owned());
            let method = req.method().as_str();
            if served
                .iter()
                .any(|r| r.method == method && matched.as_deref() == Some(r.path.as_str()))
            {
                next.run(req).await
            } else {
                not_found().await.into_response()
            }
        }
    };
    Some(hosted(
        guarded(api, state).route_layer(axum::middleware::from_fn(only)),
        None,
    ))
}

/// The whole API and the console, ready for any host.
pub fn router(state: AppState) -> Router {
    let api = routes(state.clone());
    hosted(api.clone(), Some(console::router(state, api)))
}

/// The console's function: its pages, and the API its pages and the browser's bridge call
/// in-process (so the guard decides there as for any client).
pub fn console_router(state: AppState) -> Router {
    router(state)
}

/// Each operation of `doc` with its path, for the passes that complete the document.
fn operations_mut(
    doc: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (&str, &mut utoipa::openapi::path::Operation)> {
    doc.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ]
        .into_iter()
        .flatten()
        .map(move |op| (path.as_str(), op))
    })
}

/// Every route behind the guard, with the per-route layers.
fn routes(state: AppState) -> Router {
    guarded(api().split_for_parts().0, state)
}

fn guarded(router: axum::Router<AppState>, state: AppState) -> Router {
    let max_body = state.ctx.settings.max_request_body;
    router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::from_fn(
            routes::client_pages::client_errors,
        ))
        // Outermost of the per-route layers: it sees the answer the client gets, panics
        // and refused bodies included, and the route that matched.
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
}

/// The routes as a host serves them: request ids, and paths normalised before routing
/// (a layer of the router itself would run after the route was chosen).
fn hosted(routes: Router, console: Option<Router>) -> Router {
    let normalised = tower::ServiceBuilder::new()
        .map_request(routes::npm::scoped_paths)
        .service(routes);
    with_request_ids(console.unwrap_or_default().fallback_service(normalised))
}

/// Every request gets an `x-request-id` (the client's, or a fresh ULID), carried by the
/// span every log line of the request is written in, and echoed on the response.
fn with_request_ids(router: Router) -> Router {
    use axum::http::{HeaderName, HeaderValue, Request};
    use tower_http::request_id::{
        MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
    };
    use tower_http::trace::TraceLayer;

    #[derive(Clone, Copy)]
    struct Ulids;
    impl MakeRequestId for Ulids {
        fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
            HeaderValue::from_str(&ulid::Ulid::new().to_string())
                .ok()
                .map(RequestId::new)
        }
    }

    let header = HeaderName::from_static("x-request-id");
    router
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<axum::body::Body>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(header, Ulids))
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no such route")
}

pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "an internal error occurred; it has been logged",
    )
    .into_response()
}
