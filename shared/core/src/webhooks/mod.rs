//! Webhooks: subscriptions to domain events, delivered signed over HTTP through a queue,
//! retried on a schedule, and never to internal addresses.
//!
//! Routes (`http::routes::webhooks`) manage webhooks through `service`; the dispatcher
//! consumes the events queue: each domain event becomes one delivery record per matching
//! webhook, and each delivery's attempts travel as jobs on a `DeliveryQueue` (SQS in AWS,
//! tokio timers in `trove serve`: the port is `ports::delivery`).

pub mod dispatcher;
pub mod lease;
pub mod model;
pub mod schedule;
pub mod service;
pub mod signing;
pub mod ssrf;
pub mod store;

pub use dispatcher::Dispatcher;
pub use model::PING;
