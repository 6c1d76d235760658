use time::OffsetDateTime;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// System time plus an offset a test moves forward, so expiry and age are tested without
/// sleeping (files written meanwhile keep their real modification time).
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset: std::sync::Mutex<time::Duration>,
}

#[cfg(any(test, feature = "testing"))]
impl ShiftedClock {
    pub fn advance(&self, by: time::Duration) {
        *self.offset.lock().expect("clock lock") += by;
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for ShiftedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + *self.offset.lock().expect("clock lock")
    }
}
