//! Loading a definition: substitutions, then each state deserialised into its serde shape
//! and compiled into the model, refusing anything the interpreter would not run exactly
//! (unknown types and fields, dangling or missing transitions, unreachable states,
//! unsupported features, bad paths and intrinsics, unresolved `${…}`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::choice::{Branch, parse_timestamp};
use super::dataflow::{DataPath, ResultPath, Template, Text};
use super::error::{AslError, AslErrorKind};
use super::model::{
    Choice, Concurrency, Fail, Io, Kind, Map as MapState, Parallel, Pass, Scope, Seconds, State,
    StateMachine, Task, Transition, Wait, WaitFor,
};
use super::path::Path;
use super::raw::{
    RawBranch, RawChoice, RawFail, RawMachine, RawMap, RawParallel, RawPass, RawProcessor,
    RawSucceed, RawTask, RawWait, UNSUPPORTED_FIELDS,
};
use super::retry::{compile_catch, compile_retry};

/// Definition substitutions: `"ScanFunctionArn" → "arn:…"` replaces `${ScanFunctionArn}` in
/// every string of the definition, as SAM's `DefinitionSubstitutions` does.
pub type Substitutions = BTreeMap<String, String>;

/// Step Functions' upper bound for TimeoutSeconds.
const MAX_TIMEOUT_SECONDS: u64 = 99_999_999;

/// Fields holding nested scopes: checked when those scopes are compiled.
const NESTED_SCOPE_FIELDS: [&str; 3] = ["Branches", "Iterator", "ItemProcessor"];

impl StateMachine {
    /// Parses and validates a definition. Any problem is an [`AslError`] naming the state
    /// and field at fault; nothing is skipped.
    pub fn from_json(text: &str, substitutions: &Substitutions) -> Result<Self, AslError> {
        let mut value: Value = serde_json::from_str(text).map_err(|e| {
            AslError::new(
                AslErrorKind::Syntax,
                format!("the definition is not JSON: {e}"),
            )
        })?;
        substitute(&mut value, substitutions);
        let Value::Object(mut top) = value else {
            return Err(AslError::new(
                AslErrorKind::Syntax,
                "the definition must be a JSON object",
            ));
        };
        for (key, v) in &top {
            if key != "States" {
                check_resolved(key, v)?;
            }
        }
        if let Some(q) = top.get("QueryLanguage") {
            if q != "JSONPath" {
                return Err(AslError::new(
                    AslErrorKind::Unsupported,
                    "only the JSONPath query language is supported (JSONata is not)",
                )
                .at_field("QueryLanguage"));
            }
            top.remove("QueryLanguage");
        }
        let raw: RawMachine = from_value(Value::Object(top))?;
        if let Some(v) = &raw.version
            && v != "1.0"
        {
            return Err(AslError::new(
                AslErrorKind::InvalidValue,
                format!("unknown States Language version `{v}`"),
            )
            .at_field("Version"));
        }
        let timeout = match raw.timeout_seconds {
            None => None,
            Some(n) if (1..=MAX_TIMEOUT_SECONDS).contains(&n) => Some(Duration::from_secs(n)),
            Some(_) => {
                return Err(AslError::new(
                    AslErrorKind::InvalidValue,
                    "must be a positive integer",
                )
                .at_field("TimeoutSeconds"));
            }
        };
        let root = compile_scope(raw.start_at, raw.states, None)?;
        Ok(StateMachine { root, timeout })
    }
}

/// Deserialises a serde shape, turning serde's error into one naming the field.
fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, AslError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let kind = if message.starts_with("unknown field") {
            AslErrorKind::UnknownField
        } else if message.starts_with("missing field") {
            AslErrorKind::MissingField
        } else {
            AslErrorKind::Syntax
        };
        let mut err = AslError::new(kind, message.clone());
        // For unknown and missing fields the path ends at the object; the name is quoted.
        if matches!(
            kind,
            AslErrorKind::UnknownField | AslErrorKind::MissingField
        ) && let Some(name) = message.split('`').nth(1)
            && !path.ends_with(name)
        {
            err = err.at_field(name);
        }
        if path != "." && !path.is_empty() {
            err = err.at_field(&path);
        }
        err
    })
}

/// Where a scope sits, for error messages: `None` at the top level, or the owning state and
/// the field holding the scope (`P/Branches[0]`).
#[derive(Clone)]
struct ScopeAt {
    /// Prefix of state names inside the scope (`P/Branches[0]/`).
    prefix: String,
    owner: String,
    field: String,
}

