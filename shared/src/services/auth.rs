//! Credentials. In this stage every tenant has admin API keys only; the access issue adds
//! principals, grants and JWTs behind the same `Caller`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::domain::keys;
use crate::domain::model::{from_item, to_item};
use crate::domain::names::TenantName;
use crate::services::{Context, Error};

const KEY_PREFIX: &str = "trove_";
/// How long a verified key is trusted without reading the table again; a revoked key keeps
/// working at most this long (the API Gateway authorizer caches for the same reason).
const CACHE_TTL: Duration = Duration::from_secs(10);
const CACHE_MAX: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
}

/// Who is calling: every handler takes one, and every query is scoped by its tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub tenant: TenantName,
    pub principal: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ApiKeyRecord {
    tenant: TenantName,
    principal: String,
    role: Role,
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(default)]
    revoked: bool,
}

/// A fresh API key: 256 random bits, shown once; only its hash is stored.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The table item that makes `key` an admin key of `tenant`.
pub fn admin_key_item(
    ctx: &Context,
    tenant: &TenantName,
    key: &str,
    name: &str,
) -> Result<crate::ports::Item, Error> {
    let record = ApiKeyRecord {
        tenant: tenant.clone(),
        principal: format!("apikey:{name}"),
        role: Role::Admin,
        name: name.to_owned(),
        created_at: ctx.clock.now(),
        revoked: false,
    };
    Ok(to_item(&keys::api_key(&key_hash(key)), &record)?)
}

/// Verifies bearer credentials, with a short in-process cache of verified keys.
#[derive(Default)]
pub struct Authenticator {
    cache: Mutex<HashMap<String, (Caller, Instant)>>,
}

impl Authenticator {
    pub async fn authenticate(&self, ctx: &Context, bearer: &str) -> Result<Caller, Error> {
        if !bearer.starts_with(KEY_PREFIX) || bearer.len() > 128 {
            return Err(Error::Unauthenticated);
        }
        let hash = key_hash(bearer);
        if let Some(caller) = self.cached(&hash) {
            return Ok(caller);
        }
        let item = ctx
            .table
            .get(&keys::api_key(&hash))
            .await?
            .ok_or(Error::Unauthenticated)?;
        let record: ApiKeyRecord = from_item(item)?;
        if record.revoked {
            return Err(Error::Unauthenticated);
        }
        let caller = Caller {
            tenant: record.tenant,
            principal: record.principal,
            role: record.role,
        };
        self.remember(hash, caller.clone());
        Ok(caller)
    }

    fn cached(&self, hash: &str) -> Option<Caller> {
        let cache = self.cache.lock().ok()?;
        let (caller, at) = cache.get(hash)?;
        (at.elapsed() < CACHE_TTL).then(|| caller.clone())
    }

    fn remember(&self, hash: String, caller: Caller) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(hash, (caller, Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_prefixed() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + 43);
    }

    #[test]
    fn only_the_hash_is_stored() {
        let key = generate_key();
        assert_eq!(key_hash(&key).len(), 64);
        assert!(!key_hash(&key).contains(&key[KEY_PREFIX.len()..]));
    }
}
