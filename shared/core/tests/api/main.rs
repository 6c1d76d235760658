//! The API and the services in-process, over the embedded host on a temporary directory
//! (`trove_testkit::host`): the router through tower's `oneshot`, the pipeline through the
//! ASL interpreter, storage through SQLite and files. What the end-to-end suite drives over
//! a real socket, this suite drives without one, fast enough for every edge case.

mod access;
mod access_policy;
mod app;
mod audit_trail;
mod blob_refs;
mod breaker;
mod cargo;
mod cleanup;
mod console;
mod credential;
mod identity;
mod input;
mod job_lease;
mod lookalike;
mod metrics;
mod multipart;
mod npm;
mod persist;
mod pii;
mod pipeline_audit;
mod pypi;
mod quarantine;
mod rate_limit;
mod recovery;
mod report;
mod repository;
mod scan_policy;
mod search;
mod steps;
mod table_breaker;
mod tokens;
mod webhook;
