//! When the scheduled jobs run. EventBridge gets these expressions in `template.yaml` (the
//! deployment contract test compares them); `trove serve` runs the same jobs on the same
//! timetable in-process.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, Time};

use super::lease;
use crate::services::{Context, Error};
use crate::webhooks::dispatcher::Dispatcher;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Cleanup,
    Report,
}

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Job::Cleanup => "cleanup",
            Job::Report => "report",
        }
    }

    pub fn parse(name: &str) -> Option<Job> {
        SCHEDULES
            .iter()
            .map(|s| s.job)
            .find(|job| job.name().eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub job: Job,
    /// The EventBridge schedule expression of the deployment.
    pub expression: &'static str,
    cadence: Cadence,
}

#[derive(Debug, Clone, Copy)]
enum Cadence {
    /// At the top of every hour.
    Hourly,
    /// Once a day at this UTC time.
    DailyAt(u8, u8),
}

/// Cleanup hourly; the report shortly after midnight UTC, when yesterday's counts are final.
pub const SCHEDULES: &[Schedule] = &[
    Schedule {
        job: Job::Cleanup,
        expression: "cron(0 * * * ? *)",
        cadence: Cadence::Hourly,
    },
    Schedule {
        job: Job::Report,
        expression: "cron(15 0 * * ? *)",
        cadence: Cadence::DailyAt(0, 15),
    },
];

impl Schedule {
    /// The first run strictly after `now`.
    pub fn next_after(&self, now: OffsetDateTime) -> OffsetDateTime {
        let now = now.to_offset(time::UtcOffset::UTC);
        match self.cadence {
            Cadence::Hourly => {
                let hour = now
                    .replace_time(Time::MIDNIGHT)
                    .saturating_add(time::Duration::hours(i64::from(now.hour())));
                hour.saturating_add(time::Duration::HOUR)
            }
            Cadence::DailyAt(h, m) => {
                let at = Time::from_hms(h, m, 0).unwrap_or(Time::MIDNIGHT);
                let today = now.replace_time(at);
                if today > now {
                    today
                } else {
                    today.saturating_add(time::Duration::DAY)
                }
            }
        }
    }
}

/// How a job is run by hand (`trove admin run-job`) or by its schedule (the defaults).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Report what would change; change nothing.
    pub dry_run: bool,
    /// The report's day (default yesterday, UTC); the cleanup has no day.
    pub date: Option<time::Date>,
    /// When the run must stop starting new work: the function's own deadline, less a
    /// margin (none: it goes to the end).
    pub deadline: Option<OffsetDateTime>,
}

/// How long a run may hold its job's lease: longer than the functions' 15-minute timeout,
/// so a run is never taken over while it is alive, and a run that died blocks at most the
/// next one of the cleanup (hourly) and none of the report's (daily).
pub const LEASE_TTL: time::Duration = time::Duration::minutes(16);

/// Runs a job now; its summary as JSON (what `trove admin run-job` prints and the job
/// functions return). A run that left part of its work undone is an error after its summary
/// is logged, so the scheduler retries and an operator sees a failure.
pub async fn run(ctx: &Context, job: Job, options: RunOptions) -> Result<serde_json::Value, Error> {
    run_with_webhooks(ctx, job, options, None).await
}

/// As [`run`]; the cleanup also sweeps `webhooks`' pending deliveries (the host whose
/// dispatcher does not sweep on its own passes it: AWS).
pub async fn run_with_webhooks(
    ctx: &Context,
    job: Job,
    options: RunOptions,
    webhooks: Option<&Dispatcher>,
) -> Result<serde_json::Value, Error> {
    if job == Job::Cleanup && options.date.is_some() {
        return Err(Error::Invalid("the cleanup job takes no date".into()));
    }
    // A dry run changes nothing, so it may run beside a real one.
    let lease = if options.dry_run {
        None
    } else {
        match lease::acquire(ctx.table.as_ref(), job.name(), ctx.clock.now(), LEASE_TTL).await? {
            lease::Acquired::Held(lease) => Some(lease),
            lease::Acquired::Busy { holder, until } => {
                let until = until.and_then(|t| t.format(&Rfc3339).ok());
                tracing::warn!(job = job.name(), %holder, ?until, "another run holds the job's lease; not running");
                return Ok(serde_json::json!({
                    "job": job.name(),
                    "skipped": "another run of this job is in progress",
                    "lease_holder": holder,
                    "lease_until": until,
                }));
            }
        }
    };
    let result = run_job(ctx, job, options, webhooks).await;
    if let Some(lease) = lease
        && let Err(e) = lease.release(ctx.table.as_ref()).await
    {
        // It expires on its own; the next run only waits for that.
        tracing::warn!(job = job.name(), error = %e, "job lease not released");
    }
    result
}

