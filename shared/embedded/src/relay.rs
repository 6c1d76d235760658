//! The outbox relay inside `trove serve`: hands every event waiting in the outbox to the
//! events bus (`LocalEvents`, which stores the webhook deliveries before it returns), then
//! removes it. It runs a pass on start (what a killed process left), each time the table
//! commits an outbox entry, and every [`IDLE_PASS`] whatever happens (an entry a failed
//! pass left behind). Passes never overlap, so one process relays each entry once.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{Mutex, Notify};

use trove_core::faults::Faults;
use trove_core::outbox::{self, Pass};
use trove_core::services::{Context, Error};

/// How often the relay looks without being told: for entries whose relay failed.
pub const IDLE_PASS: Duration = Duration::from_secs(5);
/// The most one pass relays before it yields to the next wake-up.
const PASS_BUDGET: usize = 1000;

pub struct Relay {
    ctx: Weak<Context>,
    faults: Faults,
    passing: Mutex<()>,
}

impl Relay {
    /// Starts relaying on the current tokio runtime, woken by `committed`; it stops when the
    /// context or the returned relay is dropped.
    pub fn start(ctx: &Arc<Context>, committed: Arc<Notify>, faults: Faults) -> Arc<Relay> {
        let relay = Arc::new(Relay::new(ctx, faults));
        let weak = Arc::downgrade(&relay);
        tokio::spawn(async move {
            loop {
                let Some(relay) = weak.upgrade() else { return };
                let more = match relay.pass().await {
                    Ok(pass) => pass.relayed + pass.failed + pass.dropped >= PASS_BUDGET,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox relay pass failed; trying again");
                        false
                    }
                };
                drop(relay);
                if !more {
                    // A commit since the pass read the outbox left a permit: it does not
                    // wait for the idle pass.
                    let _ = tokio::time::timeout(IDLE_PASS, committed.notified()).await;
                }
            }
        });
        relay
    }

    fn new(ctx: &Arc<Context>, faults: Faults) -> Relay {
        Relay {
            ctx: Arc::downgrade(ctx),
            faults,
            passing: Mutex::new(()),
        }
    }

    /// Relays what waits now, after any pass under way has finished.
    pub async fn pass(&self) -> Result<Pass, Error> {
        let _passing = self.passing.lock().await;
        let Some(ctx) = self.ctx.upgrade() else {
            return Ok(Pass::default());
        };
        let pass = outbox::relay_waiting(&ctx, None, PASS_BUDGET, &self.faults).await?;
        if pass.relayed > 0 {
            tracing::debug!(events = pass.relayed, "events relayed");
        }
        Ok(pass)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::{FileBlobs, FileSecrets, LocalWorkflow, SqliteTable};
    use trove_core::config::Settings;
    use trove_core::domain::event_kind::EventKind;
    use trove_core::domain::keys;
    use trove_core::domain::names::TenantName;
    use trove_core::ports::{DomainEvent, EventError, Events, Query, SystemClock, Table};

    /// A bus that refuses while it is down and records what it took.
    #[derive(Default)]
    struct Bus {
        down: AtomicBool,
        taken: std::sync::Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Events for Bus {
        async fn publish(&self, event: DomainEvent) -> Result<(), EventError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(EventError::Unavailable("the bus is down".into()));
            }
            self.taken.lock().expect("taken").push(event.id);
            Ok(())
        }
    }

    impl Bus {
        fn taken(&self) -> Vec<String> {
            self.taken.lock().expect("taken").clone()
        }
    }

    struct Env {
        _dir: tempfile::TempDir,
        table: Arc<SqliteTable>,
        bus: Arc<Bus>,
        ctx: Arc<Context>,
    }

    fn env() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let table = Arc::new(SqliteTable::open(&dir.path().join("t.db")).expect("table"));
        let bus = Arc::new(Bus::default());
        let ctx = Arc::new(Context {
            table: table.clone(),
            blobs: Arc::new(FileBlobs::new(
                dir.path().join("blobs"),
                "http://trove.test".into(),
                vec![7; 32],
                Arc::new(SystemClock),
            )),
            events: bus.clone(),
            secrets: Arc::new(FileSecrets::new(dir.path().join("secrets"))),
            clock: Arc::new(SystemClock),
            workflow: LocalWorkflow::new(table.clone()).expect("workflow"),
            scanner: None,
            settings: Arc::new(Settings::for_testing()),
            index_pages: Default::default(),
        });
        Env {
            _dir: dir,
            table,
            bus,
            ctx,
        }
    }

    impl Env {
        /// Commits `n` events as a change would, returning their ids.
        async fn announce(&self, n: usize) -> Vec<String> {
            let tenant = TenantName::parse("acme").expect("tenant");
            let mut ids = Vec::new();
            for i in 0..n {
                let event = trove_core::pipeline::events::event(
                    &self.ctx,
                    &tenant,
                    EventKind::RepositoryCreated,
                    serde_json::json!({ "repository": format!("r{i}") }),
                );
                ids.push(event.id.clone());
                let entry = outbox::entry(&event).expect("entry");
                self.table.transact(vec![entry]).await.expect("committed");
            }
            ids.sort();
            ids
        }

        async fn waiting(&self) -> usize {
            let mut n = 0;
            for pk in keys::outbox_partitions() {
                n += self
                    .table
                    .query(&Query::new(pk))
                    .await
                    .expect("query")
                    .items
                    .len();
            }
            n
        }
    }

    #[tokio::test]
    async fn what_the_bus_refused_waits_and_is_relayed_once_it_is_back() {
        let env = env();
        let ids = env.announce(3).await;
        let relay = Relay::new(&env.ctx, Faults::default());
        env.bus.down.store(true, Ordering::SeqCst);
        let refused = relay.pass().await.expect("a pass");
        assert_eq!((refused.relayed, refused.failed), (0, 3));
        assert_eq!(env.waiting().await, 3, "nothing lost");

        env.bus.down.store(false, Ordering::SeqCst);
        let pass = relay.pass().await.expect("a pass");
        assert_eq!((pass.relayed, pass.failed), (3, 0));
        let mut taken = env.bus.taken();
        taken.sort();
        assert_eq!(taken, ids, "each once");
        assert_eq!(env.waiting().await, 0);
        assert_eq!(
            relay.pass().await.expect("a pass").relayed,
            0,
            "nothing twice"
        );
    }

    #[tokio::test]
    async fn a_relay_cut_short_after_handing_over_hands_the_event_over_again() {
        let env = env();
        let ids = env.announce(1).await;
        let faults =
            Faults::parse(&format!("{}=fail:1", outbox::fault_point::RELAYED)).expect("faults");
        let relay = Relay::new(&env.ctx, faults);
        assert_eq!(relay.pass().await.expect("a pass").failed, 1);
        assert_eq!(env.waiting().await, 1, "kept: the removal never happened");
        assert_eq!(relay.pass().await.expect("a pass").relayed, 1);
        assert_eq!(
            env.bus.taken(),
            [ids[0].clone(), ids[0].clone()],
            "at least once"
        );
        assert_eq!(env.waiting().await, 0);
    }

    #[tokio::test]
    async fn a_committed_entry_wakes_the_relay() {
        let env = env();
        let _relay = Relay::start(
            &env.ctx,
            env.table.watch(keys::OUTBOX_PREFIX),
            Faults::default(),
        );
        // Let the first pass find the outbox empty and go to sleep.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ids = env.announce(1).await;
        // Well before the idle pass: only the commit's wake-up can relay it this soon.
        let soon = tokio::time::timeout(IDLE_PASS / 2, async {
            while env.bus.taken().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(soon.is_ok(), "not relayed until the idle pass");
        assert_eq!(env.bus.taken(), ids);
    }
}
