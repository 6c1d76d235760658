//! Test doubles for the interpreter: a scripted task invoker that records its calls, a
//! sleeper that records waits without waiting, and a table on a temporary SQLite file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tempfile::TempDir;

use super::{Interpreter, Sleeper, StateMachine, Substitutions, TaskFailure, TaskInvoker};
use crate::SqliteTable;
use trove_core::ports::Table;

/// What the fake invoker does for one call.
pub(super) enum Reply {
    /// Answers the task's input as its result.
    Echo,
    Value(Value),
    Fail(&'static str, &'static str),
    /// Waits this long (real time) first.
    After(Duration, Box<Reply>),
    /// Never answers (a process that dies mid-task).
    Hang,
}

type Script = dyn Fn(&str, &Value, usize) -> Reply + Send + Sync;

/// Answers each call by a script of (resource, input, how many earlier calls that resource
/// had), and records every call.
pub(super) struct FakeInvoker {
    calls: Mutex<Vec<(String, Value)>>,
    in_flight: Mutex<(usize, usize)>,
    script: Box<Script>,
}

impl FakeInvoker {
    pub(super) fn new(
        script: impl Fn(&str, &Value, usize) -> Reply + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            calls: Mutex::new(Vec::new()),
            in_flight: Mutex::new((0, 0)),
            script: Box::new(script),
        })
    }

    /// Echoes every call.
    pub(super) fn echo() -> Arc<Self> {
        Self::new(|_, _, _| Reply::Echo)
    }

    pub(super) fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().expect("lock").clone()
    }

    pub(super) fn resources(&self) -> Vec<String> {
        self.calls().into_iter().map(|(r, _)| r).collect()
    }

    /// The most calls that were running at the same time.
    pub(super) fn max_in_flight(&self) -> usize {
        self.in_flight.lock().expect("lock").1
    }
}

#[async_trait]
impl TaskInvoker for FakeInvoker {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        let earlier = {
            let mut calls = self.calls.lock().expect("lock");
            let n = calls.iter().filter(|(r, _)| r == resource).count();
            calls.push((resource.to_owned(), input.clone()));
            n
        };
        {
            let mut f = self.in_flight.lock().expect("lock");
            f.0 += 1;
            f.1 = f.1.max(f.0);
        }
        let mut reply = (self.script)(resource, &input, earlier);
        let result = loop {
            match reply {
                Reply::Echo => break Ok(input),
                Reply::Value(v) => break Ok(v),
                Reply::Fail(e, c) => break Err(TaskFailure::new(e, c)),
                Reply::After(d, next) => {
                    tokio::time::sleep(d).await;
                    reply = *next;
                }
                Reply::Hang => std::future::pending::<()>().await,
            }
        };
        self.in_flight.lock().expect("lock").0 -= 1;
        result
    }
}

/// Records every wait and returns at once; timeouts last a thousandth of their workflow
/// time (a TimeoutSeconds of 1 is 1 ms).
#[derive(Default)]
pub(super) struct RecordingSleeper {
    slept: Mutex<Vec<Duration>>,
}

impl RecordingSleeper {
    pub(super) fn slept(&self) -> Vec<Duration> {
        self.slept.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Sleeper for RecordingSleeper {
    async fn sleep(&self, duration: Duration) {
        self.slept.lock().expect("lock").push(duration);
        tokio::task::yield_now().await;
    }

    fn real(&self, duration: Duration) -> Duration {
        duration / 1000
    }
}

pub(super) fn temp_table() -> (TempDir, Arc<dyn Table>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let table = SqliteTable::open(&dir.path().join("workflow.db")).expect("sqlite table");
    (dir, Arc::new(table))
}

pub(super) fn machine(definition: Value) -> Arc<StateMachine> {
    Arc::new(
        StateMachine::from_json(&definition.to_string(), &Substitutions::new())
            .unwrap_or_else(|e| panic!("test definition is invalid: {e}")),
    )
}

/// An interpreter with everything a test inspects.
pub(super) struct Harness {
    pub(super) _dir: TempDir,
    pub(super) table: Arc<dyn Table>,
    pub(super) invoker: Arc<FakeInvoker>,
    pub(super) sleeper: Arc<RecordingSleeper>,
    pub(super) interpreter: Interpreter,
}

impl Harness {
    pub(super) fn new(definition: Value, invoker: Arc<FakeInvoker>) -> Self {
        let (dir, table) = temp_table();
        Self::on(dir, table, machine(definition), invoker)
    }

    pub(super) fn on(
        dir: TempDir,
        table: Arc<dyn Table>,
        machine: Arc<StateMachine>,
        invoker: Arc<FakeInvoker>,
    ) -> Self {
        let sleeper = Arc::new(RecordingSleeper::default());
        let interpreter = Interpreter::new(machine, Arc::clone(&table), invoker.clone())
            .with_sleeper(sleeper.clone());
        Self {
            _dir: dir,
            table,
            invoker,
            sleeper,
            interpreter,
        }
    }

    /// Starts execution `exec-1` on `input` and runs it to its end.
    pub(super) async fn run(&self, input: Value) -> super::ExecutionRecord {
        assert!(
            self.interpreter
                .start("exec-1", input)
                .await
                .expect("start")
        );
        self.interpreter
            .run("exec-1")
            .await
            .expect("run")
            .expect("execution exists")
    }
}
