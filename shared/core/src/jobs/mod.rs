//! Scheduled jobs: each a library function the Lambda and `trove admin run-job` call.

pub mod cleanup;
pub mod cursor;
pub mod lease;
pub mod operator;
pub mod recovery;
pub mod report;

pub mod schedule;
