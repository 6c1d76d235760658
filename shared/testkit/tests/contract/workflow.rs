//! The `Workflow` contract: executions started by idempotent name and described by id. On
//! AWS, Step Functions (moto, which keeps every execution running: it never calls the
//! definition's Lambda ARNs); embedded, `LocalWorkflow` of an `Embedded` host, which runs the
//! pipeline at once (on inputs like these its steps fail, so executions end soon). So
//! the cases hold for any status and look only at what `start` and `describe` promise.

use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;
use trove_core::ports::{ExecutionStatus, Workflow, WorkflowError};

use crate::{Fixture, cases, unique};

fn input(name: &str) -> serde_json::Value {
    json!({
        "tenant": "acme",
        "upload_id": name,
        "nested": {"list": [1, 2.5, null, true], "text": "ünïcödé \"quoted\""}
    })
}

/// A started execution is found by its id, under its name, with its input.
async fn started_execution_is_described(workflow: Arc<dyn Workflow>) {
    let name = unique("exec");
    let before = OffsetDateTime::now_utc();
    let id = workflow.start(&name, input(&name)).await.expect("started");
    assert!(!id.is_empty());
    let execution = workflow
        .describe(&id)
        .await
        .expect("described")
        .expect("the execution exists");
    assert_eq!(execution.id, id);
    assert_eq!(execution.name, name);
    assert_eq!(execution.input, input(&name));
    // Step Functions reports whole seconds.
    let started = execution.started_at;
    assert!(
        started >= before - time::Duration::seconds(1)
            && started <= OffsetDateTime::now_utc() + time::Duration::seconds(1),
        "started at {started}, test began at {before}"
    );
    match (execution.status, execution.ended_at) {
        (ExecutionStatus::Running, ended) => assert_eq!(ended, None, "running, yet ended"),
        (_, Some(ended)) => assert!(ended >= started, "ended {ended} before it started"),
        (status, None) => panic!("{status:?} without an end"),
    }
}

/// `describe` reports the states an execution entered, in order, each with its times and,
/// when it failed, why (what an upload's status shows on both hosts). moto answers every
/// history with the same recorded one; the embedded host runs the pipeline.
async fn a_described_execution_lists_the_states_it_entered(workflow: Arc<dyn Workflow>) {
    let name = unique("exec");
    let id = workflow.start(&name, input(&name)).await.expect("started");
    let mut steps = Vec::new();
    for _ in 0..100 {
        steps = workflow
            .describe(&id)
            .await
            .expect("described")
            .expect("exists")
            .steps;
        if !steps.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!steps.is_empty(), "no state reported");
    for step in &steps {
        assert!(!step.state.is_empty());
        if let Some(ended) = step.ended_at {
            assert!(ended >= step.started_at, "{step:?}");
        }
        match step.status {
            ExecutionStatus::Failed => {
                assert!(step.error.is_some(), "failed without why: {step:?}")
            }
            ExecutionStatus::Succeeded => assert!(step.ended_at.is_some(), "{step:?}"),
            ExecutionStatus::Running => {}
        }
    }
    for pair in steps.windows(2) {
        assert!(
            pair[0].started_at <= pair[1].started_at,
            "out of order: {pair:?}"
        );
    }
}

/// A second start of one name, with the same input or another, answers the first
/// execution's id and changes nothing about it; another name is another execution.
async fn start_is_idempotent_by_name(workflow: Arc<dyn Workflow>) {
    let name = unique("exec");
    let named = workflow.id_of(&name);
    assert!(
        workflow
            .describe(&named)
            .await
            .expect("described")
            .is_none(),
        "id_of starts nothing"
    );
    let first = workflow.start(&name, input(&name)).await.expect("started");
    assert_eq!(first, named, "the id start answers is the one id_of named");
    let before = workflow
        .describe(&first)
        .await
        .expect("described")
        .expect("exists");
    let again = workflow
        .start(&name, input(&name))
        .await
        .expect("started again");
    assert_eq!(again, first, "same name, same input");
    let other_input = workflow
        .start(&name, json!({"different": true}))
        .await
        .expect("started with another input");
    assert_eq!(other_input, first, "same name, other input");
    let after = workflow
        .describe(&first)
        .await
        .expect("described")
        .expect("exists");
    assert_eq!(after.name, before.name);
    assert_eq!(after.input, input(&name), "the first input stays");
    assert_eq!(after.started_at, before.started_at, "nothing restarted");

    let other = unique("exec");
    let second = workflow
        .start(&other, input(&other))
        .await
        .expect("started");
    assert_ne!(second, first, "another name is another execution");
}

