//! `Workflow`: executions of the upload pipeline, started by idempotent name.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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