fn scope_error(at: &Option<ScopeAt>, err: AslError) -> AslError {
    match at {
        None => err,
        Some(at) => err.at_field(&at.field).at_state(&at.owner),
    }
}

fn compile_scope(
    start_at: String,
    states: Map<String, Value>,
    at: Option<ScopeAt>,
) -> Result<Scope, AslError> {
    let prefix = at.as_ref().map(|a| a.prefix.clone()).unwrap_or_default();
    if states.is_empty() {
        return Err(scope_error(
            &at,
            AslError::new(AslErrorKind::InvalidValue, "must hold at least one state")
                .at_field("States"),
        ));
    }
    let mut compiled = BTreeMap::new();
    for (name, value) in states {
        let full = format!("{prefix}{name}");
        let state = compile_state(&full, value).map_err(|e| e.at_state(&full))?;
        compiled.insert(name, state);
    }
    if !compiled.contains_key(&start_at) {
        return Err(scope_error(
            &at,
            AslError::new(
                AslErrorKind::DanglingTransition,
                format!("`{start_at}` is not a state"),
            )
            .at_field("StartAt"),
        ));
    }
    for (name, state) in &compiled {
        for (field, target) in transitions(&state.kind) {
            if !compiled.contains_key(&target) {
                return Err(AslError::new(
                    AslErrorKind::DanglingTransition,
                    format!("`{target}` is not a state of this scope"),
                )
                .at_field(&field)
                .at_state(&format!("{prefix}{name}")));
            }
        }
    }
    let mut reached = BTreeSet::from([start_at.clone()]);
    let mut queue = VecDeque::from([start_at.clone()]);
    while let Some(name) = queue.pop_front() {
        if let Some(state) = compiled.get(&name) {
            for (_, target) in transitions(&state.kind) {
                if reached.insert(target.clone()) {
                    queue.push_back(target);
                }
            }
        }
    }
    if let Some(name) = compiled.keys().find(|n| !reached.contains(*n)) {
        return Err(AslError::new(
            AslErrorKind::Unreachable,
            format!("no transition leads to this state from `{start_at}`"),
        )
        .at_state(&format!("{prefix}{name}")));
    }
    Ok(Scope {
        start_at,
        states: compiled,
    })
}

/// `(field, target)` of every transition out of a state.
fn transitions(kind: &Kind) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut next = |t: &Transition| {
        if let Transition::Next(n) = t {
            out.push(("Next".to_owned(), n.clone()));
        }
    };
    match kind {
        Kind::Pass(s) => next(&s.transition),
        Kind::Task(s) => next(&s.transition),
        Kind::Wait(s) => next(&s.transition),
        Kind::Parallel(s) => next(&s.transition),
        Kind::Map(s) => next(&s.transition),
        Kind::Choice(c) => {
            for (i, b) in c.branches.iter().enumerate() {
                out.push((format!("Choices[{i}].Next"), b.next.clone()));
            }
            if let Some(d) = &c.default {
                out.push(("Default".to_owned(), d.clone()));
            }
        }
        Kind::Succeed(_) | Kind::Fail(_) => {}
    }
    let (_, catchers) = kind.handlers();
    for (i, c) in catchers.iter().enumerate() {
        out.push((format!("Catch[{i}].Next"), c.next.clone()));
    }
    out
}

fn compile_state(full_name: &str, value: Value) -> Result<State, AslError> {
    let Value::Object(mut map) = value else {
        return Err(AslError::new(
            AslErrorKind::Syntax,
            "a state must be a JSON object",
        ));
    };
    let state_type = match map.remove("Type") {
        Some(Value::String(t)) => t,
        Some(_) => {
            return Err(AslError::new(AslErrorKind::Syntax, "must be a string").at_field("Type"));
        }
        None => {
            return Err(
                AslError::new(AslErrorKind::MissingField, "every state needs a Type")
                    .at_field("Type"),
            );
        }
    };
    if map.get("QueryLanguage").and_then(Value::as_str) == Some("JSONPath") {
        map.remove("QueryLanguage");
    }
    for (field, feature) in UNSUPPORTED_FIELDS {
        if map.contains_key(field) {
            return Err(AslError::new(
                AslErrorKind::Unsupported,
                format!("{feature} is not supported by the local interpreter"),
            )
            .at_field(field));
        }
    }
    for (key, v) in &map {
        if !NESTED_SCOPE_FIELDS.contains(&key.as_str()) {
            check_resolved(key, v)?;
        }
    }
    let value = Value::Object(map);
    let kind = match state_type.as_str() {
        "Pass" => Kind::Pass(compile_pass(from_value(value)?)?),
        "Task" => Kind::Task(compile_task(from_value(value)?)?),
        "Choice" => Kind::Choice(compile_choice(from_value(value)?)?),
        "Wait" => Kind::Wait(compile_wait(from_value(value)?)?),
        "Succeed" => {
            let raw: RawSucceed = from_value(value)?;
            Kind::Succeed(io(raw.input_path, raw.output_path)?)
        }
        "Fail" => Kind::Fail(compile_fail(from_value(value)?)?),
        "Parallel" => Kind::Parallel(compile_parallel(full_name, from_value(value)?)?),
        "Map" => Kind::Map(compile_map(full_name, from_value(value)?)?),
        other => {
            return Err(AslError::new(
                AslErrorKind::UnknownStateType,
                format!(
                    "`{other}` is not a state type (Pass, Task, Choice, Wait, Succeed, Fail, \
                     Parallel, Map)"
                ),
            )
            .at_field("Type"));
        }
    };
    Ok(State { kind })
}

