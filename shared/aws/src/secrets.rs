//! `Secrets` over AWS Secrets Manager, cached for the life of the process (a Lambda
//! container), so a warm invocation never pays for a call.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;

use super::fault;
use trove_core::ports::secrets::{SecretError, Secrets};

#[derive(Clone)]
pub struct AwsSecrets {
    client: Client,
    prefix: String,
    cache: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

/// Never prints the cache: adapters end up in debug logs.
impl fmt::Debug for AwsSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsSecrets")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl AwsSecrets {
    /// Secret `name` is read from the secret id `prefix + name`.
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
            cache: Arc::default(),
        }
    }

    fn cached(&self, name: &str) -> Option<Vec<u8>> {
        // A poisoned lock only means another thread panicked mid-insert of a whole value.
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(name).cloned()
    }
}

#[async_trait]
impl Secrets for AwsSecrets {
    async fn get(&self, name: &str) -> Result<Vec<u8>, SecretError> {
        if let Some(bytes) = self.cached(name) {
            return Ok(bytes);
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(format!("{}{name}", self.prefix))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception())
                {
                    SecretError::NotFound(name.to_owned())
                } else {
                    SecretError::Other(fault(&e).summary)
                }
            })?;
        let bytes = match (out.secret_binary, out.secret_string) {
            (Some(blob), _) => blob.into_inner(),
            (None, Some(s)) => s.into_bytes(),
            (None, None) => return Err(SecretError::NotFound(name.to_owned())),
        };
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), bytes.clone());
        Ok(bytes)
    }
}
