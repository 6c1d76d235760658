//! Trove on AWS: the adapters of every port — DynamoDB (`Table`), S3 (`Blobs`), Secrets
//! Manager (`Secrets`), Step Functions (`Workflow`), SQS (`Events`, and the webhook
//! `DeliveryQueue` with its batch handler in [`delivery`]), the outbox relay the table's
//! stream invokes ([`outbox_stream`]), CloudWatch EMF metrics
//! ([`emf`]), and the composition every Lambda function builds ([`context_from_env`]).
//!
//! A Lambda builds them once at cold start from [`AwsConfig::from_env`]; tests and local
//! tooling point the same code at an emulator through `endpoint_url`.

mod context;
pub mod delivery;
mod dynamodb;
pub mod emf;
pub mod env;
pub mod meter;
pub mod outbox_stream;
mod s3;
mod secrets;
mod sfn;
mod sqs;

use std::fmt;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_s3::config::SharedCredentialsProvider;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use context::context_from_env;
pub use dynamodb::DynamoTable;
pub use env::AwsConfigError;
pub use s3::{S3Blobs, s3_client};
pub use secrets::AwsSecrets;
pub use sfn::StepFunctions;
pub use sqs::SqsEvents;

pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_SECRET_PREFIX: &str = "trove/";

/// Where the AWS adapters find their resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub region: String,
    /// Overrides every service endpoint (an emulator on loopback); `None` in a deployment.
    pub endpoint_url: Option<String>,
    pub table_name: String,
    pub bucket: String,
    pub secret_prefix: String,
}

/// The three AWS adapters over one configuration.
#[derive(Debug, Clone)]
pub struct AwsAdapters {
    pub table: DynamoTable,
    pub blobs: S3Blobs,
    pub secrets: AwsSecrets,
}

impl AwsConfig {
    /// Reads `TROVE_AWS_REGION` (or `AWS_REGION`, default `us-east-1`),
    /// `TROVE_AWS_ENDPOINT_URL` (optional), `TROVE_TABLE`, `TROVE_BUCKET` and
    /// `TROVE_SECRET_PREFIX` (default `trove/`).
    pub fn from_env() -> Result<Self, AwsConfigError> {
        Self::from_lookup(env::process_env)
    }

    /// As [`AwsConfig::from_env`], over any variable lookup (tests cannot safely mutate the
    /// process environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AwsConfigError> {
        let var = |name: &str| env::optional_in(&lookup, name);
        let required = |name, what| env::required_in(&lookup, name, what);
        Ok(Self {
            region: var("TROVE_AWS_REGION")
                .or_else(|| var("AWS_REGION"))
                .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
            endpoint_url: var("TROVE_AWS_ENDPOINT_URL"),
            table_name: required("TROVE_TABLE", "the DynamoDB table name")?,
            bucket: required("TROVE_BUCKET", "the S3 bucket name")?,
            secret_prefix: var("TROVE_SECRET_PREFIX")
                .unwrap_or_else(|| DEFAULT_SECRET_PREFIX.to_owned()),
        })
    }

    /// A loader with region and endpoint set; credentials come from the default chain unless
    /// the caller sets a provider (tests use static dummy credentials against an emulator).
    /// Not for the Lambda functions: see [`AwsConfig::sdk_config`].
    pub fn loader(&self) -> ConfigLoader {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()));
        match &self.endpoint_url {
            Some(url) => loader.endpoint_url(url),
            None => loader,
        }
    }

    /// The Lambda functions' SDK configuration: region, endpoint, and the credentials Lambda
    /// hands every function in its environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`). Not [`AwsConfig::loader`]'s default chain: its profile files,
    /// STS web identity, SSO, ECS and IMDS providers are dead code in Lambda, and linking them
    /// costs each binary most of a megabyte. Retries and timeouts are the SDK's defaults for
    /// `BehaviorVersion::latest()`, the same the loader would pick.
    pub fn sdk_config(&self) -> SdkConfig {
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ));
        builder.set_endpoint_url(self.endpoint_url.clone());
        builder.build()
    }

    /// Builds the three adapters over one SDK configuration.
    pub fn adapters(&self, sdk: &SdkConfig) -> AwsAdapters {
        AwsAdapters {
            table: DynamoTable::new(meter::dynamodb(sdk), &self.table_name),
            blobs: S3Blobs::new(s3_client(sdk), &self.bucket),
            secrets: AwsSecrets::new(meter::secrets(sdk), &self.secret_prefix),
        }
    }
}

