//! The authorizer's one decision: from a request's credential and source address to an
//! identity, or a denial. API Gateway's Lambda authorizer and `trove serve`'s middleware both
//! call `Authorizer::decide`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::domain::names::TenantName;
use crate::services::access::caller::{Credential, Identity, PrincipalKind};
use crate::services::access::grants::{self, UseRecorder};
use crate::services::access::oidc::JwksCache;
use crate::services::access::rate_limit::{Decision as Limit, RateLimiter};
use crate::services::access::{api_keys, oidc_providers, tokens};
use crate::services::tenants::PolicyCache;
use crate::services::{Context, Error};

/// How long a verified credential is trusted without reading the table again. On AWS the
/// gateway caches the authorizer's answer on top of it (`ReauthorizeEvery`), so the two
/// together, not each, make the longest a revoked key or deleted grant keeps working:
/// [`REVOCATION_BOUND`].
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// The longest a revocation takes to reach every request, end to end.
pub const REVOCATION_BOUND: Duration = Duration::from_secs(10);
const CACHE_MAX: usize = 10_000;
/// Longer bearer strings are refused before any parsing.
const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// Why a request is refused before it reaches a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// Missing, malformed, expired, revoked or unknown credentials.
    Unauthenticated,
    /// The tenant's IP lists refuse the source address; the reason is for the client.
    Blocked(String),
    /// Too many failed attempts from this address.
    TooManyFailures { retry_after_secs: u64 },
}

#[derive(Debug, Clone)]
pub enum Decision {
    /// No credential: only public routes will serve it.
    Anonymous,
    Allowed(Arc<Identity>),
    Denied(Denial),
}

/// A verified credential's identity (keyed by the credential's SHA-256) and when it was
/// verified.
type Verified = (Arc<Identity>, Instant);

/// An identity and the grants its rights come from (their use is recorded).
type Proven = (Identity, Vec<grants::Grant>);

/// Everything the decision keeps between requests in one process.
#[derive(Default)]
pub struct Authorizer {
    cache: Mutex<HashMap<[u8; 32], Verified>>,
    jwks: JwksCache,
    grant_use: UseRecorder,
    pub limiter: RateLimiter,
    pub policies: PolicyCache,
}

fn failure_bucket(ip: Option<IpAddr>) -> String {
    match ip {
        Some(ip) => format!("authfail#{ip}"),
        None => "authfail#unknown".to_owned(),
    }
}

impl Authorizer {
    /// The OIDC fetches reach what `settings` allows (`allow_http_jwks`).
    pub fn new(settings: &Settings) -> Self {
        Self {
            cache: Mutex::default(),
            jwks: JwksCache::for_settings(settings),
            grant_use: UseRecorder::default(),
            limiter: RateLimiter::default(),
            policies: PolicyCache::default(),
        }
    }

    /// Identity and denial from the request's parts: `Authorization` (bearer) and the
    /// source address. Failed attempts are limited per source address (a valid credential
    /// is never refused by that limit); the tenant's IP lists are checked as soon as the
    /// credential names the tenant.
    pub async fn decide(
        &self,
        ctx: &Context,
        bearer: Option<&str>,
        source_ip: Option<IpAddr>,
    ) -> Result<Decision, Error> {
        let Some(bearer) = bearer else {
            return Ok(Decision::Anonymous);
        };
        // The limit counts failures and refuses only failures: a valid credential is served
        // whatever others sent from the same address (an office or a CI NAT shares one), so
        // the credential is checked before the address's failure budget.
        let identity = match self.authenticate(ctx, bearer).await {
            Ok(identity) => identity,
            Err(Error::Unauthenticated) => {
                let bucket = failure_bucket(source_ip);
                let now = ctx.clock.now();
                if let Some(retry_after_secs) = self.limiter.known_empty(&bucket, now) {
                    return Ok(Decision::Denied(Denial::TooManyFailures {
                        retry_after_secs,
                    }));
                }
                let limit = self
                    .limiter
                    .take(
                        ctx.table.as_ref(),
                        &bucket,
                        ctx.settings.auth_failure_limit,
                        now,
                    )
                    .await?;
                return Ok(Decision::Denied(match limit {
                    Limit::Allowed => Denial::Unauthenticated,
                    Limit::Limited { retry_after_secs } => {
                        Denial::TooManyFailures { retry_after_secs }
                    }
                }));
            }
            Err(e) => return Err(e),
        };
        let policy = self.policies.get(ctx, &identity.tenant).await?;
        if let Err(reason) = policy.network.check(source_ip) {
            return Ok(Decision::Denied(Denial::Blocked(reason)));
        }
        Ok(Decision::Allowed(identity))
    }

