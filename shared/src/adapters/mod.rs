//! Adapters of the ports: `aws` for the deployment, `local` for `trove serve` and tests.

pub mod aws;
pub mod local;
