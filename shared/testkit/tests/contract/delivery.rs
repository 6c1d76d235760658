//! The `DeliveryQueue` contract: what the dispatcher is handed, and when. On AWS the
//! dispatcher reads the events queue (jobs parsed as `parse_message` does); embedded it
//! reads `LocalQueue`'s channel. SQS may hand a job over twice; the dispatcher's lease
//! copes with that, so the cases here look at distinct jobs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc};
use trove_aws::delivery::{
    KIND_ATTRIBUTE, KIND_DELIVERY_JOB, MAX_DELAY, Message, SqsDeliveryQueue, parse_message,
};
use trove_core::ports::delivery::DeliveryQueue;
use trove_core::webhooks::model::DeliveryJob;
use trove_embedded::queue::LocalQueue;

use crate::{Fixture, cases, sqs, unique};

/// The queue and the dispatcher's end of it.
pub struct Jobs {
    queue: Arc<dyn DeliveryQueue>,
    dispatcher: Dispatcher,
}

enum Dispatcher {
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
    Local(Mutex<mpsc::UnboundedReceiver<DeliveryJob>>),
}

impl Jobs {
    /// The jobs handed over within `within` (at least one poll), each with when it came;
    /// returns as soon as any came.
    async fn next(&self, within: Duration) -> Vec<(DeliveryJob, Instant)> {
        let deadline = Instant::now() + within;
        loop {
            let batch: Vec<DeliveryJob> = match &self.dispatcher {
                Dispatcher::Sqs { client, url } => {
                    // Long polling returns as soon as a job becomes visible.
                    let left = deadline.saturating_duration_since(Instant::now());
                    let wait = i32::try_from(left.as_secs().clamp(0, 1)).unwrap_or(1);
                    sqs::receive(client, url, wait)
                        .await
                        .iter()
                        .map(|m| match parse_message(m) {
                            Ok(Message::Job(job)) => job,
                            other => {
                                panic!("the dispatcher would not take this as a job: {other:?}")
                            }
                        })
                        .collect()
                }
                Dispatcher::Local(rx) => {
                    let mut rx = rx.lock().await;
                    let left = deadline
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(100));
                    match tokio::time::timeout(left, rx.recv()).await {
                        Ok(Some(job)) => vec![job],
                        Ok(None) => panic!("the queue closed"),
                        Err(_) => Vec::new(),
                    }
                }
            };
            if !batch.is_empty() || Instant::now() >= deadline {
                let now = Instant::now();
                return batch.into_iter().map(|job| (job, now)).collect();
            }
        }
    }
}

fn job() -> DeliveryJob {
    DeliveryJob {
        tenant: "acme".into(),
        webhook_id: "wh_contract".into(),
        delivery_id: unique("d"),
        due_ms: 1_700_000_000_000,
        enqueued_ms: 1_699_999_999_000,
    }
}

/// How early a delayed job may come: SQS counts its delay in whole seconds from when it
/// took the message, which the sender sees only after its call returns.
const SLACK: Duration = Duration::from_millis(300);
const WAIT: Duration = Duration::from_secs(10);

/// A job sent without delay is handed over at once, as sent.
async fn job_without_delay_is_handed_over_intact(jobs: Arc<Jobs>) {
    let sent = job();
    jobs.queue
        .send(sent.clone(), Duration::ZERO)
        .await
        .expect("sent");
    let got = jobs.next(WAIT).await;
    assert!(!got.is_empty(), "the job never came");
    for (job, _) in &got {
        assert_eq!(job, &sent);
    }
}

/// A delayed job waits its delay; one sent right after without delay overtakes it.
async fn delayed_job_waits_its_delay(jobs: Arc<Jobs>) {
    let delay = Duration::from_secs(2);
    let delayed = job();
    let sent_at = Instant::now();
    jobs.queue
        .send(delayed.clone(), delay)
        .await
        .expect("sent with a delay");
    let prompt = job();
    jobs.queue
        .send(prompt.clone(), Duration::ZERO)
        .await
        .expect("sent");

    let (mut prompt_at, mut delayed_at) = (None, None);
    while delayed_at.is_none() && sent_at.elapsed() < delay + WAIT {
        for (job, at) in jobs.next(WAIT).await {
            if job == prompt {
                prompt_at.get_or_insert(at);
            } else {
                assert_eq!(job, delayed, "only the jobs sent come");
                delayed_at.get_or_insert(at);
            }
        }
    }
    let delayed_at = delayed_at.expect("the delayed job came");
    let prompt_at = prompt_at.expect("the prompt job came");
    assert!(
        prompt_at <= delayed_at,
        "the prompt job overtakes the delayed one"
    );
    let waited = delayed_at.duration_since(sent_at);
    assert!(
        waited + SLACK >= delay,
        "handed over after {waited:?}, before its {delay:?} delay"
    );
}

