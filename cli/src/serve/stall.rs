//! Spotting a connection that holds a socket without using it: a request head that trickles
//! in (slowloris), a kept-alive connection nobody sends on, a response nobody reads.
//!
//! hyper's own `header_read_timeout` also runs while a kept-alive connection waits for its
//! next request, so it cannot give a short head deadline and a longer idle one at once. The
//! connection's reads, writes and running handlers are counted here instead, and `stalled`
//! says when the connection has broken one of the deadlines. A request body that stops is the
//! body timeout's business (`listen`): while a handler runs, the connection is not idle.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Which deadline a connection broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// A request head (or the first one) did not arrive complete in time.
    Header,
    /// No byte moved either way, and no handler ran, for the idle time.
    Idle,
}

impl Stall {
    pub fn as_str(self) -> &'static str {
        match self {
            Stall::Header => "request head not complete within the header timeout",
            Stall::Idle => "no traffic within the idle timeout",
        }
    }
}

const NO_HEAD: u64 = u64::MAX;

/// What one connection has been doing, in milliseconds since it was accepted.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    handlers: AtomicUsize,
    /// When the bytes of a request head not yet handed to a handler started; `NO_HEAD` when
    /// none is on its way. A fresh connection owes its first head from the start.
    head_since: AtomicU64,
    last_progress: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            handlers: AtomicUsize::new(0),
            head_since: AtomicU64::new(0),
            last_progress: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn read(&self) {
        let now = self.now_ms();
        self.last_progress.store(now, Ordering::Relaxed);
        if self.handlers.load(Ordering::Acquire) == 0 {
            // The first byte after a response starts the next head's clock.
            let _ =
                self.head_since
                    .compare_exchange(NO_HEAD, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_progress.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Marks a handler as running until the returned guard is dropped.
    pub fn handler_started(self: &Arc<Self>) -> HandlerRunning {
        self.handlers.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NO_HEAD, Ordering::Release);
        HandlerRunning(Arc::clone(self))
    }

    /// The deadline this connection has broken, if any.
    pub fn check(&self, header: Duration, idle: Duration) -> Option<Stall> {
        if self.handlers.load(Ordering::Acquire) > 0 {
            return None;
        }
        let now = self.now_ms();
        let head_since = self.head_since.load(Ordering::Acquire);
        if head_since != NO_HEAD && now.saturating_sub(head_since) >= millis(header) {
            return Some(Stall::Header);
        }
        let last = self.last_progress.load(Ordering::Relaxed);
        (now.saturating_sub(last) >= millis(idle)).then_some(Stall::Idle)
    }

    /// Resolves once the connection breaks a deadline; checks a few times per timeout, so a
    /// deadline is noticed at most a quarter of the shorter timeout late.
    pub async fn stalled(&self, header: Duration, idle: Duration) -> Stall {
        let every = (header.min(idle) / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Some(stall) = self.check(header, idle) {
                return stall;
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Held while a handler works on a request; a handler that finishes counts as progress.
pub struct HandlerRunning(Arc<Activity>);

impl Drop for HandlerRunning {
    fn drop(&mut self) {
        self.0.wrote();
        self.0.handlers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A socket that reports every byte it moves to the connection's `Activity`.
pub struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    fn aged(activity: &Activity, by: Duration) -> Activity {
        Activity {
            opened: activity
                .opened
                .checked_sub(by)
                .expect("the test machine has been up longer than the ages tested"),
            handlers: AtomicUsize::new(activity.handlers.load(Ordering::Relaxed)),
            head_since: AtomicU64::new(activity.head_since.load(Ordering::Relaxed)),
            last_progress: AtomicU64::new(activity.last_progress.load(Ordering::Relaxed)),
        }
    }

    #[test]
    fn a_fresh_connection_owes_its_first_head_within_the_header_timeout() {
        let a = Activity::new();
        assert_eq!(a.check(HEADER, IDLE), None);
        let later = aged(&a, HEADER + Duration::from_millis(1));
        assert_eq!(later.check(HEADER, IDLE), Some(Stall::Header));
    }

    #[test]
    fn a_kept_alive_connection_may_stay_silent_until_the_idle_timeout() {
        let a = Activity::new();
        drop(a.handler_started());
        let within = aged(&a, IDLE - Duration::from_secs(1));
        assert_eq!(within.check(HEADER, IDLE), None);
        let past = aged(&a, IDLE);
        assert_eq!(past.check(HEADER, IDLE), Some(Stall::Idle));
    }

    #[test]
    fn the_next_heads_clock_starts_with_its_first_byte() {
        let a = Activity::new();
        drop(a.handler_started());
        a.read();
        let past = aged(&a, HEADER);
        assert_eq!(past.check(HEADER, IDLE), Some(Stall::Header));
    }

    #[test]
    fn a_running_handler_is_never_a_stall() {
        let a = Activity::new();
        let running = a.handler_started();
        a.read();
        let much_later = aged(&a, IDLE * 10);
        assert_eq!(much_later.check(HEADER, IDLE), None);
        drop(running);
    }
}
