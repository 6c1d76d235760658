//! The port contract suite: each port's behaviour is written once, as async functions over
//! `Arc<dyn Port>`, and run against both adapters — the AWS one against moto on loopback and
//! the embedded one on a temporary directory. One binary, so the SDK links once.

mod blobs;
mod delivery;
mod events;
mod moto;
mod secrets;
mod sqs;
mod table;
mod workflow;

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

/// Generates one `#[tokio::test]` per suite case for a fixture: `cases!(fixture => a, b)`
/// runs `super::a(fixture().await.port)`. Multi-threaded, so concurrency cases are real.
macro_rules! cases {
    ($fixture:path => $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $fixture().await;
                super::$case(fixture.port.clone()).await;
            }
        )*
    };
}
pub(crate) use cases;
