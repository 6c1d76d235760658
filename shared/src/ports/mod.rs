//! Ports: the small traits the services speak to. Each has an AWS adapter and an embedded
//! adapter (`crate::adapters`), and both pass the same contract suite (`shared/tests/contract`).

pub mod blobs;
pub mod clock;
pub mod events;
pub mod secrets;
pub mod table;
pub mod workflow;

pub use blobs::{
    BlobError, BlobInfo, BlobListing, BlobPage, Blobs, ByteStream, PresignedRequest, PutConstraints,
};
pub use clock::{Clock, SystemClock};
pub use events::{DomainEvent, EventError, Events};
pub use secrets::{SecretError, Secrets};
pub use table::{Condition, Index, Item, Key, Page, Query, SkRange, Table, TableError, Write};
pub use workflow::{
    Execution, ExecutionStatus, StepRecord, Workflow, WorkflowError, check_execution_name,
};
