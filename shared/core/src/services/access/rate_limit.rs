//! Token buckets shared by every instance through the `Table`.
//!
//! A table round trip per request would halve throughput, so each process leases tokens from
//! the shared bucket in batches (one conditional write per lease, never a read first: see
//! [`lease`]) and spends them locally.
//! Leases are small for low limits, so those stay exact, and about 100 ms worth of tokens for
//! high ones. A lease left unspent for a second is dropped: a quiet process must not sit on
//! tokens that a busy one could use. Tokens only ever leave the shared bucket through a
//! conditional write, so however many processes share it, together they allow at most
//! `burst + per_second × elapsed`; dropped leases only make the limit stricter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::domain::keys;
use crate::domain::model::to_item;
use crate::ports::table::{Item, TTL_ATTR};
use crate::ports::{Condition, Table, TableError};

const MAX_PER_SECOND: f64 = 1e6;
const MAX_BURST: u32 = 1_000_000;

/// A token bucket: `per_second` tokens refill continuously, up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Tokens refilled per second (`MAX_PER_SECOND` at most).
    #[schema(exclusive_minimum = 0, maximum = 1_000_000)]
    pub per_second: f64,
    /// The most tokens the bucket holds (`MAX_BURST` at most).
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub burst: u32,
}

impl Limit {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.per_second.is_finite()
            && self.per_second > 0.0
            && self.per_second <= MAX_PER_SECOND)
        {
            return Err(format!(
                "per_second must be a number above 0 and at most {MAX_PER_SECOND}, not {}",
                self.per_second
            ));
        }
        if !(1..=MAX_BURST).contains(&self.burst) {
            return Err(format!(
                "burst must be between 1 and {MAX_BURST}, not {}",
                self.burst
            ));
        }
        Ok(())
    }

    /// Tokens taken from the shared bucket per write: a quarter of the burst at most, so a
    /// few processes can share a small bucket, and about 100 ms worth of tokens.
    pub fn lease_size(&self) -> u32 {
        let per_100ms = (self.per_second * 0.1).ceil() as u32;
        (self.burst / 4).min(per_100ms).max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Anonymous,
    User,
    ServiceAccount,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierLimits {
    pub anonymous: Limit,
    pub user: Limit,
    pub service_account: Limit,
    /// At least `ADMIN_FLOOR` (1 per second, burst 10).
    #[schema(schema_with = admin_limit)]
    pub admin: Limit,
}

impl Default for TierLimits {
    fn default() -> Self {
        Self {
            anonymous: Limit {
                per_second: 5.0,
                burst: 20,
            },
            user: Limit {
                per_second: 50.0,
                burst: 200,
            },
            service_account: Limit {
                per_second: 200.0,
                burst: 1000,
            },
            admin: Limit {
                per_second: 100.0,
                burst: 500,
            },
        }
    }
}

/// `Limit`'s schema with `TierLimits::ADMIN_FLOOR` as the minimums.
fn admin_limit() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let floor = TierLimits::ADMIN_FLOOR;
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "per_second",
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
                .minimum(Some(floor.per_second))
                .maximum(Some(MAX_PER_SECOND)),
        )
        .property(
            "burst",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(floor.burst))
                .maximum(Some(MAX_BURST)),
        )
        .required("per_second")
        .required("burst")
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
        ))
        .build()
}

impl TierLimits {
    pub fn for_tier(&self, t: Tier) -> Limit {
        match t {
            Tier::Anonymous => self.anonymous,
            Tier::User => self.user,
            Tier::ServiceAccount => self.service_account,
            Tier::Admin => self.admin,
        }
    }

    /// The admin tier stays at least this generous, so an admin can always send the
    /// request that undoes a policy (a policy that throttles its own admins would lock
    /// them out of the fix).
    pub const ADMIN_FLOOR: Limit = Limit {
        per_second: 1.0,
        burst: 10,
    };

