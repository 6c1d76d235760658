//! `cargo bench -p trove-functions --bench lambda`: per function binary size, init time and
//! memory under the Runtime API harness, then warm handler times priced at AWS list prices.
//! bench/lambda.sh runs it on release binaries (`TROVE_LAMBDA_BIN_DIR`) against moto.

mod measure;

pub use trove_testkit::lambda::{runtime_api, stack, template};
pub use trove_testkit::{moto, unique};

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
