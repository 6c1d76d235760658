//! `Secrets`: key material (URL-signing keys, later JWT and webhook keys).

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret not found: {0}")]
    NotFound(String),
    #[error("secret store error: {0}")]
    Other(String),
}

#[async_trait]
pub trait Secrets: Send + Sync {
    /// The secret's bytes. The embedded store creates a random 32-byte secret on first use;
    /// the AWS store reads one provisioned by the deployment (cached per process).
    async fn get(&self, name: &str) -> Result<Vec<u8>, SecretError>;
}
