//! The lifecycle hooks of every function's deployment, one function each (`Handler`):
//!
//! - `pre_traffic`: CodeDeploy calls it before it shifts any traffic to a new version; it
//!   sends that version its smoke test (`trove_functions::smoke`: the function's sample
//!   event, made harmless) and reports Succeeded only if the answer is the one the smoke test
//!   expects. Anything else — the version fails to start, answers 5xx, calls itself
//!   misdeployed, or the hook cannot tell — is Failed, and CodeDeploy stops the deployment
//!   before a single request reaches it.
//! - `post_traffic`: once all traffic is on the new version, it deletes the function's older
//!   versions but the one it replaced (what a rollback by hand points `live` back to) and any
//!   an alias still names: `AutoPublishAlias` publishes a version per deployment and Lambda
//!   keeps them all against the account's code storage. Always Succeeded: housekeeping never
//!   rolls a good deployment back; what it could not delete is logged.

use std::collections::BTreeSet;

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

/// Which hook this function is (its `Handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    PreTraffic,
    PostTraffic,
}

impl Lifecycle {
    fn parse(handler: &str) -> Option<Self> {
        match handler {
            "pre_traffic" => Some(Self::PreTraffic),
            "post_traffic" => Some(Self::PostTraffic),
            _ => None,
        }
    }
}

struct Clients {
    deploy: aws_sdk_codedeploy::Client,
    lambda: aws_sdk_lambda::Client,
}

/// A function whose `live` alias the deployment shifts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    function: String,
    /// The version `live` pointed to before.
    current_version: Option<String>,
    target_version: String,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trove_functions::init_tracing();
    let handler = std::env::var("_HANDLER").unwrap_or_default();
    let lifecycle = Lifecycle::parse(&handler)
        .ok_or_else(|| format!("_HANDLER {handler:?} is neither pre_traffic nor post_traffic"))?;
    let sdk = trove_aws::AwsConfig::from_env()?.sdk_config();
    let clients = Clients {
        deploy: aws_sdk_codedeploy::Client::new(&sdk),
        lambda: aws_sdk_lambda::Client::new(&sdk),
    };
    let clients = &clients;
    lambda_runtime::run(service_fn(|event: LambdaEvent<HookEvent>| async move {
        hook(clients, lifecycle, &event.payload).await
    }))
    .await
}

/// Does the hook's work and tells CodeDeploy; an error only when CodeDeploy could not be
/// told (Lambda retries the hook then).
async fn hook(
    clients: &Clients,
    lifecycle: Lifecycle,
    event: &HookEvent,
) -> Result<(), lambda_runtime::Error> {
    let deployment = &event.deployment_id;
    let status = match lifecycle {
        Lifecycle::PreTraffic => match check(clients, deployment).await {
            Ok(checked) => {
                tracing::info!(%deployment, %checked, "new version passed its smoke test");
                LifecycleEventStatus::Succeeded
            }
            Err(why) => {
                tracing::error!(%deployment, %why, "new version failed its smoke test");
                LifecycleEventStatus::Failed
            }
        },
        Lifecycle::PostTraffic => {
            match prune_all(clients, deployment).await {
                Ok(deleted) => tracing::info!(%deployment, ?deleted, "older versions deleted"),
                Err(why) => tracing::error!(%deployment, %why, "older versions left"),
            }
            LifecycleEventStatus::Succeeded
        }
    };
    clients
        .deploy
        .put_lifecycle_event_hook_execution_status()
        .deployment_id(deployment)
        .lifecycle_event_hook_execution_id(&event.lifecycle_event_hook_execution_id)
        .status(status)
        .send()
        .await?;
    Ok(())
}

