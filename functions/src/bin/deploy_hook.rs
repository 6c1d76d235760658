//! The PreTraffic hook of every function's deployment. CodeDeploy calls it before it shifts
//! any traffic to a new version; it sends that version its smoke test
//! (`trove_functions::smoke`: the function's sample event, made harmless) and reports
//! Succeeded only if the answer is the one the smoke test expects. Anything else — the
//! version fails to start, answers 5xx, calls itself misdeployed, or the hook cannot tell —
//! is Failed, and CodeDeploy stops the deployment before a single request reaches it.

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use aws_sdk_lambda::primitives::Blob;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;
use trove_functions::smoke::{Answer, judge, smoke_for};

/// What CodeDeploy sends a lifecycle hook.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HookEvent {
    deployment_id: String,
    lifecycle_event_hook_execution_id: String,
}

struct Clients {
    deploy: aws_sdk_codedeploy::Client,
    lambda: aws_sdk_lambda::Client,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::init_tracing();
    let sdk = trove_aws::AwsConfig::from_env()?.sdk_config();
    let clients = Clients {
        deploy: aws_sdk_codedeploy::Client::new(&sdk),
        lambda: aws_sdk_lambda::Client::new(&sdk),
    };
    let clients = &clients;
    lambda_runtime::run(service_fn(|event: LambdaEvent<HookEvent>| async move {
        hook(clients, &event.payload).await
    }))
    .await
}

/// Checks the deployment's new version and tells CodeDeploy; an error only when CodeDeploy
/// could not be told (Lambda retries the hook then).
async fn hook(clients: &Clients, event: &HookEvent) -> Result<(), lambda_runtime::Error> {
    let status = match check(clients, &event.deployment_id).await {
        Ok(checked) => {
            tracing::info!(deployment = %event.deployment_id, %checked, "new version passed its smoke test");
            LifecycleEventStatus::Succeeded
        }
        Err(why) => {
            tracing::error!(deployment = %event.deployment_id, %why, "new version failed its smoke test");
            LifecycleEventStatus::Failed
        }
    };
    clients
        .deploy
        .put_lifecycle_event_hook_execution_status()
        .deployment_id(&event.deployment_id)
        .lifecycle_event_hook_execution_id(&event.lifecycle_event_hook_execution_id)
        .status(status)
        .send()
        .await?;
    Ok(())
}

/// Every Lambda target of the deployment (one: the function whose alias shifts), smoke
/// tested at its target version; what was checked, or why it failed.
async fn check(clients: &Clients, deployment_id: &str) -> Result<String, String> {
    let fault = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let targets = clients
        .deploy
        .list_deployment_targets()
        .deployment_id(deployment_id)
        .send()
        .await
        .map_err(|e| fault("listing the deployment's targets", &e))?
        .target_ids
        .unwrap_or_default();
    if targets.is_empty() {
        return Err("the deployment has no target".into());
    }
    let mut checked = Vec::new();
    for target_id in targets {
        let target = clients
            .deploy
            .get_deployment_target()
            .deployment_id(deployment_id)
            .target_id(&target_id)
            .send()
            .await
            .map_err(|e| fault("reading a deployment target", &e))?;
        let info = target
            .deployment_target
            .and_then(|t| t.lambda_target)
            .and_then(|t| t.lambda_function_info)
            .ok_or_else(|| format!("target {target_id} is not a Lambda function"))?;
        let (Some(function), Some(version)) = (info.function_name, info.target_version) else {
            return Err(format!("target {target_id} names no function version"));
        };
        smoke_test(clients, &function, &version).await?;
        checked.push(format!("{function}:{version}"));
    }
    Ok(checked.join(", "))
}

