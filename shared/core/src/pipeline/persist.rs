//! Persist: bytes to their content-addressed home, then file, version, package, upload and
//! the blob's reference count in one conditional transaction. Of concurrent uploads of one file exactly one wins; a
//! second run of the same upload changes nothing.

use sha2::{Digest, Sha256};

use crate::domain::audit_action::AuditAction;
use crate::domain::canonical;
use crate::domain::event_kind::EventKind;
use crate::domain::keys::{self, BlobKey};
use crate::domain::model::{
    FileRecord, Package, PackageNameClaim, Repository, Upload, UploadStatus, Version,
    VersionStatus, from_item, to_item,
};
use crate::domain::names::Sha256Hex;
use crate::pipeline::{StepError, StepInput, events};
use crate::ports::{Condition, TableError, Write};
use crate::services::Context;
use crate::services::catalog::blob_refs::{self, Counting};
use crate::services::catalog::{lookalikes, repositories, uploads};
use crate::services::records::{audit, usage};
use crate::services::search;

/// Transactions lost to concurrent publishes of sibling files are retried this often.
const MAX_ATTEMPTS: usize = 8;

const FILE: usize = 0;
const UPLOAD: usize = 3;
pub const REPOSITORY: usize = 4;
/// The package's name claim, when this publish writes it.
pub const NAME_CLAIM: usize = 5;

