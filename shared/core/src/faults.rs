//! Fault injection for the in-process workflow, set by `TROVE_FAULTS` on `trove serve` so
//! end-to-end tests can show retries and crash recovery on the real process. Unset (the
//! default) it does nothing; the Lambda hosts never read it.
//!
//! Syntax: comma-separated `Step=fail:N` (the first N attempts of that step, per upload,
//! fail with `Trove.Retryable`) and `Step=delay:MS` (each attempt waits MS milliseconds
//! before running), e.g. `Persist=fail:2,Persist=delay:500`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    FailTimes(u32),
    Delay(Duration),
}

#[derive(Debug, Default)]
pub struct Faults {
    rules: HashMap<String, Vec<Fault>>,
    failures: Mutex<HashMap<(String, String), u32>>,
}

/// What an injected fault asks of the step about to run.
#[derive(Debug, PartialEq, Eq)]
pub enum Injected {
    Proceed,
    Fail,
}

impl Faults {
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("TROVE_FAULTS") {
            Ok(spec) if !spec.trim().is_empty() => Self::parse(&spec),
            _ => Ok(Self::default()),
        }
    }

    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut rules: HashMap<String, Vec<Fault>> = HashMap::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad =
                || format!("TROVE_FAULTS: cannot read {part:?}; use Step=fail:N or Step=delay:MS");
            let (step, fault) = part.split_once('=').ok_or_else(bad)?;
            let (kind, n) = fault.split_once(':').ok_or_else(bad)?;
            let n: u64 = n.parse().map_err(|_| bad())?;
            let fault = match kind {
                "fail" => Fault::FailTimes(u32::try_from(n).map_err(|_| bad())?),
                "delay" => Fault::Delay(Duration::from_millis(n)),
                _ => return Err(bad()),
            };
            rules.entry(step.to_owned()).or_default().push(fault);
        }
        Ok(Self {
            rules,
            failures: Mutex::default(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies the faults of `step` for the execution `name`.
    pub async fn before(&self, step: &str, name: &str) -> Injected {
        let Some(faults) = self.rules.get(step) else {
            return Injected::Proceed;
        };
        for fault in faults {
            match *fault {
                Fault::Delay(d) => tokio::time::sleep(d).await,
                Fault::FailTimes(n) => {
                    let mut failures = match self.failures.lock() {
                        Ok(f) => f,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    let count = failures
                        .entry((step.to_owned(), name.to_owned()))
                        .or_default();
                    if *count < n {
                        *count += 1;
                        return Injected::Fail;
                    }
                }
            }
        }
        Injected::Proceed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fails_the_first_attempts_of_each_execution() {
        let faults = Faults::parse("Persist=fail:2").expect("valid");
        for name in ["a", "b"] {
            assert_eq!(faults.before("Persist", name).await, Injected::Fail);
            assert_eq!(faults.before("Persist", name).await, Injected::Fail);
            assert_eq!(faults.before("Persist", name).await, Injected::Proceed);
        }
        assert_eq!(faults.before("Scan", "a").await, Injected::Proceed);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for (spec, part) in [
            ("Persist", "Persist"),
            ("Persist=explode:1", "Persist=explode:1"),
            ("Persist=fail:x", "Persist=fail:x"),
            ("Persist=fail", "Persist=fail"),
            // The refusal names the part it could not read, not the whole variable.
            ("Persist=fail:1, Scan=delay", "Scan=delay"),
        ] {
            let err = Faults::parse(spec).expect_err(spec);
            assert_eq!(
                err,
                format!("TROVE_FAULTS: cannot read {part:?}; use Step=fail:N or Step=delay:MS")
            );
        }
        assert!(Faults::parse("").expect("empty is fine").is_empty());
    }
}