/// What an adapter needs to know about a failed SDK call.
pub(crate) struct Fault {
    /// The service's error code, when the service answered.
    pub code: Option<String>,
    /// The HTTP status, when the service answered.
    pub status: Option<u16>,
    /// Worth retrying: throttled, timed out, a network failure or a 5xx.
    pub transient: bool,
    /// A short, one-line description for logs and error strings (never the debug dump).
    pub summary: String,
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)
    }
}

/// Codes AWS services use for throttling and transient server trouble (the SDK's own retry
/// classifier uses the same list).
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

const MAX_SUMMARY: usize = 400;

pub(crate) fn fault<E>(err: &SdkError<E, HttpResponse>) -> Fault
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut summary = DisplayErrorContext(err).to_string();
    if summary.len() > MAX_SUMMARY {
        let mut cut = MAX_SUMMARY;
        while !summary.is_char_boundary(cut) {
            cut -= 1;
        }
        summary.truncate(cut);
        summary.push('…');
    }
    let (code, status, transient) = match err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => (None, None, true),
        // The connector marks some failures retryable without calling them I/O (hyper's
        // incomplete message: a connection dropped mid-answer); the SDK retries those too.
        SdkError::DispatchFailure(e) => (
            None,
            None,
            e.is_timeout()
                || e.is_io()
                || e.as_other()
                    .is_some_and(|k| k != aws_smithy_types::retry::ErrorKind::ClientError),
        ),
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().map(str::to_owned);
            let status = ctx.raw().status().as_u16();
            let transient = status >= 500
                || status == 429
                || code
                    .as_deref()
                    .is_some_and(|c| TRANSIENT_CODES.contains(&c));
            (code, Some(status), transient)
        }
        _ => (None, None, false),
    };
    Fault {
        code,
        status,
        transient,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn defaults_apply_when_optional_variables_are_unset() {
        let cfg = AwsConfig::from_lookup(lookup(&[("TROVE_TABLE", "t"), ("TROVE_BUCKET", "b")]))
            .expect("complete");
        assert_eq!(
            cfg,
            AwsConfig {
                region: "us-east-1".into(),
                endpoint_url: None,
                table_name: "t".into(),
                bucket: "b".into(),
                secret_prefix: "trove/".into(),
            }
        );
    }

    #[test]
    fn trove_region_wins_over_aws_region() {
        let cfg = AwsConfig::from_lookup(lookup(&[
            ("TROVE_TABLE", "t"),
            ("TROVE_BUCKET", "b"),
            ("AWS_REGION", "eu-west-1"),
            ("TROVE_AWS_REGION", "eu-central-1"),
            ("TROVE_AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("TROVE_SECRET_PREFIX", "x/"),
        ]))
        .expect("complete");
        assert_eq!(cfg.region, "eu-central-1");
        assert_eq!(cfg.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(cfg.secret_prefix, "x/");

        let cfg = AwsConfig::from_lookup(lookup(&[
            ("TROVE_TABLE", "t"),
            ("TROVE_BUCKET", "b"),
            ("AWS_REGION", "eu-west-1"),
        ]))
        .expect("complete");
        assert_eq!(cfg.region, "eu-west-1");
    }

    #[test]
    fn the_sdk_configuration_carries_region_endpoint_and_environment_credentials() {
        let cfg = AwsConfig {
            region: "eu-west-1".into(),
            endpoint_url: Some("http://127.0.0.1:5000".into()),
            table_name: "t".into(),
            bucket: "b".into(),
            secret_prefix: "trove/".into(),
        };
        let sdk = cfg.sdk_config();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert!(sdk.credentials_provider().is_some());
        assert!(sdk.behavior_version().is_some());

        let deployed = AwsConfig {
            endpoint_url: None,
            ..cfg
        };
        assert_eq!(deployed.sdk_config().endpoint_url(), None);
    }

    #[test]
    fn missing_or_empty_required_variables_are_named() {
        let err = AwsConfig::from_lookup(lookup(&[("TROVE_BUCKET", "b")])).expect_err("no table");
        assert!(err.to_string().contains("TROVE_TABLE"), "{err}");
        let err = AwsConfig::from_lookup(lookup(&[("TROVE_TABLE", "t"), ("TROVE_BUCKET", " ")]))
            .expect_err("empty bucket");
        assert!(err.to_string().contains("TROVE_BUCKET"), "{err}");
    }
}
