//! `Workflow` on AWS Step Functions: one state machine, executions named by upload id.

use async_trait::async_trait;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use time::OffsetDateTime;

use trove_core::ports::{
    Execution, ExecutionStatus, Workflow, WorkflowError, check_execution_name,
};

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
        let to_time = |t: &aws_sdk_sfn::primitives::DateTime| {
            OffsetDateTime::from_unix_timestamp(t.secs()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
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
            // Step-level history comes from GetExecutionHistory; the status view asks for it
            // only when needed (pipeline issue).
            steps: Vec::new(),
            started_at: to_time(&out.start_date),
            ended_at: out.stop_date.as_ref().map(to_time),
        }))
    }
}
