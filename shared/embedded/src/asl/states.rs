//! One attempt of one state, by type: the data flow around the state's own work (invoke a
//! task, pick a branch, wait, run branches or iterations). Retry and Catch are decided by
//! the caller ([`super::interpreter`]), which sees only the outcome or the failure.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use super::dataflow::Template;
use super::error::{TaskFailure, names};
use super::interpreter::{ExecInfo, Interpreter, Outcome};
use super::model::{Concurrency, Kind, Map, Parallel, Seconds, State, Task, Transition, WaitFor};
use super::path::Path;

fn go(transition: &Transition, output: Value) -> Outcome {
    match transition {
        Transition::Next(next) => Outcome::Next(next.clone(), output),
        Transition::End => Outcome::End(output),
    }
}

fn render(template: &Option<Template>, value: Value, ctx: &Value) -> Result<Value, TaskFailure> {
    match template {
        Some(t) => t.render(&value, ctx),
        None => Ok(value),
    }
}

/// A whole number of seconds read from the input (SecondsPath, TimeoutSecondsPath).
fn seconds_at(field: &str, path: &Path, input: &Value, ctx: &Value) -> Result<u64, TaskFailure> {
    let v = path
        .select(input, ctx)
        .map_err(|m| TaskFailure::runtime(format!("{field}: {m}")))?;
    v.as_u64().ok_or_else(|| {
        TaskFailure::runtime(format!(
            "{field} `{path}` must select a non-negative integer, got {v}"
        ))
    })
}

impl Interpreter {
    /// Runs one attempt of `state` on its raw input.
    pub(super) async fn attempt(
        &self,
        state: &State,
        raw: &Value,
        ctx: &Value,
        exec: &ExecInfo,
    ) -> Result<Outcome, TaskFailure> {
        match &state.kind {
            Kind::Pass(s) => {
                let input = s.io.input_path.apply("InputPath", raw.clone(), ctx)?;
                let input = render(&s.parameters, input, ctx)?;
                let result = s.result.clone().unwrap_or(input);
                let output = s.result_path.apply(raw.clone(), result)?;
                let output = s.io.output_path.apply("OutputPath", output, ctx)?;
                Ok(go(&s.transition, output))
            }
            Kind::Task(t) => self.task(t, raw, ctx).await,
            Kind::Choice(c) => {
                let input = c.io.input_path.apply("InputPath", raw.clone(), ctx)?;
                let mut next = None;
                for branch in &c.branches {
                    if branch.rule.holds(&input, ctx)? {
                        next = Some(branch.next.clone());
                        break;
                    }
                }
                let next = next.or_else(|| c.default.clone()).ok_or_else(|| {
                    TaskFailure::new(
                        names::NO_CHOICE_MATCHED,
                        "no choice rule matched and the Choice state has no Default",
                    )
                })?;
                let output = c.io.output_path.apply("OutputPath", input, ctx)?;
                Ok(Outcome::Next(next, output))
            }
            Kind::Wait(w) => {
                let input = w.io.input_path.apply("InputPath", raw.clone(), ctx)?;
                let duration = match &w.wait {
                    WaitFor::Seconds(Seconds::Fixed(n)) => Duration::from_secs(*n),
                    WaitFor::Seconds(Seconds::Path(p)) => {
                        Duration::from_secs(seconds_at("SecondsPath", p, &input, ctx)?)
                    }
                    WaitFor::Until(at) => (*at - self.clock.now())
                        .max(time::Duration::ZERO)
                        .unsigned_abs(),
                    WaitFor::UntilPath(p) => {
                        let v = p
                            .select(&input, ctx)
                            .map_err(|m| TaskFailure::runtime(format!("TimestampPath: {m}")))?;
                        let at = v
                            .as_str()
                            .and_then(super::choice::parse_timestamp)
                            .ok_or_else(|| {
                                TaskFailure::runtime(format!(
                                    "TimestampPath `{p}` must select an RFC 3339 timestamp, got {v}"
                                ))
                            })?;
                        (at - self.clock.now())
                            .max(time::Duration::ZERO)
                            .unsigned_abs()
                    }
                };
                self.sleeper.sleep(duration).await;
                let output = w.io.output_path.apply("OutputPath", input, ctx)?;
                Ok(go(&w.transition, output))
            }
            Kind::Succeed(io) => {
                let input = io.input_path.apply("InputPath", raw.clone(), ctx)?;
                Ok(Outcome::End(io.output_path.apply(
                    "OutputPath",
                    input,
                    ctx,
                )?))
            }
            Kind::Fail(f) => {
                let error = match &f.error {
                    Some(t) => t.render("ErrorPath", raw, ctx)?,
                    None => String::new(),
                };
                let cause = match &f.cause {
                    Some(t) => t.render("CausePath", raw, ctx)?,
                    None => String::new(),
                };
                Ok(Outcome::Fail(TaskFailure::new(error, cause)))
            }
            Kind::Parallel(p) => self.parallel(p, raw, ctx, exec).await,
            Kind::Map(m) => self.map(m, raw, ctx, exec).await,
        }
    }

