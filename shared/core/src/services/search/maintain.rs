//! Keeping the index true outside a publish: the entry of a version already stored, the
//! removal of a deleted version's entries, and the reindex of a catalogue published before
//! search (or after a lost entry: every write here can run again).

use crate::domain::keys;
use crate::domain::model::{FileRecord, Package, Repository, Version, from_item};
use crate::domain::names::TenantName;
use crate::ports::Query;
use crate::ports::table::query_all;
use crate::services::catalog::{uploads, versions};
use crate::services::search::index::{Entry, FileEntry};
use crate::services::{Context, Error};

/// The version's entry as its publish wrote it, or as it would have (for a version
/// published before search: who and what from its first file's upload, while that is
/// kept). `None` for a version without files.
pub async fn entry_of(
    ctx: &Context,
    t: &TenantName,
    repo: &Repository,
    version: &Version,
) -> Result<Option<(Entry, Vec<FileRecord>)>, Error> {
    let mut files = versions::files(ctx, t, &repo.name, &version.package, &version.version).await?;
    files.sort_by(|a, b| {
        (a.created_at, a.filename.as_str()).cmp(&(b.created_at, b.filename.as_str()))
    });
    let Some(first) = files.first() else {
        return Ok(None);
    };
    let mut entry = Entry {
        repository: repo.name.clone(),
        repository_id: repo.id.clone(),
        format: repo.format,
        package: version.package.clone(),
        version: version.version.clone(),
        published_at: version.created_at,
        published_by: None,
        description: None,
        upload_id: first.upload_id.clone(),
        file: None,
    };
    if let Some(item) = ctx.table.get(&entry.name_key(t)).await? {
        return Ok(Some((Entry::from_item(item)?, files)));
    }
    if let Some(upload) = uploads::load(ctx, t, &first.upload_id).await? {
        entry.published_by = upload.created_by.clone();
        entry.description = crate::formats::for_format(repo.format)
            .and_then(|format| format.summary(upload.scan.as_ref()?.manifest.as_ref()?));
    }
    Ok(Some((entry, files)))
}

/// Removes a deleted version's entries (each only if the publish that wrote it still owns
/// it). Best effort: a search that meets one left behind removes it.
pub async fn forget(ctx: &Context, t: &TenantName, repo: &Repository, version: &Version) {
    let Ok(Some((entry, files))) = entry_of(ctx, t, repo, version).await else {
        return;
    };
    let mut removals = Vec::new();
    for key in entry.all_keys(t, version, &[]) {
        removals.push((key, entry.owned()));
    }
    for file in &files {
        let mut owner = entry.clone();
        owner.upload_id = file.upload_id.clone();
        removals.push((entry.file_key(t, &FileEntry::of(file)), owner.owned()));
    }
    for (key, owned) in removals {
        if let Err(e) = ctx.table.delete(&key, Some(owned)).await {
            tracing::debug!(error = %e, key = ?key, "search entry left for searches to remove");
        }
    }
}

/// Writes every entry of every live version of the tenant's catalogue; returns how many
/// versions. Idempotent, and safe beside publishes (an entry written twice is the same).
pub async fn reindex(ctx: &Context, t: &TenantName) -> Result<u64, Error> {
    let repos: Vec<Repository> = query_all(
        ctx.table.as_ref(),
        Query::new(keys::repos_partition(t)).limit(1000),
    )
    .await?
    .into_iter()
    .map(from_item)
    .collect::<Result<_, _>>()?;
    let mut count = 0;
    for repo in &repos {
        let packages: Vec<Package> = query_all(
            ctx.table.as_ref(),
            Query::new(keys::packages_partition(t, &repo.name)).limit(1000),
        )
        .await?
        .into_iter()
        .map(from_item)
        .collect::<Result<_, _>>()?;
        for package in &packages {
            let query =
                Query::new(keys::versions_partition(t, &repo.name, &package.name)).limit(1000);
            for item in query_all(ctx.table.as_ref(), query).await? {
                let version: Version = from_item(item)?;
                if version.deleted {
                    continue;
                }
                let Some((entry, files)) = entry_of(ctx, t, repo, &version).await? else {
                    continue;
                };
                write_all(ctx, t, &entry, &version, &files).await?;
                count += 1;
            }
        }
    }
    Ok(count)
}

async fn write_all(
    ctx: &Context,
    t: &TenantName,
    entry: &Entry,
    version: &Version,
    files: &[FileRecord],
) -> Result<(), Error> {
    for key in entry.all_keys(t, version, &[]) {
        ctx.table.put(entry.item(&key)?, None).await?;
    }
    for file in files {
        let mut with_file = entry.clone();
        with_file.upload_id = file.upload_id.clone();
        let file = FileEntry::of(file);
        with_file.file = Some(file.clone());
        ctx.table
            .put(with_file.item(&entry.file_key(t, &file))?, None)
            .await?;
    }
    Ok(())
}
