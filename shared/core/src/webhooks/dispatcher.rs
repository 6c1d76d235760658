//! The dispatcher: turns domain events into deliveries (one per matching webhook) and
//! attempts them, each attempt claimed on the delivery record before it is sent, so a
//! delivery that succeeded is never sent again however often its job repeats.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::domain::keys;
use crate::domain::model::from_item;
use crate::domain::names::TenantName;
use crate::egress::{self, AllowedHosts};
use crate::faults::{Faults, Injected};
use crate::ports::delivery::DeliveryQueue;
use crate::ports::table::query_all;
use crate::ports::{DomainEvent, Index, Query, TableError};
use crate::services::records::pii;
use crate::services::{Context, Error};
use crate::webhooks::lease::{self, HolderLocks, Lease, Receipt};
use crate::webhooks::model::{
    Attempt, DELIVERY_REQUESTED, Delivery, DeliveryJob, DeliveryRecord, DeliveryStatus,
    WebhookRecord, delivery_id, unix_ms,
};
use crate::webhooks::schedule::{DeliveryTuning, SNIPPET_BYTES};
use crate::webhooks::signing;
use crate::webhooks::ssrf;
use crate::webhooks::store;

/// The sealing field of webhook secrets (see `services::records::pii`).
pub const SECRET_FIELD: &str = "webhook_secret";

pub struct Dispatcher {
    ctx: Arc<Context>,
    queue: Arc<dyn DeliveryQueue>,
    client: reqwest::Client,
    allowed: AllowedHosts,
    tuning: DeliveryTuning,
    /// Names this dispatcher's claims; new at every start.
    instance: String,
    /// The other local dispatchers' liveness, when they are known (`trove serve`).
    holders: Option<HolderLocks>,
    faults: Faults,
}

/// How one attempt ended, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Refused,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Refused => "refused",
        }
    }
}

impl Dispatcher {
    pub fn new(ctx: Arc<Context>, queue: Arc<dyn DeliveryQueue>) -> Result<Self, Error> {
        let tuning = ctx.settings.webhook_delivery.clone();
        let allowed = AllowedHosts::new(&ctx.settings.webhook_allow_hosts);
        // A 3xx is the receiver's answer, not a new destination: the guard follows none.
        let client = egress::guarded(reqwest::Client::builder(), &allowed)
            .connect_timeout(tuning.connect_timeout)
            .timeout(tuning.timeout)
            .user_agent("Trove-Webhooks/1")
            .build()
            .map_err(|e| Error::Internal(format!("webhook HTTP client: {e}")))?;
        Ok(Self {
            ctx,
            queue,
            client,
            allowed,
            tuning,
            instance: lease::new_instance_id(),
            holders: None,
            faults: Faults::default(),
        })
    }

    /// Registers this dispatcher among the local ones whose lock files live in `dir`, so
    /// that the claims of one that exited are taken over at once rather than when their
    /// lease ends.
    pub fn with_holder_locks(mut self, dir: &Path) -> std::io::Result<Self> {
        self.holders = Some(HolderLocks::register(dir, &self.instance)?);
        Ok(self)
    }

