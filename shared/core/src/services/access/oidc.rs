//! Tokens from external OIDC issuers ("trusted publishing"): a CI job presents the ID token
//! its platform minted, and a tenant's provider config says which issuer, audience and
//! claims map to which principal.
//!
//! The issuer's signing keys come from its JWKS, cached per URI. Only RS256 and ES256 are
//! accepted, and the algorithm is taken from the key, never from the token alone, so a token
//! cannot pick a weaker or symmetric algorithm for a key it does not own.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use url::Url;

use crate::config::Settings;
use crate::egress::{self, AllowedHosts};
use crate::services::Error;

const MAX_AUDIENCE_CHARS: usize = 256;
const MAX_RULES: usize = 50;
const MAX_CLAIMS_PER_RULE: usize = 20;
/// Claim names, values and principal ids are identifiers, not documents.
const MAX_FIELD_CHARS: usize = 1024;

/// ID tokens are a few KiB even with long claims; more is not a token worth parsing.
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Clock skew tolerated on `exp` and `nbf`, between the issuer and us.
const LEEWAY_SECS: i64 = 30;
const MAX_KID_LEN: usize = 256;

/// How long a fetched JWKS (or discovery document) is used without asking again.
const CACHE_TTL: time::Duration = time::Duration::minutes(10);
/// The least time between two fetches of one URI, whatever the reason (unknown `kid`,
/// failure): a key rotation at the issuer is picked up within this, and tokens with junk
/// `kid`s cannot turn into a flood of requests to the issuer.
const REFETCH_INTERVAL: time::Duration = time::Duration::seconds(30);
/// When the issuer is unreachable, keys fetched up to this long ago still verify: an outage
/// of its JWKS endpoint should not stop publishing at once.
const STALE_MAX: time::Duration = time::Duration::hours(1);
const MAX_BODY: usize = 256 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// All the fetching one verification may do (discovery, then the JWKS), together. API
/// Gateway gives the authorizer 10 s in all and the function's own timeout is below that:
/// an issuer that does not answer costs a request this much, and the keys cached earlier
/// (up to `STALE_MAX`) still verify meanwhile.
pub const FETCH_BUDGET: Duration = Duration::from_secs(3);
/// Providers are configured per tenant; past this many cached URIs the cache starts over
/// rather than grow without bound.
const MAX_CACHED_URIS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The issuer's URL exactly as tokens carry it in `iss`, e.g.
    /// `https://token.actions.githubusercontent.com`. Its pattern is a part of `validate`'s
    /// rule a client can check first: https, a public DNS name (a top-level label of 2 to 8
    /// letters keeps `localhost` out), a path without query or fragment.
    #[schema(
        max_length = 1024,
        pattern = "^https://([a-z0-9]+[.])+[a-z]{2,8}(/[A-Za-z0-9._~-]+)*$"
    )]
    pub issuer: String,
    /// The `aud` tokens must carry, e.g. `trove:acme`.
    #[schema(min_length = 1, max_length = 256)]
    pub audience: String,
    /// Where the issuer publishes its keys; discovered from
    /// `{issuer}/.well-known/openid-configuration` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 1024,
        pattern = "^https://([a-z0-9]+[.])+[a-z]{2,8}(/[A-Za-z0-9._~-]+)*$"
    )]
    pub jwks_uri: Option<String>,
    /// The first rule whose claims all match decides the principal.
    #[schema(min_items = 1, max_items = 50)]
    pub rules: Vec<ClaimRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    /// Claim name to the exact string value it must have.
    #[schema(schema_with = claims_schema)]
    pub claims: BTreeMap<String, String>,
    /// The principal id a matching token acts as.
    #[schema(max_length = 32, pattern = "^(user_|sa_)[0-9a-z]{26}$")]
    pub principal: String,
}

/// A rule with no claims would match every token: at least one.
fn claims_schema() -> utoipa::openapi::schema::Object {
    let mut map = crate::domain::bounds::string_map(MAX_CLAIMS_PER_RULE, MAX_FIELD_CHARS);
    map.min_properties = Some(1);
    map
}

