//! The HTTP side of [`FileBlobs`]: serves the presigned URLs it signs, enforcing what S3
//! enforces for a presigned PUT with signed length and checksum: signature, expiry, exact
//! size and SHA-256 of the body. Bodies stream through with constant memory.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::put;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};
use tokio_util::io::ReaderStream;

use super::file_blobs::{FileBlobs, READ_CHUNK, open_object};
use super::fs_atomic::{self, TempFile};
use super::url_signing::{SignedOp, SignedRequest};
use axum::response::IntoResponse as _;

use trove_core::http::problem::Problem;
use trove_core::ports::blobs::content_disposition;
use trove_core::ports::{BlobError, PartConstraints, PutConstraints};

impl FileBlobs {
    /// `PUT`, `GET` and `HEAD` on `/_blobs/{key}`: the URLs of `presign_put`/`presign_get`.
    /// The request body limit is off: the signed size is the limit.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/_blobs/{*key}", put(put_object).get(get_object))
            .method_not_allowed_fallback(trove_core::http::method_not_allowed)
            .layer(DefaultBodyLimit::disable())
            .with_state(self)
    }
}

type Refusal = Box<Response>;

/// Bytes gathered before each write to disk.
const WRITE_BUFFER: usize = 1 << 20;

fn refuse(status: StatusCode, detail: impl Into<String>) -> Refusal {
    Box::new(Problem::new(status, detail).into_response())
}

fn storage_error(context: &str, e: impl std::fmt::Display) -> Refusal {
    tracing::error!(error = %e, "{context}");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "blob storage error")
}

/// Checks the signature first, then the expiry, so a forged URL never learns more than
/// "forbidden".
fn authorize(
    blobs: &FileBlobs,
    key: Result<Path<String>, PathRejection>,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<SignedRequest, Refusal> {
    let Path(key) = key.map_err(|e| refuse(StatusCode::BAD_REQUEST, e.body_text()))?;
    let is_put = method == Method::PUT;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let (request, signature) =
        SignedRequest::from_query(&key, is_put, query.unwrap_or_default(), content_type)
            .map_err(|why| refuse(StatusCode::FORBIDDEN, why))?;
    if !blobs.signer.verify(&request, &signature) {
        let detail = if is_put {
            "signature does not match: send the URL and the signed Content-Type unchanged"
        } else {
            "signature does not match"
        };
        return Err(refuse(StatusCode::FORBIDDEN, detail));
    }
    if blobs.now_unix() > request.expires {
        return Err(refuse(StatusCode::FORBIDDEN, "the URL has expired"));
    }
    Ok(request)
}

async fn put_object(
    State(blobs): State<Arc<FileBlobs>>,
    key: Result<Path<String>, PathRejection>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match receive(&blobs, key, &method, query.as_deref(), &headers, body).await {
        Ok(response) => response,
        Err(refusal) => *refusal,
    }
}

async fn receive(
    blobs: &FileBlobs,
    key: Result<Path<String>, PathRejection>,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let request = authorize(blobs, key, method, query, headers)?;
    let actual = match &request.op {
        SignedOp::Put {
            size,
            sha256,
            content_type,
        } => {
            PutConstraints {
                size: *size,
                sha256: sha256.clone(),
                content_type: content_type.clone(),
            }
            .check_put_headers(headers)
            .map_err(|why| refuse(why.status(), why.to_string()))?;
            receive_object(blobs, &request.key, *size, sha256, body).await?
        }
        SignedOp::Part {
            upload,
            number,
            offset,
            size,
            sha256,
        } => {
            let part = PartConstraints {
                number: *number,
                offset: *offset,
                size: *size,
                sha256: sha256.clone(),
            };
            part.check_put_headers(headers)
                .map_err(|why| refuse(why.status(), why.to_string()))?;
            receive_part(blobs, &request.key, upload, &part, body).await?
        }
        SignedOp::Get { .. } => {
            return Err(refuse(StatusCode::FORBIDDEN, "URL not signed for PUT"));
        }
    };
    let mut response = Response::new(Body::empty());
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{actual}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// A whole object: into a temporary file, synced, renamed into place, announced.
async fn receive_object(
    blobs: &FileBlobs,
    key: &str,
    size: u64,
    declared: &str,
    body: Body,
) -> Result<String, Refusal> {
    let dest = blobs
        .path_of(key)
        .ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "invalid key"))?;
    let tmp = TempFile::new(blobs.new_temp_path());
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp.path())
        .await
        .map_err(|e| storage_error("cannot create temporary blob file", e))?;
    let (file, actual) = copy_body(body, file, size, declared).await?;
    file.sync_all()
        .await
        .map_err(|e| storage_error("cannot sync blob", e))?;
    drop(file);
    let root = blobs.root.clone();
    let placed = tokio::task::spawn_blocking(move || {
        fs_atomic::rename_into_place(tmp.path(), &root, &dest)?;
        tmp.keep();
        Ok::<_, std::io::Error>(())
    })
    .await;
    match placed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(storage_error("cannot store blob", e)),
        Err(e) => return Err(storage_error("blob store task failed", e)),
    }
    blobs.notify_created(key, size, &actual);
    Ok(actual)
}

