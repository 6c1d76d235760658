//! `DeliveryQueue`: where delivery jobs wait for their time. SQS in AWS (`aws.rs`); in
//! `trove serve` tokio timers feeding the local dispatcher, with the pending deliveries in
//! the table as the durable copy that the dispatcher sweeps on start.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

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

/// In-process: a timer per job, then the job goes to the channel the dispatcher reads.
/// Exhausted deliveries stay in the table with status `failed`: that is the local DLQ.
pub struct LocalQueue {
    jobs: mpsc::UnboundedSender<DeliveryJob>,
}

impl LocalQueue {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<DeliveryJob>) {
        let (jobs, rx) = mpsc::unbounded_channel();
        (Self { jobs }, rx)
    }
}

#[async_trait]
impl DeliveryQueue for LocalQueue {
    async fn send(&self, job: DeliveryJob, delay: Duration) -> Result<(), QueueError> {
        let jobs = self.jobs.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // A closed channel: the dispatcher stopped; the sweep of the next start finds
            // the pending delivery in the table.
            let _ = jobs.send(job);
        });
        Ok(())
    }

    async fn dead_letter(&self, job: DeliveryJob) -> Result<(), QueueError> {
        tracing::warn!(
            tenant = %job.tenant,
            webhook = %job.webhook_id,
            delivery = %job.delivery_id,
            "webhook delivery failed after its last retry"
        );
        Ok(())
    }
}
