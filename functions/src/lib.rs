//! What every Lambda binary shares: logging and the AWS context, built once per cold start,
//! and the pipeline steps' host (`pipeline-step` here, `scan-step` in functions-scan/); the
//! smoke test a deployment's PreTraffic hook runs on each new version ([`smoke`]).

pub mod smoke;

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use trove_core::pipeline::{Scanner, StepError, StepInput, run_step, step_available};
use trove_core::services::Context;

/// JSON logs when Lambda asks for them (`AWS_LAMBDA_LOG_FORMAT=JSON`), at
/// `AWS_LAMBDA_LOG_LEVEL` (default info).
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(level.to_lowercase())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .without_time()
        .with_target(false);
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
    // Metrics leave a function as CloudWatch EMF lines on stdout, one batch per invocation.
    if let Err(e) = trove_aws::emf::install() {
        tracing::warn!(error = %e, "metrics recorder not installed");
    }
}

/// Prints what this invocation recorded as EMF lines; call once at the end of each.
pub fn flush_metrics() {
    trove_aws::emf::flush();
}

/// Flushes the metrics of each request once its response is ready (an API function serves
/// one request at a time).
pub fn with_metrics_flush(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        |req: axum::extract::Request, next: axum::middleware::Next| async move {
            let response = next.run(req).await;
            flush_metrics();
            response
        },
    ))
}

/// The authorizer's decision as API Gateway hands it to a route function: the identity in
/// the authorizer's context (`identity`, JSON) and the client's address. The route's own
/// guard then applies rate limits and the route's permission. Without an authorizer context
/// (a route invoked directly) the guard decides identity itself, so nothing is skipped.
pub fn with_gateway_identity(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::from_fn(gateway_identity))
}

async fn gateway_identity(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use lambda_http::RequestExt as _;
    use lambda_http::request::RequestContext;
    use trove_core::http::guard::SourceIp;
    use trove_core::services::access::caller::Identity;

    let (ip, identity) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            let ip = ctx
                .http
                .source_ip
                .as_deref()
                .and_then(|s| s.parse::<std::net::IpAddr>().ok());
            let identity = ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.fields.get(trove_core::http::guard::IDENTITY_CONTEXT_KEY))
                .and_then(|v| v.as_str())
                .and_then(|s| serde_json::from_str::<Identity>(s).ok());
            (ip, identity)
        }
        _ => (None, None),
    };
    req.extensions_mut().insert(SourceIp(ip));
    if let Some(identity) = identity {
        req.extensions_mut().insert(Arc::new(identity));
    }
    if let Some(path) = encoded_path(&req) {
        let with_query = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = with_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    next.run(req).await
}

/// What a path segment's value may hold unencoded: `/` and `%` are encoded with the rest.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The request's path as the client encoded it, rebuilt from the route API Gateway matched
/// and its parameters: the gateway hands Lambda a decoded path, where an encoded `/` in a
/// parameter (`@acme%2Fwidget`) would split it into two segments. A greedy `{proxy+}` is
/// left as it came (its routes take the segments apart themselves); `None` when the path
/// needs no rebuilding.
fn encoded_path(req: &axum::extract::Request) -> Option<String> {
    use lambda_http::RequestExt as _;
    use lambda_http::request::RequestContext;
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return None;
    };
    let route = ctx.route_key.as_deref()?.split_once(' ')?.1;
    if !route.contains('{') || route.contains("+}") {
        return None;
    }
    let params = req.path_parameters_ref()?;
    let mut out = Vec::new();
    for segment in route.split('/') {
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let value = params.first(name)?;
                out.push(percent_encoding::utf8_percent_encode(value, SEGMENT).to_string());
            }
            None => out.push(segment.to_owned()),
        }
    }
    Some(out.join("/"))
}

/// The AWS `Context`, without the scanner: only functions-scan's `scan-step` carries one.
pub async fn context() -> Result<Arc<Context>, lambda_runtime::Error> {
    context_with(None).await
}

/// The AWS `Context` with this Scan step engine.
pub async fn context_with(
    scanner: Option<Arc<dyn Scanner>>,
) -> Result<Arc<Context>, lambda_runtime::Error> {
    trove_aws::context_from_env(scanner)
        .await
        .map_err(lambda_runtime::Error::from)
}

/// A step's error as Lambda reports it: `errorType` is the stable name the state machine's
/// Retry and Catch match on.
#[derive(Debug)]
struct StepFailure(StepError);

impl From<StepFailure> for Diagnostic {
    fn from(f: StepFailure) -> Self {
        Diagnostic {
            error_type: f.0.name().to_owned(),
            error_message: f.0.to_string(),
        }
    }
}

/// One pipeline step per function; the function's `Handler` setting (`_HANDLER`) names it
/// (`Scan`, `Validate`, `Persist`, `Quarantine`). A step this binary cannot run (Scan without
/// a `scanner`) fails the cold start, before any upload reaches it.
pub async fn run_pipeline_step(
    scanner: Option<Arc<dyn Scanner>>,
) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let step = std::env::var("_HANDLER").map_err(|_| "_HANDLER names the pipeline step")?;
    let ctx = context_with(scanner).await?;
    step_available(&ctx, &step).map_err(|e| format!("_HANDLER {step:?}: {e}"))?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<StepInput>| {
        let (ctx, step) = (ctx.clone(), step.clone());
        async move {
            let outcome = run_step(&ctx, &step, &event.payload).await;
            flush_metrics();
            outcome.map_err(StepFailure)?;
            Ok::<_, StepFailure>(event.payload)
        }
    }))
    .await
}
