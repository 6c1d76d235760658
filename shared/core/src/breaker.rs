//! A circuit breaker in front of the `Table`: when the table keeps throttling or timing out,
//! requests fail fast with a Retry-After instead of piling up on it, and one probe at a time
//! finds out when it is back. Wraps either adapter; both compositions use it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::ports::{Clock, Condition, Item, Key, Page, Query, Table, TableError, Write};

/// Gauge `trove_table_circuit_state`: 0 closed, 1 half-open, 2 open.
pub const STATE_GAUGE: &str = "trove_table_circuit_state";
/// Counter `trove_table_rejections_total`: calls refused without reaching the table.
pub const REJECTIONS: &str = "trove_table_rejections_total";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// This many unavailable answers (throttles, timeouts) within `window` open the circuit.
    pub failures: u32,
    pub window: Duration,
    /// How long an open circuit refuses every call before letting one probe through.
    pub cooldown: Duration,
    /// A call still unanswered after this long counts as unavailable.
    pub call_timeout: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failures: 5,
            window: Duration::from_secs(10),
            cooldown: Duration::from_secs(10),
            call_timeout: Duration::from_secs(3),
        }
    }
}

#[derive(Debug)]
enum State {
    /// Recent failures, oldest first, none older than the window.
    Closed(VecDeque<OffsetDateTime>),
    Open {
        until: OffsetDateTime,
    },
    /// One probe call is on its way to the table.
    HalfOpen,
}

pub struct BreakerTable {
    inner: Arc<dyn Table>,
    settings: BreakerSettings,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

/// What a call may do.
enum Admission {
    Pass,
    Probe,
}

impl BreakerTable {
    pub fn new(inner: Arc<dyn Table>, settings: BreakerSettings, clock: Arc<dyn Clock>) -> Self {
        metrics::gauge!(STATE_GAUGE).set(0.0);
        Self {
            inner,
            settings,
            clock,
            state: Mutex::new(State::Closed(VecDeque::new())),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a few plain values, consistent after every assignment: a panic
        // elsewhere while holding the lock leaves nothing half-written.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn admit(&self) -> Result<Admission, TableError> {
        let now = self.clock.now();
        let mut state = self.state();
        match &*state {
            State::Closed(_) => Ok(Admission::Pass),
            State::Open { until } if now >= *until => {
                *state = State::HalfOpen;
                set_gauge(&state);
                Ok(Admission::Probe)
            }
            State::Open { until } => Err(refuse(secs_until(now, *until))),
            // The probe decides soon; a second later the caller may find the circuit closed.
            State::HalfOpen => Err(refuse(1)),
        }
    }

    fn record(&self, admission: &Admission, unavailable: bool) {
        let now = self.clock.now();
        let mut state = self.state();
        match (admission, unavailable) {
            (Admission::Probe, false) => *state = State::Closed(VecDeque::new()),
            (Admission::Probe, true) => {
                *state = State::Open {
                    until: now + self.settings.cooldown,
                }
            }
            (Admission::Pass, false) => return,
            (Admission::Pass, true) => {
                let State::Closed(failures) = &mut *state else {
                    // Opened by a concurrent call meanwhile: already counted.
                    return;
                };
                let horizon = now - self.settings.window;
                while failures.front().is_some_and(|t| *t <= horizon) {
                    failures.pop_front();
                }
                failures.push_back(now);
                if failures.len() < self.settings.failures as usize {
                    return;
                }
                tracing::warn!(
                    failures = failures.len(),
                    cooldown_secs = self.settings.cooldown.as_secs(),
                    "table circuit opened"
                );
                *state = State::Open {
                    until: now + self.settings.cooldown,
                };
            }
        }
        set_gauge(&state);
    }

    async fn call<T, F>(&self, f: F) -> Result<T, TableError>
    where
        F: Future<Output = Result<T, TableError>> + Send,
    {
        let admission = self.admit()?;
        // A probe dropped before it finished (its request was cancelled) must not leave the
        // circuit half-open for ever: the guard reopens it, expired, so the next call probes.
        let mut probe = ProbeGuard {
            breaker: self,
            armed: matches!(admission, Admission::Probe),
        };
        let result = match tokio::time::timeout(self.settings.call_timeout, f).await {
            Ok(result) => result,
            Err(_) => Err(TableError::Unavailable(format!(
                "no answer within {} ms",
                self.settings.call_timeout.as_millis()
            ))),
        };
        probe.armed = false;
        let unavailable = matches!(result, Err(TableError::Unavailable(_)));
        self.record(&admission, unavailable);
        result
    }
}

struct ProbeGuard<'a> {
    breaker: &'a BreakerTable,
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut state = self.breaker.state();
            *state = State::Open {
                until: self.breaker.clock.now(),
            };
            set_gauge(&state);
        }
    }
}

fn refuse(retry_after_secs: u64) -> TableError {
    metrics::counter!(REJECTIONS).increment(1);
    TableError::CircuitOpen { retry_after_secs }
}

/// Whole seconds until `until`, rounded up, at least 1.
fn secs_until(now: OffsetDateTime, until: OffsetDateTime) -> u64 {
    let left = (until - now).whole_milliseconds().max(0) as u64;
    left.div_ceil(1000).max(1)
}

fn set_gauge(state: &State) {
    let value = match state {
        State::Closed(_) => 0.0,
        State::HalfOpen => 1.0,
        State::Open { .. } => 2.0,
    };
    metrics::gauge!(STATE_GAUGE).set(value);
}

#[async_trait]
impl Table for BreakerTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        self.call(self.inner.get(key)).await
    }

    async fn put(
        &self,
        item: Item,
        condition: Option<crate::ports::Condition>,
    ) -> Result<(), TableError> {
        self.call(self.inner.put(item, condition)).await
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<crate::ports::Condition>,
    ) -> Result<(), TableError> {
        self.call(self.inner.delete(key, condition)).await
    }

    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        self.call(self.inner.query(query)).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), TableError> {
        self.call(self.inner.transact(writes)).await
    }

    async fn add(
        &self,
        key: &Key,
        counters: &[(&str, i64)],
        attrs: Item,
    ) -> Result<(), TableError> {
        self.call(self.inner.add(key, counters, attrs)).await
    }
    async fn add_if(
        &self,
        key: &Key,
        counters: &[(&str, i64)],
        attrs: Item,
        condition: Condition,
    ) -> Result<(), TableError> {
        self.call(self.inner.add_if(key, counters, attrs, condition))
            .await
    }
}
