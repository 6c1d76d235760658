//! `cargo bench -p trove-functions --bench lambda`: per function binary size, init time and
//! memory under the Runtime API harness, then warm handler times priced at AWS list prices.
//! bench/lambda.sh runs it on release binaries (`TROVE_LAMBDA_BIN_DIR`) against moto.

// The harness modules are the test suite's own; the bench uses part of them.
#![allow(dead_code)]

#[path = "../../../shared/tests/contract/moto.rs"]
mod moto;
#[path = "../../tests/lambda/runtime_api.rs"]
mod runtime_api;
#[path = "../../tests/lambda/stack.rs"]
mod stack;
#[path = "../../tests/lambda/support.rs"]
mod support;
#[path = "../../tests/lambda/template.rs"]
mod template;

mod measure;

pub use support::{Fixture, unique};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        measure::init_time_and_size_per_function().await;
        measure::cost_per_million_operations().await;
    });
}
