//! Running definitions: data flow, every state type, Retry/Catch, timeouts, persistence,
//! idempotent start and resume after a crash.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::test_support::{FakeInvoker, Harness, Reply, machine};
use super::{ExecutionRecord, Interpreter, Position};
use trove_core::domain::keys;
use trove_core::domain::model::to_item;
use trove_core::ports::table::{GSI1_PK, GSI1_SK};
use trove_core::ports::{Execution, ExecutionStatus, StepRecord};

fn task(resource: &str, next: Option<&str>) -> Value {
    let mut t = json!({"Type": "Task", "Resource": resource});
    match next {
        Some(n) => t["Next"] = json!(n),
        None => t["End"] = json!(true),
    }
    t
}

fn succeeded(record: &ExecutionRecord) -> &Value {
    assert_eq!(
        record.execution.status,
        ExecutionStatus::Succeeded,
        "error: {:?}",
        record.execution.error
    );
    record.output.as_ref().expect("output")
}

fn failed(record: &ExecutionRecord) -> &str {
    assert_eq!(record.execution.status, ExecutionStatus::Failed);
    record.execution.error.as_deref().expect("error")
}

#[tokio::test]
async fn pass_states_shape_data() {
    let h = Harness::new(
        json!({
            "StartAt": "Fixed",
            "States": {
                "Fixed": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.fixed", "Next": "Shape"},
                "Shape": {
                    "Type": "Pass",
                    "InputPath": "$.fixed",
                    "Parameters": {"doubled.$": "States.MathAdd($.x, $.x)", "const": [1, {"k": "v"}]},
                    "ResultPath": "$.shaped",
                    "Next": "Keep"
                },
                "Keep": {"Type": "Pass", "Result": "dropped", "ResultPath": null, "Next": "Out"},
                "Out": {"Type": "Pass", "OutputPath": "$.shaped", "End": true}
            }
        }),
        FakeInvoker::echo(),
    );
    let record = h.run(json!({"orig": true})).await;
    assert_eq!(
        succeeded(&record),
        &json!({"doubled": 2, "const": [1, {"k": "v"}]})
    );
    // Pass states are not steps: the status view lists Task states only.
    assert!(record.execution.steps.is_empty());
}

#[tokio::test]
async fn task_data_flow_and_context_object() {
    let invoker =
        FakeInvoker::new(|_, _, _| Reply::Value(json!({"body": {"size": 7}, "noise": 1})));
    let h = Harness::new(
        json!({
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "fn:call",
                    "InputPath": "$.req",
                    "Parameters": {
                        "name.$": "$.name",
                        "nested": {"exec.$": "$$.Execution.Id", "state.$": "$$.State.Name"},
                        "greeting.$": "States.Format('hello {}', $.name)",
                        "original.$": "$$.Execution.Input.keep"
                    },
                    "ResultSelector": {"size.$": "$.body.size"},
                    "ResultPath": "$.req.result",
                    "OutputPath": "$.req",
                    "End": true
                }
            }
        }),
        invoker,
    );
    let record = h.run(json!({"req": {"name": "w"}, "keep": "k"})).await;
    assert_eq!(
        h.invoker.calls(),
        vec![(
            "fn:call".to_owned(),
            json!({
                "name": "w",
                "nested": {"exec": "exec-1", "state": "Call"},
                "greeting": "hello w",
                "original": "k"
            })
        )]
    );
    assert_eq!(
        succeeded(&record),
        &json!({"name": "w", "result": {"size": 7}})
    );
    let steps = &record.execution.steps;
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].state, "Call");
    assert_eq!(steps[0].status, ExecutionStatus::Succeeded);
    assert!(steps[0].ended_at.is_some());
}