impl OidcProviderConfig {
    /// Checks the config before it is stored. `allow_http` admits `http` URLs and local
    /// hosts, for tests and local development only.
    pub fn validate(&self, allow_http: bool) -> Result<(), Error> {
        let issuer = check_url("issuer", &self.issuer, allow_http)?;
        // OIDC Discovery: the issuer identifier has no query or fragment.
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(invalid("issuer must not have a query or fragment"));
        }
        if let Some(jwks_uri) = &self.jwks_uri {
            let jwks = check_url("jwks_uri", jwks_uri, allow_http)?;
            if jwks.fragment().is_some() {
                return Err(invalid("jwks_uri must not have a fragment"));
            }
        }
        let audience_chars = self.audience.chars().count();
        if !(1..=MAX_AUDIENCE_CHARS).contains(&audience_chars) {
            return Err(invalid(format!(
                "audience must be 1 to {MAX_AUDIENCE_CHARS} characters"
            )));
        }
        if !(1..=MAX_RULES).contains(&self.rules.len()) {
            return Err(invalid(format!("rules must hold 1 to {MAX_RULES} rules")));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if !(1..=MAX_CLAIMS_PER_RULE).contains(&rule.claims.len()) {
                return Err(invalid(format!(
                    "rules[{i}].claims must hold 1 to {MAX_CLAIMS_PER_RULE} claims"
                )));
            }
            if rule.principal.is_empty() || rule.principal.chars().count() > MAX_FIELD_CHARS {
                return Err(invalid(format!(
                    "rules[{i}].principal must be 1 to {MAX_FIELD_CHARS} characters"
                )));
            }
            for (name, value) in &rule.claims {
                if name.is_empty() || name.chars().count() > MAX_FIELD_CHARS {
                    return Err(invalid(format!(
                        "rules[{i}].claims: names must be 1 to {MAX_FIELD_CHARS} characters"
                    )));
                }
                if value.chars().count() > MAX_FIELD_CHARS {
                    return Err(invalid(format!(
                        "rules[{i}].claims.{name}: values must be at most {MAX_FIELD_CHARS} characters"
                    )));
                }
            }
        }
        Ok(())
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

fn check_url(field: &str, value: &str, allow_http: bool) -> Result<Url, Error> {
    let url = Url::parse(value).map_err(|e| invalid(format!("{field} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => return Err(invalid(format!("{field} must be an https URL"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(format!("{field} must not carry credentials")));
    }
    let Some(host) = url.host() else {
        return Err(invalid(format!("{field} must name a host")));
    };
    // A provider's URLs are fetched from inside the deployment: refuse at once what the
    // fetch's guard would refuse anyway (an internal address, `localhost`), and names that
    // are no public host's (no dot). A public name resolving inside is refused when fetched.
    if !allow_http {
        if let Some(why) = egress::host_refusal(&host) {
            return Err(invalid(format!(
                "{field} must name a public host: {host} is {why}"
            )));
        }
        if matches!(host, url::Host::Domain(d) if !d.trim_end_matches('.').contains('.')) {
            return Err(invalid(format!("{field} must name a public host")));
        }
    }
    Ok(url)
}

/// The principal a verified token's claims map to (first matching rule), if any. A rule
/// with no claims never matches; a claim matches only a JSON string equal to the value.
pub fn map_principal(config: &OidcProviderConfig, claims: &Map<String, Value>) -> Option<String> {
    config
        .rules
        .iter()
        .find(|rule| {
            !rule.claims.is_empty()
                && rule.claims.iter().all(|(name, want)| {
                    matches!(claims.get(name), Some(Value::String(got)) if got == want)
                })
        })
        .map(|rule| rule.principal.clone())
}

/// Verifies OIDC tokens against their issuers' keys, fetched and cached per JWKS URI.
/// One per process: the cache is what keeps the issuers from seeing a request per token.
/// Its fetches go through the egress guard: internal addresses are refused when connecting.
pub struct JwksCache {
    http: reqwest::Client,
    allowed: AllowedHosts,
    jwks: Slots<JwkSet>,
    /// Issuer URL to its discovered `jwks_uri`.
    discovery: Slots<String>,
}

/// Public issuers only.
impl Default for JwksCache {
    fn default() -> Self {
        Self::new(AllowedHosts::default())
    }
}

impl JwksCache {
    /// Fetches may reach public addresses and the hosts of `allowed`.
    pub fn new(allowed: AllowedHosts) -> Self {
        // A redirect would let the published URL send us anywhere, past validate(): the
        // guard follows none.
        let http = egress::guarded(reqwest::Client::builder(), &allowed)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            // Fails only when the TLS backend cannot initialise: no request could succeed,
            // and reqwest::Client::new() would panic the same way.
            .expect("HTTP client for JWKS");
        Self {
            http,
            allowed,
            jwks: Slots::default(),
            discovery: Slots::default(),
        }
    }

    /// `TROVE_ALLOW_HTTP_JWKS` (local development and tests) lets issuers on this machine
    /// or its network be reached, as it lets their URLs be configured.
    pub fn for_settings(settings: &Settings) -> Self {
        Self::new(if settings.allow_http_jwks {
            AllowedHosts::any()
        } else {
            AllowedHosts::default()
        })
    }

    /// Verifies signature (RS256 or ES256 only — from the JWK's alg/kty, never from the
    /// token header alone), iss == config.issuer, aud contains config.audience, exp
    /// required, nbf honoured, leeway 30 s. Returns the claims. Any failure =>
    /// Error::Unauthenticated; JWKS unreachable => Error::Unavailable.
    pub async fn verify(
        &self,
        config: &OidcProviderConfig,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Map<String, Value>, Error> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::Unauthenticated);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| Error::Unauthenticated)?;
        // Refused before any fetch: no key of ours could verify these, so junk costs nothing.
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(Error::Unauthenticated);
        }
        let kid = header
            .kid
            .as_deref()
            .filter(|k| !k.is_empty() && k.len() <= MAX_KID_LEN)
            .ok_or(Error::Unauthenticated)?;

        let fetch = async {
            let jwks_uri = match &config.jwks_uri {
                Some(uri) => uri.clone(),
                None => self.discover(&config.issuer, now).await?.as_ref().clone(),
            };
            self.key(&jwks_uri, kid, now).await
        };
        let jwk = tokio::time::timeout(FETCH_BUDGET, fetch)
            .await
            .map_err(|_| {
                Error::Unavailable(format!(
                    "the issuer's keys could not be fetched within {} s",
                    FETCH_BUDGET.as_secs()
                ))
            })??;
        let alg = jwk_algorithm(&jwk).ok_or(Error::Unauthenticated)?;
        if header.alg != alg {
            return Err(Error::Unauthenticated);
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| Error::Unauthenticated)?;

        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        // jsonwebtoken reads the system clock; times are checked below against `now`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|_| Error::Unauthenticated)?
            .claims;

        // jsonwebtoken also accepts an array `iss` holding the issuer; a token has one.
        if claims.get("iss").and_then(Value::as_str) != Some(config.issuer.as_str()) {
            return Err(Error::Unauthenticated);
        }
        let now = now.unix_timestamp();
        let exp = claims
            .get("exp")
            .and_then(numeric_date)
            .ok_or(Error::Unauthenticated)?;
        if now >= exp.saturating_add(LEEWAY_SECS) {
            return Err(Error::Unauthenticated);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(nbf).ok_or(Error::Unauthenticated)?;
            if now.saturating_add(LEEWAY_SECS) < nbf {
                return Err(Error::Unauthenticated);
            }
        }
        Ok(claims)
    }

