//! Scheduled jobs: each a library function the Lambda and `trove admin run-job` call.

pub mod cleanup;
pub mod operator;
pub mod report;

pub mod schedule;