fn io(input: Option<Option<String>>, output: Option<Option<String>>) -> Result<Io, AslError> {
    Ok(Io {
        input_path: DataPath::compile("InputPath", input)?,
        output_path: DataPath::compile("OutputPath", output)?,
    })
}

fn transition(next: Option<String>, end: Option<bool>) -> Result<Transition, AslError> {
    match (next, end.unwrap_or(false)) {
        (Some(n), false) => Ok(Transition::Next(n)),
        (None, true) => Ok(Transition::End),
        (Some(_), true) => Err(AslError::new(
            AslErrorKind::InvalidValue,
            "a state has either `Next` or `\"End\": true`, not both",
        )
        .at_field("End")),
        (None, false) => Err(AslError::new(
            AslErrorKind::MissingTransition,
            "the state needs `Next` or `\"End\": true`",
        )
        .at_field("Next")),
    }
}

fn template(field: &str, raw: Option<Value>) -> Result<Option<Template>, AslError> {
    raw.map(|v| Template::compile(field, &v)).transpose()
}

fn reference(field: &str, text: &str) -> Result<Path, AslError> {
    Path::reference(text).map_err(|m| AslError::new(AslErrorKind::BadPath, m).at_field(field))
}

fn compile_pass(raw: RawPass) -> Result<Pass, AslError> {
    Ok(Pass {
        io: io(raw.input_path, raw.output_path)?,
        parameters: template("Parameters", raw.parameters)?,
        // `"Result": null` is a result (null), unlike an absent Result.
        result: raw.result.map(|r| r.unwrap_or(Value::Null)),
        result_path: ResultPath::compile("ResultPath", raw.result_path)?,
        transition: transition(raw.next, raw.end)?,
    })
}

fn compile_task(raw: RawTask) -> Result<Task, AslError> {
    if raw.resource.trim().is_empty() {
        return Err(
            AslError::new(AslErrorKind::InvalidValue, "must name a resource").at_field("Resource"),
        );
    }
    let timeout = match (raw.timeout_seconds, raw.timeout_seconds_path) {
        (Some(_), Some(_)) => {
            return Err(AslError::new(
                AslErrorKind::InvalidValue,
                "use TimeoutSeconds or TimeoutSecondsPath, not both",
            )
            .at_field("TimeoutSecondsPath"));
        }
        (Some(n), None) if (1..=MAX_TIMEOUT_SECONDS).contains(&n) => Some(Seconds::Fixed(n)),
        (Some(_), None) => {
            return Err(
                AslError::new(AslErrorKind::InvalidValue, "must be a positive integer")
                    .at_field("TimeoutSeconds"),
            );
        }
        (None, Some(p)) => Some(Seconds::Path(reference("TimeoutSecondsPath", &p)?)),
        (None, None) => None,
    };
    Ok(Task {
        io: io(raw.input_path, raw.output_path)?,
        resource: raw.resource,
        parameters: template("Parameters", raw.parameters)?,
        result_selector: template("ResultSelector", raw.result_selector)?,
        result_path: ResultPath::compile("ResultPath", raw.result_path)?,
        retry: compile_retry(raw.retry.unwrap_or_default())?,
        catch: compile_catch(raw.catch.unwrap_or_default())?,
        timeout,
        transition: transition(raw.next, raw.end)?,
    })
}

