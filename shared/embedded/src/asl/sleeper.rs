//! Time the interpreter spends waiting (Wait states, Retry intervals) and allows (task and
//! execution timeouts) goes through a [`Sleeper`], so tests can shrink it: a definition
//! that waits seconds in production runs in milliseconds under test.

use std::time::Duration;

use async_trait::async_trait;

#[async_trait]
pub trait Sleeper: Send + Sync {
    /// Waits `duration` of workflow time.
    async fn sleep(&self, duration: Duration);

    /// How long `duration` of workflow time lasts in real time (timeouts use it).
    fn real(&self, duration: Duration) -> Duration {
        duration
    }
}

/// Sleeps on the tokio timer, every duration multiplied by `scale` (1.0: real time).
#[derive(Debug, Clone, Copy)]
pub struct ScaledSleeper {
    scale: f64,
}

impl ScaledSleeper {
    pub fn real_time() -> Self {
        Self { scale: 1.0 }
    }

    /// `scale` of 0.001 turns a second into a millisecond; negative or non-finite scales
    /// count as 0 (no waiting).
    pub fn scaled(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            0.0
        };
        Self { scale }
    }
}

impl Default for ScaledSleeper {
    fn default() -> Self {
        Self::real_time()
    }
}

#[async_trait]
impl Sleeper for ScaledSleeper {
    async fn sleep(&self, duration: Duration) {
        let real = self.real(duration);
        if !real.is_zero() {
            tokio::time::sleep(real).await;
        }
    }

    fn real(&self, duration: Duration) -> Duration {
        Duration::try_from_secs_f64(duration.as_secs_f64() * self.scale).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn scaled_sleeps_shrink_time() {
        let sleeper = ScaledSleeper::scaled(0.001);
        assert_eq!(
            sleeper.real(Duration::from_secs(2)),
            Duration::from_millis(2)
        );
        let start = Instant::now();
        sleeper.sleep(Duration::from_secs(5)).await;
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(
            ScaledSleeper::scaled(-1.0).real(Duration::from_secs(9)),
            Duration::ZERO
        );
        assert_eq!(
            ScaledSleeper::real_time().real(Duration::from_secs(9)),
            Duration::from_secs(9)
        );
    }
}
