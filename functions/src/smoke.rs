//! What a deployment's PreTraffic hook (`deploy-hook`) sends a new version of a function
//! before any traffic reaches it, and what that version must answer. Each function gets its
//! own sample event from events/, made harmless: an API route is called with a key no
//! tenant has, a pipeline step with an upload no one made, a job as a dry run, the
//! dispatcher with a delivery that does not exist. So the version must start (its binary,
//! its `Handler`, its settings, its secrets), reach the table and answer as designed, and
//! nothing is changed. The canary's alarms only see routes that get traffic; this sees
//! every function, the rarely called ones too.

use serde_json::{Value, json};

include!(concat!(env!("OUT_DIR"), "/sample_events.rs"));

/// A sample event from events/ (`api/create_repository.json`, …).
pub fn sample_event(relative: &str) -> Option<Value> {
    SAMPLE_EVENTS
        .iter()
        .find(|(path, _)| *path == relative)
        .and_then(|(_, text)| serde_json::from_str(text).ok())
}

/// The bearer credential of a smoke request: the shape of an API key, of no tenant.
pub const SMOKE_KEY: &str = "trove_smoke-test-key-of-no-tenant";

/// What a function's answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// An API Gateway answer below 500 (a refused key is 401; public routes answer 200).
    HttpAnswer,
    /// The step refuses the upload no one made (`Trove.Rejected`): it started, read the
    /// table and judged, without retrying or calling itself misdeployed.
    StepRefuses,
    /// A response, no error.
    Answers,
    /// A job's dry run: its summary says so (or that another run holds the lease).
    DryRun,
    /// The authorizer refuses the key of no tenant.
    AuthorizerRefuses,
}

/// A smoke test: the event, and what must come back.
#[derive(Debug, Clone, PartialEq)]
pub struct Smoke {
    pub event: Value,
    pub expect: Expect,
}

/// How the function answered: its response, or the error it reported
/// (`{"errorType", "errorMessage"}`).
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(Value),
    Error { error_type: String, message: String },
}

/// A fresh ULID, lowercase, as ids are stored: no stored item has it.
fn fresh_id() -> String {
    ulid::Ulid::new().to_string().to_ascii_lowercase()
}

