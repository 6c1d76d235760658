//! Personal data (user emails) encrypted at rest: AES-256-GCM under a key derived from the
//! `pii-key` secret, so a table dump or backup alone reveals no addresses.
//!
//! Each value gets a random nonce, and the tenant and field are authenticated alongside it:
//! a ciphertext copied into another tenant's record, or into another field, does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::names::TenantName;
use crate::services::{Context, Error};

const SECRET: &str = "pii-key";
/// Names the derivation and the format; a new scheme gets a new label and prefix, and old
/// values stay readable by their prefix.
const KEY_LABEL: &[u8] = b"trove-pii-v1";
pub const PREFIX: &str = "v1.";
const TAG_LEN: usize = 16;

pub async fn seal(
    ctx: &Context,
    tenant: &TenantName,
    field: &str,
    plaintext: &str,
) -> Result<String, Error> {
    let key = key(ctx).await?;
    let mut in_out = plaintext.as_bytes().to_vec();
    let nonce = key
        .seal_in_place_append_tag(Aad::from(aad(tenant, field)), &mut in_out)
        .map_err(|_| Error::Internal(format!("cannot seal {field}")))?;
    let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
    sealed.extend_from_slice(nonce.as_ref());
    sealed.extend_from_slice(&in_out);
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed)))
}

/// The plaintext of a value `seal` produced for the same tenant and field. Anything else
/// (tampered, moved, another key) is an `Error::Internal`: stored data we cannot read is our
/// fault, not the client's.
pub async fn open(
    ctx: &Context,
    tenant: &TenantName,
    field: &str,
    sealed: &str,
) -> Result<String, Error> {
    let unreadable = || Error::Internal(format!("sealed {field} of tenant {tenant} does not open"));
    let encoded = sealed.strip_prefix(PREFIX).ok_or_else(unreadable)?;
    let mut bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| unreadable())?;
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return Err(unreadable());
    }
    let mut in_out = bytes.split_off(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| unreadable())?;
    let key = key(ctx).await?;
    let plaintext = key
        .open_in_place(nonce, Aad::from(aad(tenant, field)), &mut in_out)
        .map_err(|_| unreadable())?;
    String::from_utf8(plaintext.to_vec()).map_err(|_| unreadable())
}

/// Email shape check for user records: 3..=254 chars, one '@', non-empty local part and a dot
/// in the domain, no whitespace or control chars. Messages never repeat the address: it is
/// personal data, and error messages end up in logs.
pub fn validate_email(email: &str) -> Result<(), Error> {
    let invalid = |rule: &str| Err(Error::Invalid(format!("invalid email address: {rule}")));
    let len = email.chars().count();
    if !(3..=254).contains(&len) {
        return invalid("use 3 to 254 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("no spaces or control characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return invalid("an '@' is missing");
    };
    if domain.contains('@') {
        return invalid("use exactly one '@'");
    }
    if local.is_empty() {
        return invalid("the part before '@' is empty");
    }
    if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        return invalid("the domain after '@' needs a dot between its parts, as in example.com");
    }
    Ok(())
}

/// The AEAD key: derived rather than the secret itself, so the same secret can never end up
/// keying two different schemes.
async fn key(ctx: &Context) -> Result<RandomizedNonceKey, Error> {
    let secret = ctx.secrets.get(SECRET).await?;
    if secret.len() < 32 {
        return Err(Error::Internal(format!(
            "secret {SECRET} has {} bytes, at least 32 are needed",
            secret.len()
        )));
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret)
        .map_err(|e| Error::Internal(format!("cannot derive the PII key: {e}")))?;
    mac.update(KEY_LABEL);
    let derived = mac.finalize().into_bytes();
    RandomizedNonceKey::new(&AES_256_GCM, &derived)
        .map_err(|_| Error::Internal("cannot build the PII key".into()))
}

/// Tenant names never contain NUL, so the separator keeps (tenant, field) pairs distinct.
fn aad(tenant: &TenantName, field: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(tenant.as_str().len() + 1 + field.len());
    aad.extend_from_slice(tenant.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(field.as_bytes());
    aad
}