#[tokio::test]
async fn retries_count_attempts_and_back_off() {
    let invoker = FakeInvoker::new(|_, _, earlier| {
        if earlier < 2 {
            Reply::Fail("Trove.Retryable", "busy")
        } else {
            Reply::Echo
        }
    });
    let h = Harness::new(
        json!({
            "StartAt": "T",
            "States": {"T": {
                "Type": "Task", "Resource": "fn", "End": true,
                "Retry": [
                    {"ErrorEquals": ["Other"], "MaxAttempts": 9},
                    {"ErrorEquals": ["Trove.Retryable"], "IntervalSeconds": 2, "BackoffRate": 3,
                     "MaxAttempts": 3, "JitterStrategy": "NONE"}
                ]
            }}
        }),
        invoker,
    );
    let record = h.run(json!({"n": 1})).await;
    assert_eq!(succeeded(&record), &json!({"n": 1}));
    assert_eq!(h.invoker.calls().len(), 3);
    assert_eq!(
        h.sleeper.slept(),
        vec![Duration::from_secs(2), Duration::from_secs(6)]
    );
    let step = &record.execution.steps[0];
    assert_eq!(step.status, ExecutionStatus::Succeeded);
    assert_eq!(
        step.error, None,
        "a retried step that succeeded shows no error"
    );
}

#[tokio::test]
async fn max_delay_caps_backoff_and_full_jitter_stays_below() {
    let invoker = FakeInvoker::new(|_, _, earlier| {
        if earlier < 4 {
            Reply::Fail("E", "x")
        } else {
            Reply::Echo
        }
    });
    let h = Harness::new(
        json!({
            "StartAt": "T",
            "States": {"T": {
                "Type": "Task", "Resource": "fn", "End": true,
                "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 1, "BackoffRate": 10,
                           "MaxAttempts": 4, "MaxDelaySeconds": 15, "JitterStrategy": "FULL"}]
            }}
        }),
        invoker,
    );
    succeeded(&h.run(json!({})).await);
    let slept = h.sleeper.slept();
    let caps = [1, 10, 15, 15];
    assert_eq!(slept.len(), 4);
    for (d, cap) in slept.iter().zip(caps) {
        assert!(*d <= Duration::from_secs(cap), "{d:?} > {cap}s");
    }
}

#[tokio::test]
async fn max_attempts_zero_never_retries() {
    let h = Harness::new(
        json!({
            "StartAt": "T",
            "States": {"T": {
                "Type": "Task", "Resource": "fn", "End": true,
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 0}]
            }}
        }),
        FakeInvoker::new(|_, _, _| Reply::Fail("Boom", "it broke")),
    );
    let record = h.run(json!({})).await;
    assert_eq!(failed(&record), "Boom: it broke");
    assert_eq!(h.invoker.calls().len(), 1);
    assert!(h.sleeper.slept().is_empty());
    let step = &record.execution.steps[0];
    assert_eq!(step.status, ExecutionStatus::Failed);
    assert_eq!(step.error.as_deref(), Some("Boom: it broke"));
}

#[tokio::test]
async fn exhausted_retries_fall_to_catch_which_merges_the_error() {
    let h = Harness::new(
        json!({
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task", "Resource": "fn", "Next": "Never",
                    "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 2}],
                    "Catch": [
                        {"ErrorEquals": ["Unrelated"], "Next": "Never"},
                        {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Next": "Handled"}
                    ]
                },
                "Never": {"Type": "Fail", "Error": "Wrong"},
                "Handled": {"Type": "Pass", "End": true}
            }
        }),
        FakeInvoker::new(|_, _, _| Reply::Fail("E", "still broken")),
    );
    let record = h.run(json!({"keep": 1})).await;
    assert_eq!(
        succeeded(&record),
        &json!({"keep": 1, "err": {"Error": "E", "Cause": "still broken"}})
    );
    assert_eq!(h.invoker.calls().len(), 3);
    assert_eq!(h.sleeper.slept().len(), 2);
    assert_eq!(
        record.execution.steps[0].error.as_deref(),
        Some("E: still broken")
    );
}

