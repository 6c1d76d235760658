//! Tests of `services::access::tokens` that need the embedded host.
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;
use trove_core::services::Error;

use trove_core::services::access::tokens::*;
use trove_embedded::Embedded;

struct Env {
    host: Embedded,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn new() -> Self {
        let (dir, host) = trove_testkit::host().await;
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
    let claims = verify_at(&root, &token, boundary + secs(60)).expect("verifies after rotation");
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
    let one = json!({"iss": "https://token.actions.githubusercontent.com", "aud": "trove:acme"});
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
