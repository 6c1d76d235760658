//! Where a job that ran out of time stopped, so that its next run goes on from there. A
//! job that walks every tenant from the start each time would, at scale, run out of time at
//! the same place every run, and never reach what comes after the walk (blob collection).

use serde_json::json;
use time::OffsetDateTime;

use crate::domain::model::to_item;
use crate::domain::names::TenantName;
use crate::ports::table::{Key, TTL_ATTR, Table};
use crate::services::Error;

const AFTER: &str = "after";
/// What the walk is of, beyond the job (the report's day); a cursor of another is ignored.
const SCOPE: &str = "scope";
/// A cursor nobody picked up for a week is forgotten: the walk starts over.
const KEPT_SECS: i64 = 7 * 24 * 3600;

/// The cursor of one job's walk (beside its lease, `jobs::lease`).
pub fn key(job: &str) -> Key {
    Key::new(format!("JOB#{job}"), "CURSOR")
}

/// Whether a run that must stop starting work by `deadline` is past it.
pub fn past(deadline: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    deadline.is_some_and(|deadline| now >= deadline)
}

/// Until when a run that must stop by `deadline` may go on walking tenants: half of the time
/// left, so the phases after the walk always get the other half.
pub fn walk_until(now: OffsetDateTime, deadline: OffsetDateTime) -> OffsetDateTime {
    if deadline <= now {
        return deadline;
    }
    now + (deadline - now) / 2
}

/// What to do with the next tenant of a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An earlier run of this walk did it.
    Skip,
    Take,
    /// Out of time: this tenant and the rest are the next run's.
    Stop,
}

/// One run's part of a walk over the tenants in name order: it begins after the last
/// tenant an earlier run finished, and stops starting tenants at `until` (one tenant at
/// least, so every run moves the walk on).
#[derive(Debug)]
pub struct TenantWalk {
    job: &'static str,
    scope: String,
    resumed_after: Option<String>,
    until: Option<OffsetDateTime>,
    last: Option<TenantName>,
    stopped: bool,
}

impl TenantWalk {
    /// The walk of `job` over `scope` ("" when the job has one walk), as the last run left it.
    pub async fn resume(
        table: &dyn Table,
        job: &'static str,
        scope: &str,
        until: Option<OffsetDateTime>,
    ) -> Result<Self, Error> {
        let resumed_after = table.get(&key(job)).await?.and_then(|item| {
            let same_scope = item.get(SCOPE).and_then(|v| v.as_str()).unwrap_or("") == scope;
            same_scope
                .then(|| item.get(AFTER)?.as_str().map(str::to_owned))
                .flatten()
        });
        Ok(Self {
            job,
            scope: scope.to_owned(),
            resumed_after,
            until,
            last: None,
            stopped: false,
        })
    }

    pub fn step(&mut self, tenant: &TenantName, now: OffsetDateTime) -> Step {
        if self
            .resumed_after
            .as_deref()
            .is_some_and(|after| tenant.as_str() <= after)
        {
            return Step::Skip;
        }
        if self.last.is_some() && past(self.until, now) {
            self.stopped = true;
            return Step::Stop;
        }
        self.last = Some(tenant.clone());
        Step::Take
    }

    /// The last tenant this run took, when it stopped before the end.
    pub fn stopped_after(&self) -> Option<&TenantName> {
        self.stopped.then_some(self.last.as_ref()).flatten()
    }

    /// Records where the next run begins: after this run's last tenant if it stopped, at the
    /// first tenant if it reached the end.
    pub async fn save(&self, table: &dyn Table, now: OffsetDateTime) -> Result<(), Error> {
        let key = key(self.job);
        match self.stopped_after() {
            Some(after) => {
                let item = to_item(
                    &key,
                    &json!({
                        AFTER: after,
                        SCOPE: self.scope,
                        TTL_ATTR: now.unix_timestamp() + KEPT_SECS,
                    }),
                )?;
                table.put(item, None).await?;
            }
            None if self.resumed_after.is_some() => table.delete(&key, None).await?,
            None => {}
        }
        Ok(())
    }
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
