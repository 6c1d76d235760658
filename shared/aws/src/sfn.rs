//! `Workflow` on AWS Step Functions: one state machine, executions named by upload id.

use async_trait::async_trait;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sfn::types::{ExecutionStatus as SfnStatus, HistoryEvent, HistoryEventType};
use time::OffsetDateTime;

use trove_core::ports::{
    Execution, ExecutionStatus, StepRecord, Workflow, WorkflowError, check_execution_name,
};

/// Pages of history read per execution: the pipeline's run (with its retries) is a few
/// dozen events, a page holds 1,000.
const HISTORY_PAGES: usize = 3;

pub struct StepFunctions {
    client: aws_sdk_sfn::Client,
    state_machine_arn: String,
}

impl StepFunctions {
    pub fn new(client: aws_sdk_sfn::Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    /// The ARN Step Functions gives an execution of this state machine named `name`.
    pub fn execution_arn(&self, name: &str) -> String {
        format!(
            "{}:{name}",
            self.state_machine_arn
                .replacen(":stateMachine:", ":execution:", 1)
        )
    }
}

impl StepFunctions {
    /// The states the execution went through, from its history. The history's own quota is
    /// small (a bucket of 250 calls, refilled 5 a second per account): when it refuses, the
    /// status is still answered, without its steps.
    async fn steps(&self, execution_arn: &str) -> Vec<StepRecord> {
        let mut events = Vec::new();
        let mut token = None;
        for _ in 0..HISTORY_PAGES {
            let page = self
                .client
                .get_execution_history()
                .execution_arn(execution_arn)
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await;
            match page {
                Ok(page) => {
                    events.extend(page.events);
                    token = page.next_token;
                }
                Err(e) => {
                    tracing::warn!(error = %DisplayErrorContext(&e), execution = execution_arn, "no execution history");
                    return Vec::new();
                }
            }
            if token.is_none() {
                break;
            }
        }
        steps_of(&events)
    }
}

fn to_time(t: &aws_sdk_sfn::primitives::DateTime) -> OffsetDateTime {
    let nanos = i128::from(t.secs()) * 1_000_000_000 + i128::from(t.subsec_nanos());
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn failure(error: Option<&str>, cause: Option<&str>) -> String {
    match (error, cause) {
        (Some(e), Some(c)) => format!("{e}: {c}"),
        (Some(e), None) => e.to_owned(),
        (None, Some(c)) => c.to_owned(),
        (None, None) => "failed".to_owned(),
    }
}

/// What an event says about the state it happens in.
enum Seen {
    Entered(String),
    Exited(String),
    /// An attempt failed: retried (a later success clears it) or caught.
    Failed(String),
    Succeeded,
    Other,
}

fn seen(event: &HistoryEvent) -> Seen {
    use HistoryEventType as T;
    if let Some(d) = event.state_entered_event_details() {
        return Seen::Entered(d.name().to_owned());
    }
    if let Some(d) = event.state_exited_event_details() {
        return Seen::Exited(d.name().to_owned());
    }
    match event.r#type() {
        T::LambdaFunctionFailed => {
            let d = event.lambda_function_failed_event_details();
            Seen::Failed(failure(
                d.and_then(|d| d.error()),
                d.and_then(|d| d.cause()),
            ))
        }
        T::LambdaFunctionTimedOut => {
            let d = event.lambda_function_timed_out_event_details();
            Seen::Failed(failure(
                d.and_then(|d| d.error()).or(Some("States.Timeout")),
                d.and_then(|d| d.cause()),
            ))
        }
        T::LambdaFunctionStartFailed | T::LambdaFunctionScheduleFailed => {
            Seen::Failed("the function could not be started".to_owned())
        }
        T::TaskFailed => {
            let d = event.task_failed_event_details();
            Seen::Failed(failure(
                d.and_then(|d| d.error()),
                d.and_then(|d| d.cause()),
            ))
        }
        T::TaskTimedOut => Seen::Failed("States.Timeout".to_owned()),
        T::ExecutionFailed => {
            let d = event.execution_failed_event_details();
            Seen::Failed(failure(
                d.and_then(|d| d.error()),
                d.and_then(|d| d.cause()),
            ))
        }
        T::ExecutionTimedOut => Seen::Failed("States.Timeout".to_owned()),
        T::ExecutionAborted => Seen::Failed("aborted".to_owned()),
        T::LambdaFunctionSucceeded | T::TaskSucceeded => Seen::Succeeded,
        _ => Seen::Other,
    }
}

/// The states entered, in order, from an execution's history: each running until it is
/// exited, failed when its last attempt failed (a retry that succeeds clears it).
fn steps_of(events: &[HistoryEvent]) -> Vec<StepRecord> {
    let mut steps: Vec<StepRecord> = Vec::new();
    for event in events {
        let at = to_time(event.timestamp());
        match seen(event) {
            Seen::Entered(state) => {
                // A state left by a caught failure has no exit event: the next one ends it.
                if let Some(last) = steps.last_mut()
                    && last.ended_at.is_none()
                    && last.status == ExecutionStatus::Failed
                {
                    last.ended_at = Some(at);
                }
                steps.push(StepRecord {
                    state,
                    status: ExecutionStatus::Running,
                    started_at: at,
                    ended_at: None,
                    error: None,
                });
            }
            Seen::Exited(state) => {
                if let Some(step) = steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.state == state && s.ended_at.is_none())
                {
                    step.ended_at = Some(at);
                    if step.status == ExecutionStatus::Running {
                        step.status = ExecutionStatus::Succeeded;
                    }
                }
            }
            Seen::Failed(error) => {
                if let Some(step) = steps.last_mut()
                    && step.ended_at.is_none()
                {
                    step.status = ExecutionStatus::Failed;
                    step.error = Some(error);
                }
            }
            Seen::Succeeded => {
                if let Some(step) = steps.last_mut()
                    && step.ended_at.is_none()
                {
                    step.status = ExecutionStatus::Running;
                    step.error = None;
                }
            }
            Seen::Other => {}
        }
    }
    steps
}

