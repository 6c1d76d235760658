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

use crate::services::{Context, Error};

pub const TOKEN_ISSUER: &str = "trove";
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// Name of the root secret in the `Secrets` port.
const SIGNING_SECRET: &str = "token-signing";
const ROTATION_SECS: i64 = 24 * 60 * 60;
/// Clock skew tolerated on `exp` and `nbf`, between our own hosts.
const LEEWAY_SECS: i64 = 30;
/// Our tokens are a few hundred bytes; anything far larger is not one of them, and is
/// refused before any base64 or JSON work is spent on it.
const MAX_TOKEN_LEN: usize = 4 * 1024;
/// Tokens longer than this are routed nowhere (as `oidc` refuses them anyway).
const MAX_PEEK_LEN: usize = 16 * 1024;
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

async fn root_secret(ctx: &Context) -> Result<Vec<u8>, Error> {
    let root = ctx.secrets.get(SIGNING_SECRET).await?;
    if root.len() < MIN_ROOT_SECRET_LEN {
        return Err(Error::Internal(format!(
            "secret {SIGNING_SECRET} is {} bytes, at least {MIN_ROOT_SECRET_LEN} required",
            root.len()
        )));
    }
    Ok(root)
}

fn epoch_of(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(ROTATION_SECS)
}

fn epoch_key(root: &[u8], epoch: i64) -> Result<[u8; 32], Error> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(root)
        .map_err(|e| Error::Internal(format!("token key derivation: {e}")))?;
    mac.update(format!("trove-token-key/{epoch}").as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

fn issue_at(
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

fn verify_at(root: &[u8], token: &str, now: OffsetDateTime) -> Result<AccessClaims, Error> {
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

#[cfg(test)]
mod tests {

    use serde_json::json;

    use super::*;
    use crate::local_host::LocalHost;

    struct Env {
        host: LocalHost,
        _dir: tempfile::TempDir,
    }

    impl Env {
        async fn new() -> Self {
            let (dir, host) = LocalHost::for_tests().await;
            Self { host, _dir: dir }
        }

        async fn root(&self) -> Vec<u8> {
            root_secret(&self.host.ctx).await.expect("root secret")
        }
    }

    /// Noon of some day: an hour either way stays in the same epoch.
    fn midday() -> OffsetDateTime {
        let day = 20_000 * ROTATION_SECS;
        OffsetDateTime::from_unix_timestamp(day + ROTATION_SECS / 2).expect("valid time")
    }

    fn secs(n: i64) -> time::Duration {
        time::Duration::seconds(n)
    }

    fn issue_token(root: &[u8], now: OffsetDateTime) -> String {
        issue_at(root, now, "acme", "alice", "key-1", DEFAULT_TTL)
            .expect("issued")
            .access_token
    }

    fn claims_at(now: OffsetDateTime) -> serde_json::Value {
        let t = now.unix_timestamp();
        json!({
            "iss": TOKEN_ISSUER, "sub": "alice", "tenant": "acme", "key": "key-1",
            "iat": t, "nbf": t, "exp": t + 900, "jti": "01J00000000000000000000000",
        })
    }

    /// Signs `claims` as the issuer would, except for whatever the caller changed.
    fn sign(
        root: &[u8],
        alg: Algorithm,
        kid: Option<String>,
        epoch: i64,
        claims: &serde_json::Value,
    ) -> String {
        let mut header = Header::new(alg);
        header.kid = kid;
        let key = EncodingKey::from_secret(&epoch_key(root, epoch).expect("key"));
        jsonwebtoken::encode(&header, claims, &key).expect("signed")
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn refused(root: &[u8], token: &str, now: OffsetDateTime) {
        match verify_at(root, token, now) {
            Err(Error::Unauthenticated) => {}
            other => panic!("expected Unauthenticated for {token:?}, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn round_trip_through_the_context() {
        let env = Env::new().await;
        let ctx = &env.host.ctx;
        let issued = issue(ctx, "acme", "alice", "key-1", DEFAULT_TTL)
            .await
            .expect("issued");
        assert_eq!(issued.token_type, "Bearer");
        assert_eq!(issued.expires_in, 900);
        let claims = verify(ctx, &issued.access_token).await.expect("verifies");
        assert_eq!(claims.iss, TOKEN_ISSUER);
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.tenant, "acme");
        assert_eq!(claims.key, "key-1");
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(claims.nbf, claims.iat);
        assert!(
            ulid::Ulid::from_string(&claims.jti).is_ok(),
            "{}",
            claims.jti
        );
        let header = jsonwebtoken::decode_header(&issued.access_token).expect("header");
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.kid, Some(epoch_of(ctx.clock.now()).to_string()));
    }

    #[tokio::test]
    async fn each_token_has_its_own_id() {
        let env = Env::new().await;
        let root = env.root().await;
        let a = verify_at(&root, &issue_token(&root, midday()), midday()).expect("a");
        let b = verify_at(&root, &issue_token(&root, midday()), midday()).expect("b");
        assert_ne!(a.jti, b.jti);
    }

    #[tokio::test]
    async fn lifetimes_outside_one_rotation_period_are_refused() {
        let env = Env::new().await;
        let root = env.root().await;
        for ttl in [
            Duration::ZERO,
            Duration::from_millis(999),
            Duration::from_secs(86_401),
        ] {
            let r = issue_at(&root, midday(), "acme", "alice", "key-1", ttl);
            assert!(matches!(r, Err(Error::Invalid(_))), "{ttl:?}: {r:?}");
        }
        issue_at(
            &root,
            midday(),
            "acme",
            "alice",
            "key-1",
            Duration::from_secs(86_400),
        )
        .expect("a full rotation period is allowed");
    }

    #[tokio::test]
    async fn expired_tokens_are_refused_after_the_leeway() {
        let env = Env::new().await;
        let root = env.root().await;
        let token = issue_token(&root, midday());
        verify_at(&root, &token, midday() + secs(900 + 29)).expect("within leeway");
        refused(&root, &token, midday() + secs(900 + 30));
        refused(&root, &token, midday() + secs(3600));
    }

    #[tokio::test]
    async fn tokens_not_yet_valid_are_refused() {
        let env = Env::new().await;
        let root = env.root().await;
        let token = issue_token(&root, midday() + secs(120));
        refused(&root, &token, midday());
        verify_at(&root, &token, midday() + secs(91)).expect("within leeway");
    }

    #[tokio::test]
    async fn a_tampered_payload_is_refused() {
        let env = Env::new().await;
        let root = env.root().await;
        let token = issue_token(&root, midday());
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims = claims_at(midday());
        claims["tenant"] = json!("other");
        let forged = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        refused(&root, &forged, midday());
    }

    #[tokio::test]
    async fn a_tampered_signature_is_refused() {
        let env = Env::new().await;
        let root = env.root().await;
        let token = issue_token(&root, midday());
        let (message, signature) = token.rsplit_once('.').expect("three parts");
        // The first character carries only signature bits (the last one has padding bits).
        let mut sig: Vec<char> = signature.chars().collect();
        sig[0] = if sig[0] == 'A' { 'B' } else { 'A' };
        let forged = format!("{message}.{}", sig.into_iter().collect::<String>());
        refused(&root, &forged, midday());
        refused(&root, &format!("{message}."), midday());
    }

    #[tokio::test]
    async fn unsigned_tokens_are_refused() {
        let env = Env::new().await;
        let root = env.root().await;
        let kid = epoch_of(midday()).to_string();
        for header in [
            json!({"alg": "none", "typ": "JWT"}),
            json!({"alg": "none", "typ": "JWT", "kid": kid}),
            json!({"alg": "None", "typ": "JWT", "kid": kid}),
        ] {
            let token = format!("{}.{}.", b64(&header), b64(&claims_at(midday())));
            refused(&root, &token, midday());
        }
    }

    #[tokio::test]
    async fn other_algorithms_are_refused_even_with_the_right_key() {
        let env = Env::new().await;
        let root = env.root().await;
        let epoch = epoch_of(midday());
        let claims = claims_at(midday());
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = sign(&root, alg, Some(epoch.to_string()), epoch, &claims);
            refused(&root, &token, midday());
        }
        // RS256 header over an HMAC signature: the classic key-confusion shape.
        let hs = sign(
            &root,
            Algorithm::HS256,
            Some(epoch.to_string()),
            epoch,
            &claims,
        );
        let (_, rest) = hs.split_once('.').expect("parts");
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": epoch.to_string()});
        refused(&root, &format!("{}.{rest}", b64(&header)), midday());
        // The control: the same claims, key and kid under HS256 verify.
        verify_at(&root, &hs, midday()).expect("control token verifies");
    }

    #[tokio::test]
    async fn a_wrong_issuer_is_refused_even_with_the_right_key() {
        let env = Env::new().await;
        let root = env.root().await;
        let epoch = epoch_of(midday());
        let mut claims = claims_at(midday());
        claims["iss"] = json!("https://evil.example");
        refused(
            &root,
            &sign(
                &root,
                Algorithm::HS256,
                Some(epoch.to_string()),
                epoch,
                &claims,
            ),
            midday(),
        );
        claims["iss"] = json!([TOKEN_ISSUER]);
        refused(
            &root,
            &sign(
                &root,
                Algorithm::HS256,
                Some(epoch.to_string()),
                epoch,
                &claims,
            ),
            midday(),
        );
    }

    #[tokio::test]
    async fn required_claims_must_be_present() {
        let env = Env::new().await;
        let root = env.root().await;
        let epoch = epoch_of(midday());
        for missing in ["exp", "nbf", "iss", "sub", "tenant"] {
            let mut claims = claims_at(midday());
            claims.as_object_mut().expect("object").remove(missing);
            let token = sign(
                &root,
                Algorithm::HS256,
                Some(epoch.to_string()),
                epoch,
                &claims,
            );
            refused(&root, &token, midday());
        }
    }

    #[tokio::test]
    async fn only_the_current_and_previous_epoch_keys_verify() {
        let env = Env::new().await;
        let root = env.root().await;
        let now = midday();
        let e = epoch_of(now);
        let claims = claims_at(now);
        // kid and key agree, but the epoch is too old or not yet live.
        for epoch in [e - 2, e - 30, e + 1] {
            let token = sign(
                &root,
                Algorithm::HS256,
                Some(epoch.to_string()),
                epoch,
                &claims,
            );
            refused(&root, &token, now);
        }
        // kid names a live epoch but the key is another epoch's.
        let token = sign(&root, Algorithm::HS256, Some(e.to_string()), e - 1, &claims);
        refused(&root, &token, now);
        // No kid, or one that only looks like the epoch.
        for kid in [
            None,
            Some(String::new()),
            Some(format!("0{e}")),
            Some(format!("+{e}")),
            Some("abc".into()),
        ] {
            let token = sign(&root, Algorithm::HS256, kid.clone(), e, &claims);
            refused(&root, &token, now);
        }
        let previous = sign(
            &root,
            Algorithm::HS256,
            Some((e - 1).to_string()),
            e - 1,
            &claims,
        );
        verify_at(&root, &previous, now).expect("previous epoch's key still verifies");
    }

    #[tokio::test]
    async fn a_token_from_before_a_rotation_still_verifies() {
        let env = Env::new().await;
        let root = env.root().await;
        let e = epoch_of(midday());
        let boundary = OffsetDateTime::from_unix_timestamp((e + 1) * ROTATION_SECS).expect("time");
        let issued_at = boundary - secs(60);
        let token = issue_token(&root, issued_at);
        assert_eq!(
            jsonwebtoken::decode_header(&token).expect("header").kid,
            Some(e.to_string())
        );
        let claims =
            verify_at(&root, &token, boundary + secs(60)).expect("verifies after rotation");
        assert_eq!(claims.sub, "alice");
        // A new token after the boundary is signed with the new epoch's key.
        let fresh = issue_token(&root, boundary + secs(60));
        assert_eq!(
            jsonwebtoken::decode_header(&fresh).expect("header").kid,
            Some((e + 1).to_string())
        );
        // Another root secret signs nothing this one verifies.
        refused(&[7u8; 32], &token, issued_at);
    }

    #[tokio::test]
    async fn garbage_is_refused() {
        let env = Env::new().await;
        let root = env.root().await;
        let long = format!(
            "{}.{}.{}",
            "a".repeat(2000),
            "b".repeat(2000),
            "c".repeat(200)
        );
        for token in [
            "",
            ".",
            "..",
            "a.b.c",
            "not a jwt",
            "trove_abcdef",
            "Bearer x.y.z",
            "eyJhbGciOiJIUzI1NiJ9",
            "eyJhbGciOiJIUzI1NiJ9..",
            "é.ü.ß",
            long.as_str(),
        ] {
            refused(&root, token, midday());
        }
        assert!(matches!(
            verify(&env.host.ctx, &long).await,
            Err(Error::Unauthenticated)
        ));
    }

    #[tokio::test]
    async fn peek_reads_issuer_and_audience_without_verifying() {
        let env = Env::new().await;
        let root = env.root().await;
        let token = issue_token(&root, midday());
        assert_eq!(
            peek_issuer_and_audience(&token),
            Some((TOKEN_ISSUER.to_owned(), vec![]))
        );

        let header = b64(&json!({"alg": "RS256", "kid": "k"}));
        let one =
            json!({"iss": "https://token.actions.githubusercontent.com", "aud": "trove:acme"});
        assert_eq!(
            peek_issuer_and_audience(&format!("{header}.{}.sig", b64(&one))),
            Some((
                "https://token.actions.githubusercontent.com".to_owned(),
                vec!["trove:acme".to_owned()]
            ))
        );
        let many = json!({"iss": "https://idp.example", "aud": ["a", "b"]});
        assert_eq!(
            peek_issuer_and_audience(&format!("{header}.{}.sig", b64(&many))),
            Some((
                "https://idp.example".to_owned(),
                vec!["a".to_owned(), "b".to_owned()]
            ))
        );
        let no_iss = json!({"aud": "a"});
        for token in [
            "trove_abcdef".to_owned(),
            "a.b.c".to_owned(),
            format!("{header}.{}.sig", b64(&no_iss)),
            format!("{header}.{}", b64(&one)),
            format!("{header}.{}.sig.extra", b64(&one)),
            format!(".{}.sig", b64(&one)),
            format!("{header}.{}.sig", "x".repeat(MAX_PEEK_LEN)),
        ] {
            assert_eq!(peek_issuer_and_audience(&token), None, "{token:.60}");
        }
    }
}
