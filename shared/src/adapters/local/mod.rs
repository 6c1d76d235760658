//! Embedded adapters: what `trove serve` (one process, no AWS) and the tests run on.
//!
//! - [`SqliteTable`]: the `Table` port on one SQLite file.
//! - [`FileBlobs`]: the `Blobs` port on a directory, with an HMAC-signed URL endpoint
//!   ([`FileBlobs::router`]) standing in for S3's presigned URLs.
//! - [`FileSecrets`]: the `Secrets` port, one key file per secret.
//! - [`LocalEvents`]: the `Events` port as an in-process broadcast queue.

mod blob_endpoint;
mod events;
mod file_blobs;
mod file_secrets;
mod fs_atomic;
mod sqlite_table;
mod url_signing;

pub use events::LocalEvents;
pub use file_blobs::{FileBlobs, LOCAL_BUCKET, ObjectCreatedHook};
pub use file_secrets::FileSecrets;
pub use sqlite_table::SqliteTable;
