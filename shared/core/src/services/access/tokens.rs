//! Trove's own access tokens: short-lived HS256 JWTs a client obtains with an API key and
//! presents instead of it.
//!
//! Signing keys rotate without any write: each is derived from one root secret and the
//! rotation epoch, `key(e) = HMAC-SHA256(root, "trove-token-key/{e}")` with
//! `e = floor(unix_now / ROTATION_SECS)`, and the JWT header's `kid` names `e`. Verification
//! accepts the current and the previous epoch only; since no token lives longer than one
//! rotation period, every unexpired token is signed by one of those two keys.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::services::access::caller::Credential;
use crate::services::{Context, Error};

pub const TOKEN_ISSUER: &str = "trove";
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// How long a token made now with a key that stops working at `key_expires` may live: up
/// to `wanted`, never past the key (zero: the key is spent).
fn ttl_within(
    wanted: Duration,
    key_expires: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Duration {
    match key_expires {
        Some(at) => {
            let left = u64::try_from((at - now).whole_seconds()).unwrap_or(0);
            wanted.min(Duration::from_secs(left))
        }
        None => wanted,
    }
}

/// A token for the caller who proved itself with `credential`, which must be an API key: up
/// to `wanted`, and never past the key (`key_expires`). `Invalid` for any other credential
/// (a token is not made with a token), `Unauthenticated` when the key is spent.
pub async fn issue_with_key(
    ctx: &Context,
    tenant: &str,
    principal: &str,
    credential: &Credential,
    key_expires: Option<OffsetDateTime>,
    wanted: Duration,
) -> Result<IssuedToken, Error> {
    let Credential::ApiKey { id } = credential else {
        return Err(Error::Invalid(
            "exchange an API key for a token, not a token".into(),
        ));
    };
    let ttl = ttl_within(wanted, key_expires, ctx.clock.now());
    if ttl.is_zero() {
        return Err(Error::Unauthenticated);
    }
    issue(ctx, tenant, principal, id, ttl).await
}

/// Name of the root secret in the `Secrets` port.
const SIGNING_SECRET: &str = "token-signing";
pub const ROTATION_SECS: i64 = 24 * 60 * 60;
/// Clock skew tolerated on `exp` and `nbf`, between our own hosts.
const LEEWAY_SECS: i64 = 30;
/// Our tokens are a few hundred bytes; anything far larger is not one of them, and is
/// refused before any base64 or JSON work is spent on it.
const MAX_TOKEN_LEN: usize = 4 * 1024;
/// Tokens longer than this are routed nowhere (as `oidc` refuses them anyway).
pub const MAX_PEEK_LEN: usize = 16 * 1024;
/// A shorter root secret means a misprovisioned deployment, not a weaker key to accept.
const MIN_ROOT_SECRET_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The principal id.
    pub sub: String,
    pub tenant: String,
    /// Id of the API key that obtained the token.
    pub key: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// A ULID, unique per token.
    pub jti: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Issues a token for `principal` of `tenant`, valid for `ttl` (1 s up to one rotation
/// period, 24 h) from the context clock's now.
pub async fn issue(
    ctx: &Context,
    tenant: &str,
    principal: &str,
    api_key_id: &str,
    ttl: Duration,
) -> Result<IssuedToken, Error> {
    let root = root_secret(ctx).await?;
    issue_at(&root, ctx.clock.now(), tenant, principal, api_key_id, ttl)
}

/// The claims of a token Trove issued, if it is genuine and currently valid. Any failure of
/// the token itself is `Unauthenticated`; only a failure to read the signing secret is not.
pub async fn verify(ctx: &Context, token: &str) -> Result<AccessClaims, Error> {
    // Checked before the secret is read, so junk costs no round trip to the secret store.
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::Unauthenticated);
    }
    let root = root_secret(ctx).await?;
    verify_at(&root, token, ctx.clock.now())
}

