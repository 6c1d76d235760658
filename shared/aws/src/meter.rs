//! What the adapters consume, metered where AWS bills it, so cost figures come from what was
//! sent rather than from reading the code:
//! - every request attempt each SDK client sends (retries are billed too), by service and
//!   operation, through one SDK interceptor ([`MeterRequests`]) on every client;
//! - DynamoDB's consumed capacity as the service reports it (`ReturnConsumedCapacity`),
//!   recorded by `DynamoTable` ([`capacity`]).
//!
//! Both go through the metrics facade: CloudWatch (EMF) in a Lambda function, the Lambda
//! bench's price list in `functions/benches/lambda`.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::ConsumedCapacity;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Counts each attempt right before it goes on the wire (`trove_aws_requests_total`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MeterRequests;

impl Intercept for MeterRequests {
    fn name(&self) -> &'static str {
        "MeterRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(operation) = cfg.load::<Metadata>() {
            trove_core::metrics::aws_request(operation.service(), operation.name());
        }
        Ok(())
    }
}

/// Records what DynamoDB reported one call consumed; nothing when it reported nothing.
pub(crate) fn capacity<'a>(
    kind: &'static str,
    reported: impl IntoIterator<Item = &'a ConsumedCapacity>,
) {
    capacity_or(kind, reported, || 0.0);
}

/// As [`capacity`]; when the answer reports nothing (moto leaves it out of UpdateItem and
/// TransactWriteItems), records `estimate()` instead, as `source="estimated"`, so a bench
/// can say how much of its figure was not reported.
pub(crate) fn capacity_or<'a>(
    kind: &'static str,
    reported: impl IntoIterator<Item = &'a ConsumedCapacity>,
    estimate: impl FnOnce() -> f64,
) {
    let units: f64 = reported
        .into_iter()
        .filter_map(ConsumedCapacity::capacity_units)
        .sum();
    if units > 0.0 {
        trove_core::metrics::dynamodb_capacity(kind, "reported", units);
    } else {
        let units = estimate();
        if units > 0.0 {
            trove_core::metrics::dynamodb_capacity(kind, "estimated", units);
        }
    }
}

/// DynamoDB's write price of an item of `bytes`: one unit per KB started.
pub(crate) fn write_units(bytes: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)] // an item is at most 400 KB
    let units = bytes.div_ceil(1024).max(1) as f64;
    units
}

/// The clients of the adapters, each with the request meter.
pub(crate) fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(MeterRequests)
            .build(),
    )
}

pub(crate) fn sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(MeterRequests)
            .build(),
    )
}

pub(crate) fn sfn(sdk: &SdkConfig) -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::config::Builder::from(sdk)
            .interceptor(MeterRequests)
            .build(),
    )
}

pub(crate) fn secrets(sdk: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(sdk)
            .interceptor(MeterRequests)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use serde_json::{Value, json};
    use trove_core::ports::table::{PK, SK};
    use trove_core::ports::{Item, Key, Table};

    use super::*;
    use crate::DynamoTable;
    use crate::emf::Emf;

    /// A metered table whose first answer is a throttle (retried by the SDK), then success
    /// with `{"ConsumedCapacity": …}` of `units`.
    fn throttled_once(units: f64) -> DynamoTable {
        let answers = Arc::new(AtomicUsize::new(0));
        let http = aws_smithy_http_client::test_util::infallible_client_fn(move |_| {
            let (status, body) = if answers.fetch_add(1, Ordering::SeqCst) == 0 {
                (
                    400,
                    json!({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"}),
                )
            } else {
                (
                    200,
                    json!({"Item": {"pk": {"S": "P"}, "sk": {"S": "S"}},
                    "ConsumedCapacity": {"TableName": "t", "CapacityUnits": units}}),
                )
            };
            http::Response::builder()
                .status(status)
                .header("content-type", "application/x-amz-json-1.0")
                .body(body.to_string())
                .expect("response")
        });
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::for_tests())
            .retry_config(
                aws_smithy_types::retry::RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .interceptor(MeterRequests)
            .http_client(http)
            .build();
        DynamoTable::new(aws_sdk_dynamodb::Client::from_conf(config), "t")
    }

    fn metered(f: impl AsyncFnOnce()) -> Vec<Value> {
        let emf = Emf::new();
        metrics::with_local_recorder(&emf, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(f());
        });
        emf.drain(0)
    }

    #[test]
    fn every_attempt_and_the_reported_capacity_are_metered() {
        let docs = metered(async || {
            let table = throttled_once(2.0);
            let mut item = Item::new();
            item.insert(PK.into(), "P".into());
            item.insert(SK.into(), "S".into());
            table.put(item, None).await.expect("put, second attempt");
            table
                .get(&Key::new("P", "S"))
                .await
                .expect("get")
                .expect("item");
        });
        let requests = |operation: &str| {
            docs.iter()
                .find(|d| d["operation"] == operation)
                .map(|d| d[trove_core::metrics::AWS_REQUESTS].clone())
        };
        // The throttled attempt is billed and counted; the get's client answered at once.
        assert_eq!(requests("PutItem"), Some(json!(2)), "{docs:#?}");
        assert_eq!(requests("GetItem"), Some(json!(1)), "{docs:#?}");
        let capacity = |kind: &str| {
            docs.iter()
                .find(|d| d["kind"] == kind)
                .map(|d| d[trove_core::metrics::DYNAMODB_CAPACITY].clone())
        };
        assert_eq!(capacity("write"), Some(json!([2.0])), "{docs:#?}");
        assert_eq!(capacity("read"), Some(json!([2.0])), "{docs:#?}");
        assert_eq!(
            docs.iter()
                .find(|d| d["service"] == "DynamoDB")
                .map(|d| d["service"].clone()),
            Some(json!("DynamoDB"))
        );
    }
}
