//! A catalogue published without bytes: the upload record as the API stores it, then
//! Persist's own transaction (file, version, package, search entries), as the pipeline
//! commits it once Scan and Validate have passed. For tests and benchmarks that need many
//! versions, or the same catalogue on both table adapters, faster than uploads can give it.

use trove_core::domain::keys::UploadId;
use trove_core::domain::model::{Upload, UploadStatus};
use trove_core::domain::names::{
    FileName, PackageName, RepoName, Sha256Hex, TenantName, VersionName,
};
use trove_core::pipeline::persist::publish_writes;
use trove_core::ports::TableError;
use trove_core::services::Context;
use trove_core::services::catalog::{repositories, uploads};

/// What one publish names.
pub struct Publish<'a> {
    pub repo: &'a str,
    pub package: &'a str,
    pub version: &'a str,
    pub filename: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    /// The principal the upload was made by.
    pub by: &'a str,
}

pub async fn publish(ctx: &Context, tenant: &TenantName, p: &Publish<'_>) -> anyhow::Result<()> {
    let repo = repositories::find(ctx, tenant, &RepoName::parse(p.repo)?).await?;
    let now = ctx.clock.now();
    let upload = Upload {
        upload_id: UploadId::new(),
        tenant: tenant.clone(),
        repository: repo.name.clone(),
        repository_id: repo.id.clone(),
        package: PackageName::parse(p.package)?,
        version: VersionName::parse(p.version)?,
        filename: FileName::parse(p.filename)?,
        size: p.size,
        sha256: Sha256Hex::parse(p.sha256)?,
        status: UploadStatus::Scanning,
        reason: None,
        execution_id: None,
        created_at: now,
        expires_at: now + time::Duration::hours(1),
        updated_at: now,
        scan: None,
        digests: Default::default(),
        multipart: None,
        created_by: Some(p.by.to_owned()),
    };
    ctx.table.put(uploads::upload_item(&upload)?, None).await?;
    // As Persist does: a transaction lost to a concurrent publish of the same package reads
    // again and retries.
    for _ in 0..50 {
        let writes = publish_writes(ctx, &upload)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        match ctx.table.transact(writes).await {
            Ok(()) => return Ok(()),
            Err(TableError::TransactionCanceled { .. } | TableError::Contended(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!(
        "publish of {} {} kept losing to concurrent ones",
        p.package,
        p.version
    )
}

/// A SHA-256 in hex made from `seed`, distinct per seed.
pub fn sha_of(seed: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(seed.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
