//! The `Blobs` contract, including real HTTP requests on presigned URLs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use trove_core::domain::keys::BlobKey;
use trove_core::ports::clock::ShiftedClock;
use trove_core::ports::{BlobError, Blobs, PresignedRequest, PutConstraints};
use trove_embedded::FileBlobs;

use crate::Fixture;

mod multipart;
pub use multipart::*;

const TTL: Duration = Duration::from_secs(300);

/// A `FileBlobs` on a temporary directory, its URL endpoint served on loopback.
pub async fn local_blobs_with_clock() -> (Fixture<dyn Blobs>, Arc<ShiftedClock>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let base_url = format!("http://{}", listener.local_addr().expect("local addr"));
    let clock = Arc::new(ShiftedClock::default());
    let blobs = Arc::new(FileBlobs::new(
        dir.path().join("blobs"),
        base_url,
        b"contract-test-signing-key-32-bytes!".to_vec(),
        clock.clone(),
    ));
    let router = blobs.clone().router();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("blob endpoint serves");
    });
    (Fixture::new(blobs, Some(dir)), clock)
}

pub async fn local_blobs() -> Fixture<dyn Blobs> {
    local_blobs_with_clock().await.0
}

mod aws {
    use crate::cases;
    cases!(crate::moto::blobs =>
        put_head_read_round_trip,
        multipart_round_trip,
        completing_with_a_part_storage_does_not_hold_is_refused,
        a_small_part_before_the_last_is_refused,
        abort_then_complete_finds_no_upload,
        a_part_sent_again_replaces_the_first,
        put_stream_stores_all_or_nothing,
        list_filters_by_prefix_in_key_order,
        list_pages_with_a_cursor,
        absent_objects,
        copy_then_read_equals,
        delete_is_idempotent,
        presigned_put_stores_exact_bytes,
        presigned_get_returns_exact_bytes,
        presigned_get_names_the_download_as_the_port_says,
    );
}

mod aws_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn presigned_put_signs_length_type_and_checksum() {
        super::presigned_put_signs_length_type_and_checksum(crate::moto::blobs().await.port).await;
    }
}

mod local {
    use crate::cases;
    cases!(super::local_blobs =>
        put_head_read_round_trip,
        multipart_round_trip,
        completing_with_a_part_storage_does_not_hold_is_refused,
        a_small_part_before_the_last_is_refused,
        abort_then_complete_finds_no_upload,
        a_part_sent_again_replaces_the_first,
        put_stream_stores_all_or_nothing,
        list_filters_by_prefix_in_key_order,
        list_pages_with_a_cursor,
        absent_objects,
        copy_then_read_equals,
        delete_is_idempotent,
        presigned_put_stores_exact_bytes,
        presigned_get_returns_exact_bytes,
        presigned_get_names_the_download_as_the_port_says,
    );

