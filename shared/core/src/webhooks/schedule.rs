//! When a delivery is attempted again, and how long one attempt may take.

use std::time::Duration;

/// Delays before each retry, counted from the failed attempt before it. The standard one:
/// the first attempt, then retries immediately, after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and
/// 10 h — nine attempts in all, about 28 hours. Tests compress it to milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    pub retries: Vec<Duration>,
}

impl RetrySchedule {
    pub fn standard() -> Self {
        let m = 60;
        let h = 60 * m;
        Self {
            retries: [0, 5, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        }
    }

    /// The standard shape with every delay in milliseconds instead of its unit: for tests.
    pub fn compressed() -> Self {
        Self {
            retries: (0..8).map(|i| Duration::from_millis(i * 5)).collect(),
        }
    }

    /// Attempts in all: the first and one per retry.
    pub fn max_attempts(&self) -> usize {
        self.retries.len() + 1
    }

    /// The delay before attempt `attempt + 1` after attempt `attempt` (1-based) failed;
    /// `None` when that was the last.
    pub fn after(&self, attempt: usize) -> Option<Duration> {
        attempt
            .checked_sub(1)
            .and_then(|i| self.retries.get(i))
            .copied()
    }
}

/// How deliveries are made: retries, timeouts, and how much of a response is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTuning {
    pub schedule: RetrySchedule,
    pub connect_timeout: Duration,
    /// The whole attempt: connect, send, answer headers and the kept part of the body.
    pub timeout: Duration,
    /// An attempt whose delivery record was claimed longer ago than this, with no outcome
    /// recorded, was interrupted (the process died): it counts as failed.
    pub lease: Duration,
}

impl Default for DeliveryTuning {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::standard(),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
        }
    }
}

/// How much of a response body is read and kept in the deliveries log.
pub const SNIPPET_BYTES: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_attempts_over_the_standard_delays() {
        let s = RetrySchedule::standard();
        assert_eq!(s.max_attempts(), 9);
        // As the README publishes it: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
        let published = [
            0,
            5,
            5 * 60,
            30 * 60,
            2 * 3600,
            5 * 3600,
            10 * 3600,
            10 * 3600,
        ];
        for (attempt, secs) in (1..).zip(published) {
            assert_eq!(
                s.after(attempt),
                Some(Duration::from_secs(secs)),
                "{attempt}"
            );
        }
        assert_eq!(s.after(9), None);
        assert_eq!(s.after(0), None);
    }

    #[test]
    fn compressed_keeps_the_shape() {
        assert_eq!(RetrySchedule::compressed().max_attempts(), 9);
    }
}