    /// The issuer's `jwks_uri`, from its discovery document.
    async fn discover(&self, issuer: &str, now: OffsetDateTime) -> Result<Arc<String>, Error> {
        let slot = self.discovery.slot(issuer);
        let mut slot = slot.lock().await;
        slot.get(now, false, || async {
            let issuer_url = Url::parse(issuer)
                .map_err(|e| Error::Unavailable(format!("issuer {issuer}: {e}")))?;
            let url = format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            );
            let doc: DiscoveryDocument = self.fetch_json(&url).await?;
            // OIDC Discovery §4.3: a document for another issuer is not this issuer's.
            if doc.issuer != issuer {
                return Err(Error::Unavailable(format!(
                    "{url} names issuer {:?}",
                    doc.issuer
                )));
            }
            let jwks = Url::parse(&doc.jwks_uri)
                .map_err(|e| Error::Unavailable(format!("{url}: jwks_uri: {e}")))?;
            // No downgrade: an https issuer's keys come over https (http only in tests).
            if jwks.scheme() != "https" && jwks.scheme() != issuer_url.scheme() {
                return Err(Error::Unavailable(format!("{url}: jwks_uri must be https")));
            }
            // Its host is checked when fetched, by the guard every fetch goes through.
            Ok(doc.jwks_uri)
        })
        .await
    }

    /// The key `kid` from the JWKS at `uri`, refetching once (within the interval) when the
    /// cached set lacks it, as after a key rotation at the issuer.
    async fn key(&self, uri: &str, kid: &str, now: OffsetDateTime) -> Result<Jwk, Error> {
        let slot = self.jwks.slot(uri);
        let mut slot = slot.lock().await;
        let fetch = || async {
            let raw: RawJwkSet = self.fetch_json(uri).await?;
            // One key this crate cannot parse (an exotic curve, an encryption key with odd
            // fields) must not take the issuer's other keys down with it.
            let keys = raw
                .keys
                .into_iter()
                .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
                .collect();
            Ok(JwkSet { keys })
        };
        let keys = slot.get(now, false, fetch).await?;
        if let Some(jwk) = keys.find(kid) {
            return Ok(jwk.clone());
        }
        let keys = slot.get(now, true, fetch).await?;
        keys.find(kid).cloned().ok_or(Error::Unauthenticated)
    }

    async fn fetch_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, Error> {
        let unavailable = |what: String| Error::Unavailable(format!("{url}: {what}"));
        let parsed = Url::parse(url).map_err(|e| unavailable(e.to_string()))?;
        egress::check_literal(&parsed, &self.allowed).map_err(unavailable)?;
        let mut response = self
            .http
            .get(parsed)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unavailable(egress::describe(&e)))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(unavailable(format!("body over {MAX_BODY} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unavailable(egress::describe(&e)))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(unavailable(format!("body over {MAX_BODY} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("not the JSON expected: {e}")))
    }
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<Value>,
}

/// The one algorithm a key verifies, from the key itself: its `kty` and curve, and its
/// `alg` when it names one. None for anything but RSA (RS256) and P-256 (ES256) signing keys.
fn jwk_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Some(Algorithm::RS256),
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Some(Algorithm::ES256)
        }
        _ => None,
    }
}

/// A JWT NumericDate (seconds, possibly fractional) as whole seconds.
fn numeric_date(v: &Value) -> Option<i64> {
    match v.as_i64() {
        Some(n) => Some(n),
        // `as` saturates, and a far-future exp is refused by nothing else anyway.
        None => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64),
    }
}

/// A cached fetch result with its fetch bookkeeping.
struct Slot<T> {
    value: Option<(Arc<T>, OffsetDateTime)>,
    last_attempt: Option<OffsetDateTime>,
    last_error: String,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            value: None,
            last_attempt: None,
            last_error: String::new(),
        }
    }
}

impl<T> Slot<T> {
    /// The cached value if fresh (and `refresh` not asked), else a new fetch when the
    /// refetch interval allows, else whatever is cached. A failed fetch falls back to a
    /// value not older than `STALE_MAX`.
    async fn get<F, Fut>(
        &mut self,
        now: OffsetDateTime,
        refresh: bool,
        fetch: F,
    ) -> Result<Arc<T>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        // A negative age (the clock stepped back) counts as stale, never as fresh forever.
        let within = |at: OffsetDateTime, limit: time::Duration| {
            let age = now - at;
            !age.is_negative() && age < limit
        };
        if let Some((value, at)) = &self.value
            && !refresh
            && within(*at, CACHE_TTL)
        {
            return Ok(Arc::clone(value));
        }
        if self
            .last_attempt
            .is_some_and(|t| within(t, REFETCH_INTERVAL))
        {
            return match &self.value {
                Some((value, at)) if within(*at, STALE_MAX) => Ok(Arc::clone(value)),
                _ => Err(Error::Unavailable(self.last_error.clone())),
            };
        }
        self.last_attempt = Some(now);
        // Stays the reason if the fetch is cut short by the caller's deadline.
        self.last_error = "the last fetch of the issuer's keys did not finish".to_owned();
        match fetch().await {
            Ok(value) => {
                let value = Arc::new(value);
                self.value = Some((Arc::clone(&value), now));
                Ok(value)
            }
            Err(e) => {
                self.last_error = e.to_string();
                match &self.value {
                    Some((value, at)) if within(*at, STALE_MAX) => {
                        tracing::warn!(error = %e, "refresh failed; using the keys cached earlier");
                        Ok(Arc::clone(value))
                    }
                    _ => Err(e),
                }
            }
        }
    }
}

