//! The in-process workflow of `trove serve`: the ASL interpreter running the pipeline
//! definition the binary carries (`statemachines/artifact-pipeline.asl.json`, the file SAM
//! deploys), with each Task calling the pipeline step in-process. Executions are stored
//! through the `Table` port after every transition; a restarted process resumes the ones
//! left running from their current state (steps are idempotent, so re-running it is safe).

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError, Weak};

use async_trait::async_trait;
use serde_json::Value;

use super::asl::{
    AslError, ExecutionStore, Interpreter, StateMachine, Substitutions, TaskFailure, TaskInvoker,
};
use trove_core::faults::{Faults, Injected};
use trove_core::pipeline::{self, StepError, StepInput};
use trove_core::ports::{Execution, Table, Workflow, WorkflowError, check_execution_name};
use trove_core::services::Context;

/// The pipeline definition, embedded so the binary needs no file at run time.
pub const PIPELINE_DEFINITION: &str =
    include_str!("../../../statemachines/artifact-pipeline.asl.json");

/// Local resources stand for the Lambda ARNs: `trove:step:<Step>` runs that pipeline step.
pub const LOCAL_RESOURCE_PREFIX: &str = "trove:step:";

/// The definition's `${…FunctionArn}` substitutions, one per pipeline step.
const STEP_FUNCTIONS: [(&str, &str); 4] = [
    ("ScanFunctionArn", "Scan"),
    ("ValidateFunctionArn", "Validate"),
    ("PersistFunctionArn", "Persist"),
    ("QuarantineFunctionArn", "Quarantine"),
];

/// Substitutions that map each step function of the definition to its local resource.
pub fn local_substitutions() -> Substitutions {
    STEP_FUNCTIONS
        .iter()
        .map(|(arn, step)| ((*arn).to_owned(), format!("{LOCAL_RESOURCE_PREFIX}{step}")))
        .collect()
}

/// Parsed and validated once per process.
static PIPELINE: LazyLock<Result<Arc<StateMachine>, AslError>> = LazyLock::new(|| {
    StateMachine::from_json(PIPELINE_DEFINITION, &local_substitutions()).map(Arc::new)
});

/// The embedded pipeline definition, validated.
pub fn pipeline() -> Result<Arc<StateMachine>, AslError> {
    PIPELINE.clone()
}

pub struct LocalWorkflow {
    machine: Arc<StateMachine>,
    store: ExecutionStore,
    table: Arc<dyn Table>,
    /// Built when the context (which holds this workflow) is attached.
    interpreter: OnceLock<Arc<Interpreter>>,
    /// Executions this process is driving, so a resume never runs one twice at once.
    active: Mutex<HashSet<String>>,
    /// Itself, for the tasks that drive its executions.
    this: Weak<LocalWorkflow>,
}

impl LocalWorkflow {
    /// Fails if the embedded pipeline definition is invalid: a build defect that must stop
    /// the process at startup rather than refuse every upload later (a unit test loads it).
    pub fn new(table: Arc<dyn Table>) -> Result<Arc<Self>, WorkflowError> {
        let machine = pipeline().map_err(|e| {
            WorkflowError::Other(format!("statemachines/artifact-pipeline.asl.json: {e}"))
        })?;
        Ok(Arc::new_cyclic(|this| Self {
            machine,
            store: ExecutionStore::new(Arc::clone(&table)),
            table,
            interpreter: OnceLock::new(),
            active: Mutex::new(HashSet::new()),
            this: this.clone(),
        }))
    }

    /// Connects the steps' context; executions run only after this.
    pub fn attach(&self, ctx: &Arc<Context>) {
        self.attach_with_faults(ctx, Faults::default());
    }

    /// As `attach`, with faults injected into the steps (`TROVE_FAULTS`, tests only).
    pub fn attach_with_faults(&self, ctx: &Arc<Context>, faults: Faults) {
        let invoker = Arc::new(PipelineSteps {
            ctx: Arc::downgrade(ctx),
            faults: Arc::new(faults),
        });
        let interpreter =
            Interpreter::new(Arc::clone(&self.machine), Arc::clone(&self.table), invoker)
                .with_clock(Arc::clone(&ctx.clock));
        let _ = self.interpreter.set(Arc::new(interpreter));
    }

    fn interpreter(&self) -> Result<Arc<Interpreter>, WorkflowError> {
        self.interpreter
            .get()
            .cloned()
            .ok_or_else(|| WorkflowError::Other("workflow not attached to a context".into()))
    }

    /// Resumes every execution left running by a previous process; returns how many.
    pub async fn resume(&self) -> Result<usize, WorkflowError> {
        let interpreter = self.interpreter()?;
        let names = interpreter.running().await?;
        for name in &names {
            tracing::info!(execution = %name, "resuming execution");
            self.spawn(&interpreter, name);
        }
        Ok(names.len())
    }

    fn spawn(&self, interpreter: &Arc<Interpreter>, name: &str) {
        // Dropped: the process is shutting down; the execution resumes on restart.
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let fresh = self
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned());
        if !fresh {
            return;
        }
        let interpreter = Arc::clone(interpreter);
        let name = name.to_owned();
        tokio::spawn(async move {
            if let Err(e) = interpreter.run(&name).await {
                tracing::error!(execution = %name, error = %e, "execution stopped; it resumes on restart");
            }
            this.active
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&name);
        });
    }
}

#[async_trait]
impl Workflow for LocalWorkflow {
    async fn start(&self, name: &str, input: Value) -> Result<String, WorkflowError> {
        check_execution_name(name)?;
        let interpreter = self.interpreter()?;
        if interpreter.start(name, input).await? {
            self.spawn(&interpreter, name);
        }
        Ok(name.to_owned())
    }

    async fn describe(&self, id: &str) -> Result<Option<Execution>, WorkflowError> {
        Ok(self.store.load(id).await?.map(|r| r.execution))
    }

    fn id_of(&self, name: &str) -> String {
        name.to_owned()
    }
}

/// Runs a local resource `trove:step:<Step>` as the pipeline step of that name, the way
/// the step's Lambda function does: a `StepInput` in, the same `StepInput` out.
struct PipelineSteps {
    ctx: Weak<Context>,
    faults: Arc<Faults>,
}

#[async_trait]
impl TaskInvoker for PipelineSteps {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        let step = resource
            .strip_prefix(LOCAL_RESOURCE_PREFIX)
            .ok_or_else(|| {
                TaskFailure::new(
                    "States.TaskFailed",
                    format!("no local function for resource `{resource}`"),
                )
            })?;
        let Some(ctx) = self.ctx.upgrade() else {
            // The process is shutting down. Failing the task would send the upload to
            // Quarantine; instead it never finishes here, and the execution, still stored
            // as running at this state, resumes on the next start.
            return std::future::pending().await;
        };
        let input: StepInput = serde_json::from_value(input).map_err(|e| {
            TaskFailure::new("Trove.Rejected", format!("bad input for step {step}: {e}"))
        })?;
        if self.faults.before(step, input.upload_id.as_str()).await == Injected::Fail {
            return Err(TaskFailure::new(
                "Trove.Retryable",
                "injected fault (TROVE_FAULTS)",
            ));
        }
        pipeline::run_step(&ctx, step, &input)
            .await
            .map_err(|e: StepError| TaskFailure::new(e.name(), e.to_string()))?;
        serde_json::to_value(&input).map_err(|e| TaskFailure::new("Trove.Rejected", e.to_string()))
    }
}
