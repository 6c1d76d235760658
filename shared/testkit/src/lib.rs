//! What the test suites share, so none of them copies another's helpers or includes its
//! files by path: moto on loopback ([`moto`]), unique names for resources that tests create
//! in parallel on one emulator, and (feature `host`) the embedded host on a temporary
//! directory, scanner included, as `trove serve` composes it.

pub mod moto;

use std::sync::Arc;

/// A port under test and whatever must outlive it (a temporary directory).
pub struct Fixture<P: ?Sized> {
    pub port: Arc<P>,
    _keep: Option<tempfile::TempDir>,
}

impl<P: ?Sized> Fixture<P> {
    pub fn new(port: Arc<P>, keep: Option<tempfile::TempDir>) -> Self {
        Self { port, _keep: keep }
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

#[cfg(feature = "host")]
mod host;
#[cfg(feature = "host")]
pub use host::{host, host_with};
