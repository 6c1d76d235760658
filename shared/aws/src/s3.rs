//! `Blobs` over one S3 bucket.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::{PresignedRequest as SdkPresigned, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use time::OffsetDateTime;

use super::{Fault, fault};
use trove_core::domain::keys::BlobKey;
use trove_core::ports::blobs::{
    BlobError, BlobInfo, BlobListing, BlobPage, Blobs, ByteStream, PartConstraints,
    PresignedRequest, PutConstraints, StoredPart, checksum_base64, content_disposition,
};

/// CopyObject refuses sources larger than this; larger objects are copied part by part.
const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;
const COPY_PART_SIZE: u64 = 512 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;
const COPY_PARALLELISM: usize = 4;

/// An S3 client for this configuration. An endpoint override means an emulator on loopback,
/// which cannot serve virtual-hosted bucket names (`bucket.127.0.0.1`), hence path style.
pub fn s3_client(sdk: &SdkConfig) -> Client {
    let builder = aws_sdk_s3::config::Builder::from(sdk).interceptor(crate::meter::MeterRequests);
    let builder = if sdk.endpoint_url().is_some() {
        builder.force_path_style(true)
    } else {
        builder
    };
    Client::from_conf(builder.build())
}

#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn copy_multipart(
        &self,
        from: &BlobKey,
        to: &BlobKey,
        size: u64,
        content_type: Option<String>,
    ) -> Result<(), BlobError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(to.as_str())
            .set_content_type(content_type)
            .send()
            .await
            .map_err(|e| blob_error(&fault(&e)))?;
        let upload_id = created
            .upload_id
            .ok_or_else(|| BlobError::Other("multipart upload without an id".to_owned()))?;
        let source = copy_source(&self.bucket, from);
        let parts = futures::stream::iter(part_ranges(size).into_iter().enumerate())
            .map(|(i, (first, last))| {
                let source = source.clone();
                let upload_id = upload_id.clone();
                async move {
                    let part_number = i32::try_from(i + 1)
                        .map_err(|_| BlobError::Other("too many parts".to_owned()))?;
                    let out = self
                        .client
                        .upload_part_copy()
                        .bucket(&self.bucket)
                        .key(to.as_str())
                        .upload_id(upload_id)
                        .part_number(part_number)
                        .copy_source(source)
                        .copy_source_range(format!("bytes={first}-{last}"))
                        .send()
                        .await
                        .map_err(|e| blob_error(&fault(&e)))?;
                    let e_tag = out
                        .copy_part_result
                        .and_then(|r| r.e_tag)
                        .ok_or_else(|| BlobError::Other("part copy returned no ETag".to_owned()))?;
                    Ok::<_, BlobError>(
                        CompletedPart::builder()
                            .part_number(part_number)
                            .e_tag(e_tag)
                            .build(),
                    )
                }
            })
            .buffered(COPY_PARALLELISM)
            .try_collect::<Vec<_>>()
            .await;
        let completed = match parts {
            Ok(parts) => self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(to.as_str())
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| blob_error(&fault(&e))),
            Err(e) => Err(e),
        };
        if completed.is_err() {
            // Parts of an abandoned upload are billed until aborted; the destination never
            // appeared, so the copy stays all-or-nothing either way.
            if let Err(e) = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(to.as_str())
                .upload_id(&upload_id)
                .send()
                .await
            {
                tracing::warn!(error = ?fault(&e), key = %to, "aborting a multipart copy failed");
            }
        }
        completed
    }
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn presign_put(
        &self,
        key: &BlobKey,
        constraints: &PutConstraints,
        ttl: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        let signed = constraints.signed_headers()?;
        let checksum = constraints.checksum_base64()?;
        let size = i64::try_from(constraints.size)
            .map_err(|_| BlobError::Other("size out of range".to_owned()))?;
        let (config, expires_at) = presigning(ttl)?;
        // Length, type and checksum go in as request headers so they are signed: S3 then
        // refuses any other body (ARCHITECTURE.md, "Facts the code relies on").
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_length(size)
            .content_type(&constraints.content_type)
            .checksum_sha256(checksum)
            .presigned(config)
            .await
            .map_err(|e| blob_error(&fault(&e)))?;
        Ok(presigned_put(&presigned, signed, expires_at))
    }

    async fn presign_get(
        &self,
        key: &BlobKey,
        ttl: Duration,
        download_name: Option<&str>,
    ) -> Result<PresignedRequest, BlobError> {
        let (config, expires_at) = presigning(ttl)?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .set_response_content_disposition(download_name.and_then(content_disposition))
            .presigned(config)
            .await
            .map_err(|e| blob_error(&fault(&e)))?;
        Ok(PresignedRequest {
            url: presigned.uri().to_owned(),
            method: "GET".to_owned(),
            headers: presigned_headers(&presigned),
            expires_at,
        })
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobInfo>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(Some(BlobInfo {
                size: out
                    .content_length
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
            })),
            Err(e) => match blob_error(&fault(&e)) {
                BlobError::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn read(&self, key: &BlobKey) -> Result<ByteStream, BlobError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| blob_error(&fault(&e)))?;
        Ok(byte_stream(out.body))
    }

    async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(from.as_str())
            .send()
            .await
            .map_err(|e| blob_error(&fault(&e)))?;
        let size = head
            .content_length
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        if size > MAX_SINGLE_COPY {
            return self.copy_multipart(from, to, size, head.content_type).await;
        }
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to.as_str())
            .copy_source(copy_source(&self.bucket, from))
            .send()
            .await
            .map_err(|e| blob_error(&fault(&e)))?;
        Ok(())
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match blob_error(&fault(&e)) {
                BlobError::NotFound => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn list(&self, prefix: &str, cursor: Option<String>) -> Result<BlobPage, BlobError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_continuation_token(cursor)
            .send()
            .await
            .map_err(|e| blob_error(&fault(&e)))?;
        let items = out
            .contents()
            .iter()
            .filter_map(|object| {
                let key = BlobKey::from_stored(object.key()?)?;
                let last_modified = object
                    .last_modified()
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok())
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                Some(BlobListing {
                    key,
                    size: object
                        .size()
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0),
                    last_modified,
                })
            })
            .collect();
        let cursor = if out.is_truncated() == Some(true) {
            out.next_continuation_token().map(str::to_owned)
        } else {
            None
        };
        Ok(BlobPage { items, cursor })
    }

    async fn create_multipart(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<String, BlobError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            // Every part must then come with its SHA-256, which S3 checks on arrival.
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .map_err(|e| blob_error(&fault(&e)))?;
        created
            .upload_id
            .ok_or_else(|| BlobError::Other("multipart upload without an id".to_owned()))
    }

    async fn presign_part(
        &self,
        key: &BlobKey,
        multipart_id: &str,
        part: &PartConstraints,
        ttl: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        let signed = part.signed_headers()?;
        let size = i64::try_from(part.size)
            .map_err(|_| BlobError::Other("part size out of range".to_owned()))?;
        let number = i32::try_from(part.number)
            .map_err(|_| BlobError::Other("part number out of range".to_owned()))?;
        let (config, expires_at) = presigning(ttl)?;
        let presigned = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(multipart_id)
            .part_number(number)
            .content_length(size)
            .checksum_sha256(part.checksum_base64()?)
            .presigned(config)
            .await
            .map_err(|e| blob_error(&fault(&e)))?;
        Ok(presigned_put(&presigned, signed, expires_at))
    }

    async fn list_parts(
        &self,
        key: &BlobKey,
        multipart_id: &str,
    ) -> Result<Vec<StoredPart>, BlobError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(multipart_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| blob_error(&fault(&e)))?;
            for part in out.parts() {
                let (Some(number), Some(etag)) = (part.part_number(), part.e_tag()) else {
                    continue;
                };
                let Ok(number) = u32::try_from(number) else {
                    continue;
                };
                parts.push(StoredPart {
                    number,
                    size: part.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    etag: etag.to_owned(),
                    sha256: part.checksum_sha256().and_then(hex_of_base64),
                });
            }
            match out.next_part_number_marker() {
                Some(next) if out.is_truncated() == Some(true) => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    async fn complete_multipart(
        &self,
        key: &BlobKey,
        multipart_id: &str,
        parts: &[StoredPart],
    ) -> Result<(), BlobError> {
        let mut completed = Vec::with_capacity(parts.len());
        for part in parts {
            let number = i32::try_from(part.number)
                .map_err(|_| BlobError::Other("part number out of range".to_owned()))?;
            let checksum = part.sha256.as_deref().map(checksum_base64).transpose()?;
            completed.push(
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(&part.etag)
                    .set_checksum_sha256(checksum)
                    .build(),
            );
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(multipart_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| blob_error(&fault(&e)))?;
        Ok(())
    }

    async fn abort_multipart(&self, key: &BlobKey, multipart_id: &str) -> Result<(), BlobError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(multipart_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match blob_error(&fault(&e)) {
                BlobError::NotFound => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn put(&self, key: &BlobKey, body: Bytes, content_type: &str) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .body(SdkByteStream::from(body))
            .send()
            .await
            .map_err(|e| blob_error(&fault(&e)))?;
        Ok(())
    }
}

fn presigning(ttl: Duration) -> Result<(PresigningConfig, OffsetDateTime), BlobError> {
    let now = SystemTime::now();
    let config = PresigningConfig::builder()
        .start_time(now)
        .expires_in(ttl)
        .build()
        .map_err(|e| BlobError::Other(format!("presigning: {e}")))?;
    Ok((config, OffsetDateTime::from(now) + ttl))
}

/// A presigned PUT as the port describes it: the SDK's signed headers with the ones the
/// body must carry (`signed`).
fn presigned_put(
    presigned: &SdkPresigned,
    signed: BTreeMap<String, String>,
    expires_at: OffsetDateTime,
) -> PresignedRequest {
    let mut headers = presigned_headers(presigned);
    headers.extend(signed);
    PresignedRequest {
        url: presigned.uri().to_owned(),
        method: "PUT".to_owned(),
        headers,
        expires_at,
    }
}

fn presigned_headers(presigned: &SdkPresigned) -> BTreeMap<String, String> {
    presigned
        .headers()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect()
}

/// The SDK body as the port's stream: chunks flow as S3 sends them, nothing is buffered.
fn byte_stream(body: SdkByteStream) -> ByteStream {
    Box::pin(futures::stream::try_unfold(body, |mut body| async move {
        match body.try_next().await {
            Ok(Some(chunk)) => Ok(Some((chunk, body))),
            Ok(None) => Ok(None),
            Err(e) => Err(BlobError::Unavailable(format!("reading object body: {e}"))),
        }
    }))
}

/// S3 reports a part's checksum as base64 of the raw digest; the port speaks hex.
fn hex_of_base64(b64: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (raw.len() == 32).then(|| hex::encode(raw))
}

/// `bucket/key`, URL-encoded as CopyObject expects (slashes kept).
fn copy_source(bucket: &str, key: &BlobKey) -> String {
    let keep = |b: u8| b.is_ascii_alphanumeric() || b"-._~/".contains(&b);
    format!(
        "{}/{}",
        percent_encode(bucket, keep),
        percent_encode(key.as_str(), keep)
    )
}

fn percent_encode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Inclusive byte ranges of a multipart copy: parts of `COPY_PART_SIZE`, grown when needed to
/// stay within S3's 10,000 parts.
fn part_ranges(size: u64) -> Vec<(u64, u64)> {
    let part = COPY_PART_SIZE.max(size.div_ceil(MAX_PARTS));
    (0..size.div_ceil(part))
        .map(|i| (i * part, ((i + 1) * part).min(size) - 1))
        .collect()
}

fn blob_error(f: &Fault) -> BlobError {
    let not_found = f.status == Some(404)
        || matches!(
            f.code.as_deref(),
            Some("NoSuchKey" | "NotFound" | "NoSuchUpload")
        );
    let forbidden = f.status == Some(403)
        || matches!(
            f.code.as_deref(),
            Some("AccessDenied" | "AllAccessDisabled")
        );
    if not_found {
        BlobError::NotFound
    } else if forbidden {
        BlobError::Forbidden(f.summary.clone())
    } else if f.transient {
        BlobError::Unavailable(f.summary.clone())
    } else {
        BlobError::Other(f.summary.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(status: u16, code: Option<&str>, transient: bool) -> Fault {
        Fault {
            code: code.map(str::to_owned),
            status: Some(status),
            transient,
            summary: format!("{status}"),
        }
    }

    #[test]
    fn a_refused_access_is_neither_absence_nor_a_retry() {
        // A HEAD's error has no body, so no code: the status alone must decide.
        for f in [
            fault(403, None, false),
            fault(403, Some("AccessDenied"), false),
        ] {
            assert!(matches!(blob_error(&f), BlobError::Forbidden(_)), "{f:?}");
        }
        for f in [
            fault(404, None, false),
            fault(404, Some("NoSuchKey"), false),
        ] {
            assert!(matches!(blob_error(&f), BlobError::NotFound), "{f:?}");
        }
        assert!(matches!(
            blob_error(&fault(503, Some("SlowDown"), true)),
            BlobError::Unavailable(_)
        ));
        assert!(matches!(
            blob_error(&fault(400, Some("InvalidRequest"), false)),
            BlobError::Other(_)
        ));
    }

    #[test]
    fn copy_source_encodes_everything_but_slashes() {
        let key = BlobKey::scratch("a b+c");
        assert_eq!(copy_source("bkt", &key), "bkt/scratch/a%20b%2Bc");
    }

    #[test]
    fn part_ranges_cover_the_object_exactly() {
        let size = 6 * 1024 * 1024 * 1024 + 7;
        let ranges = part_ranges(size);
        assert_eq!(ranges.first(), Some(&(0, COPY_PART_SIZE - 1)));
        assert_eq!(ranges.last().map(|r| r.1), Some(size - 1));
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1 + 1, pair[1].0);
        }
        assert_eq!(ranges.len(), 13);

        // 5 TiB needs parts larger than the default to stay within 10,000.
        let huge = 5 * 1024 * 1024 * 1024 * 1024;
        let ranges = part_ranges(huge);
        assert!(ranges.len() as u64 <= MAX_PARTS);
        assert_eq!(ranges.last().map(|r| r.1), Some(huge - 1));
    }
}
