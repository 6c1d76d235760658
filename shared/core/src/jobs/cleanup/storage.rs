//! Uploads and objects nobody will finish: open uploads whose bytes never came, landed
//! objects no open upload waits for, and refused uploads past their quarantine time.

use std::collections::BTreeMap;

use time::Duration;

use super::{CleanupOptions, TenantCleanup};
use crate::domain::keys::{BlobKey, OPEN_UPLOADS};
use crate::domain::model::{Repository, Retention, Upload, UploadStatus, from_item};
use crate::domain::names::{RepoName, TenantName};
use crate::ports::{BlobListing, Index, Query};
use crate::services::catalog::uploads;
use crate::services::{Context, Error};

/// A landed object with no open upload is removed once it is this old: long past any
/// pipeline run that could still be about to pick it up.
pub(crate) const STALE_INCOMING: Duration = Duration::hours(24);

/// Open uploads past `expires_at` whose object never arrived become rejected, with a
/// reason the uploader can act on (and leave the index of open uploads).
pub(super) async fn expire_uploads(
    ctx: &Context,
    options: CleanupOptions,
    tenants: &mut BTreeMap<TenantName, TenantCleanup>,
) -> Result<(), Error> {
    let now = ctx.clock.now();
    for partition in OPEN_UPLOADS.partitions() {
        let mut query = Query::new(partition).index(Index::Gsi1).limit(200);
        loop {
            let page = ctx.table.query(&query).await?;
            for item in page.items {
                let found: Upload = from_item(item)?;
                // The index may lag: decide on the upload as stored.
                let Some(mut upload) = uploads::load(ctx, &found.tenant, &found.upload_id).await?
                else {
                    continue;
                };
                if !upload.status.is_open() || upload.expires_at > now {
                    continue;
                }
                let incoming = BlobKey::incoming(&upload.tenant, &upload.upload_id);
                if ctx.blobs.head(&incoming).await?.is_some() {
                    // The bytes came: the pipeline (or the restart reconciler) owns it.
                    continue;
                }
                if !options.dry_run {
                    let from = upload.status;
                    let deadline = upload
                        .expires_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    upload.status = UploadStatus::Rejected;
                    upload.reason = Some(match &upload.multipart {
                        None => format!(
                            "upload expired: no bytes arrived before {deadline}; request a new upload"
                        ),
                        Some(_) => format!(
                            "upload expired: its parts were not completed before {deadline}; start a new upload"
                        ),
                    });
                    upload.updated_at = now;
                    match uploads::transition(ctx, from, &upload).await {
                        Ok(()) => {}
                        // It moved on meanwhile: not abandoned after all.
                        Err(Error::Conflict(_)) => continue,
                        Err(e) => return Err(e),
                    }
                    // Parts are billed until dropped; their upload can no longer complete.
                    // The bucket's lifecycle rule drops them if this fails.
                    if let Some(multipart) = &upload.multipart
                        && let Err(e) = ctx
                            .blobs
                            .abort_multipart(&incoming, &multipart.storage_id)
                            .await
                    {
                        tracing::warn!(error = %e, key = %incoming, "expired upload's parts not dropped");
                    }
                }
                tenant_entry(tenants, &upload.tenant)
                    .repository(&upload.repository)
                    .uploads_expired += 1;
            }
            match page.cursor {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(())
}

/// Objects under `incoming/` older than `STALE_INCOMING` whose upload is settled, unknown
/// or gone.
pub(super) async fn stale_incoming(
    ctx: &Context,
    options: CleanupOptions,
    tenants: &mut BTreeMap<TenantName, TenantCleanup>,
) -> Result<(), Error> {
    let cutoff = ctx.clock.now() - STALE_INCOMING;
    let mut cursor = None;
    loop {
        let page = ctx.blobs.list(BlobKey::INCOMING_PREFIX, cursor).await?;
        for object in page.items {
            if object.last_modified > cutoff {
                continue;
            }
            let Some((tenant, upload_id)) = BlobKey::parse_incoming(object.key.as_str()) else {
                continue;
            };
            let open = uploads::load(ctx, &tenant, &upload_id)
                .await?
                .is_some_and(|u| u.status.is_open());
            if open {
                continue;
            }
            remove(ctx, options, &object).await?;
            let t = tenant_entry(tenants, &tenant);
            t.incoming_objects_removed += 1;
            t.incoming_bytes_freed += object.size;
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// A tenant's `quarantine/` objects older than their repository's `quarantine_days`
/// (the default when the upload or repository is gone).
pub(super) async fn expired_quarantine(
    ctx: &Context,
    options: CleanupOptions,
    tenant: &TenantName,
    repositories: &BTreeMap<RepoName, Repository>,
    done: &mut TenantCleanup,
) -> Result<(), Error> {
    let now = ctx.clock.now();
    let prefix = BlobKey::quarantine_prefix(tenant);
    let mut cursor = None;
    loop {
        let page = ctx.blobs.list(&prefix, cursor).await?;
        for object in page.items {
            let days = match BlobKey::parse_quarantine(object.key.as_str()) {
                Some((t, id)) => uploads::load(ctx, &t, &id)
                    .await?
                    .and_then(|u| repositories.get(&u.repository))
                    .map(|r| r.retention.quarantine_days())
                    .unwrap_or(Retention::DEFAULT_QUARANTINE_DAYS),
                None => Retention::DEFAULT_QUARANTINE_DAYS,
            };
            if object.last_modified > now - Duration::days(i64::from(days)) {
                continue;
            }
            remove(ctx, options, &object).await?;
            done.quarantine_objects_removed += 1;
            done.quarantine_bytes_freed += object.size;
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}

async fn remove(ctx: &Context, options: CleanupOptions, object: &BlobListing) -> Result<(), Error> {
    if !options.dry_run {
        ctx.blobs.delete(&object.key).await?;
        tracing::info!(key = %object.key, size = object.size, "object removed");
    }
    Ok(())
}

fn tenant_entry<'a>(
    tenants: &'a mut BTreeMap<TenantName, TenantCleanup>,
    tenant: &TenantName,
) -> &'a mut TenantCleanup {
    tenants
        .entry(tenant.clone())
        .or_insert_with(|| TenantCleanup::new(tenant.clone()))
}
