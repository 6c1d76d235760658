//! An interpreter of the Amazon States Language: the upload pipeline is defined once, in
//! `statemachines/*.asl.json`, run by Step Functions in AWS and by this interpreter in
//! `trove serve` and the tests.
//!
//! - [`StateMachine::from_json`] parses a definition (with SAM-style `${Name}`
//!   substitutions) and validates it completely at load: unknown state types or fields,
//!   dangling or missing transitions, unreachable states, paths and intrinsic functions that
//!   do not parse, unresolved substitutions and unsupported features are each an
//!   [`AslError`] naming the state and the field.
//! - [`Interpreter`] starts executions by idempotent name, runs them, and stores each one
//!   through the `Table` port after every transition (see [`ExecutionStore`]), so another
//!   process resumes it from its current state.
//! - Task states call a [`TaskInvoker`]; waits and timeouts go through a [`Sleeper`].
//!
//! Persistence is per top-level state: a resumed execution re-enters the state it stood
//! in (with its stored input and retry counters) and never re-runs completed ones. A
//! Parallel or Map state is one such state: its branches and iterations are not stored,
//! so a resume re-runs it whole. Only top-level Task states appear in `Execution::steps`.
//!
//! Supported: Task, Choice (every comparison operator, `…Path` variants, And/Or/Not),
//! Pass, Wait, Succeed, Fail (Error/Cause, ErrorPath/CausePath), Parallel, inline Map
//! (ItemsPath, ItemSelector/Parameters, ItemProcessor/Iterator, MaxConcurrency[Path]);
//! InputPath, Parameters, ResultSelector, ResultPath (incl. null), OutputPath; the context
//! object (`$$.Execution.{Id,Name,Input,StartTime}`, `$$.State.{Name,EnteredTime,
//! RetryCount}`, `$$.Map.Item.{Index,Value}` in an ItemSelector); Retry (ErrorEquals,
//! IntervalSeconds, BackoffRate, MaxAttempts incl. 0, MaxDelaySeconds, JitterStrategy),
//! Catch; TimeoutSeconds[Path] of tasks and of the machine; the intrinsic functions
//! (States.Format, StringToJson, JsonToString, Array, ArrayPartition, ArrayContains,
//! ArrayRange, ArrayGetItem, ArrayLength, ArrayUnique, Base64Encode, Base64Decode, Hash
//! with SHA-256/384/512, JsonMerge (shallow), MathRandom, MathAdd, StringSplit, UUID).
//!
//! Refused at load as unsupported: JSONata (`QueryLanguage`, `Arguments`, `Output`),
//! variables (`Assign`), heartbeats, task credentials, Distributed Map (ItemReader,
//! ItemBatcher, ResultWriter, tolerated failures, `Mode: DISTRIBUTED`), `States.Hash` with
//! MD5 or SHA-1. `$$.Task.Token` and `$$.StateMachine` are not in the context object.

mod choice;
mod dataflow;
mod error;
mod interpreter;
mod intrinsic;
mod load;
mod model;
mod path;
mod raw;
mod retry;
mod sleeper;
mod states;
mod store;
mod task;

#[cfg(test)]
mod interpreter_tests;
#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod pipeline_retry_tests;
#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod test_support;

pub use error::{AslError, AslErrorKind, TaskFailure, names as error_names};
pub use interpreter::Interpreter;
pub use load::Substitutions;
pub use model::StateMachine;
pub use sleeper::{ScaledSleeper, Sleeper};
pub use store::{ExecutionRecord, ExecutionStore, Position};
pub use task::TaskInvoker;
