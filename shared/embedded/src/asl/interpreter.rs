//! The interpreter: starts executions by idempotent name, drives them state by state, and
//! records every transition of the top-level scope through the [`ExecutionStore`], so a new
//! process can continue an execution where the last one stopped.
//!
//! Granularity of persistence: one top-level state. A running execution is resumed by
//! re-entering its current state with the stored input and retry counters; completed states
//! are never run again. Parallel and Map states are one top-level state each: their
//! branches and iterations are not stored, so a resumed execution re-runs the whole
//! Parallel/Map (the tasks they call must be idempotent, as every pipeline step is).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{TaskFailure, names};
use super::model::{Kind, Scope, StateMachine};
use super::retry::{Recovery, recover};
use super::sleeper::{ScaledSleeper, Sleeper};
use super::store::{ExecutionRecord, ExecutionStore, Position};
use super::task::TaskInvoker;
use trove_core::ports::{
    Clock, Execution, ExecutionStatus, StepRecord, SystemClock, Table, WorkflowError,
};

/// Runs executions of one state machine.
pub struct Interpreter {
    pub(super) machine: Arc<StateMachine>,
    store: ExecutionStore,
    pub(super) invoker: Arc<dyn TaskInvoker>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) sleeper: Arc<dyn Sleeper>,
}

/// What a state attempt leads to.
pub(super) enum Outcome {
    Next(String, Value),
    End(Value),
    /// A Fail state.
    Fail(TaskFailure),
}

/// How a scope ended.
pub(super) enum Finish {
    Succeeded(Value),
    Failed(TaskFailure),
}

/// The execution's part of the context object (`$$.Execution`).
pub(super) struct ExecInfo {
    id: String,
    name: String,
    input: Value,
    started_at: OffsetDateTime,
}

