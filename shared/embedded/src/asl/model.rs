//! The checked model the interpreter runs: every path, template, rule and transition of a
//! definition, compiled and validated by [`super::load`].

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use super::choice::Branch;
use super::dataflow::{DataPath, ResultPath, Template, Text};
use super::path::Path;
use super::retry::{Catcher, Retrier};

/// A validated state machine, ready to run. Build it with [`StateMachine::from_json`].
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub(crate) root: Scope,
    /// The machine-level `TimeoutSeconds`: the whole execution fails with `States.Timeout`
    /// once it has run this long.
    pub(crate) timeout: Option<Duration>,
}

impl StateMachine {
    /// The top-level state to start in.
    pub fn start_at(&self) -> &str {
        &self.root.start_at
    }

    /// `(state, resource)` of every Task state, nested ones included: what an invoker must
    /// be able to run.
    pub fn task_resources(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.root.collect_resources("", &mut out);
        out
    }

    /// Names of the top-level states.
    pub fn state_names(&self) -> Vec<&str> {
        self.root.states.keys().map(String::as_str).collect()
    }
}

/// A set of states with a start: the machine itself, a Parallel branch, a Map's processor.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) start_at: String,
    pub(crate) states: BTreeMap<String, State>,
}

impl Scope {
    fn collect_resources(&self, prefix: &str, out: &mut Vec<(String, String)>) {
        for (name, state) in &self.states {
            let full = format!("{prefix}{name}");
            match &state.kind {
                Kind::Task(t) => out.push((full, t.resource.clone())),
                Kind::Parallel(p) => {
                    for (i, b) in p.branches.iter().enumerate() {
                        b.collect_resources(&format!("{full}/Branches[{i}]/"), out);
                    }
                }
                Kind::Map(m) => m
                    .processor
                    .collect_resources(&format!("{full}/ItemProcessor/"), out),
                _ => {}
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Transition {
    Next(String),
    End,
}

#[derive(Debug, Clone)]
pub(crate) struct Io {
    pub(crate) input_path: DataPath,
    pub(crate) output_path: DataPath,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Pass(Pass),
    Task(Task),
    Choice(Choice),
    Wait(Wait),
    Succeed(Io),
    Fail(Fail),
    Parallel(Parallel),
    Map(Map),
}

impl Kind {
    /// Retry and Catch, for the states that have them.
    pub(crate) fn handlers(&self) -> (&[Retrier], &[Catcher]) {
        match self {
            Kind::Task(t) => (&t.retry, &t.catch),
            Kind::Parallel(p) => (&p.retry, &p.catch),
            Kind::Map(m) => (&m.retry, &m.catch),
            _ => (&[], &[]),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Pass {
    pub(crate) io: Io,
    pub(crate) parameters: Option<Template>,
    pub(crate) result: Option<serde_json::Value>,
    pub(crate) result_path: ResultPath,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone)]
pub(crate) enum Seconds {
    Fixed(u64),
    Path(Path),
}

#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) io: Io,
    pub(crate) resource: String,
    pub(crate) parameters: Option<Template>,
    pub(crate) result_selector: Option<Template>,
    pub(crate) result_path: ResultPath,
    pub(crate) retry: Vec<Retrier>,
    pub(crate) catch: Vec<Catcher>,
    pub(crate) timeout: Option<Seconds>,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub(crate) io: Io,
    pub(crate) branches: Vec<Branch>,
    pub(crate) default: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum WaitFor {
    Seconds(Seconds),
    Until(OffsetDateTime),
    UntilPath(Path),
}

#[derive(Debug, Clone)]
pub(crate) struct Wait {
    pub(crate) io: Io,
    pub(crate) wait: WaitFor,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone)]
pub(crate) struct Fail {
    pub(crate) error: Option<Text>,
    pub(crate) cause: Option<Text>,
}

#[derive(Debug, Clone)]
pub(crate) struct Parallel {
    pub(crate) io: Io,
    pub(crate) branches: Vec<Scope>,
    pub(crate) parameters: Option<Template>,
    pub(crate) result_selector: Option<Template>,
    pub(crate) result_path: ResultPath,
    pub(crate) retry: Vec<Retrier>,
    pub(crate) catch: Vec<Catcher>,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone)]
pub(crate) enum Concurrency {
    /// 0: unlimited.
    Fixed(usize),
    Path(Path),
}

#[derive(Debug, Clone)]
pub(crate) struct Map {
    pub(crate) io: Io,
    pub(crate) processor: Scope,
    pub(crate) items_path: Option<Path>,
    pub(crate) item_selector: Option<Template>,
    pub(crate) max_concurrency: Concurrency,
    pub(crate) result_selector: Option<Template>,
    pub(crate) result_path: ResultPath,
    pub(crate) retry: Vec<Retrier>,
    pub(crate) catch: Vec<Catcher>,
    pub(crate) transition: Transition,
}
