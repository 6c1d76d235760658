//! One run of a job at a time, by a lease item in the table rather than by the platform:
//! reserved concurrency of 1 would do it in Lambda, but a new account refuses to reserve
//! anything once less than 100 executions would stay unreserved. A run takes the lease with a
//! conditional put; a second run that finds it held exits at once. A run that dies keeps it
//! until it expires (longer than the longest run), so the next scheduled run goes ahead.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::ports::table::{Condition, Item, Key, TTL_ATTR, Table, TableError};
use crate::services::Error;

const HOLDER: &str = "holder";
const UNTIL_MS: &str = "until_ms";

/// The lease of one job's runs.
pub fn key(job: &str) -> Key {
    Key::new(format!("JOB#{job}"), "LEASE")
}

/// The lease this run holds; give it back with [`Lease::release`].
#[derive(Debug)]
pub struct Lease {
    key: Key,
    holder: String,
}

/// What trying to take the lease found.
#[derive(Debug)]
pub enum Acquired {
    Held(Lease),
    /// Another run holds it until `until`.
    Busy {
        holder: String,
        until: Option<OffsetDateTime>,
    },
}

/// Takes the job's lease for `ttl` when no run holds it or the last holder's ran out.
pub async fn acquire(
    table: &dyn Table,
    job: &str,
    now: OffsetDateTime,
    ttl: time::Duration,
) -> Result<Acquired, Error> {
    let key = key(job);
    let condition = match table.get(&key).await? {
        None => Condition::NotExists,
        Some(current) => {
            if let Some(busy) = busy(&current, now) {
                return Ok(busy);
            }
            // Expired: take it over from exactly that holder, so two runs that both saw it
            // expire cannot both take it.
            Condition::Equals(
                HOLDER.into(),
                current.get(HOLDER).cloned().unwrap_or(Value::Null),
            )
        }
    };
    let holder = ulid::Ulid::new().to_string().to_ascii_lowercase();
    let until = now + ttl;
    let mut item = Item::new();
    item.insert("pk".into(), key.pk.clone().into());
    item.insert("sk".into(), key.sk.clone().into());
    item.insert(HOLDER.into(), holder.clone().into());
    item.insert(UNTIL_MS.into(), json!(unix_ms(until)));
    // Left behind by a run that died: the table forgets it a day later.
    item.insert(
        TTL_ATTR.into(),
        json!((until + time::Duration::DAY).unix_timestamp()),
    );
    match table.put(item, Some(condition)).await {
        Ok(()) => Ok(Acquired::Held(Lease { key, holder })),
        Err(TableError::ConditionFailed) => {
            // Another run took it between our read and our write.
            let current = table.get(&key).await?;
            Ok(current
                .as_ref()
                .and_then(|c| busy(c, now))
                .unwrap_or(Acquired::Busy {
                    holder: "unknown".into(),
                    until: None,
                }))
        }
        Err(e) => Err(e.into()),
    }
}

impl Lease {
    /// Ends the lease early, if it is still this run's (an expired one may have been taken
    /// over; that holder keeps it).
    pub async fn release(self, table: &dyn Table) -> Result<(), Error> {
        match table
            .delete(
                &self.key,
                Some(Condition::Equals(HOLDER.into(), self.holder.into())),
            )
            .await
        {
            Ok(()) | Err(TableError::ConditionFailed) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn busy(item: &Item, now: OffsetDateTime) -> Option<Acquired> {
    let until_ms = item.get(UNTIL_MS).and_then(Value::as_i64)?;
    if until_ms <= unix_ms(now) {
        return None;
    }
    Some(Acquired::Busy {
        holder: item
            .get(HOLDER)
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned(),
        until: OffsetDateTime::from_unix_timestamp_nanos(i128::from(until_ms) * 1_000_000).ok(),
    })
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::adapters::local::SqliteTable;

    const TTL: time::Duration = time::Duration::minutes(16);

    fn table() -> (tempfile::TempDir, Arc<dyn Table>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let table = SqliteTable::open(&dir.path().join("lease.db")).expect("sqlite table");
        (dir, Arc::new(table))
    }

    fn held(a: &Acquired) -> bool {
        matches!(a, Acquired::Held(_))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_many_concurrent_runs_exactly_one_takes_the_lease() {
        let (_dir, table) = table();
        let now = OffsetDateTime::now_utc();
        let runs = (0..8).map(|_| {
            let table = Arc::clone(&table);
            tokio::spawn(async move { acquire(table.as_ref(), "cleanup", now, TTL).await })
        });
        let mut taken = 0;
        for run in runs {
            let acquired = run.await.expect("run").expect("acquire");
            taken += usize::from(held(&acquired));
        }
        assert_eq!(taken, 1);
    }

    #[tokio::test]
    async fn a_second_run_while_the_first_holds_it_is_told_until_when() {
        let (_dir, table) = table();
        let now = OffsetDateTime::now_utc();
        let first = acquire(table.as_ref(), "cleanup", now, TTL)
            .await
            .expect("first");
        assert!(held(&first));
        let second = acquire(
            table.as_ref(),
            "cleanup",
            now + time::Duration::minutes(5),
            TTL,
        )
        .await
        .expect("second");
        match second {
            Acquired::Busy { until, .. } => {
                let until = until.expect("the holder's deadline");
                assert!(
                    (until - (now + TTL)).abs() < time::Duration::SECOND,
                    "{until}"
                );
            }
            Acquired::Held(_) => panic!("two runs at once"),
        }
        // Another job has a lease of its own.
        assert!(held(
            &acquire(table.as_ref(), "report", now, TTL)
                .await
                .expect("report")
        ));
    }

    #[tokio::test]
    async fn a_released_or_expired_lease_can_be_taken_again_but_only_once() {
        let (_dir, table) = table();
        let now = OffsetDateTime::now_utc();
        let Acquired::Held(lease) = acquire(table.as_ref(), "cleanup", now, TTL)
            .await
            .expect("first")
        else {
            panic!("not taken")
        };
        lease.release(table.as_ref()).await.expect("release");
        let Acquired::Held(_dead) = acquire(table.as_ref(), "cleanup", now, TTL)
            .await
            .expect("after release")
        else {
            panic!("a released lease is free")
        };
        // That run died without releasing: after its lease ran out, one run takes over.
        let later = now + TTL + time::Duration::SECOND;
        let (a, b) = tokio::join!(
            acquire(table.as_ref(), "cleanup", later, TTL),
            acquire(table.as_ref(), "cleanup", later, TTL)
        );
        let taken = [a.expect("a"), b.expect("b")];
        assert_eq!(taken.iter().filter(|t| held(t)).count(), 1);
    }

    #[tokio::test]
    async fn releasing_a_lease_taken_over_leaves_the_new_holder_alone() {
        let (_dir, table) = table();
        let now = OffsetDateTime::now_utc();
        let Acquired::Held(slow) = acquire(table.as_ref(), "cleanup", now, TTL)
            .await
            .expect("slow")
        else {
            panic!("not taken")
        };
        let later = now + TTL + time::Duration::SECOND;
        assert!(held(
            &acquire(table.as_ref(), "cleanup", later, TTL)
                .await
                .expect("takeover")
        ));
        slow.release(table.as_ref()).await.expect("release");
        assert!(!held(
            &acquire(table.as_ref(), "cleanup", later, TTL)
                .await
                .expect("third")
        ));
    }
}
