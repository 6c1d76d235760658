//! Uploads in parts, for files too large or too precious for one PUT: the client declares
//! the file (size, SHA-256) and how it is cut, gets a URL per part bound to that part's
//! length and SHA-256 (a batch at a time, as it goes), sends the parts in any order and in
//! parallel, asks again for what it lost, and completes. Storage then holds the object
//! under `incoming/` and its event starts the same Scan → Validate → Persist execution as
//! any upload; Validate re-reads the whole file against the declared SHA-256.
//!
//! Which parts arrived is storage's to say (`Blobs::list_parts`), never the table's: the
//! record keeps only the layout and storage's id, so it stays small at 10,000 parts and
//! a part that lands after a crash is still seen.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::access::Role;
use crate::domain::audit_action::AuditAction;
use crate::domain::keys::{BlobKey, UploadId};
use crate::domain::model::{MultipartUpload, Upload, UploadStatus};
use crate::domain::names::Sha256Hex;
use crate::ports::blobs::PresignedRequest;
use crate::ports::{BlobError, PartConstraints, PartLayout, StoredPart};
use crate::services::access::caller::Caller;
use crate::services::catalog::uploads::{
    self, CreateUpload, PartRequest, Proposal, UploadTicket, UploadView,
};
use crate::services::records::audit;
use crate::services::{Context, Error};

/// Most part URLs one request issues: the answer stays small, and URLs are issued close
/// to their use, within their lifetime.
pub const MAX_PARTS_PER_REQUEST: usize = 100;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MultipartTicket {
    pub part_size: u64,
    pub part_count: u32,
    /// The URLs of the parts asked for.
    pub parts: Vec<PartTicket>,
}

