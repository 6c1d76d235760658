//! Use cases. Each function takes the `Context` (ports and settings) and validated input,
//! and speaks the domain's error type; HTTP mapping happens once, in `crate::http::problem`.

pub mod admin_guard;
pub mod api_keys;
pub mod audit;
pub mod authn;
pub mod blob_refs;
#[cfg(test)]
mod blob_refs_tests;
pub mod bootstrap;
pub mod caller;
pub mod error;
pub mod grants;
pub mod lookalikes;
pub mod net_policy;
pub mod oidc;
pub mod oidc_providers;
#[cfg(test)]
pub(crate) mod oidc_testing;
pub mod packages;
pub mod pagination;
pub mod pii;
pub mod principals;
pub mod rate_limit;
pub mod reports;
pub mod repositories;
pub mod tenants;
pub mod tokens;
pub mod uploads;
pub mod usage;
pub mod versions;

use std::sync::Arc;

use crate::config::Settings;
use crate::ports::{Blobs, Clock, Events, Secrets, Table, Workflow};

pub use error::Error;

/// The ports and settings every use case and pipeline step runs with.
#[derive(Clone)]
pub struct Context {
    pub table: Arc<dyn Table>,
    pub blobs: Arc<dyn Blobs>,
    pub events: Arc<dyn Events>,
    pub secrets: Arc<dyn Secrets>,
    pub clock: Arc<dyn Clock>,
    pub workflow: Arc<dyn Workflow>,
    pub settings: Arc<Settings>,
}
