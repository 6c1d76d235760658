//! What the test suites share, so none of them copies another's helpers or includes its
//! files by path: moto on loopback ([`moto`]) and one that enforces IAM ([`iam`]), the Lambda harness ([`lambda`]), unique names
//! for resources that tests create in parallel on one emulator, replayable seeds for
//! randomised tests ([`seed`]), a table with a hook in front ([`table_hook`]), and (feature `host`) the
//! embedded host on a temporary directory, scanner included, as `trove serve` composes it.

pub mod archives;
pub mod catalogue;
pub mod iam;
pub mod lambda;
pub mod moto;
pub mod seed;
pub mod table_hook;

use std::sync::Arc;

/// A port under test and whatever must outlive it (a temporary directory, a host).
pub struct Fixture<P: ?Sized> {
    pub port: Arc<P>,
    // Dropped in this order: what runs on the directory before the directory.
    _also: Vec<Box<dyn std::any::Any>>,
    _keep: Option<tempfile::TempDir>,
}

impl<P: ?Sized> Fixture<P> {
    pub fn new(port: Arc<P>, keep: Option<tempfile::TempDir>) -> Self {
        Self {
            port,
            _also: Vec::new(),
            _keep: keep,
        }
    }

    /// Keeps `thing` (a host the port works for) alive as long as the fixture.
    pub fn keeping(mut self, thing: impl std::any::Any) -> Self {
        self._also.push(Box::new(thing));
        self
    }
}

/// A name no other test in this run (or an earlier run against the same moto) uses, so
/// tests can run in parallel on one emulator.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    )
}

/// The running test binary's `<target>/<profile>` directory, where cargo put the package's
/// binaries before running its tests (the binary itself is in `<profile>/deps`).
pub fn profile_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in <target>/<profile>/deps")
        .to_path_buf()
}

/// `<target>/tmp`, for logs kept after a run (what cargo names `CARGO_TARGET_TMPDIR` for
/// integration tests alone).
pub fn target_tmp() -> std::path::PathBuf {
    let profile = profile_dir();
    let dir = profile.parent().unwrap_or(&profile).join("tmp");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

#[cfg(feature = "host")]
mod host;
#[cfg(feature = "host")]
pub use host::{host, host_with};
