//! How Task states reach the code they run: the interpreter hands each Task's `Resource`
//! and effective input to a [`TaskInvoker`] and uses what it answers as the task's result.

use async_trait::async_trait;
use serde_json::Value;

pub use super::error::TaskFailure;

#[async_trait]
pub trait TaskInvoker: Send + Sync {
    /// Runs `resource` on `input`. A failure's `error` is the name Retry and Catch match on
    /// (`Trove.Retryable`, …), its `cause` the human explanation.
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure>;
}