#[tokio::test]
async fn catch_without_result_path_replaces_the_input() {
    let h = Harness::new(
        json!({
            "StartAt": "T",
            "States": {
                "T": {"Type": "Task", "Resource": "fn", "End": true,
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]},
                "H": {"Type": "Succeed"}
            }
        }),
        FakeInvoker::new(|_, _, _| Reply::Fail("E", "c")),
    );
    let record = h.run(json!({"keep": 1})).await;
    assert_eq!(succeeded(&record), &json!({"Error": "E", "Cause": "c"}));
}

#[tokio::test]
async fn task_timeout_raises_states_timeout() {
    let h = Harness::new(
        json!({
            "StartAt": "Slow",
            "States": {
                "Slow": {
                    "Type": "Task", "Resource": "fn:slow", "TimeoutSeconds": 1, "Next": "Fast",
                    "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 1}],
                    "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout", "Next": "Fast"}]
                },
                "Fast": {"Type": "Task", "Resource": "fn:fast", "TimeoutSeconds": 60, "End": true}
            }
        }),
        // 1 s of workflow time is 1 ms under the recording sleeper.
        FakeInvoker::new(|resource, _, _| {
            if resource == "fn:slow" {
                Reply::After(Duration::from_millis(500), Box::new(Reply::Echo))
            } else {
                Reply::Echo
            }
        }),
    );
    let record = h.run(json!({})).await;
    let output = succeeded(&record);
    assert_eq!(output["timeout"]["Error"], json!("States.Timeout"));
    assert_eq!(
        h.invoker.resources(),
        ["fn:slow", "fn:slow", "fn:fast"].map(String::from).to_vec()
    );
}

#[tokio::test]
async fn timeout_seconds_path_reads_the_input() {
    let h = Harness::new(
        json!({
            "StartAt": "T",
            "States": {"T": {"Type": "Task", "Resource": "fn", "TimeoutSecondsPath": "$.limit", "End": true}}
        }),
        FakeInvoker::new(|_, _, _| Reply::After(Duration::from_millis(300), Box::new(Reply::Echo))),
    );
    let record = h.run(json!({"limit": 2})).await;
    assert!(failed(&record).starts_with("States.Timeout"));
}

#[tokio::test]
async fn execution_timeout_fails_the_execution() {
    let h = Harness::new(
        json!({
            "TimeoutSeconds": 1,
            "StartAt": "T",
            "States": {"T": {"Type": "Task", "Resource": "fn", "End": true}}
        }),
        FakeInvoker::new(|_, _, _| Reply::Hang),
    );
    let record = h.run(json!({})).await;
    assert!(failed(&record).starts_with("States.Timeout"));
    let step = &record.execution.steps[0];
    assert_eq!(step.status, ExecutionStatus::Failed);
    assert!(step.ended_at.is_some());
}

fn choice_machine(with_default: bool) -> Value {
    let mut choice = json!({
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.kind", "StringEquals": "npm", "Next": "Npm"},
            {"And": [
                {"Variable": "$.size", "NumericGreaterThan": 100},
                {"Not": {"Variable": "$.trusted", "BooleanEquals": true}}
            ], "Next": "Big"}
        ]
    });
    if with_default {
        choice["Default"] = json!("Other");
    }
    let mut states = json!({
        "Pick": choice,
        "Npm": {"Type": "Pass", "Result": "npm", "End": true},
        "Big": {"Type": "Pass", "Result": "big", "End": true}
    });
    if with_default {
        states["Other"] = json!({"Type": "Pass", "Result": "other", "End": true});
    }
    json!({"StartAt": "Pick", "States": states})
}