#[async_trait]
impl Workflow for StepFunctions {
    async fn start(&self, name: &str, input: serde_json::Value) -> Result<String, WorkflowError> {
        // Checked before the call, so the refusal does not depend on the service's own
        // checks (moto takes an empty name for none and makes one up, a new one each time).
        check_execution_name(name)?;
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.execution_arn),
            // A repeated storage event: the execution of this upload already exists.
            Err(e) if e.code() == Some("ExecutionAlreadyExists") => Ok(self.execution_arn(name)),
            Err(e) if e.code() == Some("ThrottlingException") => Err(WorkflowError::Unavailable(
                DisplayErrorContext(&e).to_string(),
            )),
            Err(e) => Err(WorkflowError::Other(DisplayErrorContext(&e).to_string())),
        }
    }

    fn id_of(&self, name: &str) -> String {
        self.execution_arn(name)
    }

    async fn describe(&self, id: &str) -> Result<Option<Execution>, WorkflowError> {
        let result = self
            .client
            .describe_execution()
            .execution_arn(id)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.code() == Some("ExecutionDoesNotExist") => return Ok(None),
            Err(e) => return Err(WorkflowError::Other(DisplayErrorContext(&e).to_string())),
        };
        let status = match out.status {
            SfnStatus::Running | SfnStatus::PendingRedrive => ExecutionStatus::Running,
            SfnStatus::Succeeded => ExecutionStatus::Succeeded,
            _ => ExecutionStatus::Failed,
        };
        Ok(Some(Execution {
            id: out.execution_arn,
            name: out.name.unwrap_or_default(),
            status,
            input: out
                .input
                .and_then(|i| serde_json::from_str(&i).ok())
                .unwrap_or(serde_json::Value::Null),
            error: out.error.map(|e| match out.cause {
                Some(c) => format!("{e}: {c}"),
                None => e,
            }),
            steps: self.steps(id).await,
            started_at: to_time(&out.start_date),
            ended_at: out.stop_date.as_ref().map(to_time),
        }))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sfn::primitives::DateTime;
    use aws_sdk_sfn::types::{
        LambdaFunctionFailedEventDetails, StateEnteredEventDetails, StateExitedEventDetails,
    };

    use super::*;

    enum E {
        Enter(&'static str),
        Exit(&'static str),
        Fail(&'static str, &'static str),
        Succeed,
    }

    fn history(events: &[(i64, E)]) -> Vec<HistoryEvent> {
        events
            .iter()
            .enumerate()
            .map(|(i, (secs, e))| {
                let b = HistoryEvent::builder()
                    .id(i as i64 + 1)
                    .timestamp(DateTime::from_secs(1_800_000_000 + secs));
                let b = match e {
                    E::Enter(name) => b
                        .r#type(HistoryEventType::TaskStateEntered)
                        .state_entered_event_details(
                            StateEnteredEventDetails::builder()
                                .name(*name)
                                .build()
                                .expect("details"),
                        ),
                    E::Exit(name) => b
                        .r#type(HistoryEventType::TaskStateExited)
                        .state_exited_event_details(
                            StateExitedEventDetails::builder()
                                .name(*name)
                                .build()
                                .expect("details"),
                        ),
                    E::Fail(error, cause) => b
                        .r#type(HistoryEventType::LambdaFunctionFailed)
                        .lambda_function_failed_event_details(
                            LambdaFunctionFailedEventDetails::builder()
                                .error(*error)
                                .cause(*cause)
                                .build(),
                        ),
                    E::Succeed => b.r#type(HistoryEventType::LambdaFunctionSucceeded),
                };
                b.build().expect("event")
            })
            .collect()
    }

    fn summary(steps: &[StepRecord]) -> Vec<(String, ExecutionStatus, bool, Option<String>)> {
        steps
            .iter()
            .map(|s| {
                (
                    s.state.clone(),
                    s.status,
                    s.ended_at.is_some(),
                    s.error.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn a_retried_step_that_succeeds_is_not_failed_and_a_running_one_is_running() {
        let steps = steps_of(&history(&[
            (0, E::Enter("Scan")),
            (1, E::Succeed),
            (2, E::Exit("Scan")),
            (2, E::Enter("Validate")),
            (3, E::Fail("Lambda.TooManyRequestsException", "throttled")),
            (5, E::Succeed),
            (6, E::Exit("Validate")),
            (6, E::Enter("Persist")),
        ]));
        assert_eq!(
            summary(&steps),
            [
                ("Scan".into(), ExecutionStatus::Succeeded, true, None),
                ("Validate".into(), ExecutionStatus::Succeeded, true, None),
                ("Persist".into(), ExecutionStatus::Running, false, None),
            ]
        );
        assert_eq!(
            (steps[1].ended_at.expect("ended") - steps[1].started_at).whole_seconds(),
            4
        );
    }

    #[test]
    fn a_caught_failure_fails_its_step_with_the_reason_and_the_catch_runs_next() {
        let steps = steps_of(&history(&[
            (0, E::Enter("Scan")),
            (1, E::Fail("Rejected", "EICAR-Test-File found")),
            (1, E::Enter("Quarantine")),
            (2, E::Succeed),
            (2, E::Exit("Quarantine")),
        ]));
        assert_eq!(
            summary(&steps),
            [
                (
                    "Scan".into(),
                    ExecutionStatus::Failed,
                    true,
                    Some("Rejected: EICAR-Test-File found".into())
                ),
                ("Quarantine".into(), ExecutionStatus::Succeeded, true, None),
            ]
        );
    }
}
