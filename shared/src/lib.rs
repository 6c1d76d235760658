//! Trove's library: domain, ports and adapters, services, HTTP routers and pipeline steps.
//! Lambda binaries (`functions/`) and `trove serve` (`cli/`) are thin hosts over this crate.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod http;
pub mod jobs;
pub mod local_host;
pub mod pipeline;
pub mod ports;
pub mod services;
pub mod workflow;
