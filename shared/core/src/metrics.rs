//! Counters and histograms through the `metrics` facade: every module emits with its macros
//! and the host decides where they go. `trove serve` installs the Prometheus recorder and
//! serves `GET /metrics` (`trove_embedded::prometheus`); a Lambda function installs the
//! CloudWatch Embedded Metric Format recorder and flushes it once per invocation
//! (`trove_aws::emf`). With neither, the macros cost next to nothing.
//!
//! Label values are always drawn from small fixed sets (route templates, outcomes, status
//! classes): never a tenant, a repository or anything a client types.

/// Counter: requests answered, by `route` (the matched path template, or `unmatched`),
/// `method` and `status_class` (`2xx`...`5xx`).
pub const HTTP_REQUESTS: &str = "trove_http_requests_total";
/// Histogram: seconds from request to response head, by `route` and `method`.
pub const HTTP_REQUEST_DURATION: &str = "trove_http_request_duration_seconds";
/// Counter: uploads that left the pipeline, by `outcome` (`published`, `rejected`).
pub const PIPELINE_OUTCOMES: &str = "trove_pipeline_outcomes_total";
/// Counter: webhook deliveries, by `outcome`.
pub const WEBHOOK_DELIVERIES: &str = "trove_webhook_deliveries_total";
/// Histogram: seconds a webhook delivery took.
pub const WEBHOOK_DELIVERY_DURATION: &str = "trove_webhook_delivery_seconds";
/// Counter: domain events the outbox relay handed to the events bus.
pub const EVENTS_RELAYED: &str = "trove_events_relayed_total";
/// Gauge: age in seconds of the oldest message of a `queue`.
pub const QUEUE_AGE: &str = "trove_queue_age_seconds";
pub use crate::breaker::{REJECTIONS as TABLE_REJECTIONS, STATE_GAUGE as TABLE_CIRCUIT_STATE};

/// Counts events the outbox relay handed over.
pub fn events_relayed(n: u64) {
    metrics::counter!(EVENTS_RELAYED).increment(n);
}

/// Counts one upload leaving the pipeline.
pub fn pipeline_outcome(outcome: &'static str) {
    metrics::counter!(PIPELINE_OUTCOMES, "outcome" => outcome).increment(1);
}
