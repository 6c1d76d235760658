//! `Workflow`: executions of the upload pipeline, started by idempotent name.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub input: serde_json::Value,
    #[serde(default)]
    pub error: Option<String>,
    /// The states entered so far, in order.
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub state: String,
    pub status: ExecutionStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("workflow unavailable: {0}")]
    Unavailable(String),
    /// A name Step Functions would refuse (see [`check_execution_name`]).
    #[error("invalid execution name: {0}")]
    InvalidName(String),
    #[error("workflow error: {0}")]
    Other(String),
}

/// The longest execution name Step Functions accepts, in characters.
pub const MAX_EXECUTION_NAME_CHARS: usize = 80;

/// Refuses a name Step Functions refuses: empty, longer than
/// [`MAX_EXECUTION_NAME_CHARS`], or with whitespace, brackets, wildcards, one of
/// ``"#%\^|~`$&,;:/`` or a control character. Every adapter checks it, so a name the
/// embedded workflow takes is one AWS takes too.
pub fn check_execution_name(name: &str) -> Result<(), WorkflowError> {
    const REFUSED: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";
    let refused = |c: char| c.is_whitespace() || c.is_control() || REFUSED.contains(c);
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_EXECUTION_NAME_CHARS || name.chars().any(refused) {
        // The name may be anything a caller sent: quoted, and only its start.
        let shown: String = name.chars().take(MAX_EXECUTION_NAME_CHARS).collect();
        return Err(WorkflowError::InvalidName(format!(
            "{shown:?} ({chars} characters; 1 to {MAX_EXECUTION_NAME_CHARS}, none of \
             whitespace, control characters or {REFUSED})"
        )));
    }
    Ok(())
}

#[async_trait]
pub trait Workflow: Send + Sync {
    /// Starts an execution named `name`; a second start with the same name returns the
    /// first execution's id and starts nothing. A name [`check_execution_name`] refuses is
    /// an error.
    async fn start(&self, name: &str, input: serde_json::Value) -> Result<String, WorkflowError>;
    async fn describe(&self, id: &str) -> Result<Option<Execution>, WorkflowError>;
    /// The id an execution named `name` has, or would have once started: what `start`
    /// answers for that name, without starting anything.
    fn id_of(&self, name: &str) -> String;
}