/// An id of the right shape that names no execution is `None`, not an error.
async fn unknown_id_is_none(workflow: Arc<dyn Workflow>) {
    let name = unique("exec");
    let id = workflow.start(&name, input(&name)).await.expect("started");
    // Both adapters' ids end in the name (an execution ARN; the bare name).
    assert!(id.ends_with(&name), "{id} ends in {name}");
    let unknown = format!("{}{}", &id[..id.len() - name.len()], unique("never"));
    match workflow.describe(&unknown).await {
        Ok(None) => {}
        other => panic!("{unknown}: expected Ok(None), got {other:?}"),
    }
}

/// Names Step Functions refuses are refused by every adapter, with `InvalidName`.
async fn hostile_names_are_refused(workflow: Arc<dyn Workflow>) {
    let long = "n".repeat(81);
    let names = [
        "",
        " ",
        "a b",
        "tab\there",
        long.as_str(),
        "../../etc/passwd",
        "EXEC#x",
        "a:b",
        "nul\0byte",
        "{json}",
        "star*",
        "back\\slash",
        "del\u{7f}",
    ];
    for name in names {
        match workflow.start(name, json!({})).await {
            Err(WorkflowError::InvalidName(_)) => {}
            other => panic!("{name:?}: expected InvalidName, got {other:?}"),
        }
    }
    // The longest name allowed, and one of characters beyond ASCII, are taken.
    let longest = format!("{}{}", unique("max"), "x".repeat(80))
        .chars()
        .take(80)
        .collect::<String>();
    for name in [longest, format!("{}-ünï", unique("utf"))] {
        let id = workflow
            .start(&name, json!({}))
            .await
            .expect("a valid name");
        let execution = workflow
            .describe(&id)
            .await
            .expect("described")
            .expect("exists");
        assert_eq!(execution.name, name);
    }
}

/// Ids no adapter issued answer `None` or an error, never an execution or a panic.
async fn hostile_ids_are_not_found(workflow: Arc<dyn Workflow>) {
    let long = "i".repeat(10_000);
    let ids = [
        "",
        " ",
        "../../etc/passwd",
        "EXEC#",
        "nul\0byte",
        "arn:aws:states:us-east-1:123456789012:execution:",
        "arn:aws:states:us-east-1:123456789012:execution:missing:x",
        "arn:aws:states:us-east-1:123456789012:stateMachine:x",
        "💥",
        long.as_str(),
    ];
    for id in ids {
        match workflow.describe(id).await {
            Ok(None) | Err(_) => {}
            Ok(Some(execution)) => panic!("{id:?} described {execution:?}"),
        }
    }
}

mod aws {
    use super::*;
    use crate::moto;
    use trove_aws::StepFunctions;
    use trove_embedded::workflow::PIPELINE_DEFINITION;

    /// The pipeline with placeholder function ARNs, as the template substitutes them
    /// (moto never calls them).
    fn definition() -> String {
        ["Scan", "Validate", "Persist", "Quarantine"].iter().fold(
            PIPELINE_DEFINITION.to_owned(),
            |asl, step| {
                asl.replace(
                    &format!("${{{step}FunctionArn}}"),
                    &format!("arn:aws:lambda:us-east-1:123456789012:function:trove-{step}:live"),
                )
            },
        )
    }

    /// A state machine of its own.
    async fn fixture() -> Fixture<dyn Workflow> {
        let client = aws_sdk_sfn::Client::new(&moto::sdk_config().await);
        let arn = client
            .create_state_machine()
            .name(unique("trove-pipeline"))
            .definition(definition())
            .role_arn("arn:aws:iam::123456789012:role/trove-pipeline")
            .send()
            .await
            .expect("moto creates the state machine")
            .state_machine_arn;
        Fixture::new(Arc::new(StepFunctions::new(client, arn)), None)
    }

    cases!(fixture =>
        started_execution_is_described,
        a_described_execution_lists_the_states_it_entered,
        start_is_idempotent_by_name,
        unknown_id_is_none,
        hostile_names_are_refused,
        hostile_ids_are_not_found,
    );
}

mod local {
    use super::*;

    /// The workflow of an embedded host on a fresh data dir; the host stays up so the
    /// executions' steps have their context.
    async fn fixture() -> Fixture<dyn Workflow> {
        let (dir, host) = trove_testkit::host().await;
        Fixture::new(Arc::clone(&host.ctx.workflow), Some(dir)).keeping(host)
    }

    cases!(fixture =>
        started_execution_is_described,
        a_described_execution_lists_the_states_it_entered,
        start_is_idempotent_by_name,
        unknown_id_is_none,
        hostile_names_are_refused,
        hostile_ids_are_not_found,
    );
}
