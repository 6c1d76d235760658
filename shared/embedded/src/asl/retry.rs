//! Retry and Catch: which error a state recovers from, how long it waits between attempts,
//! where it goes when it gives up.

use std::time::Duration;

use rand::Rng;
use serde::Deserialize;

use super::dataflow::ResultPath;
use super::error::{AslError, AslErrorKind, TaskFailure, error_matches, names};

/// Step Functions' bounds, so a definition that runs here also deploys.
const MAX_INTERVAL_SECONDS: u64 = 99_999_999;
const MAX_MAX_ATTEMPTS: u64 = 99_999_999;
const MAX_DELAY_SECONDS: u64 = 31_622_400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawRetrier {
    error_equals: Vec<String>,
    #[serde(default)]
    interval_seconds: Option<u64>,
    #[serde(default)]
    max_attempts: Option<u64>,
    #[serde(default)]
    backoff_rate: Option<f64>,
    #[serde(default)]
    max_delay_seconds: Option<u64>,
    #[serde(default)]
    jitter_strategy: Option<String>,
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawCatcher {
    error_equals: Vec<String>,
    pub(crate) next: String,
    #[serde(default, deserialize_with = "super::raw::nullable")]
    result_path: Option<Option<String>>,
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    error_equals: Vec<String>,
    interval: f64,
    pub(crate) max_attempts: u32,
    backoff_rate: f64,
    max_delay: Option<f64>,
    full_jitter: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    error_equals: Vec<String>,
    pub(crate) next: String,
    pub(crate) result_path: ResultPath,
}

/// What a state does after an attempt failed.
#[derive(Debug)]
pub(crate) enum Recovery<'a> {
    /// Wait, then run the state again; `retrier` is the index whose counter was used.
    Retry {
        retrier: usize,
        delay: Duration,
    },
    Catch(&'a Catcher),
    GiveUp,
}

fn invalid(msg: impl Into<String>) -> AslError {
    AslError::new(AslErrorKind::InvalidValue, msg)
}

/// `ErrorEquals`: not empty, `States.ALL` alone, and no unknown `States.*` name.
fn check_error_equals(errors: &[String]) -> Result<(), AslError> {
    if errors.is_empty() {
        return Err(invalid("must name at least one error").at_field("ErrorEquals"));
    }
    if errors.len() > 1 && errors.iter().any(|e| e == names::ALL) {
        return Err(invalid("States.ALL must appear alone").at_field("ErrorEquals"));
    }
    for e in errors {
        if e.starts_with("States.") && !names::RESERVED.contains(&e.as_str()) {
            return Err(
                invalid(format!("`{e}` is not an error Step Functions raises"))
                    .at_field("ErrorEquals"),
            );
        }
    }
    Ok(())
}

/// `States.ALL` must be in the last retrier / catcher.
fn check_all_is_last(lists: &[&[String]], what: &str) -> Result<(), AslError> {
    for (i, errors) in lists.iter().enumerate() {
        if i + 1 < lists.len() && errors.iter().any(|e| e == names::ALL) {
            return Err(invalid(format!("States.ALL must be in the last {what}"))
                .at_field(&format!("[{i}].ErrorEquals")));
        }
    }
    Ok(())
}

pub(crate) fn compile_retry(raw: Vec<RawRetrier>) -> Result<Vec<Retrier>, AslError> {
    let lists: Vec<&[String]> = raw.iter().map(|r| r.error_equals.as_slice()).collect();
    check_all_is_last(&lists, "retrier").map_err(|e| e.at_field("Retry"))?;
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            compile_retrier(r).map_err(|e| e.at_field(&format!("[{i}]")).at_field("Retry"))
        })
        .collect()
}

fn compile_retrier(raw: RawRetrier) -> Result<Retrier, AslError> {
    check_error_equals(&raw.error_equals)?;
    let interval = raw.interval_seconds.unwrap_or(1);
    if !(1..=MAX_INTERVAL_SECONDS).contains(&interval) {
        return Err(invalid("must be a positive integer").at_field("IntervalSeconds"));
    }
    let max_attempts = raw.max_attempts.unwrap_or(3);
    if max_attempts > MAX_MAX_ATTEMPTS {
        return Err(invalid(format!("must be at most {MAX_MAX_ATTEMPTS}")).at_field("MaxAttempts"));
    }
    let backoff_rate = raw.backoff_rate.unwrap_or(2.0);
    if !(backoff_rate.is_finite() && backoff_rate >= 1.0) {
        return Err(invalid("must be at least 1.0").at_field("BackoffRate"));
    }
    if let Some(d) = raw.max_delay_seconds
        && !(1..=MAX_DELAY_SECONDS).contains(&d)
    {
        return Err(
            invalid(format!("must be between 1 and {MAX_DELAY_SECONDS}"))
                .at_field("MaxDelaySeconds"),
        );
    }
    let full_jitter = match raw.jitter_strategy.as_deref() {
        None | Some("NONE") => false,
        Some("FULL") => true,
        Some(other) => {
            return Err(
                invalid(format!("`{other}` is not FULL or NONE")).at_field("JitterStrategy")
            );
        }
    };
    Ok(Retrier {
        error_equals: raw.error_equals,
        interval: interval as f64,
        max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
        backoff_rate,
        max_delay: raw.max_delay_seconds.map(|d| d as f64),
        full_jitter,
    })
}

