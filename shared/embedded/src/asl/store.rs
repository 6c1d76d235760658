//! Executions kept through the `Table` port: one item per execution under
//! `keys::execution(name)`, in the sparse index partition `RUNNING_EXECUTIONS` while it runs,
//! written after every transition so another process can continue it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use trove_core::domain::keys::{self, RUNNING_EXECUTIONS};
use trove_core::domain::model::{from_item, to_item};
use trove_core::ports::table::{GSI1_PK, GSI1_SK, query_all};
use trove_core::ports::{
    Condition, Execution, ExecutionStatus, Index, Query, Table, TableError, WorkflowError,
};

/// An execution as stored: the port's [`Execution`] (what `describe` returns) plus where a
/// running execution stands and, once it succeeded, its output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    #[serde(flatten)]
    pub execution: Execution,
    /// The state to (re-)enter when the execution continues; `None` once it ended. A
    /// record without one that is still running (written by an older version) restarts
    /// from `StartAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// Where a running execution stands: its current top-level state and that state's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub state: String,
    /// The state's raw input (before its InputPath).
    pub input: Value,
    /// Retries done since the state was entered, one counter per retrier, so a process
    /// that crashes while retrying does not start counting again.
    #[serde(default)]
    pub retries: Vec<u32>,
    #[serde(with = "time::serde::rfc3339")]
    pub entered_at: OffsetDateTime,
}

impl Position {
    pub fn enter(state: &str, input: Value, now: OffsetDateTime) -> Self {
        Self {
            state: state.to_owned(),
            input,
            retries: Vec::new(),
            entered_at: now,
        }
    }
}

#[derive(Clone)]
pub struct ExecutionStore {
    table: Arc<dyn Table>,
}

impl ExecutionStore {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// Stores a new execution unless one of that name exists: `false` when it did.
    pub async fn create(&self, record: &ExecutionRecord) -> Result<bool, WorkflowError> {
        let item = item(record)?;
        match self.table.put(item, Some(Condition::NotExists)).await {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed) => Ok(false),
            Err(e) => Err(table_err(e)),
        }
    }

    pub async fn save(&self, record: &ExecutionRecord) -> Result<(), WorkflowError> {
        self.table.put(item(record)?, None).await.map_err(table_err)
    }

    pub async fn load(&self, name: &str) -> Result<Option<ExecutionRecord>, WorkflowError> {
        match self
            .table
            .get(&keys::execution(name))
            .await
            .map_err(table_err)?
        {
            Some(item) => Ok(Some(from_item(item).map_err(table_err)?)),
            None => Ok(None),
        }
    }

    /// Names of all running executions.
    pub async fn running(&self) -> Result<Vec<String>, WorkflowError> {
        let query = Query::new(RUNNING_EXECUTIONS).index(Index::Gsi1).limit(500);
        let items = query_all(self.table.as_ref(), query)
            .await
            .map_err(table_err)?;
        Ok(items
            .iter()
            .filter_map(|item| item.get(GSI1_SK).and_then(Value::as_str))
            .map(str::to_owned)
            .collect())
    }
}

fn item(record: &ExecutionRecord) -> Result<trove_core::ports::Item, WorkflowError> {
    let name = &record.execution.name;
    let mut item = to_item(&keys::execution(name), record).map_err(table_err)?;
    if record.execution.status == ExecutionStatus::Running {
        item.insert(GSI1_PK.into(), RUNNING_EXECUTIONS.into());
        item.insert(GSI1_SK.into(), name.clone().into());
    }
    Ok(item)
}

pub(crate) fn table_err(e: TableError) -> WorkflowError {
    match e {
        TableError::Unavailable(m) => WorkflowError::Unavailable(m),
        e @ (TableError::CircuitOpen { .. }
        | TableError::Throttled(_)
        | TableError::Contended(_)) => WorkflowError::Unavailable(e.to_string()),
        other => WorkflowError::Other(other.to_string()),
    }
}
