//! Trove's core: the domain, every port, the services, the pipeline steps, the scheduled jobs
//! and the HTTP router. It knows no AWS SDK, no SQLite and no scanner: the adapters live in
//! `trove-aws` and `trove-embedded`, the Scan step's engine in `trove-scan`, and each binary
//! composes them (see ARCHITECTURE.md).

pub mod breaker;
pub mod config;
pub mod domain;
pub mod egress;
pub mod faults;
pub mod formats;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod ports;
pub mod services;
pub mod webhooks;