    /// Refuses limits under which an admin could not make the next request, e.g. the
    /// one that puts a policy back.
    pub fn keeps_admins_in(&self) -> Result<(), String> {
        let (floor, admin) = (Self::ADMIN_FLOOR, self.admin);
        if admin.per_second < floor.per_second || admin.burst < floor.burst {
            return Err(format!(
                "the admin tier ({} per second, burst {}) would refuse admins' own requests, \
                 including the one that undoes it; give it at least {} per second and a burst \
                 of {}",
                admin.per_second, admin.burst, floor.per_second, floor.burst
            ));
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), String> {
        [
            ("anonymous", self.anonymous),
            ("user", self.user),
            ("service_account", self.service_account),
            ("admin", self.admin),
        ]
        .into_iter()
        .try_for_each(|(tier, limit)| limit.validate().map_err(|e| format!("{tier}: {e}")))
    }
}

/// Failed authentication per source IP: 10 per minute, burst 20.
pub const AUTH_FAILURES: Limit = Limit {
    per_second: 10.0 / 60.0,
    burst: 20,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Limited { retry_after_secs: u64 },
}

/// How long an unspent lease stays usable.
const LEASE_MS: i64 = 1000;
/// Rounds of a lease (its conditional writes, then a read when both are refused) before
/// answering Limited: a round fails only when the bucket changed between its writes (it went
/// idle, or others took what was left), so persistent failure means it is hot anyway.
const LEASE_ATTEMPTS: usize = 5;
/// Buckets remembered per process; beyond it, settled ones are forgotten first.
const MAX_BUCKETS: usize = 100_000;

/// The attribute of the shared bucket's item: its "theoretical arrival time" (GCRA), in
/// microseconds since the epoch. The bucket is full when it is not after now; each token
/// taken moves it on by one emission interval.
const TAT: &str = "tat_us";
/// A bucket nobody touched for this long is dropped by the table's TTL (it would be full).
const IDLE_TTL_SECS: i64 = 24 * 3600;

/// What this process knows about one bucket.
struct LocalState {
    /// Tokens leased from the shared bucket and not yet spent, usable until `lease_until_ms`.
    leased: u32,
    lease_until_ms: i64,
    /// The shared bucket had no token; it has one again at this time.
    empty_until_ms: i64,
    /// The bucket's `TAT` as this process last saw or wrote it (a lower bound): tells which
    /// of the two writes of a lease to try first.
    tat_hint_us: Option<i64>,
    /// Held while leasing, so that concurrent requests of this process wait for one lease
    /// instead of racing each other (and other processes) on the same item.
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl LocalState {
    fn new() -> Self {
        Self {
            leased: 0,
            lease_until_ms: 0,
            empty_until_ms: 0,
            tat_hint_us: None,
            gate: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Nothing in it is worth keeping: forgetting it changes no decision.
    fn settled(&self, now_ms: i64) -> bool {
        (self.leased == 0 || self.lease_until_ms <= now_ms)
            && self.empty_until_ms <= now_ms
            && Arc::strong_count(&self.gate) == 1
    }
}

enum Lease {
    /// Tokens taken, and the bucket's time after them (a lower bound).
    Granted(u32, i64),
    Empty {
        until_ms: i64,
    },
    Contended,
}

pub struct RateLimiter {
    buckets: Mutex<HashMap<String, LocalState>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    pub fn new() -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from bucket `bucket` under `limit`. `now` is passed in (tests move time).
    pub async fn take(
        &self,
        table: &dyn Table,
        bucket: &str,
        limit: Limit,
        now: OffsetDateTime,
    ) -> Result<Decision, TableError> {
        limit
            .validate()
            .map_err(|e| TableError::Other(format!("invalid rate limit for {bucket}: {e}")))?;
        let now_ms = unix_ms(now);
        let gate = match self.take_local(bucket, now_ms) {
            Ok(decision) => return Ok(decision),
            Err(gate) => gate,
        };
        let _leasing = gate.lock().await;
        // Another request of this process may have leased while this one waited.
        if let Ok(decision) = self.take_local(bucket, now_ms) {
            return Ok(decision);
        }
        let hint = self.lock().get(bucket).and_then(|s| s.tat_hint_us);
        let lease = lease(table, bucket, limit, now_ms, hint).await?;
        let mut buckets = self.lock();
        let state = entry(&mut buckets, bucket, now_ms);
        Ok(match lease {
            Lease::Granted(tokens, tat_us) => {
                state.tat_hint_us = Some(tat_us);
                state.leased = tokens - 1;
                state.lease_until_ms = now_ms.saturating_add(LEASE_MS);
                state.empty_until_ms = 0;
                Decision::Allowed
            }
            Lease::Empty { until_ms } => {
                state.leased = 0;
                state.empty_until_ms = until_ms;
                Decision::Limited {
                    retry_after_secs: whole_secs(until_ms.saturating_sub(now_ms)),
                }
            }
            // Not remembered as empty: the bucket may well have tokens for the next request.
            Lease::Contended => Decision::Limited {
                retry_after_secs: 1,
            },
        })
    }

    /// Whether this process already knows the bucket is empty (no table access): for refusing
    /// a failing client before doing any work. The answer is the `Retry-After` in seconds.
    pub fn known_empty(&self, bucket: &str, now: OffsetDateTime) -> Option<u64> {
        let now_ms = unix_ms(now);
        let buckets = self.lock();
        let state = buckets.get(bucket)?;
        (state.empty_until_ms > now_ms).then(|| whole_secs(state.empty_until_ms - now_ms))
    }

    /// Spends a leased token or answers from a known-empty bucket; otherwise hands back the
    /// bucket's gate, to lease under.
    fn take_local(
        &self,
        bucket: &str,
        now_ms: i64,
    ) -> Result<Decision, Arc<tokio::sync::Mutex<()>>> {
        let mut buckets = self.lock();
        let state = entry(&mut buckets, bucket, now_ms);
        if state.leased > 0 && now_ms < state.lease_until_ms {
            state.leased -= 1;
            return Ok(Decision::Allowed);
        }
        if now_ms < state.empty_until_ms {
            return Ok(Decision::Limited {
                retry_after_secs: whole_secs(state.empty_until_ms - now_ms),
            });
        }
        Err(Arc::clone(&state.gate))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, LocalState>> {
        // Every update leaves the map consistent, so a panic elsewhere cannot have left it
        // half-written.
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The bucket's local state, making room for it first when the map is full.
fn entry<'a>(
    buckets: &'a mut HashMap<String, LocalState>,
    bucket: &str,
    now_ms: i64,
) -> &'a mut LocalState {
    if !buckets.contains_key(bucket) && buckets.len() >= MAX_BUCKETS {
        buckets.retain(|_, state| !state.settled(now_ms));
        // Still mostly full: forget everything rather than scan the map again on every
        // new bucket. Only leases are lost, which errs on the strict side.
        if buckets.len() >= MAX_BUCKETS / 4 * 3 {
            buckets.clear();
        }
    }
    buckets
        .entry(bucket.to_owned())
        .or_insert_with(LocalState::new)
}

/// Takes up to a lease of tokens from the shared bucket (GCRA): with emission interval `T`
/// and room for `burst` tokens, `n` tokens may be taken while
/// `max(tat, now) + n·T ≤ now + burst·T`, which is one conditional write:
/// - a bucket in use (`tat ≥ now`): add `n·T` to `tat` if `tat ≤ now + (burst − n)·T`;
/// - an idle or new one (`tat < now`, or no item): store `tat = now + n·T`.
///
/// The table checks and applies each write as one step, so concurrent takers never lose to
/// each other's reads (no spurious refusals under contention). The item is read only when
/// both writes are refused: the bucket lacks `n` tokens (take fewer, or say when the next
/// one comes), or it went idle meanwhile.
async fn lease(
    table: &dyn Table,
    bucket: &str,
    limit: Limit,
    now_ms: i64,
    tat_hint_us: Option<i64>,
) -> Result<Lease, TableError> {
    let key = keys::rate_bucket(bucket);
    let now_us = now_ms.saturating_mul(1000);
    let interval = emission_interval_us(limit);
    let capacity = interval.saturating_mul(i64::from(limit.burst));
    let mut n = limit.lease_size();
    let mut idle_first = tat_hint_us.is_none_or(|tat| tat < now_us);
    for _ in 0..LEASE_ATTEMPTS {
        let cost = interval.saturating_mul(i64::from(n));
        if idle_first {
            let item = to_item(
                &key,
                &json!({
                    TAT: now_us.saturating_add(cost),
                    TTL_ATTR: now_ms / 1000 + IDLE_TTL_SECS,
                }),
            )?;
            match table
                .put(item, Some(Condition::AbsentOrBelow(TAT.into(), now_us)))
                .await
            {
                Ok(()) => return Ok(Lease::Granted(n, now_us.saturating_add(cost))),
                Err(TableError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        let latest = now_us.saturating_add(capacity).saturating_sub(cost);
        match table
            .add_if(
                &key,
                &[(TAT, cost)],
                Item::new(),
                Condition::Between(TAT.into(), now_us, latest),
            )
            .await
        {
            Ok(()) => return Ok(Lease::Granted(n, now_us.saturating_add(cost))),
            Err(TableError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
        let tat = table
            .get(&key)
            .await?
            .and_then(|item| item.get(TAT).and_then(serde_json::Value::as_i64));
        match tat {
            // Idle (or its item gone): the put of the next attempt takes it.
            None => idle_first = true,
            Some(tat) if tat < now_us => idle_first = true,
            Some(tat) => {
                let available = now_us.saturating_add(capacity).saturating_sub(tat) / interval;
                if available < 1 {
                    // The next token comes when `tat` is back within the bucket's room.
                    let next_us = tat.saturating_sub(capacity).saturating_add(interval);
                    let until_ms = next_us.saturating_add(999) / 1000;
                    return Ok(Lease::Empty {
                        until_ms: until_ms.max(now_ms.saturating_add(1)),
                    });
                }
                n = n.min(u32::try_from(available).unwrap_or(u32::MAX));
                idle_first = false;
            }
        }
    }
    Ok(Lease::Contended)
}

/// Microseconds between two tokens, at least one.
fn emission_interval_us(limit: Limit) -> i64 {
    ((1e6 / limit.per_second).ceil() as i64).max(1)
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A wait in milliseconds as whole seconds for `Retry-After`: rounded up, at least 1.
fn whole_secs(ms: i64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_document_states_the_bounds_validate_checks() {
        let doc = serde_json::to_value(crate::http::openapi()).expect("serialises");
        let fields = &doc["components"]["schemas"]["Limit"]["properties"];
        assert_eq!(
            fields["per_second"]["maximum"].as_f64(),
            Some(MAX_PER_SECOND)
        );
        assert_eq!(fields["per_second"]["exclusiveMinimum"], json!(0));
        assert_eq!(fields["burst"]["maximum"], json!(MAX_BURST));
        assert_eq!(fields["burst"]["minimum"], json!(1));
        assert!(limit(MAX_PER_SECOND, MAX_BURST).validate().is_ok());
        assert!(limit(MAX_PER_SECOND * 1.01, 1).validate().is_err());
        assert!(limit(0.0, 1).validate().is_err());
        assert!(limit(1.0, 0).validate().is_err());
        let admin = &doc["components"]["schemas"]["TierLimits"]["properties"]["admin"];
        let floor = TierLimits::ADMIN_FLOOR;
        assert_eq!(
            admin["properties"]["per_second"]["minimum"].as_f64(),
            Some(floor.per_second)
        );
        assert_eq!(admin["properties"]["burst"]["minimum"], json!(floor.burst));
        let at_floor = TierLimits {
            admin: floor,
            ..TierLimits::default()
        };
        assert!(at_floor.keeps_admins_in().is_ok());
        let under = TierLimits {
            admin: limit(0.99, 10),
            ..TierLimits::default()
        };
        assert!(under.keeps_admins_in().is_err());
    }

    fn limit(per_second: f64, burst: u32) -> Limit {
        Limit { per_second, burst }
    }

    #[test]
    fn lease_sizes() {
        assert_eq!(limit(1.0, 10).lease_size(), 1);
        assert_eq!(limit(5.0, 20).lease_size(), 1);
        assert_eq!(limit(50.0, 200).lease_size(), 5);
        assert_eq!(limit(1000.0, 10).lease_size(), 2);
        assert_eq!(limit(1e5, 1_000_000).lease_size(), 10_000);
        assert_eq!(limit(1e6, 3).lease_size(), 1);
        assert_eq!(AUTH_FAILURES.lease_size(), 1);
    }
    #[test]
    fn limit_validation() {
        assert!(limit(1.0, 1).validate().is_ok());
        assert!(limit(1e6, 1_000_000).validate().is_ok());
        assert!(AUTH_FAILURES.validate().is_ok());
        let rate = "per_second must be a number above 0 and at most 1000000, not";
        let burst = "burst must be between 1 and 1000000, not";
        for (bad, why) in [
            (limit(0.0, 10), format!("{rate} 0")),
            (limit(-1.0, 10), format!("{rate} -1")),
            (limit(f64::NAN, 10), format!("{rate} NaN")),
            (limit(f64::INFINITY, 10), format!("{rate} inf")),
            (limit(f64::NEG_INFINITY, 10), format!("{rate} -inf")),
            (limit(1e6 + 1.0, 10), format!("{rate} 1000001")),
            (limit(1.0, 0), format!("{burst} 0")),
            (limit(1.0, 1_000_001), format!("{burst} 1000001")),
        ] {
            assert_eq!(bad.validate(), Err(why), "{bad:?}");
        }
    }
    /// The defaults as numbers; what callers of each tier meet under them is
    /// `each_tier_is_held_to_its_default_burst_and_rate` (tests/api/rate_limit.rs).
    #[test]
    fn tier_limits() {
        let tiers = TierLimits::default();
        assert!(tiers.validate().is_ok());
        assert_eq!(tiers.for_tier(Tier::Anonymous), limit(5.0, 20));
        assert_eq!(tiers.for_tier(Tier::User), limit(50.0, 200));
        assert_eq!(tiers.for_tier(Tier::ServiceAccount), limit(200.0, 1000));
        assert_eq!(tiers.for_tier(Tier::Admin), limit(100.0, 500));
        let bad = TierLimits {
            admin: limit(0.0, 5),
            ..TierLimits::default()
        };
        let err = bad.validate().expect_err("refused");
        assert!(err.starts_with("admin:"), "{err}");
        assert_eq!(
            serde_json::to_value(Tier::ServiceAccount).expect("serialises"),
            json!("service_account")
        );
        let parsed: Result<Limit, _> =
            serde_json::from_value(json!({"per_second": 1.0, "burst": 2, "extra": 1}));
        let err = parsed.expect_err("an unknown field is refused");
        assert!(
            err.to_string().starts_with("unknown field `extra`"),
            "{err}"
        );
    }
    #[test]
    fn local_state_stays_bounded() {
        let limiter = RateLimiter::new();
        let mut buckets = limiter.lock();
        for i in 0..MAX_BUCKETS + 10 {
            entry(&mut buckets, &format!("b{i}"), 0);
        }
        assert!(buckets.len() <= MAX_BUCKETS);
    }
}
