//! Settings shared by every host. Each concern reads its own environment variables
//! (documented in `.env.sample`) and has a `for_testing()` twin.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a presigned upload URL stays valid.
    pub upload_url_ttl: Duration,
    /// How long an upload in parts may take from its start to its completion; each part's
    /// URL lives `upload_url_ttl` and is issued again as needed.
    pub multipart_upload_ttl: Duration,
    /// How long a presigned download URL stays valid.
    pub download_url_ttl: Duration,
    /// Largest file a new repository accepts unless it says otherwise.
    pub default_max_file_size: u64,
    /// Largest JSON request body the API reads.
    pub max_request_body: usize,
    /// Accept `http://` JWKS and issuer URLs for OIDC providers, and let their fetches
    /// reach internal addresses (local development and tests only; a deployment keeps it
    /// off).
    pub allow_http_jwks: bool,
    /// Requests without credentials (public routes), per source address. Server-wide: no
    /// tenant is known yet.
    pub anonymous_limit: crate::services::access::rate_limit::Limit,
    /// Failed authentications per source address.
    pub auth_failure_limit: crate::services::access::rate_limit::Limit,
    /// The daily report lists grants and API keys unused for more than this many days.
    pub stale_access_days: u32,
    /// Audit records are kept this many days, then the table's TTL drops them.
    pub audit_retention_days: u32,
    /// How long the links to a report's files stay valid.
    pub report_url_ttl: Duration,
    /// When the table's circuit opens, how long it stays open, how long one call may take.
    pub table_breaker: crate::breaker::BreakerSettings,
    /// Hosts webhooks may reach even though they resolve to private, loopback or other
    /// internal addresses (names or addresses as written in the URL).
    pub webhook_allow_hosts: Vec<String>,
    /// Webhook retries and timeouts.
    pub webhook_delivery: crate::webhooks::schedule::DeliveryTuning,
    /// How long a package manager's publish waits for the pipeline's outcome before it
    /// answers 202; below API Gateway's 30 s.
    pub publish_wait: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            upload_url_ttl: Duration::from_secs(15 * 60),
            multipart_upload_ttl: Duration::from_secs(24 * 3600),
            download_url_ttl: Duration::from_secs(5 * 60),
            default_max_file_size: 5 * 1024 * 1024 * 1024,
            max_request_body: 64 * 1024,
            allow_http_jwks: false,
            anonymous_limit: crate::services::access::rate_limit::Limit {
                per_second: 20.0,
                burst: 100,
            },
            auth_failure_limit: crate::services::access::rate_limit::AUTH_FAILURES,
            stale_access_days: 90,
            audit_retention_days: 365,
            report_url_ttl: Duration::from_secs(5 * 60),
            table_breaker: crate::breaker::BreakerSettings::default(),
            webhook_allow_hosts: Vec::new(),
            webhook_delivery: Default::default(),
            publish_wait: Duration::from_secs(20),
        }
    }
}

/// The bucket's lifecycle rule aborts unfinished uploads in parts three days after they
/// start, as a backstop to the cleanup job: an upload may not be meant to live that long.
pub const MAX_MULTIPART_UPLOAD_TTL_SECS: u64 = 48 * 3600;

/// The longest publish wait (API Gateway ends a request at 30 s).
pub const MAX_PUBLISH_WAIT_SECS: u64 = 28;

