//! The authorizer's decision time, in-process: `cargo bench -p trove-core --bench authz`.
//!
//! Over the embedded store (SQLite in a temp dir), for a service account holding one grant
//! through a group: an API key verified from scratch (key lookup, constant-time hash check,
//! grants resolved through the group), a Trove access token verified from scratch (HS256,
//! key record, grants), and a decision answered from the 10 s cache. Prints p50 / p99 / max.

use std::sync::Arc;
use std::time::{Duration, Instant};

use trove_core::config::Settings;
use trove_core::ports::SystemClock;
use trove_core::services::Context;
use trove_core::services::access::authn::{Authorizer, Decision};
use trove_core::services::access::caller::Identity;
use trove_core::services::access::tokens;
use trove_embedded::Embedded;

const ROUNDS: usize = 3000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = Embedded::open(
            dir.path(),
            "http://bench",
            Settings::default(),
            Arc::new(SystemClock),
            // The decision never reaches the pipeline.
            None,
        )
        .await
        .expect("host");
        let admin = host
            .bootstrap(|_| Ok(()))
            .await
            .expect("bootstrap")
            .expect("key");
        let ctx = host.ctx.clone();
        let key = service_account_key(&host, &admin).await;
        let authorizer = Authorizer::new(&ctx.settings);
        let identity = allowed(&authorizer, &ctx, &key).await;
        let token = tokens::issue(
            &ctx,
            identity.tenant.as_str(),
            &identity.principal,
            key_id(&identity),
            tokens::DEFAULT_TTL,
        )
        .await
        .expect("token")
        .access_token;

        report(
            "API key, uncached",
            &measure(&authorizer, &ctx, &key, true).await,
        );
        report(
            "access token (JWT), uncached",
            &measure(&authorizer, &ctx, &token, true).await,
        );
        report(
            "cached (either)",
            &measure(&authorizer, &ctx, &key, false).await,
        );
    });
}

fn key_id(identity: &Identity) -> &str {
    match &identity.credential {
        trove_core::services::access::caller::Credential::ApiKey { id } => id,
        other => panic!("not an API key: {other:?}"),
    }
}

async fn allowed(authorizer: &Authorizer, ctx: &Context, bearer: &str) -> Arc<Identity> {
    match authorizer
        .decide(ctx, Some(bearer), None)
        .await
        .expect("decides")
    {
        Decision::Allowed(identity) => identity,
        other => panic!("not allowed: {other:?}"),
    }
}

async fn measure(
    authorizer: &Authorizer,
    ctx: &Context,
    bearer: &str,
    cold: bool,
) -> Vec<Duration> {
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        if cold {
            authorizer.forget_verified();
        }
        let start = Instant::now();
        allowed(authorizer, ctx, bearer).await;
        times.push(start.elapsed());
    }
    times.sort();
    times
}

fn report(what: &str, sorted: &[Duration]) {
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    println!(
        "{what:32} p50 {:>7.1} µs   p99 {:>7.1} µs   max {:>7.1} µs   ({} decisions)",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        sorted[sorted.len() - 1].as_secs_f64() * 1e6,
        sorted.len()
    );
}

/// A service account in a group that holds writer on a repository, and its API key, made
/// through the HTTP API as a client would.
async fn service_account_key(host: &Embedded, admin: &str) -> String {
    use tower::ServiceExt as _;
    let router = host.router();
    let call = |method: &str, uri: String, body: serde_json::Value| {
        let router = router.clone();
        let req = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {admin}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .expect("request");
        async move {
            let res = router.oneshot(req).await.expect("infallible");
            let bytes = http_body_util::BodyExt::collect(res.into_body())
                .await
                .expect("body")
                .to_bytes();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default()
        }
    };
    let sa = call(
        "POST",
        "/v1/service-accounts".into(),
        serde_json::json!({"name": "bench"}),
    )
    .await;
    let group = call(
        "POST",
        "/v1/groups".into(),
        serde_json::json!({"name": "builders"}),
    )
    .await;
    let (sa, group) = (
        sa["id"].as_str().expect("sa"),
        group["id"].as_str().expect("group"),
    );
    call(
        "PUT",
        format!("/v1/groups/{group}/members/{sa}"),
        serde_json::Value::Null,
    )
    .await;
    call(
        "POST",
        "/v1/grants".into(),
        serde_json::json!({"principal": group, "role": "writer", "scope": {"repository": "libs"}}),
    )
    .await;
    let key = call(
        "POST",
        "/v1/api-keys".into(),
        serde_json::json!({"owner": sa, "name": "bench"}),
    )
    .await;
    key["key"].as_str().expect("key").to_owned()
}
