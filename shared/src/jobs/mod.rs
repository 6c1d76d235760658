//! Scheduled jobs: each a library function the Lambda and `trove admin run-job` call.

pub mod cleanup;
pub mod lease;
pub mod operator;
pub mod recovery;
#[cfg(test)]
mod recovery_tests;
pub mod report;

pub mod schedule;