impl Settings {
    /// Reads `TROVE_UPLOAD_URL_TTL_SECS`, `TROVE_MULTIPART_UPLOAD_TTL_SECS`,
    /// `TROVE_DOWNLOAD_URL_TTL_SECS`,
    /// `TROVE_MAX_FILE_SIZE`, `TROVE_STALE_ACCESS_DAYS`, `TROVE_AUDIT_RETENTION_DAYS`,
    /// `TROVE_TABLE_BREAKER_FAILURES`,
    /// `TROVE_TABLE_BREAKER_WINDOW_SECS`, `TROVE_TABLE_BREAKER_COOLDOWN_SECS`,
    /// `TROVE_TABLE_CALL_TIMEOUT_MS`, `TROVE_WEBHOOK_ALLOW_HOSTS` (comma-separated);
    /// anything unset keeps its default.
    pub fn from_env() -> Result<Self, String> {
        let mut s = Self::default();
        if let Some(v) = env_u64("TROVE_UPLOAD_URL_TTL_SECS")? {
            s.upload_url_ttl = Duration::from_secs(v);
        }
        if let Some(v) = env_u64("TROVE_MULTIPART_UPLOAD_TTL_SECS")? {
            if !(60..=MAX_MULTIPART_UPLOAD_TTL_SECS).contains(&v) {
                return Err(format!(
                    "TROVE_MULTIPART_UPLOAD_TTL_SECS must be 60 to {MAX_MULTIPART_UPLOAD_TTL_SECS}, got {v}"
                ));
            }
            s.multipart_upload_ttl = Duration::from_secs(v);
        }
        if let Some(v) = env_u64("TROVE_DOWNLOAD_URL_TTL_SECS")? {
            s.download_url_ttl = Duration::from_secs(v);
        }
        if let Some(v) = env_u64("TROVE_MAX_FILE_SIZE")? {
            s.default_max_file_size = v;
        }
        if let Some(v) = env_u64("TROVE_PUBLISH_WAIT_SECS")? {
            if v > MAX_PUBLISH_WAIT_SECS {
                return Err(format!(
                    "TROVE_PUBLISH_WAIT_SECS must be at most {MAX_PUBLISH_WAIT_SECS}, got {v}"
                ));
            }
            s.publish_wait = Duration::from_secs(v);
        }
        if let Some(v) = env_u64("TROVE_STALE_ACCESS_DAYS")? {
            s.stale_access_days = u32::try_from(v)
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| format!("TROVE_STALE_ACCESS_DAYS must be 1 to 3650, got {v}"))?;
        }
        if let Some(v) = env_u64("TROVE_AUDIT_RETENTION_DAYS")? {
            s.audit_retention_days = u32::try_from(v)
                .ok()
                .filter(|d| (30..=3650).contains(d))
                .ok_or_else(|| format!("TROVE_AUDIT_RETENTION_DAYS must be 30 to 3650, got {v}"))?;
        }
        if let Some(v) = env_u64("TROVE_AUTH_FAILURES_PER_MINUTE")? {
            s.auth_failure_limit.per_second = v as f64 / 60.0;
        }
        if let Some(v) = env_u64("TROVE_AUTH_FAILURE_BURST")? {
            s.auth_failure_limit.burst = u32::try_from(v).unwrap_or(u32::MAX);
        }
        s.auth_failure_limit.validate().map_err(|e| {
            format!("TROVE_AUTH_FAILURES_PER_MINUTE / TROVE_AUTH_FAILURE_BURST: {e}")
        })?;
        let breaker = &mut s.table_breaker;
        if let Some(v) = env_u64("TROVE_TABLE_BREAKER_FAILURES")? {
            breaker.failures = u32::try_from(v)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or("TROVE_TABLE_BREAKER_FAILURES must be at least 1")?;
        }
        if let Some(v) = env_u64("TROVE_TABLE_BREAKER_WINDOW_SECS")? {
            breaker.window = Duration::from_secs(v.max(1));
        }
        if let Some(v) = env_u64("TROVE_TABLE_BREAKER_COOLDOWN_SECS")? {
            breaker.cooldown = Duration::from_secs(v.max(1));
        }
        if let Some(v) = env_u64("TROVE_TABLE_CALL_TIMEOUT_MS")? {
            breaker.call_timeout = Duration::from_millis(v.max(1));
        }
        s.allow_http_jwks = matches!(
            std::env::var("TROVE_ALLOW_HTTP_JWKS").as_deref(),
            Ok("1" | "true")
        );
        if let Ok(hosts) = std::env::var("TROVE_WEBHOOK_ALLOW_HOSTS") {
            s.webhook_allow_hosts = hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .collect();
        }
        Ok(s)
    }

    /// The defaults, with public routes unlimited: the tests of limits set their own.
    pub fn for_testing() -> Self {
        Self {
            anonymous_limit: crate::services::access::rate_limit::Limit {
                per_second: 1e6,
                burst: 1_000_000,
            },
            ..Self::default()
        }
    }
}

fn env_u64(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} must be a whole number, got {v:?}")),
        Err(_) => Ok(None),
    }
}