/// Cheap, unverified peek at the `iss` (and `aud`, empty when absent) claims, to route a
/// bearer token to Trove's verifier or an OIDC provider. None if not a JWT.
pub fn peek_issuer_and_audience(token: &str) -> Option<(String, Vec<String>)> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Audience {
        One(String),
        Many(Vec<String>),
    }
    #[derive(Deserialize)]
    struct Peek {
        iss: String,
        aud: Option<Audience>,
    }

    // OIDC tokens can be far larger than ours; the bound is the OIDC verifier's.
    if token.len() > MAX_PEEK_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if header.is_empty() {
        return None;
    }
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let peek: Peek = serde_json::from_slice(&payload).ok()?;
    let audience = match peek.aud {
        None => Vec::new(),
        Some(Audience::One(a)) => vec![a],
        Some(Audience::Many(a)) => a,
    };
    Some((peek.iss, audience))
}

pub async fn root_secret(ctx: &Context) -> Result<Vec<u8>, Error> {
    let root = ctx.secrets.get(SIGNING_SECRET).await?;
    if root.len() < MIN_ROOT_SECRET_LEN {
        return Err(Error::Internal(format!(
            "secret {SIGNING_SECRET} is {} bytes, at least {MIN_ROOT_SECRET_LEN} required",
            root.len()
        )));
    }
    Ok(root)
}

pub fn epoch_of(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(ROTATION_SECS)
}

pub fn epoch_key(root: &[u8], epoch: i64) -> Result<[u8; 32], Error> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(root)
        .map_err(|e| Error::Internal(format!("token key derivation: {e}")))?;
    mac.update(format!("trove-token-key/{epoch}").as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

pub fn issue_at(
    root: &[u8],
    now: OffsetDateTime,
    tenant: &str,
    principal: &str,
    api_key_id: &str,
    ttl: Duration,
) -> Result<IssuedToken, Error> {
    // A longer TTL could outlive the previous epoch's key and fail verification early.
    let ttl_secs = ttl.as_secs();
    if ttl_secs == 0 || ttl_secs > ROTATION_SECS.unsigned_abs() {
        return Err(Error::Invalid(format!(
            "token lifetime must be between 1 and {ROTATION_SECS} seconds"
        )));
    }
    let iat = now.unix_timestamp();
    let epoch = epoch_of(now);
    let millis = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let claims = AccessClaims {
        iss: TOKEN_ISSUER.to_owned(),
        sub: principal.to_owned(),
        tenant: tenant.to_owned(),
        key: api_key_id.to_owned(),
        iat,
        nbf: iat,
        // ttl_secs <= ROTATION_SECS, so the cast is lossless.
        exp: iat + ttl_secs as i64,
        jti: ulid::Ulid::from_parts(millis, rand::random::<u128>()).to_string(),
    };
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(epoch.to_string());
    let key = EncodingKey::from_secret(&epoch_key(root, epoch)?);
    let access_token = jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| Error::Internal(format!("token signing: {e}")))?;
    Ok(IssuedToken {
        access_token,
        token_type: "Bearer",
        expires_in: ttl_secs,
    })
}

pub fn verify_at(root: &[u8], token: &str, now: OffsetDateTime) -> Result<AccessClaims, Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::Unauthenticated);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| Error::Unauthenticated)?;
    // Only the exact decimal spelling of the two live epochs names a key: "+20000",
    // "020000" and other aliases are refused rather than normalised.
    let current = epoch_of(now);
    let epoch = [current, current - 1]
        .into_iter()
        .find(|e| header.kid.as_deref() == Some(e.to_string().as_str()))
        .ok_or(Error::Unauthenticated)?;

    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "nbf", "iss"]);
    validation.set_issuer(&[TOKEN_ISSUER]);
    // jsonwebtoken reads the system clock; times are checked below against the context's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let key = DecodingKey::from_secret(&epoch_key(root, epoch)?);
    let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
        .map_err(|_| Error::Unauthenticated)?
        .claims;

    let now = now.unix_timestamp();
    if claims.iss != TOKEN_ISSUER
        || now >= claims.exp.saturating_add(LEEWAY_SECS)
        || now.saturating_add(LEEWAY_SECS) < claims.nbf
    {
        return Err(Error::Unauthenticated);
    }
    Ok(claims)
}
