//! Adapters of the ports: `aws` for the deployment, `local` for `trove serve` and tests.

#[cfg(feature = "aws")]
pub mod aws;
pub mod breaker;
pub mod local;