    // moto does not enforce presigned-URL semantics (ARCHITECTURE.md, "Facts the code relies on"): it accepts and stores a
    // wrong body, a wrong length, a tampered signature and an expired URL. These properties
    // are therefore tested on the embedded endpoint only; against S3, the Validate step's
    // own re-check of size and sha256 is the guarantee.

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn presigned_put_refuses_a_wrong_body() {
        super::presigned_put_refuses_a_wrong_body(super::local_blobs().await.port).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_part_url_is_bound_to_its_bytes_upload_number_and_offset() {
        super::a_part_url_is_bound_to_its_bytes_upload_number_and_offset(
            super::local_blobs().await.port,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_embedded_store_joins_consecutive_parts_only() {
        super::the_embedded_store_joins_consecutive_parts_only(super::local_blobs().await.port)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn completion_waits_for_parts_in_flight_and_then_closes_the_upload() {
        super::completion_waits_for_parts_in_flight_and_then_closes_the_upload(
            super::local_blobs().await.port,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn presigned_put_refuses_a_wrong_length() {
        super::presigned_put_refuses_a_wrong_length(super::local_blobs().await.port).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tampered_signatures_are_forbidden() {
        super::tampered_signatures_are_forbidden(super::local_blobs().await.port).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expired_urls_are_forbidden() {
        let (fixture, clock) = super::local_blobs_with_clock().await;
        super::expired_urls_are_forbidden(fixture.port.clone(), clock).await;
    }
}

/// Deterministic, incompressible-looking bytes (xorshift), so a wrong offset shows.
fn payload(len: usize, seed: u64) -> Bytes {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn constraints(body: &[u8]) -> PutConstraints {
    PutConstraints {
        size: body.len() as u64,
        sha256: sha256_hex(body),
        content_type: "application/octet-stream".to_owned(),
    }
}

/// Reads a whole object through the port's stream, counting chunks.
async fn read_all(blobs: &dyn Blobs, key: &BlobKey) -> (Vec<u8>, usize) {
    let mut stream = blobs.read(key).await.expect("read");
    let mut out = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
        chunks += 1;
    }
    (out, chunks)
}

fn header_map(headers: impl IntoIterator<Item = (String, String)>) -> HeaderMap {
    headers
        .into_iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                HeaderValue::from_str(&v).expect("header value"),
            )
        })
        .collect()
}

/// Sends the presigned request with exactly its headers.
async fn send(req: &PresignedRequest, body: Option<Bytes>) -> reqwest::Response {
    send_with(req, &req.url, header_map(req.headers.clone()), body).await
}

async fn send_with(
    req: &PresignedRequest,
    url: &str,
    headers: HeaderMap,
    body: Option<Bytes>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).expect("method");
    let mut builder = reqwest::Client::new().request(method, url).headers(headers);
    if let Some(body) = body {
        builder = builder.body(body);
    }
    builder.send().await.expect("HTTP request")
}

pub async fn put_head_read_round_trip(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("round-trip");
    let body = payload(3 * 1024 * 1024 + 17, 1);
    blobs
        .put(&key, body.clone(), "application/octet-stream")
        .await
        .expect("put");
    let info = blobs.head(&key).await.expect("head").expect("stored");
    assert_eq!(info.size, body.len() as u64);
    let (read, chunks) = read_all(&*blobs, &key).await;
    assert_eq!(read.len(), body.len());
    assert!(read == body, "bytes differ");
    assert!(chunks >= 1);

    let empty = BlobKey::scratch("empty");
    blobs
        .put(&empty, Bytes::new(), "text/plain")
        .await
        .expect("put");
    assert_eq!(
        blobs.head(&empty).await.expect("head").map(|i| i.size),
        Some(0)
    );
    assert!(read_all(&*blobs, &empty).await.0.is_empty());

    // A put replaces.
    blobs
        .put(&empty, Bytes::from_static(b"now"), "text/plain")
        .await
        .expect("put");
    assert_eq!(read_all(&*blobs, &empty).await.0, b"now");
}

/// A streamed write stores exactly the bytes sent; a stream that fails part-way leaves no
/// object (an upload a client broke off is never half stored).
pub async fn put_stream_stores_all_or_nothing(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("streamed");
    let body = payload(2 * 1024 * 1024 + 5, 7);
    let chunks: Vec<Result<Bytes, trove_core::ports::BlobError>> = body
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    blobs
        .put_stream(
            &key,
            Box::pin(futures::stream::iter(chunks)),
            "application/octet-stream",
        )
        .await
        .expect("put_stream");
    let (read, _) = read_all(&*blobs, &key).await;
    assert!(read == body, "bytes differ");

    let broken = BlobKey::scratch("broken");
    let chunks = vec![
        Ok(Bytes::from_static(b"first part")),
        Err(trove_core::ports::BlobError::Other(
            "client went away".into(),
        )),
    ];
    let failed = blobs
        .put_stream(
            &broken,
            Box::pin(futures::stream::iter(chunks)),
            "application/octet-stream",
        )
        .await;
    assert!(
        matches!(&failed, Err(BlobError::Other(m)) if m == "client went away"),
        "a failed stream fails with its own error: {failed:?}"
    );
    assert_eq!(blobs.head(&broken).await.expect("head"), None);
}

pub async fn absent_objects(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("never-written");
    assert_eq!(blobs.head(&key).await.expect("head"), None);
    match blobs.read(&key).await {
        Err(BlobError::NotFound) => {}
        Err(other) => panic!("expected NotFound, got {other:?}"),
        Ok(_) => panic!("read of an absent object succeeded"),
    }
    let copied = blobs.copy(&key, &BlobKey::scratch("copy-of-nothing")).await;
    assert!(
        matches!(copied, Err(BlobError::NotFound)),
        "copy of an absent object: {copied:?}"
    );
    assert_eq!(
        blobs
            .head(&BlobKey::scratch("copy-of-nothing"))
            .await
            .expect("head"),
        None
    );
}

pub async fn copy_then_read_equals(blobs: Arc<dyn Blobs>) {
    let from = BlobKey::scratch("copy-from");
    let to = BlobKey::scratch("copy-to");
    let body = payload(256 * 1024 + 3, 2);
    blobs
        .put(&from, body.clone(), "application/gzip")
        .await
        .expect("put");
    blobs.copy(&from, &to).await.expect("copy");
    assert!(read_all(&*blobs, &to).await.0 == body, "copy differs");
    assert_eq!(
        blobs.head(&to).await.expect("head").map(|i| i.size),
        Some(body.len() as u64)
    );
    // The source is untouched, and copying onto an existing key replaces it.
    assert!(read_all(&*blobs, &from).await.0 == body);
    blobs
        .put(&from, Bytes::from_static(b"second"), "text/plain")
        .await
        .expect("put");
    // A copy is its own object: writing the source again leaves it as it was.
    assert!(
        read_all(&*blobs, &to).await.0 == body,
        "copy follows its source"
    );
    blobs.copy(&from, &to).await.expect("copy");
    assert_eq!(read_all(&*blobs, &to).await.0, b"second");
}

/// Every object of a listing, following its cursor.
async fn list_all(blobs: &dyn Blobs, prefix: &str) -> (Vec<trove_core::ports::BlobListing>, usize) {
    let mut items = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = blobs.list(prefix, cursor).await.expect("list");
        pages += 1;
        items.extend(page.items);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return (items, pages),
        }
    }
}

pub async fn list_filters_by_prefix_in_key_order(blobs: Arc<dyn Blobs>) {
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(5);
    for (name, body) in [
        ("list/b/2", "bb"),
        ("list/a/1", "a"),
        ("list/a/10", "aaaaaaaaaa"),
        ("list/ab/3", "ccc"),
        ("listing/x", "x"),
    ] {
        blobs
            .put(&BlobKey::scratch(name), Bytes::from(body), "text/plain")
            .await
            .expect("put");
    }
    let (all, _) = list_all(&*blobs, "scratch/list/").await;
    let keys: Vec<&str> = all.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "scratch/list/a/1",
            "scratch/list/a/10",
            "scratch/list/ab/3",
            "scratch/list/b/2"
        ]
    );
    assert_eq!(
        all.iter().map(|o| o.size).collect::<Vec<_>>(),
        [1, 10, 3, 2]
    );
    let after = OffsetDateTime::now_utc() + time::Duration::seconds(5);
    for o in &all {
        assert!(o.last_modified > before && o.last_modified < after, "{o:?}");
    }
    // A prefix need not end at a folder.
    let (partial, _) = list_all(&*blobs, "scratch/list/a").await;
    assert_eq!(partial.len(), 3);
    let (none, _) = list_all(&*blobs, "scratch/nothing-here/").await;
    assert!(none.is_empty());
    blobs
        .delete(&BlobKey::scratch("list/a/1"))
        .await
        .expect("delete");
    let (left, _) = list_all(&*blobs, "scratch/list/").await;
    assert_eq!(left.len(), 3, "deleted objects are not listed");
}