pub async fn run(ctx: &Context, input: &StepInput) -> Result<(), StepError> {
    let Some(upload) = uploads::load(ctx, &input.tenant, &input.upload_id).await? else {
        return Err(StepError::Rejected(format!(
            "upload {} not found",
            input.upload_id
        )));
    };
    match upload.status {
        UploadStatus::Published => return finish(ctx, &upload).await,
        UploadStatus::Rejected | UploadStatus::Cancelled => {
            return Err(StepError::Rejected(upload.reason.unwrap_or_default()));
        }
        UploadStatus::Pending | UploadStatus::Scanning => {}
    }

    let content = BlobKey::content(&upload.sha256);
    let incoming = BlobKey::incoming(&upload.tenant, &upload.upload_id);
    // Whether this run stored the content itself (then no uncounted file can reference it).
    let mut copied = false;
    // The repository's format never changes: which metadata to store is decided once.
    let repo = crate::pipeline::accepted_repository(ctx, &upload).await?;
    let metadata = core_metadata_of(&repo, &upload);
    for attempt in 0..MAX_ATTEMPTS {
        // The order is the blob protocol's (`services::catalog::blob_refs`): read the count, then
        // make sure the bytes exist, then commit conditioned on the count as read.
        let counting = blob_refs::read_count(ctx, &upload.sha256)
            .await
            .map_err(retry)?;
        if matches!(counting, Counting::Collecting) {
            // Cleanup is deleting these bytes; once it is done they are copied again.
            tokio::time::sleep(backoff(attempt)).await;
            continue;
        }
        let present = ctx.blobs.head(&content).await?.is_some();
        if !present {
            ctx.blobs.copy(&incoming, &content).await?;
            copied = true;
        }
        // Beside the bytes, within the same window of the protocol: collection deletes both
        // before it lets go of the count.
        if let Some(text) = metadata {
            ctx.blobs
                .put(
                    &BlobKey::core_metadata(&upload.sha256),
                    bytes::Bytes::copy_from_slice(text.as_bytes()),
                    "text/plain; charset=utf-8",
                )
                .await?;
        }
        let Some(count) = counting
            .one_more(ctx, &upload.sha256, upload.size, present && !copied)
            .map_err(retry)?
        else {
            continue;
        };
        let mut writes = publish_writes(ctx, &upload).await?;
        writes.push(count);
        writes.push(audit::by_pipeline(
            ctx,
            &upload,
            AuditAction::FilePublish,
            audit::Outcome::Success,
            None,
        )?);
        writes.push(announce(ctx, &upload).map_err(retry)?);
        match ctx.table.transact(writes).await {
            Ok(()) => {
                tracing::info!(tenant = %upload.tenant, upload_id = %upload.upload_id, "published");
                usage::count(
                    ctx,
                    &upload.tenant,
                    &upload.repository,
                    &upload.package,
                    &[(usage::UPLOADS_ACCEPTED, 1)],
                )
                .await;
                crate::metrics::pipeline_outcome("published");
                return finish(ctx, &upload).await;
            }
            Err(TableError::TransactionCanceled { failed }) if failed.contains(&FILE) => {
                return lost_race(ctx, &upload).await;
            }
            Err(TableError::TransactionCanceled { failed }) if failed.contains(&REPOSITORY) => {
                return Err(StepError::Rejected(crate::pipeline::repository_gone(
                    &upload,
                )));
            }
            Err(TableError::TransactionCanceled { failed }) if failed.contains(&UPLOAD) => {
                // Another run moved the upload on; follow where it went.
                let now = uploads::load(ctx, &upload.tenant, &upload.upload_id).await?;
                return match now {
                    Some(u) if u.status == UploadStatus::Published => finish(ctx, &u).await,
                    Some(u) if u.status == UploadStatus::Rejected => {
                        Err(StepError::Rejected(u.reason.unwrap_or_default()))
                    }
                    _ => Err(StepError::Retryable("upload changed concurrently".into())),
                };
            }
            // A concurrent publish changed the version or the package, or claimed the
            // package's name: the next attempt reads again, and refuses a look-alike.
            Err(TableError::TransactionCanceled { .. }) => {
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(e) => return Err(retry(e)),
        }
    }
    Err(StepError::Retryable(
        "too many concurrent changes to this version; retrying".into(),
    ))
}

pub async fn publish_writes(ctx: &Context, upload: &Upload) -> Result<Vec<Write>, StepError> {
    let now = ctx.clock.now();
    let (t, r, p, v) = (
        &upload.tenant,
        &upload.repository,
        &upload.package,
        &upload.version,
    );
    let repo = crate::pipeline::accepted_repository(ctx, upload).await?;
    let version_key = keys::version(t, r, p, v);
    let package_key = keys::package(t, r, p);

    let existing_version = ctx.table.get(&version_key).await.map_err(retry)?;
    if existing_version.is_none()
        && let Some(other) = lookalikes::version(ctx, t, &repo, p, v).await?
    {
        return Err(StepError::Rejected(format!(
            "conflict: {}",
            lookalikes::version_refusal(p, v, &other)
        )));
    }
    let (version, version_cond) = match existing_version {
        Some(item) => {
            let mut version: Version = from_item(item).map_err(retry)?;
            if version.deleted {
                return Err(StepError::Rejected(format!(
                    "version {v} of {p} was deleted; version numbers are never reused"
                )));
            }
            let cond = Condition::Equals("rev".into(), version.rev.into());
            version.rev += 1;
            version.file_count += 1;
            version.updated_at = now;
            (version, cond)
        }
        None => (
            Version {
                package: p.clone(),
                version: v.clone(),
                status: VersionStatus::Published,
                deleted: false,
                pinned: false,
                yanked: None,
                tags: Default::default(),
                labels: Default::default(),
                file_count: 1,
                rev: 1,
                created_at: now,
                updated_at: now,
            },
            Condition::NotExists,
        ),
    };
    let new_version = version.rev == 1;

    let existing_package = ctx.table.get(&package_key).await.map_err(retry)?;
    let claimed = lookalikes::claimed(ctx, t, &repo, p).await?;
    if existing_package.is_none() {
        let lookalike = match &claimed {
            Some(holder) => (holder != p).then(|| holder.clone()),
            None => lookalikes::unclaimed(ctx, t, &repo, p).await?,
        };
        if let Some(other) = lookalike {
            return Err(StepError::Rejected(format!(
                "conflict: {}",
                lookalikes::package_refusal(p, &other)
            )));
        }
    }
    // The first publish of a name claims it (an older package claims it on its next publish).
    // Claims never change once written, so one already held needs no condition here.
    let claim = match claimed {
        Some(_) => None,
        None => Some(Write::Put {
            item: to_item(
                &keys::package_name_claim(t, r, &canonical::package(repo.format, p)),
                &PackageNameClaim { name: p.clone() },
            )
            .map_err(retry)?,
            condition: Some(Condition::NotExists),
        }),
    };
    if let Some(other) = lookalikes::file(ctx, t, &repo, p, v, &upload.filename).await? {
        return Err(StepError::Rejected(format!(
            "conflict: {}",
            lookalikes::file_refusal(p, v, &upload.filename, &other)
        )));
    }
    let (package, package_cond) = match existing_package {
        Some(item) => {
            let mut package: Package = from_item(item).map_err(retry)?;
            let cond = Condition::Equals("rev".into(), package.rev.into());
            package.rev += 1;
            package.updated_at = now;
            if new_version {
                package.latest_version = Some(v.clone());
            }
            (package, cond)
        }
        None => (
            Package {
                name: p.clone(),
                repository: r.clone(),
                latest_version: Some(v.clone()),
                dist_tags: Default::default(),
                rev: 1,
                created_at: now,
                updated_at: now,
            },
            Condition::NotExists,
        ),
    };

    let file = FileRecord {
        filename: upload.filename.clone(),
        size: upload.size,
        sha256: upload.sha256.clone(),
        upload_id: upload.upload_id.clone(),
        // Whether the scan saw all of it stays with the file; the manifest's text stays on
        // the upload (the index reads only the attributes, and every file item stays small).
        scan: upload.scan.clone().map(|mut scan| {
            scan.manifest = None;
            scan
        }),
        attributes: {
            let mut attributes = crate::pipeline::validate::file_attributes(&repo, upload)?;
            attributes.extend(upload.digests.clone());
            attributes
        },
        core_metadata: core_metadata_of(&repo, upload)
            .map(|text| Sha256Hex::from_digest(&Sha256::digest(text.as_bytes()))),
        yanked: None,
        created_at: now,
    };
    let entry =
        search::index::Entry::of_publish(&repo, upload, &version, summary_of(&repo, upload));
    let found_by = search::index::publish_writes(t, &entry, new_version, &file).map_err(retry)?;
    let mut published = upload.clone();
    published.status = UploadStatus::Published;
    published.reason = None;
    published.updated_at = now;

    let mut writes = vec![
        Write::Put {
            item: to_item(&keys::file(t, r, p, v, &upload.filename), &file).map_err(retry)?,
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: to_item(&version_key, &version).map_err(retry)?,
            condition: Some(version_cond),
        },
        Write::Put {
            item: to_item(&package_key, &package).map_err(retry)?,
            condition: Some(package_cond),
        },
        Write::Put {
            item: uploads::upload_item(&published).map_err(StepError::from)?,
            condition: Some(uploads::status_is(upload.status)),
        },
        // An upload accepted before its repository was deleted must not bring packages
        // back into it, nor into another repository created under its name since.
        Write::Check {
            key: keys::repo(t, r),
            condition: repositories::is_instance(&repo),
        },
    ];
    debug_assert_eq!(writes.len(), NAME_CLAIM);
    writes.extend(claim);
    // Found by search from the moment it is published.
    writes.extend(found_by);
    Ok(writes)
}

/// The core metadata the repository's format serves for this upload, if any.
fn core_metadata_of<'u>(repo: &Repository, upload: &'u Upload) -> Option<&'u str> {
    let format = crate::formats::for_format(repo.format)?;
    let manifest = upload.scan.as_ref()?.manifest.as_ref()?;
    format.core_metadata(upload.filename.as_str(), manifest)
}