#[tokio::test]
async fn choice_takes_the_first_matching_rule_or_the_default() {
    for (input, expected) in [
        (json!({"kind": "npm", "size": 500}), "npm"),
        (
            json!({"kind": "pypi", "size": 500, "trusted": false}),
            "big",
        ),
        (
            json!({"kind": "pypi", "size": 500, "trusted": true}),
            "other",
        ),
        (json!({"kind": "pypi", "size": 5}), "other"),
    ] {
        let h = Harness::new(choice_machine(true), FakeInvoker::echo());
        let record = h.run(input.clone()).await;
        assert_eq!(succeeded(&record), &json!(expected), "{input}");
    }
}

#[tokio::test]
async fn choice_without_match_or_default_fails_with_no_choice_matched() {
    let h = Harness::new(choice_machine(false), FakeInvoker::echo());
    let record = h.run(json!({"kind": "cargo", "size": 1})).await;
    assert!(failed(&record).starts_with("States.NoChoiceMatched"));
}

#[tokio::test]
async fn fail_states_set_error_and_cause() {
    let h = Harness::new(
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "My.Error", "Cause": "because"}}}),
        FakeInvoker::echo(),
    );
    assert_eq!(failed(&h.run(json!({})).await), "My.Error: because");

    let h = Harness::new(
        json!({"StartAt": "F", "States": {"F": {
            "Type": "Fail",
            "ErrorPath": "$.code",
            "CausePath": "States.Format('upload {} refused: {}', $.id, $.why)"
        }}}),
        FakeInvoker::echo(),
    );
    let record = h
        .run(json!({"code": "Trove.Rejected", "id": "u1", "why": "bad hash"}))
        .await;
    assert_eq!(
        failed(&record),
        "Trove.Rejected: upload u1 refused: bad hash"
    );
}

#[tokio::test]
async fn wait_states_wait_through_the_sleeper() {
    let h = Harness::new(
        json!({
            "StartAt": "W1",
            "States": {
                "W1": {"Type": "Wait", "Seconds": 5, "Next": "W2"},
                "W2": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "W3"},
                "W3": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "Next": "W4"},
                "W4": {"Type": "Wait", "TimestampPath": "$.until", "End": true}
            }
        }),
        FakeInvoker::echo(),
    );
    let until = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let until = until
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let record = h.run(json!({"delay": 7, "until": until})).await;
    succeeded(&record);
    let slept = h.sleeper.slept();
    assert_eq!(
        slept[..3],
        [
            Duration::from_secs(5),
            Duration::from_secs(7),
            Duration::ZERO
        ]
    );
    assert!(slept[3] > Duration::from_secs(3500) && slept[3] <= Duration::from_secs(3600));
}

#[tokio::test]
async fn parallel_results_keep_branch_order() {
    let invoker = FakeInvoker::new(|resource, input, _| match resource {
        // The first branch finishes last.
        "fn:a" => Reply::After(
            Duration::from_millis(30),
            Box::new(Reply::Value(json!({"a": input["v"]}))),
        ),
        _ => Reply::Value(json!({"b": input["v"]})),
    });
    let h = Harness::new(
        json!({
            "StartAt": "P",
            "States": {"P": {
                "Type": "Parallel",
                "Parameters": {"v.$": "$.value"},
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "fn:a", "End": true}}},
                    {"StartAt": "B", "States": {
                        "B": {"Type": "Task", "Resource": "fn:b", "Next": "B2"},
                        "B2": {"Type": "Pass", "Parameters": {"wrapped.$": "$.b"}, "End": true}
                    }}
                ],
                "ResultSelector": {"first.$": "$[0].a", "second.$": "$[1].wrapped"},
                "ResultPath": "$.results",
                "End": true
            }}
        }),
        invoker,
    );
    let record = h.run(json!({"value": 3})).await;
    assert_eq!(
        succeeded(&record),
        &json!({"value": 3, "results": {"first": 3, "second": 3}})
    );
    // Tasks inside branches are not top-level steps.
    assert!(record.execution.steps.is_empty());
}

