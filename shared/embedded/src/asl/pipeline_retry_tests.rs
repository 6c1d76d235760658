//! What the pipeline definition promises about failures, read from the file itself: every
//! Task outlasts the failures of the infrastructure (throttling, Lambda's own errors) and
//! only a refusal of the upload reaches Quarantine.

use serde_json::Value;

use crate::workflow::PIPELINE_DEFINITION;

/// What Lambda and the SDK raise when the service, not the step, failed (Step Functions'
/// documented Lambda errors), and a step's own "try again".
const INFRASTRUCTURE_ERRORS: &[&str] = &[
    "Trove.Retryable",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
];

/// The errors that mean "this upload is refused": the only ones Quarantine may receive.
const REFUSALS: &[&str] = &["Trove.Rejected"];

fn definition() -> Value {
    serde_json::from_str(PIPELINE_DEFINITION).expect("the pipeline definition is JSON")
}

fn tasks(def: &Value) -> Vec<(String, Value)> {
    let states = def["States"].as_object().expect("States");
    states
        .iter()
        .filter(|(_, s)| s["Type"] == "Task")
        .map(|(name, s)| (name.clone(), s.clone()))
        .collect()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The first entry of a Retry or Catch list that handles `error`, as Step Functions picks it.
fn first_matching<'a>(list: &'a Value, error: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|entry| {
        names(&entry["ErrorEquals"])
            .iter()
            .any(|e| e == error || (e == "States.ALL" && !error.starts_with("States.Runtime")))
    })
}

/// The longest a retrier keeps trying, before jitter: the sum of its capped delays.
fn worst_case_seconds(retrier: &Value) -> f64 {
    let interval = retrier["IntervalSeconds"].as_f64().unwrap_or(1.0);
    let rate = retrier["BackoffRate"].as_f64().unwrap_or(2.0);
    let attempts = retrier["MaxAttempts"].as_u64().unwrap_or(3);
    let cap = retrier["MaxDelaySeconds"].as_f64().unwrap_or(f64::MAX);
    (0..attempts)
        .map(|i| (interval * rate.powi(i32::try_from(i).unwrap_or(i32::MAX))).min(cap))
        .sum()
}

#[test]
fn every_task_retries_every_infrastructure_error() {
    for (name, task) in tasks(&definition()) {
        for error in INFRASTRUCTURE_ERRORS {
            let retrier = first_matching(&task["Retry"], error)
                .unwrap_or_else(|| panic!("{name} does not retry {error}"));
            assert!(
                retrier["MaxAttempts"].as_u64().unwrap_or(3) >= 3,
                "{name} gives {error} fewer than 3 retries"
            );
        }
    }
}

#[test]
fn throttling_is_waited_out_for_minutes_not_seconds() {
    // An upload burst throttles the steps: a few seconds of backoff would turn that into
    // failed executions. Five minutes without jitter (about half of it with FULL jitter).
    for (name, task) in tasks(&definition()) {
        let retrier = first_matching(&task["Retry"], "Lambda.TooManyRequestsException")
            .unwrap_or_else(|| panic!("{name} does not retry throttling"));
        let seconds = worst_case_seconds(retrier);
        assert!(
            seconds >= 300.0,
            "{name} waits out throttling for only {seconds} s"
        );
        assert_eq!(
            retrier["JitterStrategy"], "FULL",
            "{name}: a burst retries in step without jitter"
        );
    }
}

#[test]
fn only_a_refusal_of_the_upload_reaches_quarantine() {
    let def = definition();
    for (name, task) in tasks(&def) {
        for catcher in task["Catch"].as_array().into_iter().flatten() {
            if catcher["Next"] == "Quarantine" {
                let caught = names(&catcher["ErrorEquals"]);
                assert!(
                    caught.iter().all(|e| REFUSALS.contains(&e.as_str())),
                    "{name} sends {caught:?} to Quarantine"
                );
            }
        }
        // What outlives its retries ends in a Fail state (the upload stays open, the
        // execution can be redriven), never in Quarantine.
        let mut unrefused: Vec<&str> = INFRASTRUCTURE_ERRORS.to_vec();
        unrefused.extend([
            "States.Timeout",
            "States.TaskFailed",
            "Sandbox.Timedout",
            "Lambda.Unknown",
        ]);
        for error in unrefused {
            if let Some(catcher) = first_matching(&task["Catch"], error) {
                let next = catcher["Next"].as_str().unwrap_or_default();
                assert_eq!(
                    def["States"][next]["Type"], "Fail",
                    "{name} sends {error} to {next}"
                );
            }
        }
    }
}

#[test]
fn a_scan_that_timed_out_is_not_run_again() {
    let def = definition();
    let scan = &def["States"]["Scan"];
    assert!(
        first_matching(&scan["Retry"], "States.Timeout").is_none(),
        "a runaway scan retried runs as long again, several times"
    );
    let catcher =
        first_matching(&scan["Catch"], "States.Timeout").expect("Scan catches its timeout");
    let next = catcher["Next"].as_str().unwrap_or_default();
    assert_eq!(def["States"][next]["Type"], "Fail");
}