fn compile_choice(raw: RawChoice) -> Result<Choice, AslError> {
    if raw.choices.is_empty() {
        return Err(
            AslError::new(AslErrorKind::InvalidValue, "must hold at least one rule")
                .at_field("Choices"),
        );
    }
    let branches = raw
        .choices
        .into_iter()
        .enumerate()
        .map(|(i, r)| Branch::compile(r, &format!("Choices[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Choice {
        io: io(raw.input_path, raw.output_path)?,
        branches,
        default: raw.default,
    })
}

fn compile_wait(raw: RawWait) -> Result<Wait, AslError> {
    let given = [
        raw.seconds.is_some(),
        raw.timestamp.is_some(),
        raw.seconds_path.is_some(),
        raw.timestamp_path.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given != 1 {
        return Err(AslError::new(
            AslErrorKind::InvalidValue,
            "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath",
        ));
    }
    let wait = if let Some(s) = raw.seconds {
        WaitFor::Seconds(Seconds::Fixed(s))
    } else if let Some(ts) = raw.timestamp {
        let at = parse_timestamp(&ts).ok_or_else(|| {
            AslError::new(
                AslErrorKind::InvalidValue,
                format!("`{ts}` is not an RFC 3339 timestamp"),
            )
            .at_field("Timestamp")
        })?;
        WaitFor::Until(at)
    } else if let Some(p) = raw.seconds_path {
        WaitFor::Seconds(Seconds::Path(reference("SecondsPath", &p)?))
    } else if let Some(p) = raw.timestamp_path {
        WaitFor::UntilPath(reference("TimestampPath", &p)?)
    } else {
        return Err(AslError::new(
            AslErrorKind::InvalidValue,
            "a Wait state needs one of Seconds, Timestamp, SecondsPath, TimestampPath",
        ));
    };
    Ok(Wait {
        io: io(raw.input_path, raw.output_path)?,
        wait,
        transition: transition(raw.next, raw.end)?,
    })
}

fn compile_fail(raw: RawFail) -> Result<Fail, AslError> {
    let text = |lit: Option<String>, path: Option<String>, field: &str, path_field: &str| match (
        lit, path,
    ) {
        (Some(_), Some(_)) => Err(AslError::new(
            AslErrorKind::InvalidValue,
            format!("use {field} or {path_field}, not both"),
        )
        .at_field(path_field)),
        (Some(s), None) => Ok(Some(Text::Literal(s))),
        (None, Some(p)) => Text::compile_dynamic(path_field, &p).map(Some),
        (None, None) => Ok(None),
    };
    Ok(Fail {
        error: text(raw.error, raw.error_path, "Error", "ErrorPath")?,
        cause: text(raw.cause, raw.cause_path, "Cause", "CausePath")?,
    })
}

fn compile_parallel(full_name: &str, raw: RawParallel) -> Result<Parallel, AslError> {
    if raw.branches.is_empty() {
        return Err(
            AslError::new(AslErrorKind::InvalidValue, "must hold at least one branch")
                .at_field("Branches"),
        );
    }
    let mut branches = Vec::new();
    for (i, b) in raw.branches.into_iter().enumerate() {
        let field = format!("Branches[{i}]");
        let rb: RawBranch = from_value(b).map_err(|e| e.at_field(&field))?;
        let at = ScopeAt {
            prefix: format!("{full_name}/{field}/"),
            owner: full_name.to_owned(),
            field,
        };
        branches.push(compile_scope(rb.start_at, rb.states, Some(at))?);
    }
    Ok(Parallel {
        io: io(raw.input_path, raw.output_path)?,
        branches,
        parameters: template("Parameters", raw.parameters)?,
        result_selector: template("ResultSelector", raw.result_selector)?,
        result_path: ResultPath::compile("ResultPath", raw.result_path)?,
        retry: compile_retry(raw.retry.unwrap_or_default())?,
        catch: compile_catch(raw.catch.unwrap_or_default())?,
        transition: transition(raw.next, raw.end)?,
    })
}

fn compile_map(full_name: &str, raw: RawMap) -> Result<MapState, AslError> {
    let (field, processor) = match (raw.item_processor, raw.iterator) {
        (Some(p), None) => ("ItemProcessor", p),
        (None, Some(p)) => ("Iterator", p),
        (Some(_), Some(_)) => {
            return Err(AslError::new(
                AslErrorKind::InvalidValue,
                "use ItemProcessor or Iterator, not both",
            )
            .at_field("Iterator"));
        }
        (None, None) => {
            return Err(AslError::new(
                AslErrorKind::MissingField,
                "a Map state needs ItemProcessor (or Iterator)",
            )
            .at_field("ItemProcessor"));
        }
    };
    let rp: RawProcessor = from_value(processor).map_err(|e| e.at_field(field))?;
    if let Some(config) = &rp.processor_config {
        match config.mode.as_deref() {
            None | Some("INLINE") => {}
            Some("DISTRIBUTED") => {
                return Err(AslError::new(
                    AslErrorKind::Unsupported,
                    "Distributed Map is not supported by the local interpreter",
                )
                .at_field(&format!("{field}.ProcessorConfig.Mode")));
            }
            Some(other) => {
                return Err(AslError::new(
                    AslErrorKind::InvalidValue,
                    format!("`{other}` is not INLINE or DISTRIBUTED"),
                )
                .at_field(&format!("{field}.ProcessorConfig.Mode")));
            }
        }
        if config.execution_type.is_some() {
            return Err(AslError::new(
                AslErrorKind::InvalidValue,
                "ExecutionType applies to Distributed Map only",
            )
            .at_field(&format!("{field}.ProcessorConfig.ExecutionType")));
        }
    }
    let at = ScopeAt {
        prefix: format!("{full_name}/{field}/"),
        owner: full_name.to_owned(),
        field: field.to_owned(),
    };
    let processor = compile_scope(rp.start_at, rp.states, Some(at))?;
    let item_selector = match (raw.item_selector, raw.parameters) {
        (Some(_), Some(_)) => {
            return Err(AslError::new(
                AslErrorKind::InvalidValue,
                "use ItemSelector or Parameters, not both",
            )
            .at_field("Parameters"));
        }
        (Some(s), None) => Some(Template::compile("ItemSelector", &s)?),
        (None, Some(p)) => Some(Template::compile("Parameters", &p)?),
        (None, None) => None,
    };
    let max_concurrency = match (raw.max_concurrency, raw.max_concurrency_path) {
        (Some(_), Some(_)) => {
            return Err(AslError::new(
                AslErrorKind::InvalidValue,
                "use MaxConcurrency or MaxConcurrencyPath, not both",
            )
            .at_field("MaxConcurrencyPath"));
        }
        (Some(n), None) => Concurrency::Fixed(usize::try_from(n).unwrap_or(usize::MAX)),
        (None, Some(p)) => Concurrency::Path(reference("MaxConcurrencyPath", &p)?),
        (None, None) => Concurrency::Fixed(0),
    };
    Ok(MapState {
        io: io(raw.input_path, raw.output_path)?,
        processor,
        items_path: raw
            .items_path
            .filter(|p| p != "$")
            .map(|p| reference("ItemsPath", &p))
            .transpose()?,
        item_selector,
        max_concurrency,
        result_selector: template("ResultSelector", raw.result_selector)?,
        result_path: ResultPath::compile("ResultPath", raw.result_path)?,
        retry: compile_retry(raw.retry.unwrap_or_default())?,
        catch: compile_catch(raw.catch.unwrap_or_default())?,
        transition: transition(raw.next, raw.end)?,
    })
}

/// Replaces `${Name}` for every known name in every string of the definition.
fn substitute(value: &mut Value, substitutions: &Substitutions) {
    match value {
        Value::String(s) if s.contains("${") => {
            for (name, replacement) in substitutions {
                let token = format!("${{{name}}}");
                if s.contains(&token) {
                    *s = s.replace(&token, replacement);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, substitutions)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, substitutions)),
        _ => {}
    }
}

/// Refuses a `${Name}` left in a field after substitution.
fn check_resolved(field: &str, value: &Value) -> Result<(), AslError> {
    if let Some((at, name)) = find_unresolved(value) {
        let field = if at.is_empty() {
            field.to_owned()
        } else {
            format!("{field}{at}")
        };
        return Err(AslError::new(
            AslErrorKind::UnresolvedSubstitution,
            format!("`${{{name}}}` has no definition substitution"),
        )
        .at_field(&field));
    }
    Ok(())
}

fn find_unresolved(value: &Value) -> Option<(String, String)> {
    match value {
        Value::String(s) => unresolved_name(s).map(|n| (String::new(), n)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_unresolved(v).map(|(at, n)| (format!("[{i}]{at}"), n))),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| find_unresolved(v).map(|(at, n)| (format!(".{k}{at}"), n))),
        _ => None,
    }
}

fn unresolved_name(s: &str) -> Option<String> {
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        if let Some(end) = after.find('}') {
            let name = &after[..end];
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == ':')
            {
                return Some(name.to_owned());
            }
        }
        rest = after;
    }
    None
}