/// The smoke test of the function whose `Handler` is `handler`, or `None` for a handler
/// with no sample event (which the contract test forbids).
pub fn smoke_for(handler: &str) -> Option<Smoke> {
    let smoke = |event, expect| Some(Smoke { event, expect });
    match handler {
        "Scan" | "Validate" | "Persist" | "Quarantine" => {
            let mut event = sample_event(&format!("pipeline/{handler}.json"))?;
            event["upload_id"] = fresh_id().into();
            if let Some(execution) = event["execution_id"].as_str() {
                // The same state machine, an execution of this upload only.
                let machine = execution.rsplit_once(':').map_or(execution, |(m, _)| m);
                event["execution_id"] = format!("{machine}:smoke-{}", fresh_id()).into();
            }
            // Quarantine of an upload that does not exist does nothing.
            let expect = if handler == "Quarantine" {
                Expect::Answers
            } else {
                Expect::StepRefuses
            };
            smoke(event, expect)
        }
        "cleanup" | "report" => {
            let mut event = sample_event(&format!("jobs/{handler}.json"))?;
            event["detail"] = json!({ "dry_run": true });
            smoke(event, Expect::DryRun)
        }
        "authorizer" => {
            let mut event = sample_event("authorizer.json")?;
            let bearer = format!("Bearer {SMOKE_KEY}");
            event["headers"]["authorization"] = bearer.clone().into();
            let ip = event["requestContext"]["http"]["sourceIp"].clone();
            event["identitySource"] = json!([bearer, ip]);
            smoke(event, Expect::AuthorizerRefuses)
        }
        "on_upload" => {
            let mut event = sample_event("s3-object-created.json")?;
            let key = format!("incoming/default/{}", fresh_id());
            for record in event["Records"].as_array_mut()? {
                record["s3"]["object"]["key"] = key.clone().into();
            }
            smoke(event, Expect::Answers)
        }
        "dispatch" => {
            let mut event = sample_event("webhook-dispatcher.json")?;
            // Only a delivery job, of a delivery that does not exist: a domain event could
            // reach a tenant's real webhooks.
            let records = event["Records"].as_array()?;
            let job = records.iter().find(|r| {
                r["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("delivery_id"))
            })?;
            let mut job = job.clone();
            let mut body: Value = serde_json::from_str(job["body"].as_str()?).ok()?;
            body["delivery_id"] = fresh_id().into();
            body["webhook_id"] = format!("wh_{}", fresh_id()).into();
            job["body"] = body.to_string().into();
            event["Records"] = json!([job]);
            smoke(event, Expect::Answers)
        }
        route => {
            let mut event = sample_event(&format!("api/{route}.json"))?;
            if let Some(context) = event["requestContext"].as_object_mut() {
                context.remove("authorizer");
            }
            if let Some(headers) = event["headers"].as_object_mut() {
                headers.remove("cookie");
                headers.insert("authorization".into(), format!("Bearer {SMOKE_KEY}").into());
            }
            smoke(event, Expect::HttpAnswer)
        }
    }
}

/// Whether `answer` is what `expect` asks; the reason when it is not.
pub fn judge(expect: Expect, answer: &Answer) -> Result<(), String> {
    let refused = |why: &str| Err(format!("{why}: {answer:?}"));
    match (expect, answer) {
        (Expect::HttpAnswer, Answer::Response(r)) => match r["statusCode"].as_u64() {
            Some(status) if status < 500 => Ok(()),
            Some(_) => refused("a server error"),
            None => refused("no HTTP answer"),
        },
        (Expect::StepRefuses, Answer::Error { error_type, .. })
            if error_type == "Trove.Rejected" =>
        {
            Ok(())
        }
        (Expect::StepRefuses, _) => refused("the step did not refuse an upload no one made"),
        (Expect::Answers, Answer::Response(_)) => Ok(()),
        (Expect::DryRun, Answer::Response(r))
            if r["dry_run"] == true || r["skipped"].is_string() =>
        {
            Ok(())
        }
        (Expect::DryRun, Answer::Response(_)) => refused("not a dry run's summary"),
        (Expect::AuthorizerRefuses, Answer::Response(r)) if r["isAuthorized"] == false => Ok(()),
        (Expect::AuthorizerRefuses, Answer::Response(_)) => {
            refused("the authorizer let a key of no tenant in")
        }
        (_, Answer::Error { .. }) => refused("the function failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_is_called_with_a_key_of_no_tenant_and_no_identity_from_the_authorizer() {
        let smoke = smoke_for("create_repository").expect("a sample event");
        assert_eq!(smoke.expect, Expect::HttpAnswer);
        assert_eq!(
            smoke.event["headers"]["authorization"],
            format!("Bearer {SMOKE_KEY}")
        );
        assert!(smoke.event["requestContext"].get("authorizer").is_none());
    }

    #[test]
    fn steps_get_an_upload_no_one_made_and_jobs_run_dry() {
        let persist = smoke_for("Persist").expect("a sample event");
        let sample = sample_event("pipeline/Persist.json").expect("sample");
        assert_ne!(persist.event["upload_id"], sample["upload_id"]);
        assert_eq!(persist.expect, Expect::StepRefuses);
        assert_eq!(
            smoke_for("report").expect("sample").event["detail"]["dry_run"],
            true
        );
        let dispatch = smoke_for("dispatch").expect("sample");
        assert_eq!(dispatch.event["Records"].as_array().map(Vec::len), Some(1));
        assert!(smoke_for("no_such_handler").is_none());
    }

    #[test]
    fn only_the_expected_answer_passes() {
        let http = |status: u64| Answer::Response(json!({ "statusCode": status }));
        assert!(judge(Expect::HttpAnswer, &http(401)).is_ok());
        assert!(judge(Expect::HttpAnswer, &http(503)).is_err());
        let error = |t: &str| Answer::Error {
            error_type: t.into(),
            message: "m".into(),
        };
        assert!(judge(Expect::StepRefuses, &error("Trove.Rejected")).is_ok());
        assert!(judge(Expect::StepRefuses, &error("Trove.Misdeployed")).is_err());
        assert!(judge(Expect::StepRefuses, &Answer::Response(json!({}))).is_err());
        assert!(judge(Expect::Answers, &error("Runtime.ExitError")).is_err());
        assert!(judge(Expect::DryRun, &Answer::Response(json!({"dry_run": false}))).is_err());
        assert!(
            judge(
                Expect::AuthorizerRefuses,
                &Answer::Response(json!({"isAuthorized": true}))
            )
            .is_err()
        );
    }
}
