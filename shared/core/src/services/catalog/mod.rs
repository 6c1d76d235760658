//! What a tenant stores: repositories, packages and versions, uploads on their way in, the
//! blobs they reference, and the look-alike name check.

pub mod blob_refs;
pub mod cargo;
pub mod dist_tags;
pub mod index;
pub mod labels;
pub mod lookalikes;
pub mod multipart;
pub mod npm;
pub mod packages;
pub mod page_cache;
pub mod publish;
pub mod repositories;
pub mod uploads;
pub mod versions;
pub mod yanks;
