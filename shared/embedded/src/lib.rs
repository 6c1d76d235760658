//! Trove on one machine, no AWS account and no Docker: what `trove serve` runs and what the
//! in-process tests build on a temporary directory.
//!
//! - [`SqliteTable`]: the `Table` port on one SQLite file.
//! - [`FileBlobs`]: the `Blobs` port on a directory, with an HMAC-signed URL endpoint
//!   ([`FileBlobs::router`]) standing in for S3's presigned URLs.
//! - [`FileSecrets`]: the `Secrets` port, one key file per secret.
//! - [`LocalEvents`]: the `Events` port: the webhook fan-out, then a broadcast for observers;
//!   [`relay`]: the outbox relay that feeds it.
//! - [`queue::LocalQueue`]: the webhook `DeliveryQueue` on tokio timers, and
//!   [`dispatcher`]: the webhook dispatcher's loop in-process.
//! - [`LocalWorkflow`]: the `Workflow` port, the ASL interpreter ([`asl`]) running the same
//!   state machine definition Step Functions runs.
//! - [`scheduler`]: the scheduled jobs on EventBridge's timetable; [`prometheus`]: `GET /metrics`.
//! - [`Embedded`]: all of it composed into one `Context` and one router.

pub mod asl;
mod blob_endpoint;
pub mod compose;
pub mod dispatcher;
mod events;
mod file_blobs;
mod file_multipart;
mod file_secrets;
mod fs_atomic;
pub mod prometheus;
pub mod queue;
pub mod relay;
pub mod scheduler;
mod sqlite_table;
mod url_signing;
pub mod workflow;

pub use compose::Embedded;
pub use events::LocalEvents;
pub use file_blobs::{FileBlobs, LOCAL_BUCKET, ObjectCreatedHook};
pub use file_secrets::FileSecrets;
pub use sqlite_table::SqliteTable;
pub use workflow::LocalWorkflow;
