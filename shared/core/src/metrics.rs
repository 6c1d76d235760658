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
/// Counter: requests the AWS adapters sent, each attempt (AWS bills retries too), by
/// `service` and `operation` (the SDK's names, a fixed set).
pub const AWS_REQUESTS: &str = "trove_aws_requests_total";
/// Histogram: DynamoDB capacity units one call consumed, as the service reports them
/// (`ReturnConsumedCapacity`), by `kind` (`read`, `write`) and `source` (`reported`, or
/// `estimated` from DynamoDB's sizing rules where an emulator reports nothing). The sum is
/// what on-demand bills.
pub const DYNAMODB_CAPACITY: &str = "trove_dynamodb_consumed_capacity_units";
pub use crate::breaker::{REJECTIONS as TABLE_REJECTIONS, STATE_GAUGE as TABLE_CIRCUIT_STATE};

/// Counts events the outbox relay handed over.
pub fn events_relayed(n: u64) {
    metrics::counter!(EVENTS_RELAYED).increment(n);
}

/// Counts one upload leaving the pipeline.
pub fn pipeline_outcome(outcome: &'static str) {
    metrics::counter!(PIPELINE_OUTCOMES, "outcome" => outcome).increment(1);
}

/// Counts one request attempt an AWS adapter sent.
pub fn aws_request(service: &str, operation: &str) {
    metrics::counter!(
        AWS_REQUESTS,
        "service" => service.to_owned(),
        "operation" => operation.to_owned()
    )
    .increment(1);
}

/// Records the DynamoDB capacity units one call consumed (`kind`: `read` or `write`;
/// `source`: `reported` or `estimated`).
pub fn dynamodb_capacity(kind: &'static str, source: &'static str, units: f64) {
    metrics::histogram!(DYNAMODB_CAPACITY, "kind" => kind, "source" => source).record(units);
}
