//! Tests of `services::records::pii` that need the embedded host.
use aws_lc_rs::aead::NONCE_LEN;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use trove_core::domain::names::TenantName;
use trove_core::services::Error;
use trove_core::services::records::pii::*;
use trove_embedded::Embedded;

async fn host() -> (tempfile::TempDir, Embedded) {
    trove_testkit::host().await
}

fn tenant(name: &str) -> TenantName {
    TenantName::parse(name).expect("valid tenant")
}

const EMAIL: &str = "alice.liddell@example.com";

#[tokio::test]
async fn round_trip() {
    let (_dir, host) = host().await;
    let acme = tenant("acme");
    let sealed = seal(&host.ctx, &acme, "email", EMAIL).await.expect("seals");
    assert!(sealed.starts_with("v1."));
    let opened = open(&host.ctx, &acme, "email", &sealed)
        .await
        .expect("opens");
    assert_eq!(opened, EMAIL);
    let empty = seal(&host.ctx, &acme, "email", "").await.expect("seals");
    assert_eq!(
        open(&host.ctx, &acme, "email", &empty)
            .await
            .expect("opens"),
        ""
    );
}

#[tokio::test]
async fn sealing_twice_differs_and_hides_the_plaintext() {
    let (_dir, host) = host().await;
    let acme = tenant("acme");
    let a = seal(&host.ctx, &acme, "email", EMAIL).await.expect("seals");
    let b = seal(&host.ctx, &acme, "email", EMAIL).await.expect("seals");
    assert_ne!(a, b);
    for sealed in [&a, &b] {
        assert!(!sealed.contains("alice"), "{sealed}");
        assert!(!sealed.contains("example"), "{sealed}");
        assert!(!sealed.contains(&URL_SAFE_NO_PAD.encode(EMAIL)), "{sealed}");
    }
}

#[tokio::test]
async fn moved_values_do_not_open() {
    let (_dir, host) = host().await;
    let sealed = seal(&host.ctx, &tenant("acme"), "email", EMAIL)
        .await
        .expect("seals");
    let other_tenant = open(&host.ctx, &tenant("globex"), "email", &sealed).await;
    assert!(matches!(other_tenant, Err(Error::Internal(_))));
    let other_field = open(&host.ctx, &tenant("acme"), "recovery_email", &sealed).await;
    assert!(matches!(other_field, Err(Error::Internal(_))));
}

#[tokio::test]
async fn tampered_values_do_not_open() {
    let (_dir, host) = host().await;
    let acme = tenant("acme");
    let sealed = seal(&host.ctx, &acme, "email", EMAIL).await.expect("seals");
    let bytes = URL_SAFE_NO_PAD
        .decode(&sealed[PREFIX.len()..])
        .expect("base64url");
    for i in [0, NONCE_LEN, bytes.len() - 1] {
        let mut flipped = bytes.clone();
        flipped[i] ^= 1;
        let tampered = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&flipped));
        let result = open(&host.ctx, &acme, "email", &tampered).await;
        match result {
            Err(Error::Internal(message)) => assert!(!message.contains(EMAIL), "{message}"),
            other => panic!("byte {i} flipped: {other:?}"),
        }
    }
    let truncated = &sealed[..sealed.len() - 4];
    for bad in [
        truncated,
        "v1.",
        "v1.!!!",
        "v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        EMAIL,
    ] {
        assert!(
            matches!(
                open(&host.ctx, &acme, "email", bad).await,
                Err(Error::Internal(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn email_shapes() {
    for good in ["a@b.c", "alice+tag@example.co.uk", "ü@exämple.de"] {
        assert!(validate_email(good).is_ok(), "{good}");
    }
    let long = format!("{}@example.com", "a".repeat(250));
    for bad in [
        "",
        "a@",
        "@b.c",
        "alice",
        "alice@example",
        "alice@@example.com",
        "a@b@example.com",
        "alice @example.com",
        "alice@exa\tmple.com",
        "alice@example.com\n",
        "alice\u{7f}@example.com",
        "alice@.com",
        "alice@example.",
        long.as_str(),
    ] {
        match validate_email(bad) {
            Err(Error::Invalid(message)) => {
                assert!(bad.is_empty() || !message.contains(bad), "{message}")
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}