    /// The identity a bearer credential proves: an API key, a Trove access token, or a
    /// token of an OIDC issuer a tenant trusts.
    pub async fn authenticate(&self, ctx: &Context, bearer: &str) -> Result<Arc<Identity>, Error> {
        if bearer.is_empty() || bearer.len() > MAX_CREDENTIAL_LEN {
            return Err(Error::Unauthenticated);
        }
        let digest: [u8; 32] = Sha256::digest(bearer.as_bytes()).into();
        if let Some(identity) = self.cached(&digest) {
            return Ok(identity);
        }
        let (identity, used) = if bearer.starts_with(api_keys::KEY_PREFIX) {
            self.by_api_key(ctx, bearer).await?
        } else {
            self.by_token(ctx, bearer).await?
        };
        self.grant_use.record(ctx, &identity.tenant, &used).await;
        let identity = Arc::new(identity);
        self.remember(digest, identity.clone());
        Ok(identity)
    }

    async fn by_api_key(&self, ctx: &Context, bearer: &str) -> Result<Proven, Error> {
        let key = api_keys::verify(ctx, bearer).await?;
        let resolved = grants::resolve(ctx, &key.tenant, &key.owner)
            .await?
            .ok_or(Error::Unauthenticated)?;
        api_keys::touch(ctx, &key).await;
        let identity = Identity {
            tenant: key.tenant.clone(),
            principal: key.owner.clone(),
            kind: resolved.principal.kind,
            credential: Credential::ApiKey { id: key.id.clone() },
            rights: Arc::new(resolved.rights(key.scopes.clone())),
            expires_at: key.expires_at,
        };
        Ok((identity, resolved.grants))
    }

    async fn by_token(&self, ctx: &Context, bearer: &str) -> Result<Proven, Error> {
        let (issuer, audiences) =
            tokens::peek_issuer_and_audience(bearer).ok_or(Error::Unauthenticated)?;
        if issuer == tokens::TOKEN_ISSUER {
            return self.by_access_token(ctx, bearer).await;
        }
        for audience in audiences.iter().take(5) {
            let Some(provider) = oidc_providers::by_audience(ctx, &issuer, audience).await? else {
                continue;
            };
            let claims = self
                .jwks
                .verify(&provider.config, bearer, ctx.clock.now())
                .await?;
            let principal = crate::services::access::oidc::map_principal(&provider.config, &claims)
                .ok_or(Error::Unauthenticated)?;
            let resolved = grants::resolve(ctx, &provider.tenant, &principal)
                .await?
                .ok_or(Error::Unauthenticated)?;
            if resolved.principal.kind == PrincipalKind::Group {
                return Err(Error::Unauthenticated);
            }
            let identity = Identity {
                tenant: provider.tenant.clone(),
                principal,
                kind: resolved.principal.kind,
                credential: Credential::Oidc {
                    provider: provider.id.clone(),
                },
                rights: Arc::new(resolved.rights(None)),
                expires_at: crate::services::access::oidc::expiry(&claims),
            };
            return Ok((identity, resolved.grants));
        }
        Err(Error::Unauthenticated)
    }

    /// A Trove access token acts with the rights of the API key that obtained it, and dies
    /// with that key.
    async fn by_access_token(&self, ctx: &Context, bearer: &str) -> Result<Proven, Error> {
        let claims = tokens::verify(ctx, bearer).await?;
        let key = api_keys::load(ctx, &claims.key)
            .await?
            .ok_or(Error::Unauthenticated)?;
        api_keys::usable(ctx, &key)?;
        let tenant = TenantName::parse(&claims.tenant).map_err(|_| Error::Unauthenticated)?;
        if key.tenant != tenant || key.owner != claims.sub {
            return Err(Error::Unauthenticated);
        }
        let resolved = grants::resolve(ctx, &tenant, &claims.sub)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let identity = Identity {
            tenant,
            principal: claims.sub,
            kind: resolved.principal.kind,
            credential: Credential::AccessToken {
                key: key.id.clone(),
            },
            rights: Arc::new(resolved.rights(key.scopes.clone())),
            expires_at: time::OffsetDateTime::from_unix_timestamp(claims.exp).ok(),
        };
        Ok((identity, resolved.grants))
    }

    /// Forgets every verified credential: after a change to keys, grants or memberships,
    /// this process applies it at once (others within `CACHE_TTL`).
    pub fn forget_verified(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<Arc<Identity>> {
        let cache = self.cache.lock().ok()?;
        let (identity, at) = cache.get(digest)?;
        (at.elapsed() < CACHE_TTL).then(|| identity.clone())
    }

    fn remember(&self, digest: [u8; 32], identity: Arc<Identity>) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(digest, (identity, Instant::now()));
        }
    }
}
