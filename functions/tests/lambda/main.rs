//! The Lambda functions as Lambda runs them, and the deployment kept in step with the code.
//!
//! - `runtime_api`: a Runtime API emulator on 127.0.0.1 that spawns a built function binary,
//!   feeds it an event and returns its answer (`sam local invoke` without Docker);
//! - `stack`: the template's resources on moto, one per test;
//! - `api`, `on_upload`, `pipeline`: each function fed its sample event from events/;
//! - `pypi`, `npm`, `cargo`: each package manager's publish, the pipeline and the index
//!   through its route functions (`registries`: what they share);
//! - `outbox`: events relayed from the table's stream by the dispatcher, and by the cleanup;
//! - `authorizer`: the HTTP API's authorizer against moto, and a route trusting its context;
//! - `smoke`: every function answers the smoke test its deployment's PreTraffic hook sends;
//! - `contract`: template.yaml ⇄ routers, statemachines/, functions/, functions-scan/ and
//!   events/;
//!
//! One binary, so the AWS SDK links once.

mod api;

pub use trove_testkit::lambda::{runtime_api, stack, template};
pub use trove_testkit::{moto, unique};
mod authorizer;
mod cargo;
mod contract;
mod jobs;
mod npm;
mod on_upload;
mod outbox;
mod pipeline;
mod pypi;
mod reads;
mod registries;
mod smoke;
mod uploads_in_parts;

/// Every function of the template starts under the harness with the template's settings and
/// reaches the Runtime API: its binary exists, its `Handler` is one the binary accepts and its
/// environment is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_of_the_template_initialises() {
    let stack = stack::Stack::new().await;
    let functions = template::functions(&template::template());
    assert!(!functions.is_empty());
    for def in functions.values() {
        let spec = stack.spec(def, stack::binary_path(&def.binary)).await;
        let mut function = runtime_api::Function::start(spec).await;
        if let Err(e) = function.init_duration().await {
            panic!("{} did not initialise: {e}", def.logical_id);
        }
    }
}