/// The Lambda targets of the deployment (one: the function whose alias shifts).
async fn targets(clients: &Clients, deployment_id: &str) -> Result<Vec<Target>, String> {
    let ids = clients
        .deploy
        .list_deployment_targets()
        .deployment_id(deployment_id)
        .send()
        .await
        .map_err(|e| format!("listing the deployment's targets: {e}"))?
        .target_ids
        .unwrap_or_default();
    if ids.is_empty() {
        return Err("the deployment has no target".into());
    }
    let mut targets = Vec::new();
    for target_id in ids {
        let target = clients
            .deploy
            .get_deployment_target()
            .deployment_id(deployment_id)
            .target_id(&target_id)
            .send()
            .await
            .map_err(|e| format!("reading a deployment target: {e}"))?;
        let info = target
            .deployment_target
            .and_then(|t| t.lambda_target)
            .and_then(|t| t.lambda_function_info)
            .ok_or_else(|| format!("target {target_id} is not a Lambda function"))?;
        let (Some(function), Some(target_version)) = (info.function_name, info.target_version)
        else {
            return Err(format!("target {target_id} names no function version"));
        };
        targets.push(Target {
            function,
            current_version: info.current_version,
            target_version,
        });
    }
    Ok(targets)
}

/// Every target smoke tested at its target version; what was checked, or why it failed.
async fn check(clients: &Clients, deployment_id: &str) -> Result<String, String> {
    let mut checked = Vec::new();
    for target in targets(clients, deployment_id).await? {
        smoke_test(clients, &target.function, &target.target_version).await?;
        checked.push(format!("{}:{}", target.function, target.target_version));
    }
    Ok(checked.join(", "))
}

/// Every target's older versions deleted; which, or why not all.
async fn prune_all(clients: &Clients, deployment_id: &str) -> Result<Vec<String>, String> {
    let mut deleted = Vec::new();
    for target in targets(clients, deployment_id).await? {
        deleted.extend(prune(clients, &target).await?);
    }
    Ok(deleted)
}