pub async fn list_pages_with_a_cursor(blobs: Arc<dyn Blobs>) {
    use futures::stream::{self, StreamExt as _};
    let n = 1005;
    stream::iter(0..n)
        .map(|i| {
            let blobs = blobs.clone();
            async move {
                blobs
                    .put(
                        &BlobKey::scratch(&format!("paged/{i:05}")),
                        Bytes::from_static(b"p"),
                        "text/plain",
                    )
                    .await
                    .expect("put");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let (all, pages) = list_all(&*blobs, "scratch/paged/").await;
    assert!(pages >= 2, "{pages} pages");
    let keys: Vec<String> = all.iter().map(|o| o.key.to_string()).collect();
    let want: Vec<String> = (0..n).map(|i| format!("scratch/paged/{i:05}")).collect();
    assert_eq!(keys, want, "every object once, in key order");
}

pub async fn delete_is_idempotent(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("to-delete");
    blobs
        .put(&key, Bytes::from_static(b"bytes"), "text/plain")
        .await
        .expect("put");
    blobs.delete(&key).await.expect("delete");
    assert_eq!(blobs.head(&key).await.expect("head"), None);
    blobs.delete(&key).await.expect("delete again");
    blobs
        .delete(&BlobKey::scratch("never-written"))
        .await
        .expect("delete absent");
}

pub async fn presigned_put_stores_exact_bytes(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("presigned-put");
    let body = payload(1024 * 1024 + 5, 3);
    let before = OffsetDateTime::now_utc();
    let req = blobs
        .presign_put(&key, &constraints(&body), TTL)
        .await
        .expect("presign");
    assert_eq!(req.method, "PUT");
    let slack = time::Duration::seconds(5);
    assert!(
        req.expires_at >= before + TTL - slack && req.expires_at <= before + TTL + slack,
        "expires_at {} is not now + ttl",
        req.expires_at
    );
    assert_eq!(
        req.headers.get("content-type").map(String::as_str),
        Some("application/octet-stream"),
        "the client must be told to send the signed content type"
    );

    let resp = send(&req, Some(body.clone())).await;
    let status = resp.status();
    assert!(
        status.is_success(),
        "PUT: {status} {}",
        resp.text().await.unwrap_or_default()
    );
    assert_eq!(
        blobs.head(&key).await.expect("head").map(|i| i.size),
        Some(body.len() as u64)
    );
    assert!(
        read_all(&*blobs, &key).await.0 == body,
        "stored bytes differ"
    );
}

pub async fn presigned_get_returns_exact_bytes(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("presigned-get");
    let body = payload(700 * 1024 + 1, 4);
    blobs
        .put(&key, body.clone(), "application/octet-stream")
        .await
        .expect("put");

    let req = blobs.presign_get(&key, TTL, None).await.expect("presign");
    assert_eq!(req.method, "GET");
    let resp = send(&req, None).await;
    assert!(resp.status().is_success(), "GET: {}", resp.status());
    assert!(resp.bytes().await.expect("body") == body, "bytes differ");

    let req = blobs
        .presign_get(&key, TTL, Some("pkg-1.0.tar.gz"))
        .await
        .expect("presign");
    let resp = send(&req, None).await;
    assert!(resp.status().is_success(), "GET: {}", resp.status());
    let disposition = resp
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        disposition.starts_with("attachment")
            && disposition.contains("filename=\"pkg-1.0.tar.gz\""),
        "content-disposition: {disposition:?}"
    );
    assert!(resp.bytes().await.expect("body") == body, "bytes differ");
}

/// A name with quotes, a semicolon, a backslash, `&+!` (which the adapters once encoded
/// differently) and non-ASCII characters comes back as the one Content-Disposition the port
/// defines, on every adapter (S3 through `response-content-disposition`, the embedded
/// endpoint by itself).
pub async fn presigned_get_names_the_download_as_the_port_says(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("disposition");
    blobs
        .put(
            &key,
            Bytes::from_static(b"named"),
            "application/octet-stream",
        )
        .await
        .expect("put");
    let name = "r\u{e9}sum\u{e9} \"v1\"; x=\\y & z+1! \u{1f381}.tar.gz";
    let want = trove_core::ports::blobs::content_disposition(name).expect("a header value");
    assert!(
        want.contains("filename*=UTF-8''") && !want.contains("\"v1\""),
        "{want}"
    );
    let req = blobs
        .presign_get(&key, TTL, Some(name))
        .await
        .expect("presign");
    let resp = send(&req, None).await;
    assert!(resp.status().is_success(), "GET: {}", resp.status());
    let got: Vec<&[u8]> = resp
        .headers()
        .get_all("content-disposition")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    assert_eq!(got, [want.as_bytes()], "content-disposition");
    assert_eq!(&resp.bytes().await.expect("body")[..], b"named");

    // No name, no header.
    let req = blobs.presign_get(&key, TTL, None).await.expect("presign");
    let resp = send(&req, None).await;
    assert!(resp.status().is_success(), "GET: {}", resp.status());
    assert_eq!(resp.headers().get("content-disposition"), None);
}

async fn assert_refused(resp: reqwest::Response, expected: &str) {
    let status = resp.status();
    assert!(
        status.is_client_error(),
        "{expected}: expected 4xx, got {status} {}",
        resp.text().await.unwrap_or_default()
    );
}

pub async fn presigned_put_refuses_a_wrong_body(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("wrong-body");
    let declared = payload(64 * 1024, 5);
    let req = blobs
        .presign_put(&key, &constraints(&declared), TTL)
        .await
        .expect("presign");
    // Same length, other bytes.
    let other = payload(declared.len(), 6);
    assert_refused(send(&req, Some(other)).await, "wrong sha256").await;
    assert_eq!(blobs.head(&key).await.expect("head"), None, "stored anyway");
}

pub async fn presigned_put_refuses_a_wrong_length(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("wrong-length");
    let declared = payload(64 * 1024, 7);
    let req = blobs
        .presign_put(&key, &constraints(&declared), TTL)
        .await
        .expect("presign");
    // The client sends the signed headers but its own, true Content-Length.
    let headers = header_map(
        req.headers
            .clone()
            .into_iter()
            .filter(|(k, _)| k != "content-length"),
    );
    for len in [declared.len() - 1, declared.len() + 1] {
        let body = Bytes::copy_from_slice(&payload(declared.len() + 1, 7)[..len]);
        assert_refused(
            send_with(&req, &req.url, headers.clone(), Some(body)).await,
            "wrong length",
        )
        .await;
        assert_eq!(blobs.head(&key).await.expect("head"), None, "stored anyway");
    }
}

/// The URL with its signature parameter's value altered.
fn tamper(url: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("presigned URL parses");
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(
        pairs
            .iter()
            .any(|(k, _)| k.to_ascii_lowercase().contains("signature")),
        "no signature parameter in {url}"
    );
    let mut query = parsed.query_pairs_mut();
    query.clear();
    for (k, v) in &pairs {
        if k.to_ascii_lowercase().contains("signature") {
            let mut chars: Vec<char> = v.chars().collect();
            chars[0] = if chars[0] == 'a' { 'b' } else { 'a' };
            query.append_pair(k, &chars.into_iter().collect::<String>());
        } else {
            query.append_pair(k, v);
        }
    }
    drop(query);
    parsed.to_string()
}

pub async fn tampered_signatures_are_forbidden(blobs: Arc<dyn Blobs>) {
    let key = BlobKey::scratch("tampered");
    let body = payload(4096, 8);
    let req = blobs
        .presign_put(&key, &constraints(&body), TTL)
        .await
        .expect("presign");
    let resp = send_with(
        &req,
        &tamper(&req.url),
        header_map(req.headers.clone()),
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        resp.status(),
        reqwest::StatusCode::FORBIDDEN,
        "tampered PUT"
    );
    assert_eq!(blobs.head(&key).await.expect("head"), None, "stored anyway");

    blobs
        .put(&key, body, "application/octet-stream")
        .await
        .expect("put");
    let req = blobs.presign_get(&key, TTL, None).await.expect("presign");
    let resp = send_with(
        &req,
        &tamper(&req.url),
        header_map(req.headers.clone()),
        None,
    )
    .await;
    assert_eq!(
        resp.status(),
        reqwest::StatusCode::FORBIDDEN,
        "tampered GET"
    );
}

/// A URL serves until its lifetime ends on the store's clock, and is refused from then on.
pub async fn expired_urls_are_forbidden(blobs: Arc<dyn Blobs>, clock: Arc<ShiftedClock>) {
    // Long enough that the real time the test takes never reaches the end by itself.
    let ttl = Duration::from_secs(600);
    let body = payload(4096, 9);
    let (in_time, late) = (BlobKey::scratch("in-time"), BlobKey::scratch("expired"));
    let mut puts = Vec::new();
    for key in [&in_time, &late] {
        let put = blobs.presign_put(key, &constraints(&body), ttl).await;
        puts.push(put.expect("presign"));
    }
    let stored = BlobKey::scratch("expired-get");
    blobs
        .put(&stored, body.clone(), "application/octet-stream")
        .await
        .expect("put");
    let get = blobs
        .presign_get(&stored, ttl, None)
        .await
        .expect("presign");

    clock.advance(time::Duration::seconds(540));
    let resp = send(&puts[0], Some(body.clone())).await;
    assert!(
        resp.status().is_success(),
        "PUT within its lifetime: {}",
        resp.status()
    );
    assert!(blobs.head(&in_time).await.expect("head").is_some());
    let resp = send(&get, None).await;
    assert_eq!(
        resp.status(),
        reqwest::StatusCode::OK,
        "GET within its lifetime"
    );
    assert!(resp.bytes().await.expect("body") == body, "bytes differ");

    clock.advance(time::Duration::seconds(120));
    let resp = send(&puts[1], Some(body)).await;
    assert_eq!(resp.status(), reqwest::StatusCode::FORBIDDEN, "expired PUT");
    assert_eq!(
        blobs.head(&late).await.expect("head"),
        None,
        "stored anyway"
    );
    let resp = send(&get, None).await;
    assert_eq!(resp.status(), reqwest::StatusCode::FORBIDDEN, "expired GET");
}

/// S3 enforces only what is signed (ARCHITECTURE.md, "Facts the code relies on"): the URL must sign length, type and the
/// base64 checksum, and tell the client to send exactly those values.
pub async fn presigned_put_signs_length_type_and_checksum(blobs: Arc<dyn Blobs>) {
    let body = b"hello".as_slice();
    let req = blobs
        .presign_put(&BlobKey::scratch("signed"), &constraints(body), TTL)
        .await
        .expect("presign");
    assert_eq!(
        req.headers.get("content-length").map(String::as_str),
        Some("5")
    );
    assert_eq!(
        req.headers.get("x-amz-checksum-sha256").map(String::as_str),
        Some("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=")
    );
    let url = url::Url::parse(&req.url).expect("URL");
    let signed = url
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-SignedHeaders")
        .map(|(_, v)| v.into_owned())
        .expect("signed headers listed");
    let signed: Vec<&str> = signed.split(';').collect();
    for header in req.headers.keys() {
        assert!(
            signed.contains(&header.as_str()),
            "{header} is sent but not signed ({signed:?})"
        );
    }
    for header in ["content-length", "content-type", "x-amz-checksum-sha256"] {
        assert!(
            signed.contains(&header),
            "{header} is not signed ({signed:?})"
        );
    }
}
