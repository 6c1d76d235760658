//! Sending a range of a file to a presigned storage URL, streamed from disk (memory does
//! not grow with the part size), with exactly the headers the URL was signed with and
//! never the credential.

use std::collections::BTreeMap;
use std::fmt;
use std::io::SeekFrom;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::TryStreamExt as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio_util::io::ReaderStream;

use crate::client::api::is_refused_signature;
use crate::client::problem::{ApiError, Problem};
use crate::client::progress::Progress;
use crate::client::retry::{Transient, is_transient_status};
use crate::client::wire::Presigned;

/// Read size from disk per body chunk.
const CHUNK: usize = 256 * 1024;

#[derive(Debug)]
pub enum PutError {
    /// The connection failed or broke; sending again may work.
    Network(ApiError),
    /// Storage no longer accepts the URL (expired): ask the server for a new one.
    UrlRefused(String),
    /// Storage refused the bytes: they are not what was declared (the file changed).
    BodyRefused(String),
    /// Any other answer.
    Status(u16, String),
    /// The file could not be read.
    Local(String),
}

impl Transient for PutError {
    fn is_transient(&self) -> bool {
        match self {
            PutError::Network(_) => true,
            PutError::Status(status, _) => is_transient_status(*status),
            PutError::UrlRefused(_) | PutError::BodyRefused(_) | PutError::Local(_) => false,
        }
    }
}

impl fmt::Display for PutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Network(e) => e.fmt(f),
            PutError::UrlRefused(detail) => write!(f, "storage refused the upload URL: {detail}"),
            PutError::BodyRefused(detail) => write!(f, "storage refused the bytes: {detail}"),
            PutError::Status(status, detail) => write!(f, "storage answered {status}: {detail}"),
            PutError::Local(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for PutError {}

/// One attempt at sending `len` bytes of `path` from `offset`. Bytes are counted on
/// `progress` as they are read; a failed attempt takes them back.
pub async fn put_range(
    client: &reqwest::Client,
    url: &Url,
    presigned: &Presigned,
    path: &Path,
    offset: u64,
    len: u64,
    progress: &Progress,
) -> Result<(), PutError> {
    let sent = Arc::new(AtomicU64::new(0));
    let result = attempt(client, url, presigned, path, offset, len, progress, &sent).await;
    if result.is_err() {
        progress.sub(sent.load(Ordering::Relaxed));
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn attempt(
    client: &reqwest::Client,
    url: &Url,
    presigned: &Presigned,
    path: &Path,
    offset: u64,
    len: u64,
    progress: &Progress,
    sent: &Arc<AtomicU64>,
) -> Result<(), PutError> {
    let local = |e: std::io::Error| PutError::Local(format!("cannot read {}: {e}", path.display()));
    let mut file = tokio::fs::File::open(path).await.map_err(local)?;
    file.seek(SeekFrom::Start(offset)).await.map_err(local)?;
    let counted = progress.clone();
    let sent_here = Arc::clone(sent);
    let stream = ReaderStream::with_capacity(file.take(len), CHUNK).inspect_ok(move |chunk| {
        counted.add(chunk.len() as u64);
        sent_here.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    });
    let method = Method::from_bytes(presigned.method.as_bytes())
        .map_err(|_| PutError::Status(502, format!("unusable method {:?}", presigned.method)))?;
    let response = client
        .request(method, url.clone())
        .headers(signed_headers(&presigned.headers)?)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .map_err(|e| PutError::Network(ApiError::transport(url, &e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.bytes().await.unwrap_or_default();
    let detail = Problem::from_body(status.as_u16(), &body, "").detail;
    Err(if is_refused_signature(status) {
        PutError::UrlRefused(detail)
    } else if status == StatusCode::BAD_REQUEST {
        PutError::BodyRefused(detail)
    } else {
        PutError::Status(status.as_u16(), detail)
    })
}

/// The headers a presigned URL was signed with (content length among them).
fn signed_headers(headers: &BTreeMap<String, String>) -> Result<HeaderMap, PutError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let unusable = || {
            PutError::Status(
                502,
                format!("the server signed an unusable header {name:?}"),
            )
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| unusable())?;
        let value = HeaderValue::from_str(value).map_err(|_| unusable())?;
        map.insert(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transport_failures_and_server_errors_are_sent_again() {
        let network = PutError::Network(ApiError::Network {
            url: "http://s".into(),
            cause: "reset".into(),
        });
        assert!(network.is_transient());
        assert!(PutError::Status(503, String::new()).is_transient());
        assert!(!PutError::Status(404, String::new()).is_transient());
        assert!(!PutError::BodyRefused("checksum mismatch".into()).is_transient());
        assert!(!PutError::UrlRefused("expired".into()).is_transient());
    }

    #[test]
    fn signed_headers_are_sent_as_given() {
        let mut headers = BTreeMap::new();
        headers.insert("content-length".to_owned(), "5".to_owned());
        headers.insert("x-amz-checksum-sha256".to_owned(), "abc=".to_owned());
        let map = signed_headers(&headers).expect("valid");
        assert_eq!(map["content-length"], "5");
        assert_eq!(map["x-amz-checksum-sha256"], "abc=");
        headers.insert("bad header".to_owned(), "x".to_owned());
        match signed_headers(&headers) {
            Err(PutError::Status(502, detail)) => {
                assert_eq!(
                    detail,
                    "the server signed an unusable header \"bad header\""
                )
            }
            other => panic!("expected a 502 for the header, got {other:?}"),
        }
    }
}
