//! Scheduled jobs: each a library function the Lambda binary and `trove admin run-job` call.

pub mod cleanup;
