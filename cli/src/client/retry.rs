//! When a failed request is worth sending again, and how long to wait first.

use std::future::Future;
use std::time::Duration;

/// Exponential backoff: `first`, then doubling up to `max`, for `attempts` tries in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub attempts: u32,
}

impl Backoff {
    /// Requests to the API and to storage: about 30 s of trying in all, so a server that
    /// restarts or a network that drops for a moment does not fail a long upload.
    pub const NETWORK: Backoff = Backoff {
        first: Duration::from_millis(250),
        max: Duration::from_secs(8),
        attempts: 7,
    };

    /// The wait before retry number `retry` (1 = the first retry), before jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// Somewhere between half and all of `delay`, so parts that failed together do not all come
/// back at the same instant.
pub fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(rand::random_range(0.5..=1.0))
}

/// Statuses that say "try again later" rather than "this request is wrong".
pub fn is_transient_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// An error that knows whether sending the same request again may succeed.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

/// Runs `op` until it succeeds, fails for good, or `policy` runs out of attempts; waits
/// with jittered backoff in between. `on_retry` hears of each failure about to be retried.
pub async fn retrying<T, E, F, Fut>(
    policy: Backoff,
    mut on_retry: impl FnMut(&E, u32),
    mut op: F,
) -> Result<T, E>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_transient() && attempt < policy.attempts => {
                on_retry(&e, attempt);
                tokio::time::sleep(jittered(policy.delay(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[derive(Debug, PartialEq)]
    struct Failure(bool);
    impl Transient for Failure {
        fn is_transient(&self) -> bool {
            self.0
        }
    }

    const NO_WAIT: Backoff = Backoff {
        first: Duration::ZERO,
        max: Duration::ZERO,
        attempts: 4,
    };

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = Backoff::NETWORK;
        assert_eq!(b.delay(1), Duration::from_millis(250));
        assert_eq!(b.delay(2), Duration::from_millis(500));
        assert_eq!(b.delay(3), Duration::from_secs(1));
        assert_eq!(b.delay(6), Duration::from_secs(8));
        assert_eq!(b.delay(7), Duration::from_secs(8));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(8));
    }

    #[test]
    fn jitter_stays_within_half_and_all_of_the_delay() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(2));
            assert!(
                d >= Duration::from_secs(1) && d <= Duration::from_secs(2),
                "{d:?}"
            );
        }
    }

    #[test]
    fn server_errors_and_throttling_are_transient_client_errors_are_not() {
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 413] {
            assert!(!is_transient_status(status), "{status}");
        }
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_until_it_succeeds() {
        let calls = Cell::new(0);
        let retries = Cell::new(0);
        let result = retrying(
            NO_WAIT,
            |_, _| retries.set(retries.get() + 1),
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move { if n < 3 { Err(Failure(true)) } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(retries.get(), 2);
    }

    #[tokio::test]
    async fn a_permanent_failure_is_not_retried() {
        let calls = Cell::new(0);
        let result: Result<(), _> = retrying(
            NO_WAIT,
            |_, _| {},
            || {
                calls.set(calls.get() + 1);
                async { Err(Failure(false)) }
            },
        )
        .await;
        assert_eq!(result, Err(Failure(false)));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn retries_stop_after_the_last_attempt() {
        let calls = Cell::new(0);
        let result: Result<(), _> = retrying(
            NO_WAIT,
            |_, _| {},
            || {
                calls.set(calls.get() + 1);
                async { Err(Failure(true)) }
            },
        )
        .await;
        assert_eq!(result, Err(Failure(true)));
        assert_eq!(calls.get(), 4);
    }
}
