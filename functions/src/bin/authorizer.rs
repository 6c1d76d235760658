//! The HTTP API's Lambda authorizer (payload format 2.0, simple responses). It makes the one
//! decision `trove serve` makes in its guard (`Authorizer::decide`) and hands the identity to
//! the route functions in its context, so they neither read keys nor verify tokens again.
//!
//! API Gateway caches an answer for the identity sources (the `Authorization` header and the
//! source address, see template.yaml) as long as `Authorizer` caches a verified credential
//! in-process, so a revoked key works at most that long either way.

use std::net::IpAddr;
use std::sync::Arc;

use aws_lambda_events::event::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_runtime::{LambdaEvent, service_fn};
use trove_core::http::guard::{IDENTITY_CONTEXT_KEY, bearer};
use trove_core::services::access::authn::{Authorizer, Decision, Denial};
use trove_core::services::{Context, Error};

type Answer = ApiGatewayV2CustomAuthorizerSimpleResponse<serde_json::Value>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::init_tracing();
    let ctx = trove_functions::context().await?;
    // One per process: its caches (verified credentials, rate-limit leases, tenant policies,
    // JWKS) are what keep a warm authorizer off the table.
    let authorizer = Arc::new(Authorizer::new(&ctx.settings));
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| {
            let (ctx, authorizer) = (ctx.clone(), authorizer.clone());
            async move {
                let answer = authorize(&ctx, &authorizer, &event.payload).await;
                trove_functions::flush_metrics();
                answer
            }
        },
    ))
    .await
}

async fn authorize(
    ctx: &Context,
    authorizer: &Authorizer,
    request: &ApiGatewayV2CustomAuthorizerV2Request,
) -> Result<Answer, lambda_runtime::Error> {
    let source_ip = request
        .request_context
        .http
        .source_ip
        .as_deref()
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    let decision = match authorizer
        .decide(ctx, bearer(&request.headers).as_deref(), source_ip)
        .await
    {
        Ok(decision) => decision,
        // Our fault or the table's: an error makes API Gateway answer 500, which the
        // deployment's 5xx alarm sees, rather than a 403 that would blame the client.
        Err(e @ (Error::Internal(_) | Error::Unavailable(_) | Error::CoolingDown { .. })) => {
            tracing::error!(error = %e, "authorization failed");
            return Err(e.into());
        }
        // Anything else the credential itself caused is a refusal like any other.
        Err(e) => {
            tracing::info!(error = %e, "credential refused");
            return Ok(refuse());
        }
    };
    // A refusal is all a simple response can say: API Gateway answers 403 to it (401 it
    // answers itself, without calling us, when the Authorization header is missing). So a
    // blocked address and too many failed attempts are 403 here, where `trove serve` says
    // 403 and 429 with Retry-After.
    match decision {
        Decision::Allowed(identity) => {
            let identity = serde_json::to_string(identity.as_ref())?;
            let mut answer = Answer::default();
            answer.is_authorized = true;
            answer.context = serde_json::json!({ IDENTITY_CONTEXT_KEY: identity });
            Ok(answer)
        }
        Decision::Anonymous => {
            tracing::info!(reason = "no credential", "refused");
            Ok(refuse())
        }
        Decision::Denied(denial) => {
            let reason = match denial {
                Denial::Unauthenticated => "unauthenticated",
                Denial::Blocked(_) => "address blocked by the tenant's policy",
                Denial::TooManyFailures { .. } => "too many failed attempts from the address",
            };
            tracing::info!(reason, "refused");
            Ok(refuse())
        }
    }
}

fn refuse() -> Answer {
    let mut answer = Answer::default();
    answer.is_authorized = false;
    // An empty object rather than null: the simple response's `context` is a map.
    answer.context = serde_json::json!({});
    answer
}
