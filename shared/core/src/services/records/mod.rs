//! What is kept about the tenant's activity: the audit trail, usage counters, reports, and
//! the sealing of personal data in them.

pub mod audit;
pub mod figures;
pub mod pii;
pub mod reports;
pub mod usage;
