//! Uploads in parts: the same operations, checks and outcomes on S3 and on the embedded
//! store, driven through real HTTP requests on the presigned part URLs.

use std::sync::Arc;

use bytes::Bytes;
use trove_core::domain::keys::BlobKey;
use trove_core::ports::{BlobError, Blobs, MIN_PART_SIZE, PartConstraints, StoredPart};

use super::{TTL, assert_refused, payload, read_all, send, sha256_hex};

/// Part `number` of an upload cut in parts of `MIN_PART_SIZE`.
fn part(number: u32, bytes: &[u8]) -> PartConstraints {
    PartConstraints {
        number,
        offset: u64::from(number - 1) * MIN_PART_SIZE,
        size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    }
}

/// Presigns and sends one part; storage must take it.
async fn put_part(blobs: &dyn Blobs, key: &BlobKey, id: &str, number: u32, bytes: &Bytes) {
    let req = blobs
        .presign_part(key, id, &part(number, bytes), TTL)
        .await
        .expect("presign part");
    assert_eq!(req.method, "PUT");
    assert_eq!(req.headers["content-length"], bytes.len().to_string());
    let resp = send(&req, Some(bytes.clone())).await;
    let status = resp.status();
    assert!(
        status.is_success(),
        "part {number}: {status} {}",
        resp.text().await.unwrap_or_default()
    );
}

/// A checksum storage reports is the part's (moto reports none; S3 and the embedded store
/// report each part's).
fn assert_checksums(parts: &[StoredPart], bytes: &[&Bytes]) {
    for (part, bytes) in parts.iter().zip(bytes) {
        if let Some(sha) = &part.sha256 {
            assert_eq!(*sha, sha256_hex(bytes), "part {}", part.number);
        }
    }
}

fn min_part(seed: u64) -> Bytes {
    payload(MIN_PART_SIZE as usize, seed)
}

pub async fn multipart_round_trip(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("multipart-round-trip");
    let (first, last) = (min_part(11), payload(1000, 12));
    let id = blobs
        .create_multipart(&key, "application/octet-stream")
        .await
        .expect("create");
    assert!(blobs.list_parts(&key, &id).await.expect("list").is_empty());
    put_part(blobs.as_ref(), &key, &id, 1, &first).await;
    put_part(blobs.as_ref(), &key, &id, 2, &last).await;

    let parts = blobs.list_parts(&key, &id).await.expect("list");
    let seen: Vec<_> = parts.iter().map(|p| (p.number, p.size)).collect();
    assert_eq!(seen, [(1, first.len() as u64), (2, last.len() as u64)]);
    assert_checksums(&parts, &[&first, &last]);
    assert_eq!(
        blobs.head(&key).await.expect("head"),
        None,
        "before completion"
    );

    blobs
        .complete_multipart(&key, &id, &parts)
        .await
        .expect("complete");
    let (stored, _) = read_all(blobs.as_ref(), &key).await;
    assert_eq!(stored.len(), first.len() + last.len());
    assert!(stored[..first.len()] == first[..] && stored[first.len()..] == last[..]);

    // Finished: no longer listed. Completing again (a retry whose answer was lost) either
    // finds no upload or succeeds again, as S3 may; the object stays as it is.
    assert!(matches!(
        blobs.list_parts(&key, &id).await,
        Err(BlobError::NotFound)
    ));
    let again = blobs.complete_multipart(&key, &id, &parts).await;
    assert!(
        matches!(again, Ok(()) | Err(BlobError::NotFound)),
        "{again:?}"
    );
    assert_eq!(read_all(blobs.as_ref(), &key).await.0, stored);
}

