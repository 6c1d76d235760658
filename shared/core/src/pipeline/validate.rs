//! Validate: the stored bytes are what the uploader declared. Size and SHA-256 are
//! recomputed from the object itself, streamed, never taken from metadata; and a name that
//! promises an archive (`.zip`, `.tar.gz`, ...) must carry that archive's magic bytes.

use futures::StreamExt as _;
use sha2::{Digest, Sha256};

use crate::domain::keys::BlobKey;
use crate::domain::model::{Repository, Upload, UploadStatus};
use crate::domain::names::Sha256Hex;
use crate::pipeline::format;
use crate::pipeline::{StepError, StepInput};
use crate::ports::BlobError;
use crate::services::Context;
use crate::services::catalog::uploads;

pub async fn run(ctx: &Context, input: &StepInput) -> Result<(), StepError> {
    let Some(upload) = crate::pipeline::claim(ctx, input).await? else {
        return Ok(());
    };

    let repo = crate::pipeline::accepted_repository(ctx, &upload).await?;
    let limit = upload.size.min(repo.max_file_size);
    let key = BlobKey::incoming(&upload.tenant, &upload.upload_id);
    let mut stream = match ctx.blobs.read(&key).await {
        Ok(s) => s,
        Err(BlobError::NotFound) => {
            return Err(StepError::Rejected(
                "no file was uploaded for this upload".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mut hasher = Sha256::new();
    let mut digests = crate::formats::for_format(repo.format).and_then(|f| f.byte_digests());
    let mut size: u64 = 0;
    // The first bytes, for the format check: all a magic number needs.
    let mut head = Vec::with_capacity(format::SNIFF_LEN);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = format::SNIFF_LEN - head.len();
        head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        size += chunk.len() as u64;
        if size > limit {
            return Err(StepError::Rejected(format!(
                "size mismatch: declared {} bytes, stored more than {limit}",
                upload.size
            )));
        }
        hasher.update(&chunk);
        if let Some(d) = digests.as_mut() {
            d.update(&chunk);
        }
    }
    if size != upload.size {
        return Err(StepError::Rejected(format!(
            "size mismatch: declared {} bytes, stored {size}",
            upload.size
        )));
    }
    let stored = Sha256Hex::from_digest(&hasher.finalize());
    if stored != upload.sha256 {
        return Err(StepError::Rejected(format!(
            "checksum mismatch: declared {}, stored {stored}",
            upload.sha256
        )));
    }
    format::check_claim(upload.filename.as_str(), &head).map_err(StepError::Rejected)?;
    file_attributes(&repo, &upload)?;
    if let Some(d) = digests {
        let mut upload = upload;
        upload.digests = d.finish();
        upload.updated_at = ctx.clock.now();
        uploads::transition(ctx, UploadStatus::Scanning, &upload).await?;
    }
    Ok(())
}

/// The repository's format reads the file's identity from the manifest the scan kept (the
/// scanner walks the archive once; this step never opens it): it must name the package and
/// version the file was uploaded as. Returns what the format keeps on the published file.
pub fn file_attributes(
    repo: &Repository,
    upload: &Upload,
) -> Result<crate::formats::FileAttributes, StepError> {
    let Some(plugin) = crate::formats::for_format(repo.format) else {
        return Ok(Default::default());
    };
    // Checked when the upload was accepted; again here for uploads accepted before.
    let expected = crate::formats::check_upload(
        plugin,
        upload.package.as_str(),
        upload.version.as_str(),
        upload.filename.as_str(),
    )
    .map_err(StepError::Rejected)?;
    let manifest = upload.scan.as_ref().and_then(|s| s.manifest.as_ref());
    plugin
        .check_manifest(upload.filename.as_str(), &expected, manifest)
        .map_err(StepError::Rejected)
}