async fn run_job(
    ctx: &Context,
    job: Job,
    options: RunOptions,
    webhooks: Option<&Dispatcher>,
) -> Result<serde_json::Value, Error> {
    let (summary, incomplete) = match job {
        Job::Cleanup => {
            let report = super::cleanup::run(
                ctx,
                super::cleanup::CleanupOptions {
                    dry_run: options.dry_run,
                    deadline: options.deadline,
                },
            )
            .await?;
            let recovered = if super::cursor::past(options.deadline, ctx.clock.now()) {
                None
            } else {
                Some(super::recovery::run(ctx, options.dry_run, webhooks).await)
            };
            let summary = serde_json::to_value(report).and_then(|mut summary| {
                match recovered {
                    Some(recovered) => summary["recovered"] = serde_json::to_value(recovered)?,
                    None => {
                        if let Some(deferred) = summary["deferred"].as_array_mut() {
                            deferred.push("recovery".into());
                        }
                    }
                }
                Ok(summary)
            });
            (summary, Vec::new())
        }
        Job::Report => {
            let report_options = super::report::ReportOptions {
                dry_run: options.dry_run,
                date: options.date,
                deadline: options.deadline,
                ..super::report::ReportOptions::from_settings(&ctx.settings)
            };
            let summary = super::report::run(ctx, report_options).await?;
            let mut undone = summary.failed.clone();
            // An error, so the platform invokes the job again: the retry goes on from the
            // cursor the same day, not tomorrow.
            if let Some(after) = &summary.resume_after {
                undone.push(format!("the tenants after {after} (out of time)"));
            }
            (serde_json::to_value(summary), undone)
        }
    };
    let summary = summary.map_err(|e| Error::Internal(format!("job summary: {e}")))?;
    if !incomplete.is_empty() {
        tracing::error!(job = job.name(), %summary, "job left work undone");
        return Err(Error::Unavailable(format!(
            "job {} failed for: {}",
            job.name(),
            incomplete.join(", ")
        )));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn schedule(job: Job) -> Schedule {
        *SCHEDULES.iter().find(|s| s.job == job).expect("scheduled")
    }

    #[test]
    fn cleanup_runs_at_the_top_of_each_hour() {
        let s = schedule(Job::Cleanup);
        assert_eq!(
            s.next_after(datetime!(2026-11-23 10:17:03 UTC)),
            datetime!(2026-11-23 11:00 UTC)
        );
        assert_eq!(
            s.next_after(datetime!(2026-11-23 10:00 UTC)),
            datetime!(2026-11-23 11:00 UTC)
        );
        assert_eq!(
            s.next_after(datetime!(2026-12-31 23:59:59 UTC)),
            datetime!(2027-01-01 00:00 UTC)
        );
    }

    #[test]
    fn the_report_runs_daily_after_midnight() {
        let s = schedule(Job::Report);
        assert_eq!(
            s.next_after(datetime!(2026-11-23 00:10 UTC)),
            datetime!(2026-11-23 00:15 UTC)
        );
        assert_eq!(
            s.next_after(datetime!(2026-11-23 00:15 UTC)),
            datetime!(2026-11-24 00:15 UTC)
        );
        assert_eq!(
            s.next_after(datetime!(2026-11-23 18:00 +02:00)),
            datetime!(2026-11-24 00:15 UTC)
        );
    }

    #[test]
    fn jobs_are_named_as_the_cli_and_the_functions_name_them() {
        assert_eq!(Job::parse("cleanup"), Some(Job::Cleanup));
        assert_eq!(Job::parse("Report"), Some(Job::Report));
        assert_eq!(Job::parse("backup"), None);
    }
}