pub async fn completing_with_a_part_storage_does_not_hold_is_refused(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("multipart-wrong-part");
    let (first, last) = (min_part(21), payload(10, 22));
    let id = blobs
        .create_multipart(&key, "application/octet-stream")
        .await
        .expect("create");
    put_part(blobs.as_ref(), &key, &id, 1, &first).await;
    put_part(blobs.as_ref(), &key, &id, 2, &last).await;
    let parts = blobs.list_parts(&key, &id).await.expect("list");

    let mut wrong_etag = parts.clone();
    wrong_etag[1].etag = "\"0123456789abcdef0123456789abcdef\"".into();
    wrong_etag[1].sha256 = Some(sha256_hex(b"other"));
    let never_sent = vec![
        parts[0].clone(),
        StoredPart {
            number: 3,
            ..parts[1].clone()
        },
    ];
    for (what, attempt) in [("wrong ETag", wrong_etag), ("unsent part", never_sent)] {
        let refused = blobs.complete_multipart(&key, &id, &attempt).await;
        assert!(
            matches!(refused, Err(BlobError::Other(_))),
            "{what}: {refused:?}"
        );
        assert_eq!(blobs.head(&key).await.expect("head"), None, "{what}");
    }
    // Refusals leave the upload as it was: it still completes with the right parts.
    assert_eq!(blobs.list_parts(&key, &id).await.expect("list"), parts);
    blobs
        .complete_multipart(&key, &id, &parts)
        .await
        .expect("complete");
    assert_eq!(
        blobs.head(&key).await.expect("head").map(|i| i.size),
        Some(first.len() as u64 + 10)
    );
}

pub async fn a_small_part_before_the_last_is_refused(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("multipart-small-part");
    let id = blobs
        .create_multipart(&key, "application/octet-stream")
        .await
        .expect("create");
    put_part(blobs.as_ref(), &key, &id, 1, &payload(1000, 31)).await;
    put_part(blobs.as_ref(), &key, &id, 2, &payload(1000, 32)).await;
    let parts = blobs.list_parts(&key, &id).await.expect("list");
    let refused = blobs.complete_multipart(&key, &id, &parts).await;
    assert!(matches!(refused, Err(BlobError::Other(_))), "{refused:?}");
    assert_eq!(blobs.head(&key).await.expect("head"), None);
    blobs.abort_multipart(&key, &id).await.expect("abort");
}

pub async fn abort_then_complete_finds_no_upload(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("multipart-abort");
    let id = blobs
        .create_multipart(&key, "application/octet-stream")
        .await
        .expect("create");
    put_part(blobs.as_ref(), &key, &id, 1, &payload(100, 41)).await;
    let parts = blobs.list_parts(&key, &id).await.expect("list");
    blobs.abort_multipart(&key, &id).await.expect("abort");
    blobs.abort_multipart(&key, &id).await.expect("abort again");
    assert!(matches!(
        blobs.list_parts(&key, &id).await,
        Err(BlobError::NotFound)
    ));
    // S3 and the embedded store answer NoSuchUpload; moto fails with a 500 (no body).
    let completed = blobs.complete_multipart(&key, &id, &parts).await;
    assert!(
        match &completed {
            Err(BlobError::NotFound) => true,
            Err(BlobError::Unavailable(m)) => m.contains("StatusCode(500)"),
            _ => false,
        },
        "{completed:?}"
    );
    assert_eq!(blobs.head(&key).await.expect("head"), None);
}

/// A URL issued again for a part (the first expired, or the bytes were lost) replaces it.
pub async fn a_part_sent_again_replaces_the_first(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("multipart-again");
    let id = blobs
        .create_multipart(&key, "application/octet-stream")
        .await
        .expect("create");
    let (before, after) = (payload(500, 51), payload(700, 52));
    put_part(blobs.as_ref(), &key, &id, 1, &before).await;
    put_part(blobs.as_ref(), &key, &id, 1, &after).await;
    let parts = blobs.list_parts(&key, &id).await.expect("list");
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].size, after.len() as u64);
    assert_checksums(&parts, &[&after]);
    blobs
        .complete_multipart(&key, &id, &parts)
        .await
        .expect("complete");
    assert_eq!(read_all(blobs.as_ref(), &key).await.0, after);
}