/// A part: written in place in the upload's file, then recorded as stored (see
/// `file_multipart.rs`). Completion waits for parts being written, so no byte of a
/// finished object changes after it was announced.
async fn receive_part(
    blobs: &FileBlobs,
    key: &str,
    upload: &str,
    part: &PartConstraints,
    body: Body,
) -> Result<String, Refusal> {
    let _writing = blobs.upload_gates().writing(upload).await;
    let dirs = blobs.dirs();
    let dir = match dirs.upload_dir(key, upload) {
        Ok(dir) => dir,
        Err(BlobError::NotFound) => {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                "no such upload: it was completed or aborted",
            ));
        }
        Err(e) => return Err(storage_error("cannot read a multipart upload", e)),
    };
    let number = part.number;
    let (opened_dir, opened) = (dir.clone(), dirs.clone());
    let file = tokio::task::spawn_blocking(move || opened.open_part_range(&opened_dir, number))
        .await
        .map_err(|e| storage_error("blob store task failed", e))?
        .map_err(|e| storage_error("cannot open a multipart upload's file", e))?;
    let mut file = tokio::fs::File::from_std(file);
    file.seek(std::io::SeekFrom::Start(part.offset))
        .await
        .map_err(|e| storage_error("cannot write blob", e))?;
    let (file, actual) = copy_body(body, file, part.size, &part.sha256).await?;
    file.sync_data()
        .await
        .map_err(|e| storage_error("cannot sync blob", e))?;
    drop(file);
    let (offset, size, sha) = (part.offset, part.size, actual.clone());
    let recorded =
        tokio::task::spawn_blocking(move || dirs.record_part(&dir, number, &sha, offset, size))
            .await;
    match recorded {
        Ok(Ok(())) => Ok(actual),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(refuse(
            StatusCode::NOT_FOUND,
            "no such upload: it was completed or aborted",
        )),
        Ok(Err(e)) => Err(storage_error("cannot store blob", e)),
        Err(e) => Err(storage_error("blob store task failed", e)),
    }
}

/// Streams `body` into `file`, refusing more or fewer bytes than `size` and any other
/// SHA-256 than `declared`; answers the file, flushed, and the body's digest.
async fn copy_body(
    body: Body,
    file: tokio::fs::File,
    size: u64,
    declared: &str,
) -> Result<(tokio::fs::File, String), Refusal> {
    // Requests arrive in chunks of a few KiB: gathering them spares a blocking-pool
    // round trip per chunk.
    let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("upload interrupted: {e}")))?;
        received = received.saturating_add(chunk.len() as u64);
        if received > size {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!("body is longer than the signed size of {size} bytes"),
            ));
        }
        hasher.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(|e| storage_error("cannot write blob", e))?;
    }
    if received != size {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("body ended after {received} of {size} signed bytes"),
        ));
    }
    let actual = hex::encode(hasher.finalize());
    if !actual.eq_ignore_ascii_case(declared) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("checksum mismatch: declared {declared}, received {actual}"),
        ));
    }
    out.flush()
        .await
        .map_err(|e| storage_error("cannot write blob", e))?;
    Ok((out.into_inner(), actual))
}