/// A delay longer than any the queue keeps is still taken (an adapter may cap it: the
/// job's due time sends it on), and the job does not come at once.
async fn long_delay_is_taken(jobs: Arc<Jobs>) {
    jobs.queue
        .send(job(), Duration::from_secs(7200))
        .await
        .expect("a long delay is taken");
    let got = jobs.next(Duration::from_secs(1)).await;
    assert!(got.is_empty(), "came at once: {got:?}");
}

/// A dead letter is taken and does not go back to the dispatcher.
async fn dead_letter_is_taken_and_not_redelivered(jobs: Arc<Jobs>) {
    jobs.queue.dead_letter(job()).await.expect("dead-lettered");
    let got = jobs.next(Duration::from_secs(1)).await;
    assert!(got.is_empty(), "a dead letter came back: {got:?}");
}

mod aws {
    use super::*;

    pub struct Queues {
        client: aws_sdk_sqs::Client,
        main: String,
        dlq: String,
    }

    async fn queues() -> Queues {
        let client = sqs::client().await;
        let main = sqs::queue(&client, "webhooks").await;
        let dlq = sqs::queue(&client, "webhooks-dlq").await;
        Queues { client, main, dlq }
    }

    fn port(q: &Queues) -> SqsDeliveryQueue {
        SqsDeliveryQueue::new(q.client.clone(), q.main.clone(), q.dlq.clone())
    }

    async fn fixture() -> Fixture<Jobs> {
        let q = queues().await;
        let jobs = Jobs {
            queue: Arc::new(port(&q)),
            dispatcher: Dispatcher::Sqs {
                client: q.client,
                url: q.main,
            },
        };
        Fixture::new(Arc::new(jobs), None)
    }

    cases!(fixture =>
        job_without_delay_is_handed_over_intact,
        delayed_job_waits_its_delay,
        long_delay_is_taken,
        dead_letter_is_taken_and_not_redelivered,
    );

    /// AWS only: jobs carry the `kind` attribute that tells them from domain events on
    /// the shared queue.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_carry_their_kind() {
        let q = queues().await;
        port(&q).send(job(), Duration::ZERO).await.expect("sent");
        let got = sqs::receive(&q.client, &q.main, 5).await;
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].message_attributes[KIND_ATTRIBUTE]
                .string_value
                .as_deref(),
            Some(KIND_DELIVERY_JOB)
        );
    }

    /// AWS only: a delay beyond SQS's 15 minutes is sent capped (SQS refuses more), and
    /// the job waits in the queue.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn long_delay_is_capped_at_the_sqs_maximum() {
        let q = queues().await;
        port(&q)
            .send(job(), MAX_DELAY * 8)
            .await
            .expect("a long delay is capped");
        assert_eq!(
            sqs::count(&q.client, &q.main, "ApproximateNumberOfMessagesDelayed").await,
            1
        );
    }

    /// AWS only: a dead letter reaches the dead-letter queue, intact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dead_letter_reaches_the_dlq() {
        let q = queues().await;
        let dead = job();
        port(&q)
            .dead_letter(dead.clone())
            .await
            .expect("dead-lettered");
        let got = sqs::receive(&q.client, &q.dlq, 5).await;
        assert_eq!(got.len(), 1);
        match parse_message(&got[0]) {
            Ok(Message::Job(job)) => assert_eq!(job, dead),
            other => panic!("{other:?}"),
        }
    }
}

mod local {
    use super::*;

    async fn fixture() -> Fixture<Jobs> {
        let (queue, rx) = LocalQueue::new();
        let jobs = Jobs {
            queue: Arc::new(queue),
            dispatcher: Dispatcher::Local(Mutex::new(rx)),
        };
        Fixture::new(Arc::new(jobs), None)
    }

    cases!(fixture =>
        job_without_delay_is_handed_over_intact,
        delayed_job_waits_its_delay,
        long_delay_is_taken,
        dead_letter_is_taken_and_not_redelivered,
    );
}
