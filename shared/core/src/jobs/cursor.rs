//! Where a job that ran out of time stopped, so that its next run goes on from there. A
//! job that walks every tenant from the start each time would, at scale, run out of time at
//! the same place every run, and never reach what comes after the walk (blob collection).

use serde_json::json;
use time::OffsetDateTime;

use crate::ports::table::{Item, Key, TTL_ATTR, Table};
use crate::services::Error;

const AFTER: &str = "after";
/// A cursor nobody picked up for a week is forgotten: the walk starts over.
const KEPT_SECS: i64 = 7 * 24 * 3600;

/// The cursor of one job's walk (beside its lease, `jobs::lease`).
pub fn key(job: &str) -> Key {
    Key::new(format!("JOB#{job}"), "CURSOR")
}

/// The last tenant an earlier run finished, if it stopped before the end.
pub async fn load(table: &dyn Table, job: &str) -> Result<Option<String>, Error> {
    Ok(table
        .get(&key(job))
        .await?
        .and_then(|item| item.get(AFTER)?.as_str().map(str::to_owned)))
}

/// Records that the walk stopped after `after`.
pub async fn save(
    table: &dyn Table,
    job: &str,
    after: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let key = key(job);
    let mut item = Item::new();
    item.insert("pk".into(), key.pk.into());
    item.insert("sk".into(), key.sk.into());
    item.insert(AFTER.into(), after.into());
    item.insert(TTL_ATTR.into(), json!(now.unix_timestamp() + KEPT_SECS));
    table.put(item, None).await?;
    Ok(())
}

/// The walk reached the end: the next run starts from the first tenant.
pub async fn clear(table: &dyn Table, job: &str) -> Result<(), Error> {
    table.delete(&key(job), None).await?;
    Ok(())
}

/// Until when a run that must stop by `deadline` may go on walking tenants: half of the time
/// left, so the phases after the walk always get the other half.
pub fn walk_until(now: OffsetDateTime, deadline: OffsetDateTime) -> OffsetDateTime {
    if deadline <= now {
        return deadline;
    }
    now + (deadline - now) / 2
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_walk_takes_half_of_the_time_left() {
        let now = datetime!(2026-12-03 10:00 UTC);
        assert_eq!(
            walk_until(now, datetime!(2026-12-03 10:14 UTC)),
            datetime!(2026-12-03 10:07 UTC)
        );
        let late = datetime!(2026-12-03 09:59 UTC);
        assert_eq!(walk_until(now, late), late);
    }
}
