//! The domain: names and their rules, records, and the one place keys are built.

pub mod access;
pub mod bounds;
pub mod canonical;
pub mod echo;
pub mod ids;
pub mod keys;
pub mod model;
pub mod names;
pub mod scan_policy;
