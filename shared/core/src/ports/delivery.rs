//! `DeliveryQueue`: where webhook delivery jobs wait for their time. SQS in AWS
//! (`trove_aws::delivery`); in `trove serve` tokio timers feeding the in-process dispatcher
//! (`trove_embedded::queue`), with the pending deliveries in the table as the durable copy
//! that the dispatcher sweeps on start.

use std::time::Duration;

use async_trait::async_trait;

use crate::webhooks::model::DeliveryJob;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("delivery queue unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Queues the job to be handed to a dispatcher after `delay` (an adapter may deliver it
    /// earlier; the job's due time then sends it on).
    async fn send(&self, job: DeliveryJob, delay: Duration) -> Result<(), QueueError>;
    /// Hands over a delivery whose every attempt failed.
    async fn dead_letter(&self, job: DeliveryJob) -> Result<(), QueueError>;
}
