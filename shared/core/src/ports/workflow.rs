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
    #[error("workflow error: {0}")]
    Other(String),
}

#[async_trait]
pub trait Workflow: Send + Sync {
    /// Starts an execution named `name`; a second start with the same name returns the
    /// first execution's id and starts nothing.
    async fn start(&self, name: &str, input: serde_json::Value) -> Result<String, WorkflowError>;
    async fn describe(&self, id: &str) -> Result<Option<Execution>, WorkflowError>;
}
