//! An in-process workflow: Validate → Persist, and on refusal Quarantine. Each execution is
//! stored through the `Table` port after every transition, so a restarted process resumes
//! the executions it was running (steps are idempotent, so resuming re-runs the current one).

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::domain::keys::{self, RUNNING_EXECUTIONS};
use crate::domain::model::{from_item, to_item};
use crate::pipeline::{self, PERSIST, QUARANTINE, StepError, StepInput, VALIDATE};
use crate::ports::table::{GSI1_PK, GSI1_SK};
use crate::ports::{
    Condition, Execution, ExecutionStatus, Index, Query, StepRecord, Table, TableError, Workflow,
    WorkflowError,
};
use crate::services::Context;

const STATES: [&str; 2] = [VALIDATE, PERSIST];
const MAX_ATTEMPTS: u32 = 4;
const FIRST_RETRY: Duration = Duration::from_millis(200);

pub struct LocalWorkflow {
    table: Arc<dyn Table>,
    /// Set once the context (which holds this workflow) exists.
    ctx: OnceLock<Weak<Context>>,
}

impl LocalWorkflow {
    pub fn new(table: Arc<dyn Table>) -> Arc<Self> {
        Arc::new(Self {
            table,
            ctx: OnceLock::new(),
        })
    }

    /// Connects the steps' context; executions run only after this.
    pub fn attach(&self, ctx: &Arc<Context>) {
        let _ = self.ctx.set(Arc::downgrade(ctx));
    }

    fn context(&self) -> Result<Arc<Context>, WorkflowError> {
        self.ctx
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| WorkflowError::Other("workflow not attached to a context".into()))
    }

    /// Resumes every execution left running by a previous process.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, WorkflowError> {
        let mut cursor = None;
        let mut resumed = 0;
        loop {
            let query = Query::new(RUNNING_EXECUTIONS)
                .index(Index::Gsi1)
                .limit(500)
                .cursor(cursor);
            let page = self.table.query(&query).await.map_err(table_err)?;
            for item in page.items {
                let execution: Execution = from_item(item).map_err(table_err)?;
                tracing::info!(execution = %execution.id, "resuming execution");
                self.spawn(execution);
                resumed += 1;
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(resumed),
            }
        }
    }

    fn spawn(self: &Arc<Self>, execution: Execution) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = this.run(execution).await {
                tracing::error!(error = %e, "execution stopped; it resumes on restart");
            }
        });
    }

    async fn run(&self, mut execution: Execution) -> Result<(), WorkflowError> {
        let ctx = self.context()?;
        let mut input: StepInput = serde_json::from_value(execution.input.clone())
            .map_err(|e| WorkflowError::Other(format!("bad execution input: {e}")))?;
        input.execution_id = Some(execution.id.clone());
        let mut refusal = None;
        for state in STATES {
            if let Err(e) = self.step(&ctx, &mut execution, state, &input).await? {
                refusal = Some(e);
                break;
            }
        }
        if let Some(error) = refusal {
            input.reason = Some(error.to_string());
            if let Err(e) = self.step(&ctx, &mut execution, QUARANTINE, &input).await? {
                execution.error = Some(format!("{}: {e}", e.name()));
            } else {
                execution.error = Some(format!("{}: {error}", error.name()));
            }
            execution.status = ExecutionStatus::Failed;
        } else {
            execution.status = ExecutionStatus::Succeeded;
        }
        execution.ended_at = Some(ctx.clock.now());
        self.save(&execution).await
    }

    /// Runs one state with retries of transient errors. The outer error is the workflow's
    /// own failure (the execution stays running and resumes); the inner one the step's.
    async fn step(
        &self,
        ctx: &Context,
        execution: &mut Execution,
        state: &str,
        input: &StepInput,
    ) -> Result<Result<(), StepError>, WorkflowError> {
        let already_done = execution
            .steps
            .iter()
            .any(|s| s.state == state && s.status == ExecutionStatus::Succeeded);
        if already_done {
            return Ok(Ok(()));
        }
        execution.steps.push(StepRecord {
            state: state.to_owned(),
            status: ExecutionStatus::Running,
            started_at: ctx.clock.now(),
            ended_at: None,
            error: None,
        });
        self.save(execution).await?;
        let mut delay = FIRST_RETRY;
        let mut attempt = 1;
        let outcome = loop {
            match pipeline::run_step(ctx, state, input).await {
                Err(StepError::Retryable(m)) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(state, attempt, error = %m, "step failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => break other,
            }
        };
        if let Some(record) = execution.steps.last_mut() {
            record.ended_at = Some(ctx.clock.now());
            match &outcome {
                Ok(()) => record.status = ExecutionStatus::Succeeded,
                Err(e) => {
                    record.status = ExecutionStatus::Failed;
                    record.error = Some(format!("{}: {e}", e.name()));
                }
            }
        }
        self.save(execution).await?;
        Ok(outcome)
    }

    async fn save(&self, execution: &Execution) -> Result<(), WorkflowError> {
        let mut item = to_item(&keys::execution(&execution.name), execution).map_err(table_err)?;
        if execution.status == ExecutionStatus::Running {
            item.insert(GSI1_PK.into(), RUNNING_EXECUTIONS.into());
            item.insert(GSI1_SK.into(), execution.name.clone().into());
        }
        self.table.put(item, None).await.map_err(table_err)
    }
}

#[async_trait]
impl Workflow for Arc<LocalWorkflow> {
    async fn start(&self, name: &str, input: Value) -> Result<String, WorkflowError> {
        let ctx = self.context()?;
        let execution = Execution {
            id: name.to_owned(),
            name: name.to_owned(),
            status: ExecutionStatus::Running,
            input,
            error: None,
            steps: Vec::new(),
            started_at: ctx.clock.now(),
            ended_at: None,
        };
        let mut item = to_item(&keys::execution(name), &execution).map_err(table_err)?;
        item.insert(GSI1_PK.into(), RUNNING_EXECUTIONS.into());
        item.insert(GSI1_SK.into(), name.into());
        match self.table.put(item, Some(Condition::NotExists)).await {
            Ok(()) => {
                self.spawn(execution);
                Ok(name.to_owned())
            }
            Err(TableError::ConditionFailed) => Ok(name.to_owned()),
            Err(e) => Err(table_err(e)),
        }
    }

    async fn describe(&self, id: &str) -> Result<Option<Execution>, WorkflowError> {
        match self
            .table
            .get(&keys::execution(id))
            .await
            .map_err(table_err)?
        {
            Some(item) => Ok(Some(from_item(item).map_err(table_err)?)),
            None => Ok(None),
        }
    }
}

fn table_err(e: TableError) -> WorkflowError {
    match e {
        TableError::Unavailable(m) => WorkflowError::Unavailable(m),
        other => WorkflowError::Other(other.to_string()),
    }
}
