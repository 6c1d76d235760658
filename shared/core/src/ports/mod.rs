//! Ports: the small traits the services speak to. Each has an AWS adapter (`trove-aws`) and
//! an embedded adapter (`trove-embedded`), and both pass the same contract suite
//! (`shared/testkit/tests/contract`).

pub mod blobs;
pub mod clock;
pub mod delivery;
pub mod events;
pub mod secrets;
pub mod table;
pub mod workflow;

pub use blobs::{
    BlobError, BlobInfo, BlobListing, BlobPage, Blobs, ByteStream, MIN_PART_SIZE, PartConstraints,
    PartLayout, PresignedRequest, PutConstraints, StoredPart,
};
pub use clock::{Clock, SystemClock};
pub use delivery::{DeliveryQueue, QueueError};
pub use events::{DomainEvent, EventError, Events};
pub use secrets::{SecretError, Secrets};
pub use table::{Condition, Index, Item, Key, Page, Query, SkRange, Table, TableError, Write};
pub use workflow::{
    Execution, ExecutionStatus, StepRecord, Workflow, WorkflowError, check_execution_name,
};