/// The one line search shows for the version, from the manifest its first file carries.
fn summary_of(repo: &Repository, upload: &Upload) -> Option<String> {
    let format = crate::formats::for_format(repo.format)?;
    format.summary(upload.scan.as_ref()?.manifest.as_ref()?)
}

/// Another upload published this file first (or this very upload did, in an earlier run).
async fn lost_race(ctx: &Context, upload: &Upload) -> Result<(), StepError> {
    let key = keys::file(
        &upload.tenant,
        &upload.repository,
        &upload.package,
        &upload.version,
        &upload.filename,
    );
    let winner = match ctx.table.get(&key).await.map_err(retry)? {
        Some(item) => from_item::<FileRecord>(item).map_err(retry)?,
        None => return Err(StepError::Retryable("file vanished during publish".into())),
    };
    if winner.upload_id == upload.upload_id {
        return finish(ctx, upload).await;
    }
    Err(StepError::Rejected(format!(
        "conflict: {} of {} {} was already published by upload {} (sha256 {}); published files are immutable",
        upload.filename, upload.package, upload.version, winner.upload_id, winner.sha256
    )))
}

/// The incoming object is no longer needed once the file is published.
async fn finish(ctx: &Context, upload: &Upload) -> Result<(), StepError> {
    ctx.blobs
        .delete(&BlobKey::incoming(&upload.tenant, &upload.upload_id))
        .await
        .map_err(retry)
}

/// The outbox entry of `package.published`, for the publishing transaction: a run that
/// finds the file already published commits nothing, so announces nothing twice.
fn announce(ctx: &Context, upload: &Upload) -> Result<Write, TableError> {
    let event = events::event(
        ctx,
        &upload.tenant,
        EventKind::PackagePublished,
        serde_json::json!({
            "repository": upload.repository, "package": upload.package,
            "version": upload.version, "filename": upload.filename,
            "size": upload.size, "sha256": upload.sha256, "upload_id": upload.upload_id,
        }),
    );
    crate::outbox::entry(&event)
}

/// A short, growing pause between attempts that lost to a concurrent change.
fn backoff(attempt: usize) -> std::time::Duration {
    std::time::Duration::from_millis(5 << attempt.min(6))
}

fn retry(e: impl std::fmt::Display) -> StepError {
    StepError::Retryable(e.to_string())
}
