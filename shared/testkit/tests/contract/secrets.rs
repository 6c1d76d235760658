//! The `Secrets` contract. The stores differ in where a secret comes from (the embedded one
//! creates it, the AWS one reads what the deployment provisioned); both return the same
//! bytes for a name, every time.

use std::sync::Arc;

use aws_sdk_secretsmanager::primitives::Blob;
use trove_core::ports::{SecretError, Secrets};
use trove_embedded::FileSecrets;

/// The same bytes on every read of one name.
pub async fn secret_is_stable(secrets: Arc<dyn Secrets>, name: &str) -> Vec<u8> {
    let first = secrets.get(name).await.expect("get");
    assert!(!first.is_empty());
    for _ in 0..3 {
        assert_eq!(secrets.get(name).await.expect("get again"), first);
    }
    first
}

mod aws {
    use super::*;
    use crate::moto;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn binary_secret_is_read_and_stable() {
        let (secrets, client, prefix) = moto::secrets_port().await;
        let bytes: Vec<u8> = (0u8..32).collect();
        client
            .create_secret()
            .name(format!("{prefix}url-signing"))
            .secret_binary(Blob::new(bytes.clone()))
            .send()
            .await
            .expect("moto creates the secret");
        assert_eq!(secret_is_stable(secrets, "url-signing").await, bytes);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn string_secret_is_read_as_its_bytes() {
        let (secrets, client, prefix) = moto::secrets_port().await;
        client
            .create_secret()
            .name(format!("{prefix}webhook"))
            .secret_string("s3cr3t-value")
            .send()
            .await
            .expect("moto creates the secret");
        assert_eq!(
            secret_is_stable(secrets, "webhook").await,
            b"s3cr3t-value".to_vec()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missing_secret_is_not_found() {
        let (secrets, _client, _prefix) = moto::secrets_port().await;
        match secrets.get("never-provisioned").await {
            Err(SecretError::NotFound(name)) => assert_eq!(name, "never-provisioned"),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn secrets_are_cached_per_process() {
        let (secrets, client, prefix) = moto::secrets_port().await;
        let id = format!("{prefix}cached");
        client
            .create_secret()
            .name(&id)
            .secret_string("first")
            .send()
            .await
            .expect("moto creates the secret");
        assert_eq!(secrets.get("cached").await.expect("get"), b"first");
        client
            .put_secret_value()
            .secret_id(&id)
            .secret_string("second")
            .send()
            .await
            .expect("moto updates the secret");
        // A warm process keeps the value it read; a new one reads the new value.
        assert_eq!(secrets.get("cached").await.expect("get"), b"first");
        let fresh = trove_aws::AwsSecrets::new(client.clone(), &prefix);
        assert_eq!(fresh.get("cached").await.expect("get"), b"second");
    }
}

mod local {
    use super::*;

    #[tokio::test]
    async fn first_get_creates_a_random_key_that_persists() {
        let dir = tempfile::tempdir().expect("temp dir");
        let secrets: Arc<dyn Secrets> = Arc::new(FileSecrets::new(dir.path().to_path_buf()));
        let key = secret_is_stable(secrets.clone(), "url-signing").await;
        assert_eq!(key.len(), 32);

        let reopened: Arc<dyn Secrets> = Arc::new(FileSecrets::new(dir.path().to_path_buf()));
        assert_eq!(reopened.get("url-signing").await.expect("get"), key);

        let other = secret_is_stable(secrets, "webhook").await;
        assert_eq!(other.len(), 32);
        assert_ne!(other, key, "each name has its own random key");

        let elsewhere = tempfile::tempdir().expect("temp dir");
        let elsewhere: Arc<dyn Secrets> =
            Arc::new(FileSecrets::new(elsewhere.path().to_path_buf()));
        assert_ne!(
            elsewhere.get("url-signing").await.expect("get"),
            key,
            "keys are random, not derived"
        );
    }
}
