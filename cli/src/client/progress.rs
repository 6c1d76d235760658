//! Progress on stderr: bars with bytes, rate and ETA on a terminal; a plain line every tenth
//! of the way when stderr is a file or a pipe (CI logs); nothing with `--quiet`.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::client::output::human_bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bars,
    Lines,
    Off,
}

impl Mode {
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Lines
        }
    }
}

/// A byte counter shown as the mode says. Cheap to clone: parts in flight share one.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

enum Inner {
    Bar(ProgressBar),
    Lines(Lines),
    Off,
}

struct Lines {
    label: String,
    total: u64,
    done: AtomicU64,
    started: Instant,
}

impl Progress {
    pub fn bytes(mode: Mode, label: &str, total: u64) -> Self {
        let inner = match mode {
            Mode::Bars => {
                let bar = ProgressBar::new(total);
                let style = ProgressStyle::with_template(
                    "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_message(label.to_owned());
                bar.enable_steady_tick(Duration::from_millis(200));
                Inner::Bar(bar)
            }
            Mode::Lines => Inner::Lines(Lines {
                label: label.to_owned(),
                total,
                done: AtomicU64::new(0),
                started: Instant::now(),
            }),
            Mode::Off => Inner::Off,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// A counter that shows nothing.
    #[cfg(test)]
    pub fn hidden() -> Self {
        Self {
            inner: Arc::new(Inner::Off),
        }
    }

    pub fn add(&self, n: u64) {
        match &*self.inner {
            Inner::Bar(bar) => bar.inc(n),
            Inner::Lines(lines) => {
                let before = lines.done.fetch_add(n, Ordering::Relaxed);
                let after = before.saturating_add(n);
                let step = |v: u64| tenth(v, lines.total);
                if step(after) > step(before) && after < lines.total {
                    lines.print(after);
                }
            }
            Inner::Off => {}
        }
    }

    /// Takes back bytes counted for an attempt that failed and is sent again.
    pub fn sub(&self, n: u64) {
        match &*self.inner {
            Inner::Bar(bar) => bar.set_position(bar.position().saturating_sub(n)),
            Inner::Lines(lines) => {
                let _ = lines
                    .done
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                        Some(v.saturating_sub(n))
                    });
            }
            Inner::Off => {}
        }
    }

    /// A message above the bar (or on its own line).
    pub fn note(&self, message: &str) {
        match &*self.inner {
            Inner::Bar(bar) => bar.println(message),
            Inner::Lines(_) => eprintln!("{message}"),
            Inner::Off => {}
        }
    }

    pub fn finish(&self) {
        match &*self.inner {
            Inner::Bar(bar) => bar.finish(),
            Inner::Lines(lines) => lines.print(lines.done.load(Ordering::Relaxed)),
            Inner::Off => {}
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Inner::Bar(bar) = self
            && !bar.is_finished()
        {
            bar.abandon();
        }
    }
}

impl Lines {
    fn print(&self, done: u64) {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        eprintln!(
            "{}: {}% ({} of {}, {}/s)",
            self.label,
            percent(done, self.total),
            human_bytes(done),
            human_bytes(self.total),
            human_bytes(rate as u64)
        );
    }
}

fn percent(done: u64, total: u64) -> u64 {
    if total == 0 {
        100
    } else {
        (u128::from(done) * 100 / u128::from(total)) as u64
    }
}

fn tenth(done: u64, total: u64) -> u64 {
    percent(done, total) / 10
}

/// A line about what happens next (waiting for the pipeline, resuming), unless quiet.
pub fn say(mode: Mode, message: &str) {
    if mode != Mode::Off {
        eprintln!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_printed_at_each_tenth() {
        assert_eq!(tenth(0, 1000), 0);
        assert_eq!(tenth(99, 1000), 0);
        assert_eq!(tenth(100, 1000), 1);
        assert_eq!(tenth(999, 1000), 9);
        assert_eq!(percent(1000, 1000), 100);
        assert_eq!(percent(0, 0), 100);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
    }

    #[test]
    fn taking_back_bytes_never_goes_below_zero() {
        let p = Progress::bytes(Mode::Off, "x", 10);
        p.add(5);
        p.sub(50);
        let lines = Progress {
            inner: Arc::new(Inner::Lines(Lines {
                label: "x".into(),
                total: 10,
                done: AtomicU64::new(3),
                started: Instant::now(),
            })),
        };
        lines.sub(5);
        let Inner::Lines(l) = &*lines.inner else {
            panic!("lines")
        };
        assert_eq!(l.done.load(Ordering::Relaxed), 0);
    }
}