#[tokio::test]
async fn a_failing_branch_fails_the_parallel_state_into_its_catch() {
    let h = Harness::new(
        json!({
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Parallel",
                    "Branches": [
                        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "fn:a", "End": true}}},
                        {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Branch.Broke", "Cause": "no"}}}
                    ],
                    "Catch": [{"ErrorEquals": ["Branch.Broke"], "ResultPath": "$.error", "Next": "Caught"}],
                    "End": true
                },
                "Caught": {"Type": "Pass", "OutputPath": "$.error", "End": true}
            }
        }),
        FakeInvoker::echo(),
    );
    let record = h.run(json!({})).await;
    assert_eq!(
        succeeded(&record),
        &json!({"Error": "Branch.Broke", "Cause": "no"})
    );
}

#[tokio::test]
async fn map_keeps_item_order_and_respects_max_concurrency() {
    let invoker = FakeInvoker::new(|_, input, _| {
        // Later items finish sooner, so completion order differs from item order.
        let index = input["index"].as_u64().unwrap_or(0);
        Reply::After(
            Duration::from_millis(40 - 5 * index),
            Box::new(Reply::Value(json!(format!("done-{}", input["value"])))),
        )
    });
    let h = Harness::new(
        json!({
            "StartAt": "M",
            "States": {"M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "ItemSelector": {
                    "index.$": "$$.Map.Item.Index",
                    "value.$": "$$.Map.Item.Value",
                    "batch.$": "$.batch"
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": "fn:work", "End": true}}
                },
                "ResultPath": "$.out",
                "End": true
            }}
        }),
        invoker,
    );
    let record = h
        .run(json!({"items": ["a", "b", "c", "d", "e"], "batch": 9}))
        .await;
    assert_eq!(
        succeeded(&record)["out"],
        json!([
            "done-\"a\"",
            "done-\"b\"",
            "done-\"c\"",
            "done-\"d\"",
            "done-\"e\""
        ])
    );
    assert_eq!(h.invoker.max_in_flight(), 2);
    let first = &h.invoker.calls()[0].1;
    assert_eq!(first, &json!({"index": 0, "value": "a", "batch": 9}));
}

#[tokio::test]
async fn map_without_limit_runs_all_items_at_once_and_legacy_fields_work() {
    let invoker = FakeInvoker::new(|_, input, _| {
        Reply::After(
            Duration::from_millis(10),
            Box::new(Reply::Value(json!(input["n"]))),
        )
    });
    let h = Harness::new(
        json!({
            "StartAt": "M",
            "States": {"M": {
                "Type": "Map",
                "Parameters": {"n.$": "$$.Map.Item.Value.n"},
                "Iterator": {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": "fn", "End": true}}},
                "End": true
            }}
        }),
        invoker,
    );
    let record = h.run(json!([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}])).await;
    assert_eq!(succeeded(&record), &json!([1, 2, 3, 4]));
    assert_eq!(h.invoker.max_in_flight(), 4);
}

#[tokio::test]
async fn map_items_must_be_an_array() {
    let h = Harness::new(
        json!({
            "StartAt": "M",
            "States": {"M": {
                "Type": "Map", "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Never"}],
                "End": true
            }, "Never": {"Type": "Succeed"}}
        }),
        FakeInvoker::echo(),
    );
    let record = h.run(json!({"items": "not a list"})).await;
    assert!(failed(&record).starts_with("States.Runtime"));
}

