//! Tests of `services::access::rate_limit` that need the embedded host.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::OffsetDateTime;
use trove_core::ports::{Table, TableError};
use trove_testkit::table_hook::{Call, Hook, Hooked};

use async_trait::async_trait;
use time::Duration;

use std::net::IpAddr;

use axum::http::{Method, StatusCode, header};
use serde_json::json;
use trove_core::config::Settings;
use trove_core::services::access::rate_limit::*;
use trove_embedded::SqliteTable;

use crate::app::TestApp;
use crate::identity::{account, ok};
use crate::table_breaker::ManualClock;

/// Counts the writes that reach the table.
struct Counting {
    puts: AtomicUsize,
}

#[async_trait]
impl Hook for Counting {
    async fn before(&self, call: Call<'_>) -> Result<(), TableError> {
        if matches!(call, Call::Put(_) | Call::AddIf(_)) {
            self.puts.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl Counting {
    fn puts(&self) -> usize {
        self.puts.load(Ordering::SeqCst)
    }
}

fn open() -> (tempfile::TempDir, Hooked<Counting>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = SqliteTable::open(&dir.path().join("rl.db")).expect("sqlite table");
    let table = Hooked {
        inner: Arc::new(inner),
        hook: Counting {
            puts: AtomicUsize::new(0),
        },
    };
    (dir, table)
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("valid time")
}

fn limit(per_second: f64, burst: u32) -> Limit {
    Limit { per_second, burst }
}

async fn allowed(
    limiter: &RateLimiter,
    table: &dyn Table,
    lim: Limit,
    now: OffsetDateTime,
    n: usize,
) -> usize {
    let mut count = 0;
    for _ in 0..n {
        if limiter.take(table, "b", lim, now).await.expect("take") == Decision::Allowed {
            count += 1;
        }
    }
    count
}

#[tokio::test]
async fn burst_then_limited_with_retry_after() {
    let (_dir, table) = open();
    let limiter = RateLimiter::new();
    let lim = limit(0.5, 5);
    assert_eq!(allowed(&limiter, &table, lim, t0(), 5).await, 5);
    assert_eq!(limiter.known_empty("b", t0()), None);
    // One token at 0.5/s takes two seconds.
    let decision = limiter.take(&table, "b", lim, t0()).await.expect("take");
    assert_eq!(
        decision,
        Decision::Limited {
            retry_after_secs: 2
        }
    );
    assert_eq!(limiter.known_empty("b", t0()), Some(2));
    assert_eq!(
        limiter.known_empty("b", t0() + Duration::milliseconds(1500)),
        Some(1)
    );
    assert_eq!(limiter.known_empty("b", t0() + Duration::seconds(2)), None);
    // Known empty: refused without touching the table.
    let puts = table.puts();
    let refused = limiter
        .take(&table, "b", lim, t0() + Duration::milliseconds(100))
        .await
        .expect("take");
    assert!(matches!(refused, Decision::Limited { .. }));
    assert_eq!(table.puts(), puts);
    // Other buckets are unaffected.
    assert_eq!(
        limiter
            .take(&table, "other", lim, t0())
            .await
            .expect("take"),
        Decision::Allowed
    );
}

#[tokio::test]
async fn auth_failures_retry_after_is_whole_seconds() {
    let (_dir, table) = open();
    let limiter = RateLimiter::new();
    for _ in 0..20 {
        assert_eq!(
            limiter
                .take(&table, "ip", AUTH_FAILURES, t0())
                .await
                .expect("take"),
            Decision::Allowed
        );
    }
    assert_eq!(
        limiter
            .take(&table, "ip", AUTH_FAILURES, t0())
            .await
            .expect("take"),
        Decision::Limited {
            retry_after_secs: 6
        }
    );
}

#[tokio::test]
async fn refills_as_time_passes() {
    let (_dir, table) = open();
    let limiter = RateLimiter::new();
    let lim = limit(2.0, 4);
    assert_eq!(allowed(&limiter, &table, lim, t0(), 10).await, 4);
    // 2/s for 1.5 s: three tokens.
    let later = t0() + Duration::milliseconds(1500);
    assert_eq!(allowed(&limiter, &table, lim, later, 10).await, 3);
    // A long pause refills up to the burst, not beyond.
    let much_later = t0() + Duration::hours(1);
    assert_eq!(allowed(&limiter, &table, lim, much_later, 10).await, 4);
}

#[tokio::test]
async fn two_processes_share_the_bucket_in_any_interleaving() {
    // Lease sizes 1 and 2.
    for lim in [limit(1.0, 10), limit(1000.0, 10)] {
        let patterns: [&[bool]; 4] = [
            &[true, false],
            &[true, true, true, false],
            &[false, false, true],
            &[true, false, false, true, true, false, true],
        ];
        for pattern in patterns {
            let (_dir, table) = open();
            let a = RateLimiter::new();
            let b = RateLimiter::new();
            let mut total = 0;
            for i in 0..60 {
                let limiter = if pattern[i % pattern.len()] { &a } else { &b };
                if limiter.take(&table, "b", lim, t0()).await.expect("take") == Decision::Allowed {
                    total += 1;
                }
            }
            assert_eq!(total, 10, "{lim:?} {pattern:?}");
        }
    }
}

#[tokio::test]
async fn two_processes_over_time_stay_within_the_refill() {
    let (_dir, table) = open();
    let a = RateLimiter::new();
    let b = RateLimiter::new();
    let lim = limit(100.0, 40);
    let mut total = 0;
    let mut now = t0();
    for step in 0..500 {
        now += Duration::milliseconds(10);
        for limiter in [&a, &b, &a] {
            if limiter.take(&table, "b", lim, now).await.expect("take") == Decision::Allowed {
                total += 1;
            }
        }
        let elapsed = f64::from(step + 1) * 0.01;
        assert!(
            f64::from(total) <= 40.0 + 100.0 * elapsed + 1e-9,
            "{total} after {elapsed}s"
        );
    }
    // Demand (300/s) exceeds the rate: nearly all of the 540 tokens get used.
    assert!(total >= 500, "only {total} allowed");
}

#[tokio::test]
async fn unspent_leases_are_dropped_after_a_second() {
    let (_dir, table) = open();
    let a = RateLimiter::new();
    let b = RateLimiter::new();
    // Leases of 5; the bucket holds 20 and refills in 400 ms.
    let lim = limit(50.0, 20);
    assert_eq!(lim.lease_size(), 5);
    assert_eq!(
        a.take(&table, "b", lim, t0()).await.expect("take"),
        Decision::Allowed
    );
    assert_eq!(table.puts(), 1);
    // Within the second, the lease serves locally.
    let soon = t0() + Duration::milliseconds(900);
    assert_eq!(
        a.take(&table, "b", lim, soon).await.expect("take"),
        Decision::Allowed
    );
    assert_eq!(table.puts(), 1);
    // After it, the three left are gone and the next request leases anew.
    let late = t0() + Duration::milliseconds(1000);
    assert_eq!(
        a.take(&table, "b", lim, late).await.expect("take"),
        Decision::Allowed
    );
    assert_eq!(table.puts(), 2);
    // A lease leaves the shared bucket whole, spent or not: of the full 20, `a` holds 5
    // (one spent) and `b` gets the other 15.
    assert_eq!(allowed(&b, &table, lim, late, 30).await, 15);
}

#[tokio::test]
async fn high_limits_write_rarely() {
    let (_dir, table) = open();
    let limiter = RateLimiter::new();
    let lim = limit(1e5, 100_000);
    let mut now = t0();
    let requests = 50_000;
    let mut total = 0;
    for _ in 0..requests {
        now += Duration::microseconds(20);
        if limiter.take(&table, "b", lim, now).await.expect("take") == Decision::Allowed {
            total += 1;
        }
    }
    assert_eq!(total, requests);
    // One write per 10_000-token lease.
    assert!(table.puts() <= 6, "{} writes", table.puts());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_takes_stay_within_the_limit() {
    let (_dir, table) = open();
    let table = Arc::new(table);
    let limiters = [Arc::new(RateLimiter::new()), Arc::new(RateLimiter::new())];
    for lim in [limit(1.0, 20), limit(1000.0, 20)] {
        let bucket = format!("c{}", lim.per_second);
        let mut tasks = Vec::new();
        for i in 0..40 {
            let table = Arc::clone(&table);
            let limiter = Arc::clone(&limiters[i % 2]);
            let bucket = bucket.clone();
            tasks.push(tokio::spawn(async move {
                let mut allowed = 0;
                for _ in 0..5 {
                    let decision = limiter
                        .take(table.as_ref(), &bucket, lim, t0())
                        .await
                        .expect("take");
                    if decision == Decision::Allowed {
                        allowed += 1;
                    }
                }
                allowed
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("task");
        }
        assert!(total <= 20, "{lim:?}: {total} allowed");
        // Contention may refuse a few early, but most of the bucket is used.
        assert!(total >= 10, "{lim:?}: only {total} allowed");
    }
}

#[tokio::test]
async fn invalid_limits_are_refused_before_the_table() {
    let (_dir, table) = open();
    let limiter = RateLimiter::new();
    let refused = limiter.take(&table, "b", limit(0.0, 10), t0()).await;
    assert!(
        matches!(&refused, Err(TableError::Other(m))
            if m.starts_with("invalid rate limit for b: per_second")),
        "{refused:?}"
    );
    assert_eq!(table.puts(), 0);
}

/// Many processes taking from one bucket with room for all of them at once: every one is
/// allowed (a lease is one conditional write the table applies atomically, so contention
/// never turns into a refusal), and none needs more than its two writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contending_processes_are_never_refused_while_the_bucket_has_room() {
    let (_dir, table) = open();
    let table = Arc::new(table);
    // Leases of 100 tokens; room for exactly 32 of them.
    let lim = limit(1000.0, 3200);
    assert_eq!(lim.lease_size(), 100);
    let processes = 32;
    let tasks: Vec<_> = (0..processes)
        .map(|_| {
            let table = Arc::clone(&table);
            tokio::spawn(async move {
                RateLimiter::new()
                    .take(table.as_ref(), "hot", lim, t0())
                    .await
                    .expect("take")
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task"), Decision::Allowed);
    }
    assert!(
        table.puts() <= 2 * processes,
        "{} writes for {processes} leases",
        table.puts()
    );
    // Every lease took its whole 100 from the shared bucket: nothing is left, and the next
    // process is told when a token comes back (in a millisecond: Retry-After 1).
    let next = RateLimiter::new()
        .take(table.as_ref(), "hot", lim, t0())
        .await
        .expect("take");
    assert_eq!(
        next,
        Decision::Limited {
            retry_after_secs: 1
        }
    );
}

/// Requests `uri` as `key` (or without a credential from `ip`) until the first refusal, at
/// most `max` times: how many were served, and the refusal's `Retry-After`. Anything but
/// 200 or 429 fails the test.
async fn served_until_limited(
    app: &TestApp,
    uri: &str,
    key: Option<&str>,
    ip: Option<IpAddr>,
    max: u32,
) -> (u32, Option<String>) {
    for served in 0..max {
        let (status, headers, body) = app.send(Method::GET, uri, key, None, ip).await;
        match status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                let retry = headers
                    .get(header::RETRY_AFTER)
                    .map(|v| v.to_str().expect("ascii").to_owned());
                return (served, retry);
            }
            other => panic!("{uri}: {other} {body}"),
        }
    }
    (max, None)
}

/// The tokens a limit refills in `elapsed`.
fn refilled(limit: Limit, elapsed: std::time::Duration) -> u32 {
    (limit.per_second * elapsed.as_secs_f64()).round() as u32
}

/// The default tiers as callers meet them: a user, a service account and an admin each get
/// exactly their tier's burst, then 429 with a Retry-After, then as many requests as the
/// tier's rate refills while the clock moves (the clock is the test's: no refill happens
/// while the requests are being sent).
#[tokio::test(flavor = "multi_thread")]
async fn each_tier_is_held_to_its_default_burst_and_rate() {
    let clock = ManualClock::new();
    let app = TestApp::with_clock(Settings::for_testing(), clock.clone()).await;
    let admin = app.admin.clone();
    let user = ok(
        &app,
        Method::POST,
        "/v1/users",
        &admin,
        Some(json!({"name": "ursula", "email": "ursula@example.com"})),
    )
    .await;
    let user_key = ok(
        &app,
        Method::POST,
        "/v1/api-keys",
        &admin,
        Some(json!({"owner": user["id"], "name": "k"})),
    )
    .await["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let (_, service_key) = account(&app, "robot", &[]).await;
    // Not the bootstrap key: setting up spent some of its bucket.
    let (_, admin_key) = account(&app, "second-admin", &[("admin", json!({}))]).await;
    // The defaults as the README publishes them, written out here rather than read from
    // `TierLimits::default()`: changing a default in the code alone fails this test.
    let published = [
        (Tier::User, &user_key, 200, 50.0),
        (Tier::ServiceAccount, &service_key, 1000, 200.0),
        (Tier::Admin, &admin_key, 500, 100.0),
    ];
    let pause = std::time::Duration::from_millis(100);
    for (tier, key, burst, per_second) in published {
        let limit = Limit { burst, per_second };
        let burst = served_until_limited(&app, "/v1/me", Some(key), None, limit.burst + 1).await;
        assert_eq!(burst, (limit.burst, Some("1".into())), "{tier:?} {limit:?}");
        clock.advance(pause);
        let refill = refilled(limit, pause);
        let after = served_until_limited(&app, "/v1/me", Some(key), None, refill + 1).await;
        assert_eq!(after, (refill, Some("1".into())), "{tier:?} {limit:?}");
    }
}

/// Requests without a credential are held per source address to the server's anonymous
/// limit (no tenant, hence no tenant policy, is known before a credential is).
#[tokio::test(flavor = "multi_thread")]
async fn anonymous_callers_are_held_per_address_to_the_servers_limit() {
    let clock = ManualClock::new();
    let settings = Settings::default();
    let limit = settings.anonymous_limit;
    let app = TestApp::with_clock(settings, clock.clone()).await;
    let (near, far) = (
        Some(IpAddr::from([192, 0, 2, 1])),
        Some(IpAddr::from([192, 0, 2, 2])),
    );
    let burst = served_until_limited(&app, "/healthz", None, near, limit.burst + 1).await;
    assert_eq!(burst, (limit.burst, Some("1".into())), "{limit:?}");
    let other = served_until_limited(&app, "/healthz", None, far, 1).await;
    assert_eq!(other, (1, None), "another address has its own bucket");
    let pause = std::time::Duration::from_secs(1);
    clock.advance(pause);
    let refill = refilled(limit, pause);
    let after = served_until_limited(&app, "/healthz", None, near, refill + 1).await;
    assert_eq!(after, (refill, Some("1".into())), "{limit:?}");
}