/// moto takes any body on a presigned URL (see `blobs.rs`): the embedded endpoint alone
/// shows that a part's URL is bound to its length, checksum, upload, number and offset.
pub async fn a_part_url_is_bound_to_its_bytes_upload_number_and_offset(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("multipart-bound");
    let id = blobs
        .create_multipart(&key, "application/octet-stream")
        .await
        .expect("create");
    let declared = payload(4096, 61);
    let req = blobs
        .presign_part(&key, &id, &part(1, &declared), TTL)
        .await
        .expect("presign");
    assert_refused(send(&req, Some(payload(4096, 62))).await, "other bytes").await;
    let mut short = req.clone();
    short.headers.insert("content-length".into(), "4095".into());
    assert_refused(
        send(&short, Some(declared.slice(..4095))).await,
        "other length",
    )
    .await;
    let renumbered = req.url.replace("X-Trove-Part=1", "X-Trove-Part=2");
    assert_ne!(renumbered, req.url);
    let mut moved = req.clone();
    moved.url = renumbered;
    assert_refused(send(&moved, Some(declared.clone())).await, "other part").await;
    let shifted = req.url.replace("X-Trove-Offset=0", "X-Trove-Offset=4096");
    assert_ne!(shifted, req.url);
    let mut moved = req.clone();
    moved.url = shifted;
    assert_refused(send(&moved, Some(declared.clone())).await, "other offset").await;
    assert!(blobs.list_parts(&key, &id).await.expect("list").is_empty());

    blobs.abort_multipart(&key, &id).await.expect("abort");
    let resp = send(&req, Some(declared)).await;
    assert_eq!(
        resp.status(),
        reqwest::StatusCode::NOT_FOUND,
        "aborted upload"
    );
}

/// The embedded store writes parts in place in one file: it joins parts that follow one
/// another (the only kind Trove's uploads have), where S3 also takes gaps.
pub async fn the_embedded_store_joins_consecutive_parts_only(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("multipart-gap");
    let id = blobs
        .create_multipart(&key, "application/octet-stream")
        .await
        .expect("create");
    let (first, third) = (min_part(71), payload(100, 73));
    put_part(blobs.as_ref(), &key, &id, 1, &first).await;
    put_part(blobs.as_ref(), &key, &id, 3, &third).await;
    let parts = blobs.list_parts(&key, &id).await.expect("list");
    let refused = blobs.complete_multipart(&key, &id, &parts).await;
    assert!(
        matches!(&refused, Err(BlobError::Other(why)) if why.contains("follow one another")),
        "{refused:?}"
    );
    assert_eq!(blobs.head(&key).await.expect("head"), None);
    let second = min_part(72);
    put_part(blobs.as_ref(), &key, &id, 2, &second).await;
    let parts = blobs.list_parts(&key, &id).await.expect("list");
    blobs
        .complete_multipart(&key, &id, &parts)
        .await
        .expect("complete");
    let stored = read_all(blobs.as_ref(), &key).await.0;
    assert!(stored == [first, second, third].concat(), "bytes differ");
}

/// A part still arriving holds the completion back, and a part sent after the completion
/// is refused: no byte of a finished object changes.
pub async fn completion_waits_for_parts_in_flight_and_then_closes_the_upload(
    blobs: Arc<dyn Blobs>,
) {
    let key = BlobKey::scratch("multipart-in-flight");
    let id = blobs
        .create_multipart(&key, "application/octet-stream")
        .await
        .expect("create");
    let (first, last) = (min_part(81), payload(4096, 82));
    put_part(blobs.as_ref(), &key, &id, 1, &first).await;
    put_part(blobs.as_ref(), &key, &id, 2, &last).await;
    let parts = blobs.list_parts(&key, &id).await.expect("list");

    // Part 2 again, the same bytes, its first half now and its second half later.
    let req = blobs
        .presign_part(&key, &id, &part(2, &last), TTL)
        .await
        .expect("presign");
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let body = reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let resend = {
        let req = req.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .put(&req.url)
                .headers(super::header_map(req.headers.clone()))
                .body(body)
                .send()
                .await
                .expect("HTTP request")
                .status()
        })
    };
    tx.send(Ok(last.slice(..2048))).await.expect("first half");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let completing = {
        let (blobs, key, id) = (blobs.clone(), key.clone(), id.clone());
        tokio::spawn(async move { blobs.complete_multipart(&key, &id, &parts).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !completing.is_finished(),
        "completed while a part was arriving"
    );
    assert_eq!(blobs.head(&key).await.expect("head"), None);
    tx.send(Ok(last.slice(2048..))).await.expect("second half");
    drop(tx);
    assert!(resend.await.expect("resend").is_success());
    completing.await.expect("task").expect("complete");
    let stored = read_all(blobs.as_ref(), &key).await.0;
    assert!(
        stored == [first.clone(), last.clone()].concat(),
        "bytes differ"
    );

    // The upload is over: its part URLs are refused and the object stays as it is.
    let late = send(&req, Some(last.clone())).await;
    assert_eq!(late.status(), reqwest::StatusCode::NOT_FOUND);
    assert!(read_all(blobs.as_ref(), &key).await.0 == stored);
}