/// The numbered versions of `target`'s function older than its new one, but the one it
/// replaced and any an alias names (its version, or one it routes a share of calls to).
async fn prune(clients: &Clients, target: &Target) -> Result<Vec<String>, String> {
    let function = &target.function;
    let mut keep: BTreeSet<String> = [
        Some(&target.target_version),
        target.current_version.as_ref(),
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    let aliases = clients
        .lambda
        .list_aliases()
        .function_name(function)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| format!("listing {function}'s aliases: {e}"))?;
    for alias in aliases {
        keep.extend(alias.function_version);
        if let Some(routing) = alias.routing_config {
            keep.extend(
                routing
                    .additional_version_weights
                    .unwrap_or_default()
                    .into_keys(),
            );
        }
    }
    let newest: u64 = target.target_version.parse().map_err(|_| {
        format!(
            "{function}: version {:?} is not a number",
            target.target_version
        )
    })?;
    let versions = clients
        .lambda
        .list_versions_by_function()
        .function_name(function)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| format!("listing {function}'s versions: {e}"))?;
    // `$LATEST` is no number; a version newer than this deployment's is another's.
    let old = versions
        .into_iter()
        .filter_map(|config| config.version)
        .filter(|v| v.parse::<u64>().is_ok_and(|n| n < newest) && !keep.contains(v));
    let (mut deleted, mut refused) = (Vec::new(), Vec::new());
    for version in old {
        match clients
            .lambda
            .delete_function()
            .function_name(function)
            .qualifier(&version)
            .send()
            .await
        {
            Ok(_) => deleted.push(format!("{function}:{version}")),
            Err(e) => refused.push(format!("{function}:{version}: {e}")),
        }
    }
    if refused.is_empty() {
        Ok(deleted)
    } else {
        Err(format!("deleted {deleted:?}; left {refused:?}"))
    }
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
                .unwrap_or_else(|| {
                    let path = req.uri().path_and_query().map_or("", |p| p.as_str());
                    format!("{} {path}", req.method())
                });
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
            } else if target.contains("/configuration") {
                let config = format!(r#"{{"FunctionName":"f","Handler":"{handler}"}}"#);
                (200, config, false)
            } else if target.contains("/aliases") {
                // live is on 7, shifted there from 6; a second alias still routes to 3.
                let aliases = r#"{"Aliases":[{"Name":"live","FunctionVersion":"7"},{"Name":"pinned","FunctionVersion":"2","RoutingConfig":{"AdditionalVersionWeights":{"3":0.1}}}]}"#;
                (200, aliases.into(), false)
            } else if target.contains("/versions") {
                // Two pages: a deployment's later version (8) is never touched.
                if target.contains("Marker=") {
                    let page = r#"{"Versions":[{"Version":"6"},{"Version":"7"},{"Version":"8"}]}"#;
                    (200, page.into(), false)
                } else {
                    let page = r#"{"Versions":[{"Version":"$LATEST"},{"Version":"1"},{"Version":"2"},{"Version":"3"},{"Version":"4"},{"Version":"5"}],"NextMarker":"m1"}"#;
                    (200, page.into(), false)
                }
            } else if target.starts_with("DELETE") {
                if target.contains("Qualifier=4") {
                    // In use by something outside the stack: Lambda refuses, not retried.
                    let refused = r#"{"Type":"User","Message":"version 4 is in use"}"#;
                    (409, refused.into(), false)
                } else {
                    (204, String::new(), false)
                }
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

    /// The status the pre-traffic hook reported, and the payload it invoked the version with.
    async fn run(clients: &Clients, seen: &Mutex<Vec<(String, String)>>) -> (String, String) {
        hook(clients, Lifecycle::PreTraffic, &event())
            .await
            .expect("CodeDeploy told");
        let seen = seen.lock().expect("log");
        let reported = seen
            .iter()
            .find(|(t, _)| t.ends_with("PutLifecycleEventHookExecutionStatus"))
            .map(|(_, body)| body.clone())
            .expect("a status reported");
        let invoked = seen
            .iter()
            .find(|(t, _)| t.contains("/invocations"))
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

    /// After the shift: versions older than the new one go, but the one it replaced, those an
    /// alias names or routes to, `$LATEST` and newer ones; the deployment is Succeeded even
    /// when a delete is refused (version 4's here: the others are deleted all the same, and
    /// what is left is logged).
    #[tokio::test]
    async fn after_the_shift_older_versions_go_and_the_deployment_stays_good() {
        let (clients, seen) = scripted("get_repository", "{}", false);
        hook(&clients, Lifecycle::PostTraffic, &event())
            .await
            .expect("CodeDeploy told");
        let seen = seen.lock().expect("log");
        let deletes: Vec<&str> = seen
            .iter()
            .filter(|(t, _)| t.starts_with("DELETE"))
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(deletes.len(), 3, "{deletes:?}");
        for (delete, version) in deletes.iter().zip(["1", "4", "5"]) {
            assert!(
                delete.ends_with(&format!(
                    "/functions/trove-dev-GetRepositoryFunction-X?Qualifier={version}"
                )),
                "{deletes:?}"
            );
        }
        let reported = seen
            .iter()
            .find(|(t, _)| t.ends_with("PutLifecycleEventHookExecutionStatus"))
            .map(|(_, body)| body.as_str())
            .expect("a status reported");
        assert!(reported.contains(r#""status":"Succeeded""#), "{reported}");
        assert!(
            !seen.iter().any(|(t, _)| t.contains("/invocations")),
            "nothing invoked after the shift"
        );
    }

    #[test]
    fn each_hook_is_named_by_its_handler() {
        assert_eq!(Lifecycle::parse("pre_traffic"), Some(Lifecycle::PreTraffic));
        assert_eq!(
            Lifecycle::parse("post_traffic"),
            Some(Lifecycle::PostTraffic)
        );
        assert_eq!(Lifecycle::parse("deploy_hook"), None);
    }
}
