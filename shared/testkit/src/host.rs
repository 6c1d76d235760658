//! The embedded host on a temporary directory, composed as `trove serve` composes it: the
//! scanner included, so uploads go through the whole pipeline.

use std::sync::Arc;

use trove_core::config::Settings;
use trove_core::ports::{Clock, SystemClock};
use trove_embedded::Embedded;

/// A host over a fresh temporary directory (kept alive by the returned guard), with the test
/// settings and the system clock.
pub async fn host() -> (tempfile::TempDir, Embedded) {
    host_with(Settings::for_testing(), Arc::new(SystemClock)).await
}

/// As [`host`], with these settings and this clock.
pub async fn host_with(settings: Settings, clock: Arc<dyn Clock>) -> (tempfile::TempDir, Embedded) {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = Embedded::open(
        dir.path(),
        "http://trove.test",
        settings,
        clock,
        Some(trove_scan::YaraScanner::shared()),
    )
    .await
    .expect("host opens");
    (dir, host)
}