pub(crate) fn compile_catch(raw: Vec<RawCatcher>) -> Result<Vec<Catcher>, AslError> {
    let lists: Vec<&[String]> = raw.iter().map(|c| c.error_equals.as_slice()).collect();
    check_all_is_last(&lists, "catcher").map_err(|e| e.at_field("Catch"))?;
    raw.into_iter()
        .enumerate()
        .map(|(i, c)| {
            check_error_equals(&c.error_equals)
                .and_then(|()| ResultPath::compile("ResultPath", c.result_path))
                .map(|result_path| Catcher {
                    error_equals: c.error_equals,
                    next: c.next,
                    result_path,
                })
                .map_err(|e| e.at_field(&format!("[{i}]")).at_field("Catch"))
        })
        .collect()
}

impl Retrier {
    fn matches(&self, error: &str) -> bool {
        self.error_equals.iter().any(|p| error_matches(p, error))
    }

    /// The wait before retry number `done + 1`: `IntervalSeconds × BackoffRate^done`,
    /// capped by `MaxDelaySeconds`, and with FULL jitter a uniform draw below that.
    pub(crate) fn delay(&self, done: u32) -> Duration {
        let exponent = i32::try_from(done).unwrap_or(i32::MAX);
        let mut secs = self.interval * self.backoff_rate.powi(exponent);
        if let Some(max) = self.max_delay {
            secs = secs.min(max);
        }
        // Without a cap the backoff may grow past any real wait; one year is plenty.
        secs = secs.min(MAX_DELAY_SECONDS as f64);
        if self.full_jitter {
            secs = rand::rng().random_range(0.0..=secs);
        }
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO)
    }
}

impl Catcher {
    fn matches(&self, error: &str) -> bool {
        self.error_equals.iter().any(|p| error_matches(p, error))
    }
}

/// The first retrier that matches decides: retry while its counter is below MaxAttempts,
/// otherwise the catchers are tried (later retriers are not: Step Functions' rule).
/// `retries` holds each retrier's count of retries done since the state was entered.
pub(crate) fn recover<'a>(
    retriers: &[Retrier],
    catchers: &'a [Catcher],
    retries: &[u32],
    failure: &TaskFailure,
) -> Recovery<'a> {
    if failure.is_terminal() {
        return Recovery::GiveUp;
    }
    if let Some((i, r)) = retriers
        .iter()
        .enumerate()
        .find(|(_, r)| r.matches(&failure.error))
    {
        let done = retries.get(i).copied().unwrap_or(0);
        if done < r.max_attempts {
            return Recovery::Retry {
                retrier: i,
                delay: r.delay(done),
            };
        }
    }
    match catchers.iter().find(|c| c.matches(&failure.error)) {
        Some(c) => Recovery::Catch(c),
        None => Recovery::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn retriers(v: serde_json::Value) -> Result<Vec<Retrier>, AslError> {
        compile_retry(serde_json::from_value(v).expect("shape"))
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = retriers(json!([{
            "ErrorEquals": ["E"], "IntervalSeconds": 2, "BackoffRate": 3.0,
            "MaxAttempts": 5, "MaxDelaySeconds": 30
        }]))
        .expect("valid");
        let secs: Vec<u64> = (0..4).map(|n| r[0].delay(n).as_secs()).collect();
        assert_eq!(secs, [2, 6, 18, 30]);
        let jittered = retriers(json!([{
            "ErrorEquals": ["E"], "IntervalSeconds": 4, "JitterStrategy": "FULL"
        }]))
        .expect("valid");
        for _ in 0..20 {
            assert!(jittered[0].delay(1) <= Duration::from_secs(8));
        }
    }

    #[test]
    fn the_first_matching_retrier_decides() {
        let r = retriers(json!([
            {"ErrorEquals": ["E"], "MaxAttempts": 1},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}
        ]))
        .expect("valid");
        let f = TaskFailure::new("E", "boom");
        assert!(matches!(
            recover(&r, &[], &[0, 0], &f),
            Recovery::Retry { retrier: 0, .. }
        ));
        assert!(matches!(recover(&r, &[], &[1, 0], &f), Recovery::GiveUp));
        let other = TaskFailure::new("Other", "boom");
        assert!(matches!(
            recover(&r, &[], &[1, 0], &other),
            Recovery::Retry { retrier: 1, .. }
        ));
        let runtime = TaskFailure::runtime("bad path");
        assert!(matches!(
            recover(&r, &[], &[0, 0], &runtime),
            Recovery::GiveUp
        ));
    }

    #[test]
    fn bad_retriers_are_refused() {
        let cases = [
            (json!([{"ErrorEquals": []}]), "ErrorEquals"),
            (json!([{"ErrorEquals": ["States.ALL", "E"]}]), "ErrorEquals"),
            (json!([{"ErrorEquals": ["States.Bogus"]}]), "ErrorEquals"),
            (
                json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]),
                "ErrorEquals",
            ),
            (
                json!([{"ErrorEquals": ["E"], "IntervalSeconds": 0}]),
                "IntervalSeconds",
            ),
            (
                json!([{"ErrorEquals": ["E"], "BackoffRate": 0.5}]),
                "BackoffRate",
            ),
            (
                json!([{"ErrorEquals": ["E"], "MaxDelaySeconds": 0}]),
                "MaxDelaySeconds",
            ),
            (
                json!([{"ErrorEquals": ["E"], "JitterStrategy": "SOME"}]),
                "JitterStrategy",
            ),
        ];
        for (v, field) in cases {
            let err = retriers(v.clone()).expect_err("invalid");
            let got = err.field.clone().unwrap_or_default();
            assert!(
                got.starts_with("Retry[") && got.ends_with(field),
                "{v}: {err}"
            );
        }
    }
}