/// Where to send one part: `PUT` its exact bytes to `url` with exactly `headers`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartTicket {
    pub number: u32,
    pub url: String,
    #[schema(example = "PUT")]
    pub method: String,
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartsRequest {
    /// 1 to 100 parts.
    #[schema(min_items = 1, max_items = 100)]
    pub parts: Vec<PartRequest>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartTickets {
    pub parts: Vec<PartTicket>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MultipartView {
    pub part_size: u64,
    pub part_count: u32,
    /// Storage holds the whole file (completed); the pipeline takes it from there.
    pub completed: bool,
    /// The parts storage holds, until completion: what a resumed upload need not send.
    pub parts: Vec<StoredPartView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoredPartView {
    pub number: u32,
    pub size: u64,
    /// As storage checked it on arrival (absent where storage does not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Starts an upload in parts (`POST …/uploads` with `part_size`).
pub async fn start(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    req: CreateUpload,
) -> Result<UploadTicket, Error> {
    let sha256 = Sha256Hex::parse(&req.sha256)?;
    let part_size = req.part_size.unwrap_or_default();
    let layout = PartLayout::new(req.size, part_size).map_err(Error::Invalid)?;
    let wanted = req.parts.unwrap_or_default();
    let wanted = checked_parts(&layout, &wanted, 0)?;
    let proposal = Proposal {
        package: &req.package,
        version: &req.version,
        filename: &req.filename,
        size: Some(req.size),
    };
    let admitted = uploads::admit(ctx, caller, repo, proposal, AuditAction::UploadCreate).await?;
    let target = admitted.target.clone();
    let upload_id = UploadId::new();
    let key = BlobKey::incoming(&caller.tenant, &upload_id);
    let storage_id = ctx
        .blobs
        .create_multipart(&key, "application/octet-stream")
        .await?;
    let mut upload = admitted.pending(ctx, caller, upload_id, req.size, sha256);
    upload.expires_at = upload.created_at + ctx.settings.multipart_upload_ttl;
    upload.multipart = Some(MultipartUpload {
        storage_id: storage_id.clone(),
        part_size: layout.part_size(),
        part_count: layout.count(),
    });
    let recorded = match presign(ctx, &upload, &layout, &wanted).await {
        Ok(parts) => uploads::record(ctx, caller, &upload, AuditAction::UploadCreate, &target)
            .await
            .map(|()| parts),
        Err(e) => Err(e),
    };
    let parts = match recorded {
        Ok(parts) => parts,
        Err(e) => {
            // Nothing refers to it: parts would only be billed until the lifecycle rule.
            if let Err(abort) = ctx.blobs.abort_multipart(&key, &storage_id).await {
                tracing::warn!(error = %abort, %key, "cannot abort an upload never recorded");
            }
            return Err(e);
        }
    };
    Ok(UploadTicket {
        upload_id: upload.upload_id.to_string(),
        url: None,
        method: None,
        headers: None,
        expires_at: upload.expires_at,
        multipart: Some(MultipartTicket {
            part_size: layout.part_size(),
            part_count: layout.count(),
            parts,
        }),
    })
}

/// URLs for more parts, or the same parts again (`POST …/uploads/{id}/parts`).
pub async fn presign_parts(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    upload_id: &str,
    req: PartsRequest,
) -> Result<PartTickets, Error> {
    let upload = uploads::find(ctx, caller, repo, upload_id, Role::Writer, None).await?;
    let (_, layout) = open_multipart(ctx, &upload)?;
    let wanted = checked_parts(&layout, &req.parts, 1)?;
    if completed(ctx, &upload).await? {
        return Err(Error::Conflict(format!(
            "upload {upload_id} is complete: its parts can no longer change"
        )));
    }
    Ok(PartTickets {
        parts: presign(ctx, &upload, &layout, &wanted).await?,
    })
}

/// Joins the parts into the file (`POST …/uploads/{id}/complete`); the storage event
/// starts the pipeline. Completing again answers the upload as it is.
pub async fn complete(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    upload_id: &str,
) -> Result<UploadView, Error> {
    let upload = uploads::find(
        ctx,
        caller,
        repo,
        upload_id,
        Role::Writer,
        Some(AuditAction::UploadComplete),
    )
    .await?;
    let target = uploads::target_of(&upload);
    let Some(multipart) = upload.multipart.clone() else {
        return Err(Error::Conflict(format!(
            "upload {upload_id} is one PUT, not parts: storage takes it when its bytes arrive"
        )));
    };
    if upload.status != UploadStatus::Pending {
        // The pipeline has it (or had it): nothing more to join.
        return match upload.status {
            UploadStatus::Cancelled => {
                Err(Error::Conflict(format!("upload {upload_id} was cancelled")))
            }
            _ => uploads::view(ctx, upload).await,
        };
    }
    let key = BlobKey::incoming(&upload.tenant, &upload.upload_id);
    let stored = match ctx.blobs.list_parts(&key, &multipart.storage_id).await {
        Ok(parts) => parts,
        Err(BlobError::NotFound) => return after_storage_forgot(ctx, upload).await,
        Err(e) => return Err(e.into()),
    };
    if ctx.clock.now() > upload.expires_at {
        return Err(expired(&upload));
    }
    let layout = layout_of(&upload, &multipart)?;
    check_complete(&layout, &stored)?;
    match ctx
        .blobs
        .complete_multipart(&key, &multipart.storage_id, &stored)
        .await
    {
        Ok(()) => {}
        Err(BlobError::NotFound) => return after_storage_forgot(ctx, upload).await,
        Err(BlobError::Other(why)) => return Err(Error::Conflict(why)),
        Err(e) => return Err(e.into()),
    }
    audit::transact(
        ctx,
        caller,
        AuditAction::UploadComplete,
        &target,
        Vec::new(),
    )
    .await?;
    tracing::info!(tenant = %upload.tenant, upload_id = %upload.upload_id, parts = stored.len(), "upload in parts completed");
    let current = uploads::load(ctx, &upload.tenant, &upload.upload_id)
        .await?
        .unwrap_or(upload);
    uploads::view(ctx, current).await
}

/// Calls off an open upload whose bytes have not arrived (`DELETE …/uploads/{id}`); its
/// parts are dropped.
pub async fn cancel(
    ctx: &Context,
    caller: &Caller,
    repo: &str,
    upload_id: &str,
) -> Result<(), Error> {
    let mut upload = uploads::find(
        ctx,
        caller,
        repo,
        upload_id,
        Role::Writer,
        Some(AuditAction::UploadCancel),
    )
    .await?;
    let target = uploads::target_of(&upload);
    match upload.status {
        UploadStatus::Pending => {}
        UploadStatus::Cancelled => return Ok(()),
        UploadStatus::Scanning => {
            return Err(Error::Conflict(format!(
                "upload {upload_id} is being checked by the pipeline; it can no longer be cancelled"
            )));
        }
        UploadStatus::Published | UploadStatus::Rejected => {
            return Err(Error::Conflict(format!(
                "upload {upload_id} is settled ({}); delete the version to remove a published file",
                status_word(upload.status)
            )));
        }
    }
    let key = BlobKey::incoming(&upload.tenant, &upload.upload_id);
    if ctx.blobs.head(&key).await?.is_some() {
        return Err(Error::Conflict(format!(
            "the bytes of upload {upload_id} have arrived; the pipeline settles it now"
        )));
    }
    upload.status = UploadStatus::Cancelled;
    upload.reason = Some(format!("cancelled by {}", caller.principal));
    upload.updated_at = ctx.clock.now();
    let writes = vec![crate::ports::Write::Put {
        item: uploads::upload_item(&upload)?,
        condition: Some(uploads::status_is(UploadStatus::Pending)),
    }];
    match audit::transact(ctx, caller, AuditAction::UploadCancel, &target, writes).await {
        Ok(()) => {}
        Err(crate::ports::TableError::TransactionCanceled { .. }) => {
            return Err(Error::Conflict(format!(
                "upload {upload_id} changed meanwhile; read it again"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    // Bytes that land after this have no upload to go to: the storage event removes them.
    if let Some(multipart) = &upload.multipart
        && let Err(e) = ctx.blobs.abort_multipart(&key, &multipart.storage_id).await
    {
        tracing::warn!(error = %e, %key, "cancelled upload's parts not dropped; the lifecycle rule will");
    }
    Ok(())
}

/// What `GET …/uploads/{id}` shows of the parts; `None` for a single PUT.
pub async fn view(ctx: &Context, upload: &Upload) -> Result<Option<MultipartView>, Error> {
    let Some(multipart) = &upload.multipart else {
        return Ok(None);
    };
    let mut parts = Vec::new();
    let done = match upload.status {
        UploadStatus::Pending => {
            let key = BlobKey::incoming(&upload.tenant, &upload.upload_id);
            match ctx.blobs.list_parts(&key, &multipart.storage_id).await {
                Ok(stored) => {
                    parts = stored
                        .into_iter()
                        .map(|p| StoredPartView {
                            number: p.number,
                            size: p.size,
                            sha256: p.sha256,
                        })
                        .collect();
                    false
                }
                Err(BlobError::NotFound) => ctx.blobs.head(&key).await?.is_some(),
                Err(e) => return Err(e.into()),
            }
        }
        UploadStatus::Scanning | UploadStatus::Published => true,
        // Refused by the pipeline (which ran on the whole file) or expired before.
        UploadStatus::Rejected => upload.execution_id.is_some(),
        UploadStatus::Cancelled => false,
    };
    Ok(Some(MultipartView {
        part_size: multipart.part_size,
        part_count: multipart.part_count,
        completed: done,
        parts,
    }))
}

/// Whether storage holds the whole file of this upload in parts.
async fn completed(ctx: &Context, upload: &Upload) -> Result<bool, Error> {
    Ok(view(ctx, upload).await?.is_some_and(|v| v.completed))
}

/// Storage no longer knows the upload: either a completion whose answer was lost (the
/// object is there) or an abort (expiry, cancel, the lifecycle rule).
async fn after_storage_forgot(ctx: &Context, upload: Upload) -> Result<UploadView, Error> {
    let key = BlobKey::incoming(&upload.tenant, &upload.upload_id);
    if ctx.blobs.head(&key).await?.is_some() {
        return uploads::view(ctx, upload).await;
    }
    Err(Error::Conflict(format!(
        "storage no longer holds the parts of upload {} (expired or aborted); start a new upload",
        upload.upload_id
    )))
}

/// The layout of an upload in parts that still takes parts.
fn open_multipart(ctx: &Context, upload: &Upload) -> Result<(MultipartUpload, PartLayout), Error> {
    let Some(multipart) = upload.multipart.clone() else {
        return Err(Error::Conflict(format!(
            "upload {} is one PUT, not parts",
            upload.upload_id
        )));
    };
    if upload.status != UploadStatus::Pending {
        return Err(Error::Conflict(format!(
            "upload {} is {}: it takes no more parts",
            upload.upload_id,
            status_word(upload.status)
        )));
    }
    if ctx.clock.now() > upload.expires_at {
        return Err(expired(upload));
    }
    let layout = layout_of(upload, &multipart)?;
    Ok((multipart, layout))
}

fn layout_of(upload: &Upload, multipart: &MultipartUpload) -> Result<PartLayout, Error> {
    PartLayout::new(upload.size, multipart.part_size)
        .map_err(|e| Error::Internal(format!("stored upload layout is invalid: {e}")))
}

fn expired(upload: &Upload) -> Error {
    Error::Conflict(format!(
        "upload {} expired at {}; start a new upload",
        upload.upload_id,
        upload
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    ))
}

fn status_word(status: UploadStatus) -> &'static str {
    match status {
        UploadStatus::Pending => "pending",
        UploadStatus::Scanning => "scanning",
        UploadStatus::Published => "published",
        UploadStatus::Rejected => "rejected",
        UploadStatus::Cancelled => "cancelled",
    }
}

/// Checks the parts asked for: numbers within the layout, each once, digests well formed,
/// `at_least` to `MAX_PARTS_PER_REQUEST` of them.
fn checked_parts(
    layout: &PartLayout,
    parts: &[PartRequest],
    at_least: usize,
) -> Result<Vec<PartConstraints>, Error> {
    if parts.len() < at_least || parts.len() > MAX_PARTS_PER_REQUEST {
        return Err(Error::Invalid(format!(
            "parts: ask for {at_least} to {MAX_PARTS_PER_REQUEST} parts at a time, got {}",
            parts.len()
        )));
    }
    let mut seen = BTreeSet::new();
    parts
        .iter()
        .map(|p| {
            let Some(size) = layout.length_of(p.number) else {
                return Err(Error::Invalid(format!(
                    "parts: part {} is outside 1 to {}",
                    p.number,
                    layout.count()
                )));
            };
            if !seen.insert(p.number) {
                return Err(Error::Invalid(format!(
                    "parts: part {} is asked for twice",
                    p.number
                )));
            }
            let sha256 = Sha256Hex::parse(&p.sha256)
                .map_err(|_| {
                    Error::Invalid(format!(
                        "parts: part {}: sha256 must be 64 hex digits",
                        p.number
                    ))
                })?
                .to_string();
            Ok(PartConstraints {
                number: p.number,
                offset: layout.offset_of(p.number).unwrap_or_default(),
                size,
                sha256,
            })
        })
        .collect()
}

async fn presign(
    ctx: &Context,
    upload: &Upload,
    layout: &PartLayout,
    parts: &[PartConstraints],
) -> Result<Vec<PartTicket>, Error> {
    let Some(multipart) = &upload.multipart else {
        return Ok(Vec::new());
    };
    debug_assert_eq!(layout.count(), multipart.part_count);
    let key = BlobKey::incoming(&upload.tenant, &upload.upload_id);
    // A part URL never outlives its upload.
    let left = (upload.expires_at - ctx.clock.now()).max(time::Duration::seconds(1));
    let ttl = ctx
        .settings
        .upload_url_ttl
        .min(std::time::Duration::try_from(left).unwrap_or_default());
    let mut tickets = Vec::with_capacity(parts.len());
    for part in parts {
        let PresignedRequest {
            url,
            method,
            headers,
            expires_at,
        } = ctx
            .blobs
            .presign_part(&key, &multipart.storage_id, part, ttl)
            .await?;
        tickets.push(PartTicket {
            number: part.number,
            url,
            method,
            headers,
            expires_at,
        });
    }
    Ok(tickets)
}

/// Every part of the layout is stored, each of its length: otherwise what is missing or
/// wrong, for the client to send again.
fn check_complete(layout: &PartLayout, stored: &[StoredPart]) -> Result<(), Error> {
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    let mut by_number = stored.iter().peekable();
    for number in 1..=layout.count() {
        while by_number.next_if(|p| p.number < number).is_some() {}
        match by_number.next_if(|p| p.number == number) {
            Some(part) if Some(part.size) == layout.length_of(number) => {}
            Some(part) => wrong.push(format!(
                "part {number} is {} bytes, expected {}",
                part.size,
                layout.length_of(number).unwrap_or_default()
            )),
            None => missing.push(number),
        }
    }
    if missing.is_empty() && wrong.is_empty() {
        return Ok(());
    }
    let mut why = Vec::new();
    if !missing.is_empty() {
        why.push(format!(
            "parts missing: {} (of {})",
            abbreviated(&missing),
            layout.count()
        ));
    }
    why.extend(wrong);
    Err(Error::Conflict(format!(
        "the upload is not complete: {}; send those parts, then complete again",
        why.join("; ")
    )))
}

/// "1, 2, 3, … and 37 more": a detail stays readable at 10,000 missing parts.
fn abbreviated(numbers: &[u32]) -> String {
    const SHOWN: usize = 20;
    let head: Vec<String> = numbers.iter().take(SHOWN).map(u32::to_string).collect();
    match numbers.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{}, … and {more} more", head.join(", ")),
        _ => head.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn stored(number: u32, size: u64) -> StoredPart {
        StoredPart {
            number,
            size,
            etag: format!("e{number}"),
            sha256: None,
        }
    }

    #[test]
    fn completion_names_missing_and_wrong_parts() {
        let layout = PartLayout::new(12 * MIB, 5 * MIB).expect("valid");
        let all = [stored(1, 5 * MIB), stored(2, 5 * MIB), stored(3, 2 * MIB)];
        assert!(check_complete(&layout, &all).is_ok());
        let why = check_complete(&layout, &all[..2]).expect_err("incomplete");
        assert!(why.to_string().contains("parts missing: 3 (of 3)"), "{why}");
        let short = [stored(1, 5 * MIB), stored(2, MIB), stored(3, 2 * MIB)];
        let why = check_complete(&layout, &short).expect_err("wrong size");
        assert!(
            why.to_string()
                .contains("part 2 is 1048576 bytes, expected 5242880"),
            "{why}"
        );
        // A part past the layout (storage takes any number up to 10,000) is no substitute.
        let beyond = [stored(1, 5 * MIB), stored(3, 2 * MIB), stored(4, 5 * MIB)];
        let why = check_complete(&layout, &beyond).expect_err("incomplete");
        assert!(why.to_string().contains("parts missing: 2"), "{why}");
    }

    #[test]
    fn long_lists_of_missing_parts_are_cut() {
        let numbers: Vec<u32> = (1..=57).collect();
        let text = abbreviated(&numbers);
        assert!(text.ends_with("20, … and 37 more"), "{text}");
        assert_eq!(abbreviated(&[4, 9]), "4, 9");
    }

    #[test]
    fn asked_parts_are_checked_against_the_layout() {
        let layout = PartLayout::new(12 * MIB, 5 * MIB).expect("valid");
        let sha = "ab".repeat(32);
        let ask = |number: u32| PartRequest {
            number,
            sha256: sha.clone(),
        };
        let parts = checked_parts(&layout, &[ask(3), ask(1)], 1).expect("valid");
        assert_eq!(
            parts.iter().map(|p| (p.number, p.size)).collect::<Vec<_>>(),
            [(3, 2 * MIB), (1, 5 * MIB)]
        );
        for (bad, needle) in [
            (vec![ask(0)], "outside 1 to 3"),
            (vec![ask(4)], "outside 1 to 3"),
            (vec![ask(2), ask(2)], "twice"),
            (vec![], "1 to 100"),
            (
                vec![PartRequest {
                    number: 1,
                    sha256: "xyz".into(),
                }],
                "64 hex",
            ),
        ] {
            let why = checked_parts(&layout, &bad, 1).expect_err("refused");
            assert!(why.to_string().contains(needle), "{why}");
        }
        let many: Vec<_> = (1..=101).map(|_| ask(1)).collect();
        let why = checked_parts(&layout, &many, 0).expect_err("too many");
        assert!(
            matches!(&why, Error::Invalid(m) if m.contains("0 to 100 parts at a time, got 101")),
            "{why}"
        );
    }
}
