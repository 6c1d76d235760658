//! The breaker under fault injection: a real SQLite table behind a switch that makes it
//! throttle or stall on command, and a clock the test moves.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trove_core::ports::{Clock, Condition, Item, Key, Table, TableError};
use trove_testkit::table_hook::{Call, Hook, Hooked};

use async_trait::async_trait;
use time::OffsetDateTime;

use trove_core::breaker::*;
use trove_embedded::SqliteTable;

pub(crate) const HEALTHY: u8 = 0;
/// Failing as a table that is down fails: 5xx, connection errors.
pub(crate) const FAILING: u8 = 1;
pub(crate) const STALLING: u8 = 2;
/// Refusing for throughput, as DynamoDB refuses a hot key or partition.
pub(crate) const HOT_KEY: u8 = 3;

/// The embedded table, failing on command; counts the calls that reach it.
pub(crate) type FaultyTable = Hooked<Faults>;

pub(crate) struct Faults {
    pub(crate) mode: AtomicU8,
    pub(crate) calls: AtomicUsize,
}

impl Faults {
    pub(crate) fn open(dir: &std::path::Path) -> Arc<FaultyTable> {
        Self::wrap(Arc::new(
            SqliteTable::open(&dir.join("faulty.db")).expect("table"),
        ))
    }

    pub(crate) fn wrap(inner: Arc<dyn Table>) -> Arc<FaultyTable> {
        let faults = Faults {
            mode: AtomicU8::new(HEALTHY),
            calls: AtomicUsize::new(0),
        };
        Hooked::new(inner, faults)
    }

    pub(crate) fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Hook for Faults {
    async fn before(&self, _: Call<'_>) -> Result<(), TableError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.mode.load(Ordering::SeqCst) {
            FAILING => Err(TableError::Unavailable("internal server error".into())),
            HOT_KEY => Err(TableError::Throttled("throughput exceeded".into())),
            STALLING => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

pub(crate) struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(OffsetDateTime::now_utc())))
    }
    pub(crate) fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().expect("clock")
    }
}