/// One slot per URI, each behind its own async lock: concurrent requests for one URI wait
/// for a single fetch, and a slow issuer holds up only its own tokens.
struct Slots<T> {
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot<T>>>>>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Slots<T> {
    fn slot(&self, key: &str) -> Arc<tokio::sync::Mutex<Slot<T>>> {
        // A poisoned map only means another thread panicked mid-insert; the map is intact.
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if !slots.contains_key(key) && slots.len() >= MAX_CACHED_URIS {
            slots.clear();
        }
        Arc::clone(slots.entry(key.to_owned()).or_default())
    }
}

/// When a verified token's claims say it expires.
pub fn expiry(claims: &Map<String, Value>) -> Option<OffsetDateTime> {
    let exp = claims.get("exp").and_then(numeric_date)?;
    OffsetDateTime::from_unix_timestamp(exp).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use axum::Router;
    use axum::extract::State;
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;
    use aws_lc_rs::signature::{KeyPair as _, RsaPublicKeyComponents};

    use crate::services::access::oidc_testing::{Signer, b64, jwt};

    const AUDIENCE: &str = "trove:acme";

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("valid time")
    }

    fn secs(n: i64) -> time::Duration {
        time::Duration::seconds(n)
    }

    fn claims(issuer: &str) -> Value {
        let t = now().unix_timestamp();
        json!({
            "iss": issuer, "aud": AUDIENCE, "sub": "repo:acme/widgets:ref:refs/heads/main",
            "repository": "acme/widgets", "ref": "refs/heads/main", "run_id": 42,
            "iat": t, "nbf": t, "exp": t + 300,
        })
    }

    fn rule(claims: &[(&str, &str)], principal: &str) -> ClaimRule {
        ClaimRule {
            claims: claims
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            principal: principal.to_owned(),
        }
    }

    fn config(issuer: &str, jwks_uri: Option<String>) -> OidcProviderConfig {
        OidcProviderConfig {
            issuer: issuer.to_owned(),
            audience: AUDIENCE.to_owned(),
            jwks_uri,
            rules: vec![rule(&[("repository", "acme/widgets")], "ci-publisher")],
        }
    }

    #[derive(Clone)]
    struct IssuerState {
        url: String,
        jwks: Arc<Mutex<Value>>,
        jwks_hits: Arc<AtomicUsize>,
        discovery_hits: Arc<AtomicUsize>,
        failing: Arc<AtomicBool>,
    }

    /// A tiny OIDC issuer on 127.0.0.1: discovery, JWKS, and a few misbehaving endpoints.
    struct TestIssuer {
        state: IssuerState,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for TestIssuer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl TestIssuer {
        async fn start(keys: Vec<Value>) -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("address");
            let state = IssuerState {
                url: format!("http://{addr}"),
                jwks: Arc::new(Mutex::new(json!({"keys": keys}))),
                jwks_hits: Arc::default(),
                discovery_hits: Arc::default(),
                failing: Arc::default(),
            };
            let app = Router::new()
                .route("/.well-known/openid-configuration", get(discovery))
                .route("/jwks", get(jwks))
                .route("/moved", get(moved))
                .route("/huge", get(huge))
                .route("/slow/.well-known/openid-configuration", get(slow))
                .route("/slow/jwks", get(slow))
                .with_state(state.clone());
            let task = tokio::spawn(async move {
                axum::serve(listener, app)
                    .await
                    .expect("test issuer serves");
            });
            Self { state, task }
        }

        fn url(&self) -> &str {
            &self.state.url
        }

        fn path(&self, path: &str) -> Option<String> {
            Some(format!("{}{path}", self.state.url))
        }

        fn set_keys(&self, keys: Vec<Value>) {
            *self.state.jwks.lock().expect("jwks") = json!({"keys": keys});
        }

        fn jwks_hits(&self) -> usize {
            self.state.jwks_hits.load(Ordering::SeqCst)
        }
    }

    async fn discovery(State(s): State<IssuerState>) -> Response {
        s.discovery_hits.fetch_add(1, Ordering::SeqCst);
        axum::Json(json!({"issuer": s.url, "jwks_uri": format!("{}/jwks", s.url)})).into_response()
    }

