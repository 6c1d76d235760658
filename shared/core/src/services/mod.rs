//! Use cases. Each function takes the `Context` (ports and settings) and validated input,
//! and speaks the domain's error type; HTTP mapping happens once, in `crate::http::problem`.

pub mod access;
pub mod bootstrap;
pub mod catalog;
pub mod error;
pub mod pagination;
pub mod records;
pub mod search;
pub mod tenants;

use std::sync::Arc;

use crate::config::Settings;
use crate::pipeline::Scanner;
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
    /// The Scan step's engine, in the binaries that carry one (see `pipeline::Scanner`).
    pub scanner: Option<Arc<dyn Scanner>>,
    pub settings: Arc<Settings>,
    /// Package managers' index pages as last rendered (a per-process memo, never a source
    /// of truth: each entry is checked against the package's `rev` on use).
    pub index_pages: Arc<crate::services::catalog::page_cache::PageCache>,
}
