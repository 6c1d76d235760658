//! The webhook delivery queue of `trove serve` (`DeliveryQueue` port).

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use trove_core::ports::{DeliveryQueue, QueueError};
use trove_core::webhooks::model::DeliveryJob;

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