impl Interpreter {
    /// An interpreter on real time and the system clock.
    pub fn new(
        machine: Arc<StateMachine>,
        table: Arc<dyn Table>,
        invoker: Arc<dyn TaskInvoker>,
    ) -> Self {
        Self {
            machine,
            store: ExecutionStore::new(table),
            invoker,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(ScaledSleeper::real_time()),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where waits and timeouts go (tests shrink time with [`ScaledSleeper::scaled`]).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    /// Stores a new running execution named `name` (its id is the name). Idempotent: if an
    /// execution of that name exists, nothing is stored and the answer is `false`. The
    /// execution does not run until [`Interpreter::run`] is called.
    pub async fn start(&self, name: &str, input: Value) -> Result<bool, WorkflowError> {
        let now = self.clock.now();
        let record = ExecutionRecord {
            position: Some(Position::enter(self.machine.start_at(), input.clone(), now)),
            execution: Execution {
                id: name.to_owned(),
                name: name.to_owned(),
                status: ExecutionStatus::Running,
                input,
                error: None,
                steps: Vec::new(),
                started_at: now,
                ended_at: None,
            },
            output: None,
        };
        self.store.create(&record).await
    }

    /// Runs the execution from its stored position to its end and returns the final
    /// record; an execution that already ended is returned as it is. An error means the
    /// execution could not be stored: it stays running and can be resumed.
    pub async fn run(&self, name: &str) -> Result<Option<ExecutionRecord>, WorkflowError> {
        let Some(record) = self.store.load(name).await? else {
            return Ok(None);
        };
        if record.execution.status != ExecutionStatus::Running {
            return Ok(Some(record));
        }
        self.drive(record).await.map(Some)
    }

    /// The stored record of an execution (position, output) — for diagnostics and tests.
    pub async fn record(&self, name: &str) -> Result<Option<ExecutionRecord>, WorkflowError> {
        self.store.load(name).await
    }

    pub async fn describe(&self, id: &str) -> Result<Option<Execution>, WorkflowError> {
        Ok(self.store.load(id).await?.map(|r| r.execution))
    }

    /// Names of the executions left running (by this or an earlier process).
    pub async fn running(&self) -> Result<Vec<String>, WorkflowError> {
        self.store.running().await
    }

    async fn drive(&self, mut record: ExecutionRecord) -> Result<ExecutionRecord, WorkflowError> {
        let now = self.clock.now();
        let position = record.position.clone().unwrap_or_else(|| {
            Position::enter(self.machine.start_at(), record.execution.input.clone(), now)
        });
        let exec = ExecInfo {
            id: record.execution.id.clone(),
            name: record.execution.name.clone(),
            input: record.execution.input.clone(),
            started_at: record.execution.started_at,
        };
        let machine = Arc::clone(&self.machine);
        let journal = Journal {
            store: &self.store,
            record: &mut record,
            clock: self.clock.as_ref(),
        };
        let run = self.run_scope(&machine.root, position, &exec, Some(journal));
        let finish = match machine.timeout {
            None => run.await?,
            Some(limit) => {
                let elapsed = (now - exec.started_at).unsigned_abs();
                let left = limit.saturating_sub(elapsed);
                match tokio::time::timeout(self.sleeper.real(left), run).await {
                    Ok(finish) => finish?,
                    Err(_) => Finish::Failed(TaskFailure::new(
                        names::TIMEOUT,
                        format!(
                            "the execution did not finish within {} seconds",
                            limit.as_secs()
                        ),
                    )),
                }
            }
        };
        let now = self.clock.now();
        let execution = &mut record.execution;
        match finish {
            Finish::Succeeded(output) => {
                execution.status = ExecutionStatus::Succeeded;
                record.output = Some(output);
            }
            Finish::Failed(failure) => {
                execution.status = ExecutionStatus::Failed;
                execution.error = Some(failure.summary());
                // A task cut short by the execution's own timeout ends with it.
                if let Some(step) = execution.steps.last_mut()
                    && step.status == ExecutionStatus::Running
                {
                    step.status = ExecutionStatus::Failed;
                    step.ended_at = Some(now);
                    step.error = Some(failure.summary());
                }
            }
        }
        execution.ended_at = Some(now);
        record.position = None;
        self.store.save(&record).await?;
        tracing::info!(
            execution = %record.execution.id,
            status = ?record.execution.status,
            error = record.execution.error.as_deref().unwrap_or(""),
            "execution ended"
        );
        Ok(record)
    }

    /// Runs a scope from `position` to its end. With a journal (the top level) every
    /// transition is stored; Parallel branches and Map iterations run without one.
    pub(super) fn run_scope<'a>(
        &'a self,
        scope: &'a Scope,
        mut position: Position,
        exec: &'a ExecInfo,
        mut journal: Option<Journal<'a>>,
    ) -> BoxFuture<'a, Result<Finish, WorkflowError>> {
        Box::pin(async move {
            let mut fresh = true;
            loop {
                let Some(state) = scope.states.get(&position.state) else {
                    // Only a stored position written for another definition gets here.
                    return Ok(Finish::Failed(TaskFailure::runtime(format!(
                        "the execution stands at `{}`, which this state machine does not have",
                        position.state
                    ))));
                };
                let is_task = matches!(state.kind, Kind::Task(_));
                // Entering Succeed or Fail is not stored: the execution's end, stored next,
                // says more, and a crash in between resumes at the state before (whose
                // Task, idempotent, runs again).
                let ends = matches!(state.kind, Kind::Succeed(_) | Kind::Fail(_));
                if let (Some(j), true, false) = (journal.as_mut(), fresh, ends) {
                    j.enter(&position, is_task).await?;
                }
                fresh = true;
                let retry_count: u32 = position.retries.iter().sum();
                let context = exec.context(&position.state, position.entered_at, retry_count);
                let failure = match self.attempt(state, &position.input, &context, exec).await {
                    Ok(Outcome::Next(next, output)) => {
                        if let Some(j) = journal.as_mut() {
                            j.leave(is_task, None);
                        }
                        position = Position::enter(&next, output, self.clock.now());
                        continue;
                    }
                    Ok(Outcome::End(output)) => {
                        if let Some(j) = journal.as_mut() {
                            j.leave(is_task, None);
                        }
                        return Ok(Finish::Succeeded(output));
                    }
                    Ok(Outcome::Fail(failure)) => return Ok(Finish::Failed(failure)),
                    Err(failure) => failure,
                };
                let (retriers, catchers) = state.kind.handlers();
                match recover(retriers, catchers, &position.retries, &failure) {
                    Recovery::Retry { retrier, delay } => {
                        if position.retries.len() < retriers.len() {
                            position.retries.resize(retriers.len(), 0);
                        }
                        if let Some(count) = position.retries.get_mut(retrier) {
                            *count += 1;
                        }
                        tracing::warn!(
                            execution = %exec.id,
                            state = %position.state,
                            error = %failure,
                            retry = position.retries.iter().sum::<u32>(),
                            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            "state failed; retrying"
                        );
                        if let Some(j) = journal.as_mut() {
                            j.retrying(&position, is_task, &failure).await?;
                        }
                        self.sleeper.sleep(delay).await;
                        fresh = false;
                    }
                    Recovery::Catch(catcher) => {
                        if let Some(j) = journal.as_mut() {
                            j.leave(is_task, Some(&failure));
                        }
                        let error_output = json!({"Error": failure.error, "Cause": failure.cause});
                        match catcher
                            .result_path
                            .apply(position.input.clone(), error_output)
                        {
                            Ok(output) => {
                                position = Position::enter(&catcher.next, output, self.clock.now());
                            }
                            Err(e) => return Ok(Finish::Failed(e)),
                        }
                    }
                    Recovery::GiveUp => {
                        if let Some(j) = journal.as_mut() {
                            j.leave(is_task, Some(&failure));
                        }
                        return Ok(Finish::Failed(failure));
                    }
                }
            }
        })
    }