/// Also answers HEAD: axum runs a GET route for HEAD and drops the body.
async fn get_object(
    State(blobs): State<Arc<FileBlobs>>,
    key: Result<Path<String>, PathRejection>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    match send(&blobs, key, &method, query.as_deref(), &headers).await {
        Ok(response) => response,
        Err(refusal) => *refusal,
    }
}

async fn send(
    blobs: &FileBlobs,
    key: Result<Path<String>, PathRejection>,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, Refusal> {
    let request = authorize(blobs, key, method, query, headers)?;
    let SignedOp::Get { download_name } = &request.op else {
        return Err(refuse(StatusCode::FORBIDDEN, "URL not signed for GET"));
    };
    let not_found = || refuse(StatusCode::NOT_FOUND, "no such blob");
    let path = blobs.path_of(&request.key).ok_or_else(not_found)?;
    let file = match open_object(&path).await {
        Ok(file) => file,
        Err(BlobError::NotFound) => return Err(not_found()),
        Err(e) => return Err(storage_error("cannot open blob", e)),
    };
    let mut file = file;
    let len = file
        .metadata()
        .await
        .map_err(|e| storage_error("cannot stat blob", e))?
        .len();
    // One byte range, as S3 serves one: what resumes an interrupted download.
    let range = match headers.get(header::RANGE).map(|v| byte_range(v, len)) {
        None | Some(RangeAsked::Ignored) => None,
        Some(RangeAsked::Unsatisfiable) => {
            let mut response = refuse(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("the range starts past the object's {len} bytes"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Err(response);
        }
        Some(RangeAsked::Bytes(first, last)) => Some((first, last)),
    };
    let (body, sent) = match range {
        None => (
            Body::from_stream(ReaderStream::with_capacity(file, READ_CHUNK)),
            len,
        ),
        Some((first, last)) => {
            use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
            file.seek(std::io::SeekFrom::Start(first))
                .await
                .map_err(|e| storage_error("cannot seek blob", e))?;
            let count = last - first + 1;
            (
                Body::from_stream(ReaderStream::with_capacity(file.take(count), READ_CHUNK)),
                count,
            )
        }
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(sent));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some((first, last)) = range
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(value) = download_name
        .as_deref()
        .and_then(content_disposition)
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Debug, PartialEq, Eq)]
enum RangeAsked {
    /// Inclusive first and last byte.
    Bytes(u64, u64),
    Unsatisfiable,
    /// Malformed, several ranges, or another unit: answered whole (RFC 9110 allows it).
    Ignored,
}

/// Reads `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` against an object of `len` bytes.
fn byte_range(value: &HeaderValue, len: u64) -> RangeAsked {
    let Some(spec) = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return RangeAsked::Ignored;
    };
    if spec.contains(',') {
        return RangeAsked::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsked::Ignored;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // The last n bytes.
        (true, false) => match number(last) {
            Some(0) => RangeAsked::Unsatisfiable,
            Some(n) if len > 0 => RangeAsked::Bytes(len.saturating_sub(n), len - 1),
            Some(_) => RangeAsked::Unsatisfiable,
            None => RangeAsked::Ignored,
        },
        (false, open_end) => {
            let Some(first) = number(first) else {
                return RangeAsked::Ignored;
            };
            let last = if open_end {
                Some(u64::MAX)
            } else {
                number(last)
            };
            match last {
                Some(last) if last < first => RangeAsked::Ignored,
                Some(_) if first >= len => RangeAsked::Unsatisfiable,
                Some(last) => RangeAsked::Bytes(first, last.min(len - 1)),
                None => RangeAsked::Ignored,
            }
        }
        (true, true) => RangeAsked::Ignored,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use aws_lambda_events::event::s3::S3Event;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use time::OffsetDateTime;
    use tower::ServiceExt;

    use super::*;
    use trove_core::domain::keys::BlobKey;
    use trove_core::ports::blobs::CHECKSUM_HEADER;
    use trove_core::ports::{Blobs, Clock, PresignedRequest, PutConstraints};

    struct FixedClock(Mutex<OffsetDateTime>);

    impl Clock for FixedClock {
        fn now(&self) -> OffsetDateTime {
            *self.0.lock().expect("clock")
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        root: std::path::PathBuf,
        blobs: Arc<FileBlobs>,
        clock: Arc<FixedClock>,
        events: Arc<Mutex<Vec<S3Event>>>,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let clock = Arc::new(FixedClock(Mutex::new(
            OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time"),
        )));
        let blobs = Arc::new(FileBlobs::new(
            root.clone(),
            "http://blobs.test".into(),
            b"test-key".to_vec(),
            clock.clone(),
        ));
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        blobs.on_object_created(Arc::new(move |e| sink.lock().expect("events").push(e)));
        Fixture {
            _dir: dir,
            root,
            blobs,
            clock,
            events,
        }
    }

    fn sha(body: &[u8]) -> String {
        hex::encode(Sha256::digest(body))
    }

    async fn presign(f: &Fixture, key: &BlobKey, body: &[u8]) -> PresignedRequest {
        let constraints = PutConstraints {
            size: body.len() as u64,
            sha256: sha(body),
            content_type: "application/gzip".into(),
        };
        f.blobs
            .presign_put(key, &constraints, Duration::from_secs(300))
            .await
            .expect("presign")
    }

    fn path_and_query(url: &str) -> &str {
        url.strip_prefix("http://blobs.test").expect("base url")
    }

    fn request(p: &PresignedRequest, body: Body) -> Request<Body> {
        let mut builder = Request::builder()
            .method(p.method.as_str())
            .uri(path_and_query(&p.url));
        for (name, value) in &p.headers {
            builder = builder.header(name, value);
        }
        builder.body(body).expect("request")
    }

    async fn call(f: &Fixture, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let response = f
            .blobs
            .clone()
            .router()
            .oneshot(req)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    fn detail(body: &[u8]) -> String {
        let v: serde_json::Value = serde_json::from_slice(body).expect("problem json");
        assert_eq!(v["type"], "about:blank");
        v["detail"].as_str().expect("detail").to_owned()
    }

    fn tmp_is_empty(f: &Fixture) -> bool {
        std::fs::read_dir(f.root.join(".tmp"))
            .expect("tmp")
            .next()
            .is_none()
    }

    #[tokio::test]
    async fn signed_put_then_get_and_head() {
        let f = fixture();
        let key = BlobKey::scratch("ok");
        let body = b"hello, trove".to_vec();
        let p = presign(&f, &key, &body).await;
        let (status, headers, _) = call(&f, request(&p, Body::from(body.clone()))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers[header::ETAG],
            format!("\"{}\"", sha(&body)).as_str()
        );
        assert_eq!(
            std::fs::read(f.root.join("scratch/ok")).expect("stored"),
            body
        );
        assert!(tmp_is_empty(&f));

        let events = f.events.lock().expect("events").clone();
        assert_eq!(events.len(), 1);
        let record = &events[0].records[0];
        assert_eq!(record.event_name.as_deref(), Some("ObjectCreated:Put"));
        assert_eq!(record.event_source.as_deref(), Some("aws:s3"));
        assert_eq!(record.s3.bucket.name.as_deref(), Some("trove-local"));
        assert_eq!(record.s3.object.key.as_deref(), Some("scratch/ok"));
        assert_eq!(record.s3.object.size, Some(body.len() as i64));
        let json = serde_json::to_value(&events[0]).expect("json");
        assert_eq!(json["Records"][0]["eventTime"], "2023-11-14T22:13:20Z");

        let g = f
            .blobs
            .presign_get(&key, Duration::from_secs(60), Some("hello \"v1\".txt"))
            .await
            .expect("presign get");
        let get = Request::get(path_and_query(&g.url))
            .body(Body::empty())
            .expect("request");
        let (status, headers, got) = call(&f, get).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got, body);
        assert_eq!(headers[header::CONTENT_LENGTH], "12");
        assert_eq!(headers[header::CONTENT_TYPE], "application/octet-stream");
        assert_eq!(
            headers[header::CONTENT_DISPOSITION],
            "attachment; filename=\"hello _v1_.txt\"; filename*=UTF-8''hello%20%22v1%22.txt"
        );

        let head = Request::head(path_and_query(&g.url))
            .body(Body::empty())
            .expect("request");
        let (status, headers, got) = call(&f, head).await;
        assert_eq!(status, StatusCode::OK);
        assert!(got.is_empty());
        assert_eq!(headers[header::CONTENT_LENGTH], "12");
    }

    #[tokio::test]
    async fn get_of_a_missing_blob_is_404_problem() {
        let f = fixture();
        let g = f
            .blobs
            .presign_get(&BlobKey::scratch("nope"), Duration::from_secs(60), None)
            .await
            .expect("presign");
        let get = Request::get(path_and_query(&g.url))
            .body(Body::empty())
            .expect("request");
        let (status, headers, body) = call(&f, get).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(detail(&body), "no such blob");
    }

    #[tokio::test]
    async fn wrong_body_is_refused_and_leaves_nothing() {
        let f = fixture();
        let key = BlobKey::scratch("bad");
        let body = b"the declared bytes".to_vec();
        let p = presign(&f, &key, &body).await;
        let other = b"other  bytes here!".to_vec();
        assert_eq!(other.len(), body.len());
        let (status, _, problem) = call(&f, request(&p, Body::from(other.clone()))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            detail(&problem),
            format!(
                "checksum mismatch: declared {}, received {}",
                sha(&body),
                sha(&other)
            )
        );
        assert!(!f.root.join("scratch/bad").exists());
        assert!(tmp_is_empty(&f));
        assert!(f.events.lock().expect("events").is_empty());
    }

    #[tokio::test]
    async fn wrong_lengths_are_refused() {
        let f = fixture();
        let key = BlobKey::scratch("len");
        let body = b"0123456789".to_vec();
        let p = presign(&f, &key, &body).await;

        let mut req = request(&p, Body::from(body.clone()));
        req.headers_mut().remove(header::CONTENT_LENGTH);
        assert_eq!(call(&f, req).await.0, StatusCode::LENGTH_REQUIRED);

        let mut req = request(&p, Body::from(body.clone()));
        req.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("11"));
        assert_eq!(call(&f, req).await.0, StatusCode::PAYLOAD_TOO_LARGE);

        let mut req = request(&p, Body::from(body.clone()));
        req.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("9"));
        assert_eq!(call(&f, req).await.0, StatusCode::BAD_REQUEST);

        // The header claims the signed size but more bytes arrive.
        let (status, _, problem) =
            call(&f, request(&p, Body::from(b"0123456789AB".to_vec()))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(detail(&problem).contains("longer than the signed size"));

        let (status, _, problem) = call(&f, request(&p, Body::from(b"01234".to_vec()))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(detail(&problem).contains("ended after 5 of 10"));

        let mut req = request(&p, Body::from(body.clone()));
        req.headers_mut().remove(CHECKSUM_HEADER);
        assert_eq!(call(&f, req).await.0, StatusCode::BAD_REQUEST);

        assert!(!f.root.join("scratch/len").exists());
        assert!(tmp_is_empty(&f));
    }

    #[tokio::test]
    async fn tampered_or_expired_urls_are_forbidden() {
        let f = fixture();
        let key = BlobKey::scratch("t");
        let body = b"abc".to_vec();
        let p = presign(&f, &key, &body).await;

        let tampers = [
            p.url.replace("X-Trove-Size=3", "X-Trove-Size=4"),
            p.url.replace("scratch/t", "scratch/u"),
            p.url.replace("X-Trove-Op=put", "X-Trove-Op=get"),
            p.url.replace(&sha(&body), &sha(b"abd")),
            p.url
                .split("&X-Trove-Signature")
                .next()
                .expect("url")
                .to_owned(),
            format!("{}0", p.url),
        ];
        for url in tampers {
            let mut t = p.clone();
            t.url = url;
            let (status, headers, problem) = call(&f, request(&t, Body::from(body.clone()))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{}", t.url);
            assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
            detail(&problem);
        }

        let mut req = request(&p, Body::from(body.clone()));
        req.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(call(&f, req).await.0, StatusCode::FORBIDDEN);

        // A GET URL cannot be used to PUT, nor a PUT URL to GET.
        let g = f
            .blobs
            .presign_get(&key, Duration::from_secs(60), None)
            .await
            .expect("presign");
        let mut t = p.clone();
        t.url = g.url.clone();
        assert_eq!(
            call(&f, request(&t, Body::from(body.clone()))).await.0,
            StatusCode::FORBIDDEN
        );
        let get = Request::get(path_and_query(&p.url))
            .body(Body::empty())
            .expect("request");
        assert_eq!(call(&f, get).await.0, StatusCode::FORBIDDEN);

        *f.clock.0.lock().expect("clock") += Duration::from_secs(301);
        let (status, _, problem) = call(&f, request(&p, Body::from(body.clone()))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(detail(&problem), "the URL has expired");

        assert!(!f.root.join("scratch/t").exists());
        assert!(f.events.lock().expect("events").is_empty());
    }

    #[tokio::test]
    async fn streamed_put_of_20_mb_succeeds() {
        let f = fixture();
        let key = BlobKey::scratch("big");
        let chunk: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
        let chunks = 320; // 20 MiB
        let mut hasher = Sha256::new();
        for _ in 0..chunks {
            hasher.update(&chunk);
        }
        let size = (chunk.len() * chunks) as u64;
        let constraints = PutConstraints {
            size,
            sha256: hex::encode(hasher.finalize()),
            content_type: "application/octet-stream".into(),
        };
        let p = f
            .blobs
            .presign_put(&key, &constraints, Duration::from_secs(60))
            .await
            .expect("presign");
        let piece = bytes::Bytes::from(chunk);
        let stream =
            futures::stream::iter((0..chunks).map(move |_| Ok::<_, std::io::Error>(piece.clone())));
        let (status, _, _) = call(&f, request(&p, Body::from_stream(stream))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            std::fs::metadata(f.root.join("scratch/big"))
                .expect("stored")
                .len(),
            size
        );
        assert_eq!(f.events.lock().expect("events").len(), 1);
    }

    #[test]
    fn byte_ranges_read_as_s3_reads_them() {
        let r = |v: &str| byte_range(&HeaderValue::from_str(v).expect("header"), 100);
        assert_eq!(r("bytes=0-9"), RangeAsked::Bytes(0, 9));
        assert_eq!(r("bytes=90-"), RangeAsked::Bytes(90, 99));
        assert_eq!(r("bytes=90-500"), RangeAsked::Bytes(90, 99));
        assert_eq!(r("bytes=-10"), RangeAsked::Bytes(90, 99));
        assert_eq!(r("bytes=-500"), RangeAsked::Bytes(0, 99));
        assert_eq!(r("bytes=100-"), RangeAsked::Unsatisfiable);
        assert_eq!(r("bytes=-0"), RangeAsked::Unsatisfiable);
        for ignored in [
            "bytes=5-1",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=a-",
            "bytes=-",
            "0-1",
        ] {
            assert_eq!(r(ignored), RangeAsked::Ignored, "{ignored}");
        }
        let empty = byte_range(&HeaderValue::from_static("bytes=0-"), 0);
        assert_eq!(empty, RangeAsked::Unsatisfiable);
    }

    #[tokio::test]
    async fn a_range_request_gets_those_bytes_with_206() {
        let f = fixture();
        let key = BlobKey::scratch("ranged");
        let body: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        f.blobs
            .put(&key, body.clone().into(), "application/octet-stream")
            .await
            .expect("put");
        let get = f
            .blobs
            .presign_get(&key, Duration::from_secs(60), None)
            .await
            .expect("presign");
        let ask = |range: &'static str| {
            Request::builder()
                .uri(path_and_query(&get.url))
                .header(header::RANGE, range)
                .body(Body::empty())
                .expect("request")
        };
        let resp = f
            .blobs
            .clone()
            .router()
            .oneshot(ask("bytes=100000-"))
            .await
            .expect("response");
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            resp.headers()[header::CONTENT_RANGE],
            "bytes 100000-299999/300000"
        );
        let got = resp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&got[..], &body[100_000..]);
        let past = f
            .blobs
            .clone()
            .router()
            .oneshot(ask("bytes=300000-"))
            .await
            .expect("response");
        assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(past.headers()[header::CONTENT_RANGE], "bytes */300000");
    }
}
