//! The real pipeline definition (`statemachines/artifact-pipeline.asl.json`) run with a
//! fake invoker standing in for the step functions.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::test_support::{FakeInvoker, Harness, Reply, temp_table};
use super::{StateMachine, Substitutions};
use crate::workflow::{self, PIPELINE_DEFINITION};
use trove_core::ports::ExecutionStatus;

fn pipeline() -> Arc<StateMachine> {
    let subs: Substitutions = [
        ("ScanFunctionArn", "arn:scan"),
        ("ValidateFunctionArn", "arn:validate"),
        ("PersistFunctionArn", "arn:persist"),
        ("QuarantineFunctionArn", "arn:quarantine"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Arc::new(StateMachine::from_json(PIPELINE_DEFINITION, &subs).expect("pipeline definition"))
}

fn harness(invoker: Arc<FakeInvoker>) -> Harness {
    let (dir, table) = temp_table();
    Harness::on(dir, table, pipeline(), invoker)
}

fn upload() -> Value {
    // What on-upload starts the execution with; anything else in it is not passed on.
    json!({"tenant": "acme", "upload_id": "01hzy3k6m5x7q8r9s0t1v2w3x4", "extra": "dropped"})
}

fn step_input() -> Value {
    json!({"tenant": "acme", "upload_id": "01hzy3k6m5x7q8r9s0t1v2w3x4", "execution_id": "exec-1"})
}

fn steps(record: &super::ExecutionRecord) -> Vec<(String, ExecutionStatus, Option<String>)> {
    record
        .execution
        .steps
        .iter()
        .map(|s| (s.state.clone(), s.status, s.error.clone()))
        .collect()
}

#[test]
fn the_embedded_definition_is_valid_and_names_the_four_steps() {
    let machine = workflow::pipeline().expect("embedded definition loads");
    let mut resources = machine.task_resources();
    resources.sort();
    assert_eq!(
        resources,
        ["Persist", "Quarantine", "Scan", "Validate"]
            .map(|s| (s.to_owned(), format!("trove:step:{s}")))
            .to_vec()
    );
    assert_eq!(machine.start_at(), "Scan");
}

#[tokio::test]
async fn happy_path_runs_scan_validate_persist_in_order() {
    let h = harness(FakeInvoker::echo());
    let record = h.run(upload()).await;
    assert_eq!(record.execution.status, ExecutionStatus::Succeeded);
    let calls = h.invoker.calls();
    assert_eq!(
        calls,
        vec![
            ("arn:scan".to_owned(), step_input()),
            ("arn:validate".to_owned(), step_input()),
            ("arn:persist".to_owned(), step_input()),
        ]
    );
    assert_eq!(record.output, Some(step_input()));
    assert_eq!(
        steps(&record),
        ["Scan", "Validate", "Persist"]
            .map(|s| (s.to_owned(), ExecutionStatus::Succeeded, None))
            .to_vec()
    );
}

#[tokio::test]
async fn a_rejection_goes_to_quarantine_with_the_reason() {
    let h = harness(FakeInvoker::new(|resource, _, _| match resource {
        "arn:validate" => Reply::Fail("Trove.Rejected", "sha256 does not match the declared one"),
        _ => Reply::Echo,
    }));
    let record = h.run(upload()).await;
    assert_eq!(record.execution.status, ExecutionStatus::Failed);
    assert_eq!(
        record.execution.error.as_deref(),
        Some("Trove.Rejected: sha256 does not match the declared one")
    );
    let calls = h.invoker.calls();
    let resources: Vec<&str> = calls.iter().map(|(r, _)| r.as_str()).collect();
    // A rejection is not retried.
    assert_eq!(resources, ["arn:scan", "arn:validate", "arn:quarantine"]);
    let mut expected = step_input();
    expected["reason"] = json!("sha256 does not match the declared one");
    assert_eq!(calls[2].1, expected);
    assert_eq!(
        steps(&record),
        vec![
            ("Scan".to_owned(), ExecutionStatus::Succeeded, None),
            (
                "Validate".to_owned(),
                ExecutionStatus::Failed,
                Some("Trove.Rejected: sha256 does not match the declared one".to_owned())
            ),
            ("Quarantine".to_owned(), ExecutionStatus::Succeeded, None),
        ]
    );
}

#[tokio::test]
async fn retryable_errors_are_retried_with_jittered_backoff() {
    let h = harness(FakeInvoker::new(|resource, _, earlier| {
        if resource == "arn:validate" && earlier < 2 {
            Reply::Fail("Trove.Retryable", "table busy")
        } else {
            Reply::Echo
        }
    }));
    let record = h.run(upload()).await;
    assert_eq!(record.execution.status, ExecutionStatus::Succeeded);
    let resources = h.invoker.resources();
    assert_eq!(
        resources,
        [
            "arn:scan",
            "arn:validate",
            "arn:validate",
            "arn:validate",
            "arn:persist"
        ]
        .map(String::from)
        .to_vec()
    );
    // IntervalSeconds 1, BackoffRate 2, FULL jitter: at most 1 s, then at most 2 s.
    let slept = h.sleeper.slept();
    assert_eq!(slept.len(), 2);
    assert!(slept[0] <= Duration::from_secs(1) && slept[1] <= Duration::from_secs(2));
    assert_eq!(
        steps(&record),
        ["Scan", "Validate", "Persist"]
            .map(|s| (s.to_owned(), ExecutionStatus::Succeeded, None))
            .to_vec()
    );
}

#[tokio::test]
async fn exhausted_retries_fail_the_execution_without_quarantining() {
    let h = harness(FakeInvoker::new(|resource, _, _| match resource {
        "arn:persist" => Reply::Fail("Trove.Retryable", "storage unavailable"),
        _ => Reply::Echo,
    }));
    let record = h.run(upload()).await;
    // Not the upload's fault: it stays open, and the execution fails with the step's own
    // error, to be redriven once storage is back.
    assert_eq!(record.execution.status, ExecutionStatus::Failed);
    assert_eq!(
        record.execution.error.as_deref(),
        Some("Trove.Retryable: storage unavailable")
    );
    let resources = h.invoker.resources();
    let persists = resources.iter().filter(|r| *r == "arn:persist").count();
    assert_eq!(persists, 6, "one attempt and MaxAttempts 5 retries");
    assert!(
        !resources.iter().any(|r| r == "arn:quarantine"),
        "{resources:?}"
    );
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_does_not_quarantine_the_upload() {
    let h = harness(FakeInvoker::new(|resource, _, _| match resource {
        "arn:scan" => Reply::Fail("Lambda.TooManyRequestsException", "Rate exceeded"),
        _ => Reply::Echo,
    }));
    let record = h.run(upload()).await;
    assert_eq!(
        record.execution.error.as_deref(),
        Some("Lambda.TooManyRequestsException: Rate exceeded")
    );
    let resources = h.invoker.resources();
    assert_eq!(
        resources.len(),
        16,
        "one attempt and MaxAttempts 15 retries"
    );
    assert!(resources.iter().all(|r| r == "arn:scan"), "{resources:?}");
}

#[tokio::test]
async fn a_throttled_step_goes_on_once_lambda_has_room() {
    let h = harness(FakeInvoker::new(|resource, _, earlier| {
        if resource == "arn:validate" && earlier < 8 {
            Reply::Fail("Lambda.TooManyRequestsException", "Rate exceeded")
        } else {
            Reply::Echo
        }
    }));
    let record = h.run(upload()).await;
    assert_eq!(record.execution.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn a_failing_quarantine_fails_the_execution_with_its_own_error() {
    let h = harness(FakeInvoker::new(|resource, _, _| match resource {
        "arn:scan" => Reply::Fail("Trove.Rejected", "malware found"),
        "arn:quarantine" => Reply::Fail("Trove.Broken", "cannot move the file"),
        _ => Reply::Echo,
    }));
    let record = h.run(upload()).await;
    assert_eq!(
        record.execution.error.as_deref(),
        Some("Trove.Broken: cannot move the file")
    );
}

#[tokio::test]
async fn a_misdeployed_step_fails_the_execution_without_quarantining() {
    let h = harness(FakeInvoker::new(|resource, _, _| match resource {
        "arn:scan" => Reply::Fail("Trove.Misdeployed", "built without the scanner"),
        _ => Reply::Echo,
    }));
    let record = h.run(upload()).await;
    assert_eq!(record.execution.status, ExecutionStatus::Failed);
    assert_eq!(
        record.execution.error.as_deref(),
        Some("Trove.Misdeployed: built without the scanner")
    );
    let calls = h.invoker.calls();
    let resources: Vec<&str> = calls.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        resources,
        ["arn:scan"],
        "nothing after a misdeployed step runs"
    );
}