#[tokio::test]
async fn path_errors_are_runtime_errors_that_no_catch_handles() {
    let h = Harness::new(
        json!({
            "StartAt": "T",
            "States": {
                "T": {"Type": "Task", "Resource": "fn", "InputPath": "$.missing", "End": true,
                      "Retry": [{"ErrorEquals": ["States.ALL"]}],
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Never"}]},
                "Never": {"Type": "Succeed"}
            }
        }),
        FakeInvoker::echo(),
    );
    let record = h.run(json!({})).await;
    assert!(failed(&record).starts_with("States.Runtime"), "{record:?}");
    assert!(h.invoker.calls().is_empty());
}

#[tokio::test]
async fn intrinsic_failures_can_be_caught() {
    let h = Harness::new(
        json!({
            "StartAt": "T",
            "States": {
                "T": {"Type": "Task", "Resource": "fn", "End": true,
                      "Parameters": {"doc.$": "States.StringToJson($.text)"},
                      "Catch": [{"ErrorEquals": ["States.IntrinsicFailure"], "ResultPath": "$.e", "Next": "H"}]},
                "H": {"Type": "Pass", "OutputPath": "$.e.Error", "End": true}
            }
        }),
        FakeInvoker::echo(),
    );
    let record = h.run(json!({"text": "{not json"})).await;
    assert_eq!(succeeded(&record), &json!("States.IntrinsicFailure"));
}

#[tokio::test]
async fn start_is_idempotent_by_name() {
    let h = Harness::new(
        json!({"StartAt": "T", "States": {"T": task("fn", None)}}),
        FakeInvoker::echo(),
    );
    assert!(
        h.interpreter
            .start("up-1", json!({"a": 1}))
            .await
            .expect("start")
    );
    assert!(
        !h.interpreter
            .start("up-1", json!({"a": 2}))
            .await
            .expect("again")
    );
    let running = h.interpreter.running().await.expect("running");
    assert_eq!(running, vec!["up-1".to_owned()]);
    let record = h
        .interpreter
        .run("up-1")
        .await
        .expect("run")
        .expect("exists");
    assert_eq!(succeeded(&record), &json!({"a": 1}));
    assert!(
        !h.interpreter
            .start("up-1", json!({"a": 3}))
            .await
            .expect("after end")
    );
    // Running an ended execution runs nothing.
    h.interpreter.run("up-1").await.expect("run again");
    assert_eq!(h.invoker.calls().len(), 1);
    assert!(h.interpreter.running().await.expect("running").is_empty());
    let described = h
        .interpreter
        .describe("up-1")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(described.status, ExecutionStatus::Succeeded);
    assert_eq!(described.input, json!({"a": 1}));
    assert!(
        h.interpreter
            .describe("nope")
            .await
            .expect("describe")
            .is_none()
    );
}

fn three_steps() -> Value {
    json!({
        "StartAt": "A",
        "States": {
            "A": task("fn:a", Some("B")),
            "B": {"Type": "Task", "Resource": "fn:b", "Next": "C",
                  "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 2}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]},
            "C": task("fn:c", None),
            "Caught": {"Type": "Fail", "Error": "Caught", "CausePath": "$.error.Cause"}
        }
    })
}

#[tokio::test]
async fn a_crashed_execution_resumes_at_its_current_state() {
    let first = Harness::new(
        three_steps(),
        FakeInvoker::new(|resource, input, _| match resource {
            "fn:a" => Reply::Value(json!({"from": "a", "seen": input["n"]})),
            _ => Reply::Hang,
        }),
    );
    assert!(
        first
            .interpreter
            .start("exec-1", json!({"n": 1}))
            .await
            .expect("start")
    );
    let interpreter = Arc::new(first.interpreter);
    let running = {
        let interpreter = Arc::clone(&interpreter);
        tokio::spawn(async move { interpreter.run("exec-1").await })
    };
    for _ in 0..500 {
        if first.invoker.resources().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        first.invoker.resources(),
        ["fn:a", "fn:b"].map(String::from).to_vec()
    );
    // The process dies while B runs.
    running.abort();
    let _ = running.await;

    let stored = interpreter
        .record("exec-1")
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(stored.execution.status, ExecutionStatus::Running);
    let position = stored.position.clone().expect("position");
    assert_eq!(position.state, "B");
    assert_eq!(position.input, json!({"from": "a", "seen": 1}));

    // A new process on the same table.
    let invoker = FakeInvoker::echo();
    let sleeper = Arc::new(super::test_support::RecordingSleeper::default());
    let second = Interpreter::new(
        Arc::clone(&interpreter.machine),
        Arc::clone(&first.table),
        invoker.clone(),
    )
    .with_sleeper(sleeper);
    assert_eq!(
        second.running().await.expect("running"),
        vec!["exec-1".to_owned()]
    );
    let record = second.run("exec-1").await.expect("run").expect("exists");
    assert_eq!(succeeded(&record), &json!({"from": "a", "seen": 1}));
    assert_eq!(
        invoker.resources(),
        ["fn:b", "fn:c"].map(String::from).to_vec()
    );
    let steps: Vec<(&str, ExecutionStatus)> = record
        .execution
        .steps
        .iter()
        .map(|s| (s.state.as_str(), s.status))
        .collect();
    assert_eq!(
        steps,
        [
            ("A", ExecutionStatus::Succeeded),
            ("B", ExecutionStatus::Succeeded),
            ("C", ExecutionStatus::Succeeded)
        ]
    );
    assert!(second.running().await.expect("running").is_empty());
}

#[tokio::test]
async fn a_stored_execution_resumes_with_its_retry_counters() {
    let h = Harness::new(
        three_steps(),
        FakeInvoker::new(|_, _, _| Reply::Fail("E", "flaky")),
    );
    // As a previous process left it: A done, B entered and already retried twice.
    let now = time::OffsetDateTime::now_utc();
    let record = ExecutionRecord {
        execution: Execution {
            id: "exec-9".into(),
            name: "exec-9".into(),
            status: ExecutionStatus::Running,
            input: json!({"n": 9}),
            error: None,
            steps: vec![
                StepRecord {
                    state: "A".into(),
                    status: ExecutionStatus::Succeeded,
                    started_at: now,
                    ended_at: Some(now),
                    error: None,
                },
                StepRecord {
                    state: "B".into(),
                    status: ExecutionStatus::Running,
                    started_at: now,
                    ended_at: None,
                    error: Some("E: flaky".into()),
                },
            ],
            started_at: now,
            ended_at: None,
        },
        position: Some(Position {
            state: "B".into(),
            input: json!({"n": 9}),
            retries: vec![2],
            entered_at: now,
        }),
        output: None,
    };
    let mut item = to_item(&keys::execution("exec-9"), &record).expect("item");
    item.insert(GSI1_PK.into(), keys::RUNNING_EXECUTIONS.into());
    item.insert(GSI1_SK.into(), "exec-9".into());
    h.table.put(item, None).await.expect("put");

    assert_eq!(
        h.interpreter.running().await.expect("running"),
        vec!["exec-9".to_owned()]
    );
    let record = h
        .interpreter
        .run("exec-9")
        .await
        .expect("run")
        .expect("exists");
    // No retry left: one attempt, then the Catch.
    assert_eq!(h.invoker.resources(), ["fn:b"].map(String::from).to_vec());
    assert_eq!(failed(&record), "Caught: flaky");
    assert_eq!(record.execution.steps.len(), 2, "B's step record is reused");
    assert_eq!(record.execution.steps[1].status, ExecutionStatus::Failed);
}

#[tokio::test]
async fn the_final_record_is_stored_without_a_position() {
    let h = Harness::new(three_steps(), FakeInvoker::echo());
    let record = h.run(json!({"n": 1})).await;
    succeeded(&record);
    let stored = h
        .interpreter
        .record("exec-1")
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(stored, record);
    assert_eq!(stored.position, None);
    let machine = machine(three_steps());
    assert_eq!(machine.start_at(), "A");
    let mut resources = machine.task_resources();
    resources.sort();
    assert_eq!(
        resources,
        vec![
            ("A".to_owned(), "fn:a".to_owned()),
            ("B".to_owned(), "fn:b".to_owned()),
            ("C".to_owned(), "fn:c".to_owned())
        ]
    );
}
