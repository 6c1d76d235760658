//! Crate-root items the harness modules (and shared/tests/contract/moto.rs) expect; shared by
//! the test binary and the benchmark.

use std::sync::Arc;

/// What moto.rs's per-port fixtures return; this suite uses its endpoint and SDK config only.
#[allow(dead_code)]
pub struct Fixture<P: ?Sized> {
    pub port: Arc<P>,
    _keep: Option<tempfile::TempDir>,
}

#[allow(dead_code)]
impl<P: ?Sized> Fixture<P> {
    pub fn new(port: Arc<P>, keep: Option<tempfile::TempDir>) -> Self {
        Self { port, _keep: keep }
    }
}

/// A name no other test of this run (or of an earlier run against the same moto) uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    )
}