    async fn task(&self, t: &Task, raw: &Value, ctx: &Value) -> Result<Outcome, TaskFailure> {
        let input = t.io.input_path.apply("InputPath", raw.clone(), ctx)?;
        let timeout = match &t.timeout {
            None => None,
            Some(Seconds::Fixed(n)) => Some(*n),
            Some(Seconds::Path(p)) => Some(seconds_at("TimeoutSecondsPath", p, &input, ctx)?),
        };
        let input = render(&t.parameters, input, ctx)?;
        let call = self.invoker.invoke(&t.resource, input);
        let result = match timeout {
            None => call.await?,
            Some(secs) => {
                let limit = self.sleeper.real(Duration::from_secs(secs));
                match tokio::time::timeout(limit, call).await {
                    Ok(result) => result?,
                    Err(_) => {
                        return Err(TaskFailure::new(
                            names::TIMEOUT,
                            format!("the task did not finish within {secs} seconds"),
                        ));
                    }
                }
            }
        };
        let result = render(&t.result_selector, result, ctx)?;
        let output = t.result_path.apply(raw.clone(), result)?;
        let output = t.io.output_path.apply("OutputPath", output, ctx)?;
        Ok(go(&t.transition, output))
    }

    /// Every branch on the same input, concurrently; the result is their outputs in branch
    /// order. The first branch to fail fails the state (and cancels the others).
    async fn parallel(
        &self,
        p: &Parallel,
        raw: &Value,
        ctx: &Value,
        exec: &ExecInfo,
    ) -> Result<Outcome, TaskFailure> {
        let input = p.io.input_path.apply("InputPath", raw.clone(), ctx)?;
        let input = render(&p.parameters, input, ctx)?;
        let branches = p
            .branches
            .iter()
            .map(|b| self.run_nested(b, input.clone(), exec));
        let results = futures::future::try_join_all(branches).await?;
        let result = render(&p.result_selector, Value::Array(results), ctx)?;
        let output = p.result_path.apply(raw.clone(), result)?;
        let output = p.io.output_path.apply("OutputPath", output, ctx)?;
        Ok(go(&p.transition, output))
    }

    /// One iteration per item, at most MaxConcurrency at a time (0: all); results in item
    /// order. The first iteration to fail fails the state (and cancels the others).
    async fn map(
        &self,
        m: &Map,
        raw: &Value,
        ctx: &Value,
        exec: &ExecInfo,
    ) -> Result<Outcome, TaskFailure> {
        let input = m.io.input_path.apply("InputPath", raw.clone(), ctx)?;
        let items = match &m.items_path {
            None => input.clone(),
            Some(p) => p
                .select(&input, ctx)
                .map_err(|e| TaskFailure::runtime(format!("ItemsPath: {e}")))?,
        };
        let Value::Array(items) = items else {
            return Err(TaskFailure::runtime(format!(
                "ItemsPath must select an array, got {items}"
            )));
        };
        let limit = match &m.max_concurrency {
            Concurrency::Fixed(n) => *n,
            Concurrency::Path(p) => {
                let n = seconds_at("MaxConcurrencyPath", p, &input, ctx)?;
                usize::try_from(n).unwrap_or(usize::MAX)
            }
        };
        let limit = if limit == 0 { items.len() } else { limit }.max(1);
        let iteration_inputs = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| match &m.item_selector {
                None => Ok(item),
                Some(selector) => {
                    let mut item_ctx = ctx.clone();
                    item_ctx["Map"] = json!({"Item": {"Index": index, "Value": item}});
                    selector.render(&input, &item_ctx)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let results: Vec<Value> = futures::stream::iter(iteration_inputs)
            .map(|item| self.run_nested(&m.processor, item, exec))
            .buffered(limit)
            .try_collect()
            .await?;
        let result = render(&m.result_selector, Value::Array(results), ctx)?;
        let output = m.result_path.apply(raw.clone(), result)?;
        let output = m.io.output_path.apply("OutputPath", output, ctx)?;
        Ok(go(&m.transition, output))
    }
}
