//! The port contract suite: each port's behaviour is written once, as async functions over
//! `Arc<dyn Port>`, and run against both adapters — the AWS one against moto on loopback and
//! the embedded one on a temporary directory. One binary, so the SDK links once.

mod blobs;
mod delivery;
mod events;
mod search;
mod secrets;
mod sqs;
mod table;
mod workflow;

pub use trove_testkit::{Fixture, moto, unique};

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