    /// Injects the faults at the `crash_point`s of attempts.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// Handles one event from the events queue: a domain event fans out to the tenant's
    /// matching webhooks; a delivery request (ping, redelivery) queues that delivery.
    /// Repeating it is harmless.
    pub async fn on_event(&self, event: &DomainEvent) -> Result<(), Error> {
        let now = self.ctx.clock.now();
        if event.kind == DELIVERY_REQUESTED {
            let field = |name: &str| {
                event.data[name]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Error::Invalid(format!("delivery request without {name}")))
            };
            let job = DeliveryJob {
                tenant: event.tenant.clone(),
                webhook_id: field("webhook")?,
                delivery_id: field("delivery")?,
                due_ms: unix_ms(now),
                enqueued_ms: unix_ms(now),
            };
            return self.enqueue(job, Duration::ZERO).await;
        }
        let tenant = TenantName::parse(&event.tenant)?;
        let hooks = query_all(
            self.ctx.table.as_ref(),
            Query::new(keys::webhooks_partition(&tenant)),
        )
        .await?;
        for item in hooks {
            let hook: WebhookRecord = from_item(item)?;
            if !hook.webhook.wants(event) {
                continue;
            }
            // The same event and webhook always make the same delivery id: a repeated
            // event finds its delivery already there.
            let seed = format!("{}#{}", event.id, hook.webhook.id);
            let rec = DeliveryRecord::pending(
                delivery_id(event.occurred_at, Some(&seed)),
                &hook.webhook.id,
                event.clone(),
                now,
            );
            let job = job_of(&rec, now);
            match self
                .ctx
                .table
                .put(
                    store::delivery_item(&rec)?,
                    Some(crate::ports::Condition::NotExists),
                )
                .await
            {
                Ok(()) | Err(TableError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
            self.enqueue(job, Duration::ZERO).await?;
        }
        Ok(())
    }

    async fn enqueue(&self, job: DeliveryJob, delay: Duration) -> Result<(), Error> {
        self.queue
            .send(job, delay)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))
    }

    /// Attempts the job's delivery if it is due, pending, and not being attempted
    /// elsewhere; records the attempt and queues the next one or dead-letters it.
    pub async fn run_job(&self, job: &DeliveryJob) -> Result<(), Error> {
        self.run_received_job(job, None).await
    }

    /// `run_job` for a job the queue handed over as `receipt`: a later hand-over of the
    /// message that claimed the attempt in flight knows that claim's handler died.
    pub async fn run_received_job(
        &self,
        job: &DeliveryJob,
        receipt: Option<&Receipt>,
    ) -> Result<(), Error> {
        let now = self.ctx.clock.now();
        let early_ms = job.due_ms - unix_ms(now);
        if early_ms > 0 {
            // Queues cap their delays (SQS: 15 min): send the job on toward its time.
            let delay = Duration::from_millis(u64::try_from(early_ms).unwrap_or(0));
            return self.enqueue(job.clone(), delay).await;
        }
        let tenant = TenantName::parse(&job.tenant)?;
        let table = self.ctx.table.as_ref();
        let Some(mut rec) =
            store::get_delivery(table, &tenant, &job.webhook_id, &job.delivery_id).await?
        else {
            return Ok(());
        };
        if rec.delivery.status != DeliveryStatus::Pending {
            return Ok(());
        }
        let due = rec.delivery.next_attempt_at.unwrap_or(now);
        if rec.in_flight_since.is_some() && !self.abandoned(&rec, now, receipt) {
            // Another dispatcher is attempting it. Should that one die unnoticed, this job
            // is what finds the attempt interrupted: it comes back when the lease ends.
            let mut later = job.clone();
            later.due_ms = unix_ms(due);
            return self.enqueue(later, (due - now).unsigned_abs()).await;
        }
        if rec.in_flight_since.is_none() && due > now {
            // This due time's own job, come less than a millisecond early (a job carries
            // whole milliseconds, the record finer), is sent on, not taken for a stale repeat.
            let own_job = job.due_ms == unix_ms(due);
            if own_job || receipt.is_some_and(Receipt::is_redelivery) {
                // Or handed out again: its handler may have died after recording an attempt
                // and before queueing the next one. A spare copy finds nothing to do.
                let mut later = job.clone();
                later.due_ms = unix_ms(due);
                return self.enqueue(later, (due - now).unsigned_abs()).await;
            }
            // A stale repeat: the job of the real due time is on its way.
            return Ok(());
        }
        let Some(hook) = store::get_webhook(table, &tenant, &job.webhook_id).await? else {
            // The webhook is gone: its deliveries stop.
            rec.delivery.status = DeliveryStatus::Failed;
            rec.delivery.next_attempt_at = None;
            rec.in_flight_since = None;
            rec.lease = None;
            return ignore_lost_race(store::save_delivery(table, &mut rec).await);
        };
        if let Some(since) = rec.in_flight_since.take() {
            // Claimed, never recorded, and its holder is gone: the process died
            // mid-attempt. The receiver may or may not have it (its answer is unknown); the
            // delivery id lets it drop a repeat.
            rec.lease = None;
            let number = attempt_number(&rec);
            rec.delivery.attempts.push(Attempt {
                number,
                at: since,
                status_code: None,
                latency_ms: 0,
                success: false,
                error: Some(INTERRUPTED.into()),
                response: None,
            });
            return self.after_failure(&tenant, rec, now, Retry::AtOnce).await;
        }
        // Claim the attempt: whoever writes first sends; a concurrent copy of this job
        // fails the condition and stops here.
        rec.in_flight_since = Some(now);
        rec.lease = Some(Lease {
            holder: self.instance.clone(),
            receipt: receipt.cloned(),
        });
        rec.delivery.next_attempt_at = Some(now + self.tuning.lease + self.tuning.timeout);
        match store::save_delivery(table, &mut rec).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let age = (unix_ms(now) - job.enqueued_ms).max(0) as f64 / 1000.0;
        metrics::histogram!("trove_queue_age_seconds", "queue" => "webhooks").record(age);
        self.fault(crash_point::CLAIMED, &rec).await?;

        let secret = pii::open(&self.ctx, &tenant, SECRET_FIELD, &hook.secret_sealed).await?;
        let number = attempt_number(&rec);
        let (attempt, outcome) = self
            .attempt(&hook.webhook.url, &secret, &rec.delivery, number)
            .await;
        metrics::counter!("trove_webhook_deliveries_total", "outcome" => outcome.label())
            .increment(1);
        metrics::histogram!("trove_webhook_delivery_seconds")
            .record(attempt.latency_ms as f64 / 1000.0);
        self.fault(crash_point::ANSWERED, &rec).await?;
        rec.in_flight_since = None;
        rec.lease = None;
        rec.delivery.attempts.push(attempt);
        let done = self.ctx.clock.now();
        if outcome == Outcome::Success {
            rec.delivery.status = DeliveryStatus::Succeeded;
            rec.delivery.next_attempt_at = None;
            ignore_lost_race(store::save_delivery(table, &mut rec).await)?;
            self.fault(crash_point::RECORDED, &rec).await?;
            if hook.webhook.failing {
                set_failing(&self.ctx, &tenant, &hook.webhook.id, false).await?;
            }
            return Ok(());
        }
        self.after_failure(&tenant, rec, done, Retry::OnSchedule)
            .await
    }

    /// Whether the claim on `rec` was left by a dispatcher that is gone: its lease ended,
    /// the queue handed its message out again, or its process exited.
    fn abandoned(
        &self,
        rec: &DeliveryRecord,
        now: OffsetDateTime,
        receipt: Option<&Receipt>,
    ) -> bool {
        if rec.delivery.next_attempt_at.is_none_or(|end| end <= now) {
            return true;
        }
        match &rec.lease {
            Some(lease) if lease.holder == self.instance => false,
            Some(lease) => {
                let handed_out_again = receipt
                    .zip(lease.receipt.as_ref())
                    .is_some_and(|(now, then)| now.supersedes(then));
                handed_out_again
                    || self
                        .holders
                        .as_ref()
                        .is_some_and(|h| !h.is_alive(&lease.holder))
            }
            // Claimed by a build that did not name its holders: with the holders known, that
            // process is not one of them.
            None => self.holders.is_some(),
        }
    }

    /// Applies an injected fault at `point` of an attempt: `fail` stops the attempt there
    /// with nothing more written, as if the process had died.
    async fn fault(&self, point: &str, rec: &DeliveryRecord) -> Result<(), Error> {
        match self.faults.before(point, &rec.delivery.id).await {
            Injected::Proceed => Ok(()),
            Injected::Fail => Err(Error::Internal(format!("fault injected at {point}"))),
        }
    }

    /// Records, in one conditional write, a failed or interrupted attempt together with when
    /// the next one is due, then queues it; after the last attempt fails it instead: dead
    /// letter, and the webhook marked failing.
    async fn after_failure(
        &self,
        tenant: &TenantName,
        mut rec: DeliveryRecord,
        now: OffsetDateTime,
        retry: Retry,
    ) -> Result<(), Error> {
        let table = self.ctx.table.as_ref();
        let tried = rec.delivery.attempts.len();
        let next = match retry {
            // The receiver is not to blame for an interruption: no back-off, but it still
            // counts, so a delivery that keeps killing its dispatcher ends.
            Retry::AtOnce if tried < self.tuning.schedule.max_attempts() => Some(Duration::ZERO),
            Retry::AtOnce => None,
            Retry::OnSchedule => self.tuning.schedule.after(tried),
        };
        match next {
            Some(delay) => {
                rec.delivery.next_attempt_at = Some(now + delay);
                match store::save_delivery(table, &mut rec).await {
                    Ok(()) => {}
                    Err(TableError::ConditionFailed) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
                self.fault(crash_point::RECORDED, &rec).await?;
                let job = job_of(&rec, now);
                self.enqueue(job, delay).await
            }
            None => {
                rec.delivery.status = DeliveryStatus::Failed;
                rec.delivery.next_attempt_at = None;
                match store::save_delivery(table, &mut rec).await {
                    Ok(()) => {}
                    Err(TableError::ConditionFailed) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
                set_failing(&self.ctx, tenant, &rec.delivery.webhook_id, true).await?;
                self.queue
                    .dead_letter(job_of(&rec, now))
                    .await
                    .map_err(|e| Error::Unavailable(e.to_string()))
            }
        }
    }

    /// One POST of the envelope, signed; never reads more than the kept snippet.
    async fn attempt(
        &self,
        url: &str,
        secret: &str,
        delivery: &Delivery,
        number: u32,
    ) -> (Attempt, Outcome) {
        let at = self.ctx.clock.now();
        let started = Instant::now();
        let mut attempt = Attempt {
            number,
            at,
            status_code: None,
            latency_ms: 0,
            success: false,
            error: None,
            response: None,
        };
        let checked = ssrf::parse_url(url)
            .map_err(|e| format!("{}: {e}", egress::REFUSED))
            .and_then(|u| egress::check_literal(&u, &self.allowed).map(|()| u));
        let url = match checked {
            Ok(u) => u,
            Err(e) => {
                attempt.error = Some(e);
                return (attempt, Outcome::Refused);
            }
        };
        let body = match serde_json::to_vec(&delivery.event) {
            Ok(b) => b,
            Err(e) => {
                attempt.error = Some(format!("cannot encode the event: {e}"));
                return (attempt, Outcome::Failure);
            }
        };
        let timestamp = at.unix_timestamp();
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signing::HEADER_EVENT, &delivery.event.kind)
            .header(signing::HEADER_DELIVERY, &delivery.id)
            .header(signing::HEADER_TIMESTAMP, timestamp.to_string())
            .header(
                signing::HEADER_SIGNATURE,
                signing::signature(secret, timestamp, &body),
            )
            .body(body);
        let result = tokio::time::timeout(self.tuning.timeout, async {
            let mut response = request.send().await?;
            let status = response.status();
            let mut kept = Vec::new();
            while kept.len() < SNIPPET_BYTES {
                match response.chunk().await? {
                    Some(chunk) => kept.extend_from_slice(&chunk),
                    None => break,
                }
            }
            kept.truncate(SNIPPET_BYTES);
            Ok::<_, reqwest::Error>((status, kept))
        })
        .await;
        attempt.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let outcome = match result {
            Ok(Ok((status, kept))) => {
                attempt.status_code = Some(status.as_u16());
                if !kept.is_empty() {
                    attempt.response = Some(String::from_utf8_lossy(&kept).into_owned());
                }
                if status.is_success() {
                    attempt.success = true;
                    Outcome::Success
                } else {
                    attempt.error = Some(if status.is_redirection() {
                        format!("answered {status}; redirects are not followed")
                    } else {
                        format!("answered {status}")
                    });
                    Outcome::Failure
                }
            }
            Ok(Err(e)) => {
                let text = egress::describe(&e);
                let refused = text.contains(egress::REFUSED);
                attempt.error = Some(text);
                if refused {
                    Outcome::Refused
                } else {
                    Outcome::Failure
                }
            }
            Err(_) => {
                attempt.error = Some(format!(
                    "timed out after {} ms",
                    self.tuning.timeout.as_millis()
                ));
                Outcome::Failure
            }
        };
        (attempt, outcome)
    }

    /// Queues every pending delivery that is due, and every attempt whose dispatcher is
    /// gone: what a dispatcher that died left, or a job that was lost.
    pub async fn sweep(&self) -> Result<usize, Error> {
        self.sweep_pending(false).await
    }

    /// The sweep of a dispatcher that starts: as `sweep`, and it also queues the deliveries
    /// due later, whose jobs lived in a process that is gone.
    pub async fn sweep_on_start(&self) -> Result<usize, Error> {
        self.sweep_pending(true).await
    }

    async fn sweep_pending(&self, starting: bool) -> Result<usize, Error> {
        let now = self.ctx.clock.now();
        // All of them, not only the due ones: a claim sorts under its lease's end, and an
        // abandoned one is due now.
        let mut items = Vec::new();
        for partition in keys::PENDING_DELIVERIES.partitions() {
            let query = Query::new(partition).index(Index::Gsi1).between("0", "~");
            items.extend(query_all(self.ctx.table.as_ref(), query).await?);
        }
        let mut queued = 0;
        for item in items {
            let rec: DeliveryRecord = from_item(item)?;
            let due = rec.delivery.next_attempt_at.unwrap_or(now);
            let mut job = job_of(&rec, now);
            let delay = if rec.in_flight_since.is_some() {
                if !self.abandoned(&rec, now, None) {
                    continue;
                }
                job.due_ms = unix_ms(now);
                Duration::ZERO
            } else if due <= now {
                Duration::ZERO
            } else if starting {
                (due - now).unsigned_abs()
            } else {
                continue;
            };
            self.enqueue(job, delay).await?;
            queued += 1;
        }
        Ok(queued)
    }
}

