//! The two kinds of error of the interpreter: a definition refused at load time
//! ([`AslError`]), and an error raised while a state runs ([`TaskFailure`], the value that
//! Retry and Catch match on by name).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The error names the States Language reserves. A definition that names another `States.*`
/// error in `ErrorEquals` is refused at load: it is almost certainly a typo that would never
/// match.
pub mod names {
    pub const ALL: &str = "States.ALL";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const RUNTIME: &str = "States.Runtime";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const PERMISSIONS: &str = "States.Permissions";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
    pub const RESULT_WRITER_FAILED: &str = "States.ResultWriterFailed";
    pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
    pub const HTTP_SOCKET: &str = "States.Http.Socket";

    pub const RESERVED: [&str; 17] = [
        ALL,
        TASK_FAILED,
        TIMEOUT,
        HEARTBEAT_TIMEOUT,
        RUNTIME,
        NO_CHOICE_MATCHED,
        INTRINSIC_FAILURE,
        PERMISSIONS,
        RESULT_PATH_MATCH_FAILURE,
        PARAMETER_PATH_FAILURE,
        BRANCH_FAILED,
        DATA_LIMIT_EXCEEDED,
        EXCEED_TOLERATED_FAILURE_THRESHOLD,
        ITEM_READER_FAILED,
        RESULT_WRITER_FAILED,
        QUERY_EVALUATION_ERROR,
        HTTP_SOCKET,
    ];
}

/// An error raised by a task or by a state: what Retry and Catch match on (`error`) and the
/// human explanation (`cause`). A Catch hands `{"Error": error, "Cause": cause}` to its next
/// state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct TaskFailure {
    pub error: String,
    pub cause: String,
}

impl TaskFailure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// A failure of the data flow itself (a path that selects nothing, a value of the wrong
    /// type). Like in Step Functions it is terminal: no Retry or Catch applies.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, cause)
    }

    pub fn intrinsic(cause: impl Into<String>) -> Self {
        Self::new(names::INTRINSIC_FAILURE, cause)
    }

    /// Errors that no Retry or Catch may handle.
    pub fn is_terminal(&self) -> bool {
        self.error == names::RUNTIME || self.error == names::DATA_LIMIT_EXCEEDED
    }

    /// "Error: cause", or just the error when there is no cause: how executions and step
    /// records show a failure.
    pub fn summary(&self) -> String {
        if self.cause.is_empty() {
            self.error.clone()
        } else {
            format!("{}: {}", self.error, self.cause)
        }
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Whether an `ErrorEquals` entry matches an error name. `States.ALL` matches everything,
/// `States.TaskFailed` everything but a timeout; terminal errors match nothing.
pub(crate) fn error_matches(pattern: &str, error: &str) -> bool {
    if error == names::RUNTIME || error == names::DATA_LIMIT_EXCEEDED {
        return false;
    }
    pattern == error
        || pattern == names::ALL
        || (pattern == names::TASK_FAILED && error != names::TIMEOUT)
}

/// What kind of mistake made a definition unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AslErrorKind {
    /// Not JSON, or a field of the wrong JSON type.
    Syntax,
    UnknownStateType,
    UnknownField,
    MissingField,
    /// A field whose value is out of range or contradicts another field.
    InvalidValue,
    /// `Next`, `Default`, `StartAt` or a Catch's `Next` names no state of its scope.
    DanglingTransition,
    /// A state that must say where to go has neither `Next` nor `End`.
    MissingTransition,
    Unreachable,
    /// A feature of the language (or of Step Functions) this interpreter does not run.
    Unsupported,
    /// A path that does not parse, or is not a reference path where one is required.
    BadPath,
    BadIntrinsic,
    /// A `${Name}` left after definition substitutions.
    UnresolvedSubstitution,
}

impl fmt::Display for AslErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            AslErrorKind::Syntax => "syntax error",
            AslErrorKind::UnknownStateType => "unknown state type",
            AslErrorKind::UnknownField => "unknown field",
            AslErrorKind::MissingField => "missing field",
            AslErrorKind::InvalidValue => "invalid value",
            AslErrorKind::DanglingTransition => "dangling transition",
            AslErrorKind::MissingTransition => "missing transition",
            AslErrorKind::Unreachable => "unreachable state",
            AslErrorKind::Unsupported => "unsupported feature",
            AslErrorKind::BadPath => "bad path",
            AslErrorKind::BadIntrinsic => "bad intrinsic function",
            AslErrorKind::UnresolvedSubstitution => "unresolved substitution",
        };
        f.write_str(s)
    }
}

/// A definition refused at load, naming the state (`Outer/Branches[0]/Inner` inside
/// Parallel and Map) and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AslError {
    pub kind: AslErrorKind,
    /// The state at fault; `None` for the top level of the definition.
    pub state: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl AslError {
    pub(crate) fn new(kind: AslErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            state: None,
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn at_state(mut self, state: &str) -> Self {
        if self.state.is_none() {
            self.state = Some(state.to_owned());
        }
        self
    }

    /// Sets the field, or prefixes it to the one already set (`Retry[0]` + `BackoffRate`).
    pub(crate) fn at_field(mut self, field: &str) -> Self {
        self.field = Some(match self.field.take() {
            None => field.to_owned(),
            Some(inner) if inner.starts_with('[') => format!("{field}{inner}"),
            Some(inner) => format!("{field}.{inner}"),
        });
        self
    }
}

impl fmt::Display for AslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid state machine: {}", self.kind)?;
        match &self.state {
            Some(state) => write!(f, " in state `{state}`")?,
            None => write!(f, " at the top level")?,
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_follows_the_reserved_wildcards() {
        assert!(error_matches("Trove.Retryable", "Trove.Retryable"));
        assert!(!error_matches("Trove.Retryable", "Trove.Rejected"));
        assert!(error_matches(names::ALL, "Trove.Rejected"));
        assert!(error_matches(names::ALL, names::TIMEOUT));
        assert!(error_matches(names::TASK_FAILED, "Trove.Rejected"));
        assert!(!error_matches(names::TASK_FAILED, names::TIMEOUT));
        assert!(!error_matches(names::ALL, names::RUNTIME));
        assert!(!error_matches(names::RUNTIME, names::RUNTIME));
    }

    #[test]
    fn errors_name_state_and_field() {
        let e = AslError::new(AslErrorKind::InvalidValue, "must be at least 1.0")
            .at_field("BackoffRate")
            .at_field("Retry[0]")
            .at_state("Scan");
        assert_eq!(e.field.as_deref(), Some("Retry[0].BackoffRate"));
        let text = e.to_string();
        assert!(
            text.contains("`Scan`") && text.contains("Retry[0].BackoffRate"),
            "{text}"
        );
    }
}