    /// Runs a nested scope (a Parallel branch, a Map iteration) on `input`.
    pub(super) async fn run_nested(
        &self,
        scope: &Scope,
        input: Value,
        exec: &ExecInfo,
    ) -> Result<Value, TaskFailure> {
        let position = Position::enter(&scope.start_at, input, self.clock.now());
        match self.run_scope(scope, position, exec, None).await {
            Ok(Finish::Succeeded(output)) => Ok(output),
            Ok(Finish::Failed(failure)) => Err(failure),
            Err(e) => Err(TaskFailure::runtime(e.to_string())),
        }
    }
}

impl ExecInfo {
    /// The context object (`$$`) of a state.
    fn context(&self, state: &str, entered_at: OffsetDateTime, retry_count: u32) -> Value {
        json!({
            "Execution": {
                "Id": self.id,
                "Name": self.name,
                "Input": self.input,
                "StartTime": rfc3339(self.started_at),
            },
            "State": {
                "Name": state,
                "EnteredTime": rfc3339(entered_at),
                "RetryCount": retry_count,
            },
        })
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The top level's record of transitions: the execution record, written after each.
pub(super) struct Journal<'a> {
    store: &'a ExecutionStore,
    record: &'a mut ExecutionRecord,
    clock: &'a dyn Clock,
}

impl Journal<'_> {
    /// The execution stands at `position` (a new state, or the stored one again after a
    /// restart). Task states get a step record; a restart reuses the one left running.
    async fn enter(&mut self, position: &Position, is_task: bool) -> Result<(), WorkflowError> {
        self.record.position = Some(position.clone());
        if is_task {
            let steps = &mut self.record.execution.steps;
            let resumed = steps
                .last()
                .is_some_and(|s| s.state == position.state && s.status == ExecutionStatus::Running);
            if !resumed {
                steps.push(StepRecord {
                    state: position.state.clone(),
                    status: ExecutionStatus::Running,
                    started_at: self.clock.now(),
                    ended_at: None,
                    error: None,
                });
            }
        }
        self.store.save(self.record).await
    }

    /// A retry is due: store the counters (and show the last error on the running step).
    async fn retrying(
        &mut self,
        position: &Position,
        is_task: bool,
        failure: &TaskFailure,
    ) -> Result<(), WorkflowError> {
        self.record.position = Some(position.clone());
        if is_task && let Some(step) = self.record.execution.steps.last_mut() {
            step.error = Some(failure.summary());
        }
        self.store.save(self.record).await
    }

    /// The state is done; stored with the next transition (or the execution's end).
    fn leave(&mut self, is_task: bool, failure: Option<&TaskFailure>) {
        if !is_task {
            return;
        }
        let now = self.clock.now();
        if let Some(step) = self.record.execution.steps.last_mut() {
            step.ended_at = Some(now);
            match failure {
                None => {
                    step.status = ExecutionStatus::Succeeded;
                    step.error = None;
                }
                Some(f) => {
                    step.status = ExecutionStatus::Failed;
                    step.error = Some(f.summary());
                }
            }
        }
    }
}