    async fn jwks(State(s): State<IssuerState>) -> Response {
        s.jwks_hits.fetch_add(1, Ordering::SeqCst);
        if s.failing.load(Ordering::SeqCst) {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        let body = s.jwks.lock().expect("jwks").clone();
        axum::Json(body).into_response()
    }

    async fn moved(State(s): State<IssuerState>) -> Response {
        (
            StatusCode::FOUND,
            [(header::LOCATION, format!("{}/jwks", s.url))],
        )
            .into_response()
    }

    /// Answers each request just before a 2 s request timeout would cut it off.
    async fn slow(State(s): State<IssuerState>) -> Response {
        tokio::time::sleep(REQUEST_TIMEOUT - Duration::from_millis(200)).await;
        axum::Json(json!({"issuer": format!("{}/slow", s.url), "jwks_uri": format!("{}/slow/jwks", s.url), "keys": []}))
            .into_response()
    }

    async fn huge() -> Response {
        let filler = "x".repeat(MAX_BODY + 1);
        axum::Json(json!({"keys": [], "filler": filler})).into_response()
    }

    /// The test issuer listens on loopback: allowed by name, as a deployment allows a host.
    fn local_cache() -> JwksCache {
        JwksCache::new(AllowedHosts::new(&["127.0.0.1".into(), "localhost".into()]))
    }

    async fn assert_refused(
        cache: &JwksCache,
        config: &OidcProviderConfig,
        token: &str,
        at: OffsetDateTime,
    ) {
        match cache.verify(config, token, at).await {
            Err(Error::Unauthenticated) => {}
            other => panic!("expected Unauthenticated, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn rs256_via_discovery_verifies_and_caches_the_keys() {
        let rsa = Signer::rsa();
        let issuer = TestIssuer::start(vec![rsa.jwk("rsa-1")]).await;
        let config = config(issuer.url(), None);
        let cache = local_cache();
        // Valid for an hour, to outlive the key cache.
        let mut c = claims(issuer.url());
        c["exp"] = json!(now().unix_timestamp() + 3600);
        let token = jwt("RS256", "rsa-1", &c, &rsa);

        let got = cache
            .verify(&config, &token, now())
            .await
            .expect("verifies");
        assert_eq!(got.get("repository"), Some(&json!("acme/widgets")));
        assert_eq!(
            map_principal(&config, &got).as_deref(),
            Some("ci-publisher")
        );

        cache
            .verify(&config, &token, now() + secs(60))
            .await
            .expect("again");
        assert_eq!(issuer.state.discovery_hits.load(Ordering::SeqCst), 1);
        assert_eq!(issuer.jwks_hits(), 1, "keys come from the cache");

        // Past the cache lifetime both are fetched again.
        cache
            .verify(&config, &token, now() + secs(601))
            .await
            .expect("after expiry");
        assert_eq!(issuer.state.discovery_hits.load(Ordering::SeqCst), 2);
        assert_eq!(issuer.jwks_hits(), 2);
    }

    #[tokio::test]
    async fn es256_verifies_with_the_algorithm_taken_from_the_key() {
        let ec = Signer::ec();
        let rsa = Signer::rsa();
        let issuer = TestIssuer::start(vec![ec.jwk("ec-1"), rsa.jwk("rsa-1")]).await;
        let config = config(issuer.url(), issuer.path("/jwks"));
        let cache = local_cache();
        let mut c = claims(issuer.url());
        c["aud"] = json!(["other", AUDIENCE]);
        let token = jwt("ES256", "ec-1", &c, &ec);
        cache
            .verify(&config, &token, now())
            .await
            .expect("verifies");
        assert_eq!(
            issuer.state.discovery_hits.load(Ordering::SeqCst),
            0,
            "jwks_uri given"
        );

        // Header and key disagree on the algorithm: refused even though the signature is good.
        let rs_on_ec = jwt("RS256", "ec-1", &c, &rsa);
        assert_refused(&cache, &config, &rs_on_ec, now()).await;
        let es_on_rsa = jwt("ES256", "rsa-1", &c, &ec);
        assert_refused(&cache, &config, &es_on_rsa, now()).await;
    }

    #[tokio::test]
    async fn claims_are_checked() {
        let rsa = Signer::rsa();
        let issuer = TestIssuer::start(vec![rsa.jwk("rsa-1")]).await;
        let config = config(issuer.url(), issuer.path("/jwks"));
        let cache = local_cache();
        let good = claims(issuer.url());
        cache
            .verify(&config, &jwt("RS256", "rsa-1", &good, &rsa), now())
            .await
            .expect("control token verifies");

        let mut cases: Vec<(&str, Value)> = Vec::new();
        let mut c = good.clone();
        c["aud"] = json!("trove:other");
        cases.push(("wrong audience", c));
        let mut c = good.clone();
        c["aud"] = json!(["trove:other", "trove:acme2"]);
        cases.push(("audience list without ours", c));
        let mut c = good.clone();
        c.as_object_mut().expect("object").remove("aud");
        cases.push(("no audience", c));
        let mut c = good.clone();
        c["iss"] = json!("https://token.actions.githubusercontent.com");
        cases.push(("wrong issuer", c));
        let mut c = good.clone();
        c["iss"] = json!([issuer.url()]);
        cases.push(("issuer as a list", c));
        let mut c = good.clone();
        c.as_object_mut().expect("object").remove("exp");
        cases.push(("no exp", c));
        let mut c = good.clone();
        c["exp"] = json!("soon");
        cases.push(("exp not a number", c));
        let mut c = good.clone();
        c["nbf"] = json!("later");
        cases.push(("nbf not a number", c));
        for (what, c) in cases {
            let token = jwt("RS256", "rsa-1", &c, &rsa);
            match cache.verify(&config, &token, now()).await {
                Err(Error::Unauthenticated) => {}
                other => panic!("{what}: expected Unauthenticated, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn expiry_and_not_before_are_honoured_with_leeway() {
        let rsa = Signer::rsa();
        let issuer = TestIssuer::start(vec![rsa.jwk("rsa-1")]).await;
        let config = config(issuer.url(), issuer.path("/jwks"));
        let cache = local_cache();
        let token = jwt("RS256", "rsa-1", &claims(issuer.url()), &rsa);
        cache
            .verify(&config, &token, now() + secs(300 + 29))
            .await
            .expect("within leeway");
        assert_refused(&cache, &config, &token, now() + secs(300 + 30)).await;

        let mut c = claims(issuer.url());
        c["nbf"] = json!(now().unix_timestamp() + 120);
        let early = jwt("RS256", "rsa-1", &c, &rsa);
        assert_refused(&cache, &config, &early, now()).await;
        cache
            .verify(&config, &early, now() + secs(90))
            .await
            .expect("within leeway");
    }

    #[tokio::test]
    async fn tampered_and_unsigned_tokens_are_refused() {
        let rsa = Signer::rsa();
        let issuer = TestIssuer::start(vec![rsa.jwk("rsa-1")]).await;
        let config = config(issuer.url(), issuer.path("/jwks"));
        let cache = local_cache();
        let token = jwt("RS256", "rsa-1", &claims(issuer.url()), &rsa);
        let parts: Vec<&str> = token.split('.').collect();

        let mut c = claims(issuer.url());
        c["repository"] = json!("mallory/widgets");
        assert_refused(
            &cache,
            &config,
            &format!("{}.{}.{}", parts[0], b64(&c), parts[2]),
            now(),
        )
        .await;

        let mut sig: Vec<char> = parts[2].chars().collect();
        sig[0] = if sig[0] == 'A' { 'B' } else { 'A' };
        let sig: String = sig.into_iter().collect();
        assert_refused(
            &cache,
            &config,
            &format!("{}.{}.{sig}", parts[0], parts[1]),
            now(),
        )
        .await;

        for alg in ["none", "None", "NONE"] {
            let unsigned = jwt(alg, "rsa-1", &claims(issuer.url()), &Signer::Unsigned);
            assert_refused(&cache, &config, &unsigned, now()).await;
        }
        for garbage in ["", "a.b.c", "not a jwt", &"x".repeat(MAX_TOKEN_LEN + 1)] {
            assert_refused(&cache, &config, garbage, now()).await;
        }
        // No kid: refused without asking the issuer.
        let header = json!({"alg": "RS256", "typ": "JWT"});
        let message = format!("{}.{}", b64(&header), b64(&claims(issuer.url())));
        let no_kid = format!(
            "{message}.{}",
            URL_SAFE_NO_PAD.encode(rsa.sign(message.as_bytes()))
        );
        assert_refused(&cache, &config, &no_kid, now()).await;
    }

    #[tokio::test]
    async fn symmetric_algorithms_are_refused_whatever_the_key() {
        let rsa = Signer::rsa();
        let sym = Signer::Hmac(b"a shared secret published by mistake".to_vec());
        let issuer = TestIssuer::start(vec![rsa.jwk("rsa-1"), sym.jwk("sym")]).await;
        let config = config(issuer.url(), issuer.path("/jwks"));
        let cache = local_cache();
        let c = claims(issuer.url());

        // The classic confusion: HS256 keyed with the RSA public key's bytes.
        let Signer::Rsa(pair) = &rsa else {
            unreachable!()
        };
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        for secret in [public.n.clone(), pair.public_key().as_ref().to_vec()] {
            let token = jwt("HS256", "rsa-1", &c, &Signer::Hmac(secret));
            assert_refused(&cache, &config, &token, now()).await;
        }
        // An `oct` key in the JWKS is no signing key of an OIDC issuer either.
        assert_refused(&cache, &config, &jwt("HS256", "sym", &c, &sym), now()).await;
        assert_refused(&cache, &config, &jwt("RS256", "sym", &c, &rsa), now()).await;
        assert_eq!(
            issuer.jwks_hits(),
            1,
            "only the RS256-shaped token needed the keys"
        );
    }

    #[tokio::test]
    async fn an_unknown_kid_refetches_at_most_every_thirty_seconds() {
        let old = Signer::rsa();
        let new = Signer::ec();
        let issuer = TestIssuer::start(vec![old.jwk("k1")]).await;
        let config = config(issuer.url(), issuer.path("/jwks"));
        let cache = local_cache();
        let c = claims(issuer.url());
        cache
            .verify(&config, &jwt("RS256", "k1", &c, &old), now())
            .await
            .expect("old key");
        assert_eq!(issuer.jwks_hits(), 1);

        // The issuer rotates; its new tokens name a kid we have not seen.
        issuer.set_keys(vec![new.jwk("k2")]);
        let rotated = jwt("ES256", "k2", &c, &new);
        assert_refused(&cache, &config, &rotated, now() + secs(5)).await;
        assert_eq!(issuer.jwks_hits(), 1, "too soon after the last fetch");
        cache
            .verify(&config, &rotated, now() + secs(31))
            .await
            .expect("picked up after one refetch");
        assert_eq!(issuer.jwks_hits(), 2);

        // Junk kids within the interval cost the issuer nothing.
        for i in 0..5 {
            let junk = jwt("ES256", &format!("junk-{i}"), &c, &new);
            assert_refused(&cache, &config, &junk, now() + secs(40)).await;
        }
        assert_eq!(issuer.jwks_hits(), 2);
        let junk = jwt("ES256", "junk-late", &c, &new);
        assert_refused(&cache, &config, &junk, now() + secs(62)).await;
        assert_eq!(issuer.jwks_hits(), 3, "one refetch per interval");
        // The old key is gone from the issuer, so from us too.
        assert_refused(
            &cache,
            &config,
            &jwt("RS256", "k1", &c, &old),
            now() + secs(65),
        )
        .await;
    }

    /// Discovery and then the JWKS, each just within its own request timeout, must not add up
    /// past the authorizer's deadline: the verification as a whole gives up in time.
    #[tokio::test]
    async fn a_slow_issuer_costs_a_verification_at_most_the_fetch_budget() {
        let rsa = Signer::rsa();
        let issuer = TestIssuer::start(vec![rsa.jwk("rsa-1")]).await;
        let slow_issuer = format!("{}/slow", issuer.url());
        let config = config(&slow_issuer, None);
        let cache = local_cache();
        let token = jwt("RS256", "rsa-1", &claims(&slow_issuer), &rsa);
        let started = std::time::Instant::now();
        let r = cache.verify(&config, &token, now()).await;
        let took = started.elapsed();
        match r {
            Err(Error::Unavailable(m)) => assert!(m.contains("within 3 s"), "{m}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        // Each answer comes within its own request timeout, but the two take ~3.6 s together,
        // past the budget. The bound is generous on purpose (a busy machine).
        assert!(took < Duration::from_secs(8), "{took:?}");
        assert!(FETCH_BUDGET < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn an_unreachable_issuer_is_unavailable_and_stale_keys_bridge_a_short_outage() {
        let rsa = Signer::rsa();
        let issuer = TestIssuer::start(vec![rsa.jwk("rsa-1")]).await;
        let config_ok = config(issuer.url(), issuer.path("/jwks"));
        let cache = local_cache();
        let c = claims(issuer.url());
        let mut long = c.clone();
        long["exp"] = json!(now().unix_timestamp() + 4 * 3600);
        let token = jwt("RS256", "rsa-1", &long, &rsa);
        cache
            .verify(&config_ok, &token, now())
            .await
            .expect("fresh keys");

        issuer.state.failing.store(true, Ordering::SeqCst);
        cache
            .verify(&config_ok, &token, now() + secs(11 * 60))
            .await
            .expect("stale keys during a short outage");
        assert_eq!(issuer.jwks_hits(), 2, "the refresh was tried");
        let r = cache
            .verify(&config_ok, &token, now() + secs(2 * 3600))
            .await;
        assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");

        // Nothing listens on a port just released.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("address").port()
        };
        let nowhere = config(
            issuer.url(),
            Some(format!("http://127.0.0.1:{closed}/jwks")),
        );
        let r = cache
            .verify(&nowhere, &jwt("RS256", "rsa-1", &c, &rsa), now())
            .await;
        assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
        let r = cache
            .verify(&nowhere, &jwt("RS256", "rsa-1", &c, &rsa), now() + secs(1))
            .await;
        assert!(
            matches!(r, Err(Error::Unavailable(_))),
            "still unavailable: {r:?}"
        );
    }

    #[tokio::test]
    async fn redirects_oversized_bodies_and_foreign_discovery_documents_are_refused() {
        let rsa = Signer::rsa();
        let issuer = TestIssuer::start(vec![rsa.jwk("rsa-1")]).await;
        let cache = local_cache();
        let token = jwt("RS256", "rsa-1", &claims(issuer.url()), &rsa);
        for path in ["/moved", "/huge", "/missing"] {
            let config = config(issuer.url(), issuer.path(path));
            let r = cache.verify(&config, &token, now()).await;
            assert!(matches!(r, Err(Error::Unavailable(_))), "{path}: {r:?}");
        }
        assert_eq!(issuer.jwks_hits(), 0, "the redirect was not followed");

        // The discovery document names the issuer without the trailing slash.
        let slash = format!("{}/", issuer.url());
        let mut c = claims(&slash);
        c["iss"] = json!(slash);
        let r = cache
            .verify(
                &config(&slash, None),
                &jwt("RS256", "rsa-1", &c, &rsa),
                now(),
            )
            .await;
        assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    }

    /// The fetches go through the egress guard: an issuer on an internal address is refused
    /// when connecting, whether its URL holds the address or a name resolving to it.
    #[tokio::test]
    async fn internal_issuers_are_refused_when_fetched_unless_allowed() {
        let rsa = Signer::rsa();
        let issuer = TestIssuer::start(vec![rsa.jwk("rsa-1")]).await;
        let port = issuer.url().rsplit(':').next().expect("port").to_owned();
        let by_name = format!("http://localhost:{port}");
        let token = jwt("RS256", "rsa-1", &claims(&by_name), &rsa);
        let strict = JwksCache::default();
        for jwks_uri in [issuer.path("/jwks"), Some(format!("{by_name}/jwks"))] {
            let config = config(&by_name, jwks_uri.clone());
            match strict.verify(&config, &token, now()).await {
                Err(Error::Unavailable(m)) => assert!(m.contains(egress::REFUSED), "{m}"),
                other => panic!("{jwks_uri:?}: expected a refusal, got {other:?}"),
            }
        }
        // Discovery is guarded too.
        match strict.verify(&config(&by_name, None), &token, now()).await {
            Err(Error::Unavailable(m)) => assert!(m.contains(egress::REFUSED), "{m}"),
            other => panic!("discovery: expected a refusal, got {other:?}"),
        }
        assert_eq!(issuer.jwks_hits(), 0, "nothing reached the issuer");
        assert_eq!(issuer.state.discovery_hits.load(Ordering::SeqCst), 0);

        let config = config(&by_name, Some(format!("{by_name}/jwks")));
        local_cache()
            .verify(&config, &token, now())
            .await
            .expect("an allowed host is reached");
        let mut settings = Settings::for_testing();
        settings.allow_http_jwks = true;
        JwksCache::for_settings(&settings)
            .verify(&config, &token, now())
            .await
            .expect("TROVE_ALLOW_HTTP_JWKS reaches local issuers");
        assert_eq!(issuer.jwks_hits(), 2);
    }

    #[test]
    fn the_first_matching_rule_decides_the_principal() {
        let mut config = config("https://token.actions.githubusercontent.com", None);
        config.rules = vec![
            rule(&[], "never"),
            rule(
                &[("repository", "acme/widgets"), ("ref", "refs/heads/main")],
                "release",
            ),
            rule(&[("repository", "acme/widgets")], "branch-builds"),
            rule(&[("repository_owner", "acme")], "any-acme"),
        ];
        let claims = |v: Value| v.as_object().expect("object").clone();
        let main = claims(
            json!({"repository": "acme/widgets", "ref": "refs/heads/main", "repository_owner": "acme"}),
        );
        assert_eq!(map_principal(&config, &main).as_deref(), Some("release"));
        let branch = claims(json!({"repository": "acme/widgets", "ref": "refs/heads/dev"}));
        assert_eq!(
            map_principal(&config, &branch).as_deref(),
            Some("branch-builds")
        );
        let other = claims(json!({"repository": "acme/gadgets", "repository_owner": "acme"}));
        assert_eq!(map_principal(&config, &other).as_deref(), Some("any-acme"));
        for no_match in [
            json!({}),
            json!({"repository": "mallory/widgets", "repository_owner": "mallory"}),
            json!({"repository": "ACME/widgets"}),
            json!({"repository": ["acme/widgets"]}),
            json!({"repository_owner": {"name": "acme"}}),
        ] {
            assert_eq!(
                map_principal(&config, &claims(no_match.clone())),
                None,
                "{no_match}"
            );
        }
        // A value compares as the exact string: a number never equals its spelling.
        config.rules = vec![rule(&[("run_id", "42")], "run")];
        assert_eq!(map_principal(&config, &claims(json!({"run_id": 42}))), None);
        assert_eq!(
            map_principal(&config, &claims(json!({"run_id": "42"}))).as_deref(),
            Some("run")
        );
    }

    #[test]
    fn validate_refuses_bad_configs_with_a_message() {
        let good = config("https://token.actions.githubusercontent.com", None);
        good.validate(false).expect("valid");
        let mut with_jwks = good.clone();
        with_jwks.jwks_uri =
            Some("https://token.actions.githubusercontent.com/.well-known/jwks".into());
        with_jwks.validate(false).expect("valid");

        let local = config(
            "http://127.0.0.1:8080",
            Some("http://localhost:8080/jwks".into()),
        );
        local.validate(true).expect("http allowed for tests");

        type Change = Box<dyn Fn(&mut OidcProviderConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "http issuer",
                Box::new(|c| c.issuer = "http://token.actions.githubusercontent.com".into()),
            ),
            (
                "http jwks_uri",
                Box::new(|c| c.jwks_uri = Some("http://idp.example.com/jwks".into())),
            ),
            (
                "not a URL",
                Box::new(|c| c.issuer = "token.actions.githubusercontent.com".into()),
            ),
            (
                "other scheme",
                Box::new(|c| c.issuer = "ftp://idp.example.com".into()),
            ),
            (
                "query",
                Box::new(|c| c.issuer = "https://idp.example.com/?tenant=a".into()),
            ),
            (
                "credentials",
                Box::new(|c| c.issuer = "https://user:pw@idp.example.com".into()),
            ),
            (
                "loopback",
                Box::new(|c| c.issuer = "https://127.0.0.1".into()),
            ),
            (
                "metadata",
                Box::new(|c| c.jwks_uri = Some("https://169.254.169.254/latest".into())),
            ),
            (
                "private",
                Box::new(|c| c.jwks_uri = Some("https://10.0.0.8/jwks".into())),
            ),
            (
                "v6 loopback",
                Box::new(|c| c.issuer = "https://[::1]".into()),
            ),
            (
                "localhost",
                Box::new(|c| c.issuer = "https://localhost".into()),
            ),
            ("empty audience", Box::new(|c| c.audience = String::new())),
            ("long audience", Box::new(|c| c.audience = "a".repeat(257))),
            ("no rules", Box::new(|c| c.rules.clear())),
            (
                "too many rules",
                Box::new(|c| c.rules = vec![rule(&[("a", "b")], "p"); 51]),
            ),
            (
                "rule without claims",
                Box::new(|c| c.rules.push(rule(&[], "p"))),
            ),
            (
                "empty principal",
                Box::new(|c| c.rules[0].principal.clear()),
            ),
            (
                "empty claim name",
                Box::new(|c| c.rules[0].claims = [(String::new(), "x".to_owned())].into()),
            ),
            (
                "too many claims",
                Box::new(|c| {
                    c.rules[0].claims =
                        (0..21).map(|i| (format!("c{i}"), "v".to_owned())).collect();
                }),
            ),
        ];
        for (what, change) in cases {
            let mut c = good.clone();
            change(&mut c);
            match c.validate(false) {
                Err(Error::Invalid(m)) => assert!(!m.is_empty(), "{what}"),
                other => panic!("{what}: expected Invalid, got {other:?}"),
            }
        }
        let mut edge = good.clone();
        edge.audience = "é".repeat(256);
        edge.rules = vec![rule(&[("a", "b")], "p"); 50];
        edge.rules[0].claims = (0..20).map(|i| (format!("c{i}"), "v".to_owned())).collect();
        edge.validate(false).expect("limits are inclusive");
    }

    #[test]
    fn config_json_refuses_unknown_fields() {
        let ok = json!({"issuer": "https://idp.example.com", "audience": "trove:acme",
                        "rules": [{"claims": {"sub": "x"}, "principal": "p"}]});
        let parsed: OidcProviderConfig = serde_json::from_value(ok.clone()).expect("parses");
        assert_eq!(serde_json::to_value(&parsed).expect("serialises"), ok);
        let mut extra = ok.clone();
        extra["jwks_url"] = json!("https://idp.example.com/jwks");
        let err = serde_json::from_value::<OidcProviderConfig>(extra).expect_err("jwks_url");
        assert!(
            err.to_string().contains("unknown field `jwks_url`"),
            "{err}"
        );
        let mut extra_rule = ok;
        extra_rule["rules"][0]["role"] = json!("admin");
        let err = serde_json::from_value::<OidcProviderConfig>(extra_rule).expect_err("role");
        assert!(err.to_string().contains("unknown field `role`"), "{err}");
    }
}