/// How soon a failed attempt is followed by the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// The retry schedule's delay after this attempt.
    OnSchedule,
    /// Now: the attempt was interrupted, not answered.
    AtOnce,
}

/// The error logged for an attempt whose dispatcher died before recording its outcome.
pub const INTERRUPTED: &str = "interrupted before its outcome was recorded";

/// Where fault injection (`TROVE_FAULTS`, see `workflow::faults`) can stop or hold an
/// attempt: after its claim is stored, after the receiver answered, after the outcome and
/// the next due time are stored.
pub mod crash_point {
    pub const CLAIMED: &str = "WebhookClaimed";
    pub const ANSWERED: &str = "WebhookAnswered";
    pub const RECORDED: &str = "WebhookRecorded";
}

fn attempt_number(rec: &DeliveryRecord) -> u32 {
    u32::try_from(rec.delivery.attempts.len() + 1).unwrap_or(u32::MAX)
}

fn job_of(rec: &DeliveryRecord, now: OffsetDateTime) -> DeliveryJob {
    DeliveryJob {
        tenant: rec.tenant.clone(),
        webhook_id: rec.delivery.webhook_id.clone(),
        delivery_id: rec.delivery.id.clone(),
        due_ms: rec.delivery.next_attempt_at.map(unix_ms).unwrap_or(0),
        enqueued_ms: unix_ms(now),
    }
}

/// A lost race on a delivery record: another dispatcher changed it; nothing more to do.
fn ignore_lost_race(result: Result<(), TableError>) -> Result<(), Error> {
    match result {
        Ok(()) | Err(TableError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Sets or clears the webhook's `failing` flag, retrying when a concurrent change wins.
pub async fn set_failing(
    ctx: &Context,
    tenant: &TenantName,
    webhook_id: &str,
    failing: bool,
) -> Result<(), Error> {
    for _ in 0..5 {
        let Some(mut rec) = store::get_webhook(ctx.table.as_ref(), tenant, webhook_id).await?
        else {
            return Ok(());
        };
        if rec.webhook.failing == failing {
            return Ok(());
        }
        rec.webhook.failing = failing;
        rec.rev += 1;
        let (item, condition) = store::webhook_update_parts(tenant, &rec)?;
        match ctx.table.put(item, Some(condition)).await {
            Ok(()) => return Ok(()),
            Err(TableError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Unavailable(
        "webhook changed concurrently; its failing flag was not updated".into(),
    ))
}