pub(crate) fn settings() -> BreakerSettings {
    BreakerSettings {
        failures: 3,
        window: Duration::from_secs(10),
        cooldown: Duration::from_secs(10),
        call_timeout: Duration::from_millis(200),
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    faulty: Arc<FaultyTable>,
    clock: Arc<ManualClock>,
    breaker: Arc<BreakerTable>,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let faulty = Faults::open(dir.path());
    let clock = ManualClock::new();
    let breaker = Arc::new(BreakerTable::new(faulty.clone(), settings(), clock.clone()));
    Rig {
        _dir: dir,
        faulty,
        clock,
        breaker,
    }
}

fn key() -> Key {
    Key::new("P", "S")
}

async fn get(r: &Rig) -> Result<Option<Item>, TableError> {
    r.breaker.get(&key()).await
}

async fn open(r: &Rig) {
    r.faulty.set(FAILING);
    for _ in 0..3 {
        assert!(matches!(get(r).await, Err(TableError::Unavailable(_))));
    }
}

#[tokio::test]
async fn failures_within_the_window_open_the_circuit_and_calls_then_fail_fast() {
    let r = rig();
    open(&r).await;
    let reached = r.faulty.calls();
    r.faulty.set(HEALTHY);
    for _ in 0..5 {
        match get(&r).await {
            Err(TableError::CircuitOpen { retry_after_secs }) => assert_eq!(retry_after_secs, 10),
            other => panic!("expected a fast refusal, got {other:?}"),
        }
    }
    assert_eq!(
        r.faulty.calls(),
        reached,
        "an open circuit spares the table"
    );
    r.clock.advance(Duration::from_millis(6500));
    assert!(matches!(
        get(&r).await,
        Err(TableError::CircuitOpen {
            retry_after_secs: 4
        })
    ));
}

#[tokio::test]
async fn failures_spread_beyond_the_window_do_not_open_it() {
    let r = rig();
    r.faulty.set(FAILING);
    for _ in 0..6 {
        assert!(matches!(get(&r).await, Err(TableError::Unavailable(_))));
        r.clock.advance(Duration::from_secs(6));
    }
    r.faulty.set(HEALTHY);
    assert!(get(&r).await.is_ok());
}

/// A hot item is throttled while the table serves everyone else: one instance refusing every
/// tenant for the cool-down (and tripping the rollback alarm with 503s) would turn one
/// tenant's hot key into everyone's outage.
#[tokio::test]
async fn throttling_of_a_hot_key_never_opens_the_circuit() {
    let r = rig();
    r.faulty.set(HOT_KEY);
    for _ in 0..20 {
        assert!(matches!(get(&r).await, Err(TableError::Throttled(_))));
    }
    r.faulty.set(HEALTHY);
    assert!(get(&r).await.is_ok(), "the circuit stayed closed");
}

#[tokio::test]
async fn answers_other_than_unavailable_do_not_count() {
    let r = rig();
    for _ in 0..5 {
        let refused = r.breaker.delete(&key(), Some(Condition::Exists)).await;
        assert!(matches!(refused, Err(TableError::ConditionFailed)));
    }
    assert!(get(&r).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_the_cooldown_exactly_one_probe_runs_at_a_time() {
    let r = rig();
    open(&r).await;
    r.clock.advance(Duration::from_secs(10));
    // The probe stalls: meanwhile every other call is refused without reaching the table.
    r.faulty.set(STALLING);
    let before = r.faulty.calls();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let breaker = r.breaker.clone();
            tokio::spawn(async move { breaker.get(&key()).await })
        })
        .collect();
    let mut refused = 0;
    let mut timed_out = 0;
    for call in calls {
        match call.await.expect("joined") {
            Err(TableError::CircuitOpen { .. }) => refused += 1,
            Err(TableError::Unavailable(_)) => timed_out += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((timed_out, refused), (1, 7));
    assert_eq!(r.faulty.calls(), before + 1, "one probe reached the table");
}

#[tokio::test]
async fn a_successful_probe_closes_the_circuit() {
    let r = rig();
    open(&r).await;
    r.clock.advance(Duration::from_secs(10));
    r.faulty.set(HEALTHY);
    assert!(get(&r).await.is_ok(), "the probe");
    for _ in 0..5 {
        assert!(get(&r).await.is_ok());
    }
    // Closed afresh: the old failures are forgotten, it takes a full count to reopen.
    r.faulty.set(FAILING);
    for _ in 0..2 {
        assert!(matches!(get(&r).await, Err(TableError::Unavailable(_))));
    }
    r.faulty.set(HEALTHY);
    assert!(get(&r).await.is_ok());
}

#[tokio::test]
async fn a_failed_probe_reopens_it_for_another_cooldown() {
    let r = rig();
    open(&r).await;
    r.clock.advance(Duration::from_secs(10));
    assert!(matches!(get(&r).await, Err(TableError::Unavailable(_))));
    let reached = r.faulty.calls();
    r.faulty.set(HEALTHY);
    assert!(matches!(
        get(&r).await,
        Err(TableError::CircuitOpen {
            retry_after_secs: 10
        })
    ));
    assert_eq!(r.faulty.calls(), reached);
    r.clock.advance(Duration::from_secs(10));
    assert!(get(&r).await.is_ok());
}

/// Each stalled call reaches the table and is given up on with the breaker's own timeout
/// (its answer says so); three of them open the circuit, after which the table is spared.
#[tokio::test]
async fn a_stalled_call_times_out_and_counts() {
    let r = rig();
    r.faulty.set(STALLING);
    for call in 1..=3 {
        // Only a guard against hanging the suite: the table stalls for an hour.
        let answer = tokio::time::timeout(Duration::from_secs(60), get(&r))
            .await
            .expect("the breaker gave up on the stalled call");
        assert!(
            matches!(&answer, Err(TableError::Unavailable(m)) if m.contains("200 ms")),
            "{answer:?}"
        );
        assert_eq!(r.faulty.calls(), call, "the call reached the table");
    }
    assert!(matches!(get(&r).await, Err(TableError::CircuitOpen { .. })));
    assert_eq!(r.faulty.calls(), 3, "an open circuit spares the table");
}

#[tokio::test]
async fn a_cancelled_probe_lets_the_next_call_probe() {
    let r = rig();
    open(&r).await;
    r.clock.advance(Duration::from_secs(10));
    r.faulty.set(STALLING);
    let probe = tokio::time::timeout(Duration::from_millis(20), get(&r)).await;
    assert!(probe.is_err(), "the probe was still waiting");
    r.faulty.set(HEALTHY);
    assert!(get(&r).await.is_ok());
}

#[tokio::test]
async fn the_breaker_reports_its_state_and_refusals() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let r = rig();
    {
        let _local = metrics::set_default_local_recorder(&recorder);
        open(&r).await;
        let _ = get(&r).await;
    }
    let text = handle.render();
    assert!(text.contains("trove_table_circuit_state 2"), "{text}");
    assert!(text.contains("trove_table_rejections_total 1"), "{text}");
}