async fn smoke_test(clients: &Clients, function: &str, version: &str) -> Result<(), String> {
    let config = clients
        .lambda
        .get_function_configuration()
        .function_name(function)
        .qualifier(version)
        .send()
        .await
        .map_err(|e| format!("reading {function}:{version}: {e}"))?;
    let handler = config.handler.unwrap_or_default();
    let smoke = smoke_for(&handler)
        .ok_or_else(|| format!("{function}: no smoke test for the handler {handler:?}"))?;
    let out = clients
        .lambda
        .invoke()
        .function_name(function)
        .qualifier(version)
        .payload(Blob::new(smoke.event.to_string()))
        .send()
        .await
        .map_err(|e| format!("invoking {function}:{version}: {e}"))?;
    let payload: serde_json::Value = out
        .payload
        .as_ref()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(serde_json::Value::Null);
    let answer = if out.function_error.is_some() {
        Answer::Error {
            error_type: payload["errorType"].as_str().unwrap_or_default().to_owned(),
            message: payload["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    } else {
        Answer::Response(payload)
    };
    judge(smoke.expect, &answer).map_err(|why| format!("{function}:{version}: {why}"))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The requests a scripted client saw, in order, as (what, body).
    type Requests = Arc<Mutex<Vec<(String, String)>>>;

    /// Clients whose calls a script answers: CodeDeploy names one target, `function` at
    /// version 7 with `handler`, and its invocation answers `invoked` (with `X-Amz-Function-Error`
    /// when `failed`). Returns the requests, in order, as (what, body).
    fn scripted(handler: &'static str, invoked: &'static str, failed: bool) -> (Clients, Requests) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let http = aws_smithy_http_client::test_util::infallible_client_fn(move |req| {
            let target = req
                .headers()
                .get("x-amz-target")
                .and_then(|t| t.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{} {}", req.method(), req.uri().path()));
            let body = String::from_utf8_lossy(req.body().bytes().unwrap_or_default()).into_owned();
            log.lock().expect("log").push((target.clone(), body));
            let (status, json, error): (u16, String, bool) = if target
                .ends_with("ListDeploymentTargets")
            {
                (200, r#"{"targetIds":["fn-target"]}"#.into(), false)
            } else if target.ends_with("GetDeploymentTarget") {
                (
                    200,
                    r#"{"deploymentTarget":{"deploymentTargetType":"LambdaTarget","lambdaTarget":{"lambdaFunctionInfo":{"functionName":"trove-dev-GetRepositoryFunction-X","functionAlias":"live","currentVersion":"6","targetVersion":"7"}}}}"#.into(),
                    false,
                )
            } else if target.ends_with("PutLifecycleEventHookExecutionStatus") {
                (
                    200,
                    r#"{"lifecycleEventHookExecutionId":"hook-1"}"#.into(),
                    false,
                )
            } else if target.ends_with("/configuration") {
                let config = format!(r#"{{"FunctionName":"f","Handler":"{handler}"}}"#);
                (200, config, false)
            } else {
                (200, invoked.to_owned(), failed)
            };
            let mut response = http::Response::builder()
                .status(status)
                .header("content-type", "application/json");
            if error {
                response = response.header("x-amz-function-error", "Unhandled");
            }
            response.body(json).expect("response")
        });
        let credentials = aws_sdk_lambda::config::Credentials::new("k", "s", None, None, "test");
        let region = aws_sdk_lambda::config::Region::new("us-east-1");
        let deploy = aws_sdk_codedeploy::Config::builder()
            .behavior_version(aws_sdk_codedeploy::config::BehaviorVersion::latest())
            .region(region.clone())
            .credentials_provider(credentials.clone())
            .http_client(http.clone())
            .build();
        let lambda = aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(region)
            .credentials_provider(credentials)
            .http_client(http)
            .build();
        let clients = Clients {
            deploy: aws_sdk_codedeploy::Client::from_conf(deploy),
            lambda: aws_sdk_lambda::Client::from_conf(lambda),
        };
        (clients, seen)
    }

    fn event() -> HookEvent {
        serde_json::from_value(serde_json::json!({
            "DeploymentId": "d-ABC123",
            "LifecycleEventHookExecutionId": "hook-1"
        }))
        .expect("CodeDeploy's event")
    }

    /// The status the hook reported, and the payload it invoked the version with.
    async fn run(clients: &Clients, seen: &Mutex<Vec<(String, String)>>) -> (String, String) {
        hook(clients, &event()).await.expect("CodeDeploy told");
        let seen = seen.lock().expect("log");
        let reported = seen
            .iter()
            .find(|(t, _)| t.ends_with("PutLifecycleEventHookExecutionStatus"))
            .map(|(_, body)| body.clone())
            .expect("a status reported");
        let invoked = seen
            .iter()
            .find(|(t, _)| t.ends_with("/invocations"))
            .map(|(t, body)| format!("{t} {body}"))
            .unwrap_or_default();
        (reported, invoked)
    }

    #[tokio::test]
    async fn a_version_that_answers_its_smoke_test_lets_the_deployment_go_on() {
        let (clients, seen) = scripted("get_repository", r#"{"statusCode":401}"#, false);
        let (reported, invoked) = run(&clients, &seen).await;
        assert!(reported.contains(r#""status":"Succeeded""#), "{reported}");
        assert!(
            reported.contains("d-ABC123") && reported.contains("hook-1"),
            "{reported}"
        );
        // The target version itself, with the route's smoke event (a key of no tenant).
        assert!(
            invoked.contains("/functions/trove-dev-GetRepositoryFunction-X/invocations"),
            "{invoked}"
        );
        assert!(
            invoked.contains("trove_smoke-test-key-of-no-tenant"),
            "{invoked}"
        );
    }

    #[tokio::test]
    async fn a_version_that_answers_a_server_error_stops_the_deployment() {
        let (clients, seen) = scripted("get_repository", r#"{"statusCode":500}"#, false);
        let (reported, _) = run(&clients, &seen).await;
        assert!(reported.contains(r#""status":"Failed""#), "{reported}");
    }

    #[tokio::test]
    async fn a_version_that_crashes_or_calls_itself_misdeployed_stops_the_deployment() {
        let (clients, seen) = scripted(
            "Scan",
            r#"{"errorType":"Trove.Misdeployed","errorMessage":"this binary carries no scanner"}"#,
            true,
        );
        let (reported, _) = run(&clients, &seen).await;
        assert!(reported.contains(r#""status":"Failed""#), "{reported}");
        let (clients, seen) = scripted(
            "Scan",
            r#"{"errorType":"Trove.Rejected","errorMessage":"upload x not found"}"#,
            true,
        );
        let (reported, _) = run(&clients, &seen).await;
        assert!(reported.contains(r#""status":"Succeeded""#), "{reported}");
    }

    #[tokio::test]
    async fn a_handler_without_a_smoke_test_stops_the_deployment() {
        let (clients, seen) = scripted("no_such_route", r#"{"statusCode":200}"#, false);
        let (reported, invoked) = run(&clients, &seen).await;
        assert!(reported.contains(r#""status":"Failed""#), "{reported}");
        assert!(invoked.is_empty(), "nothing invoked: {invoked}");
    }
}
