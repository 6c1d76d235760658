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
