//! What a presigned request means on the wire, whichever storage serves it: the headers a
//! presigned PUT binds, the check of a PUT that arrives, and the Content-Disposition of a
//! presigned GET. Written once so S3 and the embedded endpoint cannot drift apart.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{BlobError, PutConstraints};

/// The header carrying the body's SHA-256 (base64 of the raw digest), as S3 names it.
pub const CHECKSUM_HEADER: &str = "x-amz-checksum-sha256";

impl PutConstraints {
    /// `x-amz-checksum-sha256` wants the base64 of the raw digest; the port carries hex.
    pub fn checksum_base64(&self) -> Result<String, BlobError> {
        checksum_base64(&self.sha256)
    }

    /// The headers the client must send with the presigned PUT, lower-case names: storage
    /// signs exactly these, so it refuses any other length, type or body.
    pub fn signed_headers(&self) -> Result<BTreeMap<String, String>, BlobError> {
        if http::HeaderValue::from_str(&self.content_type).is_err() {
            return Err(BlobError::Other(
                "content type is not a valid header".into(),
            ));
        }
        Ok(BTreeMap::from([
            ("content-length".to_owned(), self.size.to_string()),
            ("content-type".to_owned(), self.content_type.clone()),
            (CHECKSUM_HEADER.to_owned(), self.checksum_base64()?),
        ]))
    }

    /// Checks the headers of a PUT that arrived against the constraints its URL signed, as
    /// S3 checks signed headers; the body is then checked against them as it streams.
    pub fn check_put_headers(&self, headers: &http::HeaderMap) -> Result<(), PutRefusal> {
        check_length_and_checksum(self.size, &self.sha256, headers)
    }
}

/// The base64 of the raw digest whose lower-case hex is `sha256` (what
/// `x-amz-checksum-sha256` carries).
pub fn checksum_base64(sha256: &str) -> Result<String, BlobError> {
    let is_lower_hex =
        |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !is_lower_hex(sha256) {
        return Err(BlobError::Other(
            "sha256 must be 64 lower-case hex digits".into(),
        ));
    }
    let raw = hex::decode(sha256).map_err(|e| BlobError::Other(e.to_string()))?;
    Ok(STANDARD.encode(raw))
}

/// A received PUT (an object or a part) must declare the signed length and checksum.
pub(super) fn check_length_and_checksum(
    size: u64,
    sha256: &str,
    headers: &http::HeaderMap,
) -> Result<(), PutRefusal> {
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .ok_or(PutRefusal::LengthRequired)?
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or(PutRefusal::MalformedLength)?;
    if length > size {
        return Err(PutRefusal::TooLarge { length, size });
    }
    if length < size {
        return Err(PutRefusal::WrongLength { length, size });
    }
    let expected = checksum_base64(sha256).map_err(|_| PutRefusal::MalformedSignedChecksum)?;
    match headers.get(CHECKSUM_HEADER).map(|v| v.as_bytes()) {
        None => Err(PutRefusal::ChecksumRequired),
        Some(v) if v == expected.as_bytes() => Ok(()),
        Some(_) => Err(PutRefusal::ChecksumMismatch),
    }
}

/// Why a received PUT's headers do not match what its URL signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PutRefusal {
    #[error("Content-Length is required")]
    LengthRequired,
    #[error("malformed Content-Length")]
    MalformedLength,
    #[error("Content-Length {length} exceeds the signed size of {size} bytes")]
    TooLarge { length: u64, size: u64 },
    #[error("Content-Length {length} does not match the signed size of {size} bytes")]
    WrongLength { length: u64, size: u64 },
    #[error("malformed signed sha256")]
    MalformedSignedChecksum,
    #[error("{CHECKSUM_HEADER} header is required")]
    ChecksumRequired,
    #[error("{CHECKSUM_HEADER} header does not match the signed checksum")]
    ChecksumMismatch,
}

impl PutRefusal {
    /// The HTTP status S3 answers this refusal with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            PutRefusal::LengthRequired => http::StatusCode::LENGTH_REQUIRED,
            PutRefusal::TooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// The Content-Disposition a presigned GET answers with (RFC 6266): `attachment`, an ASCII
/// `filename` fallback in which nothing can end the quoted string or the header, and the
/// exact name as RFC 8187 `filename*`. `None` for an empty name: no header at all.
pub fn content_disposition(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        // RFC 8187 attr-char: everything else is percent-encoded.
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    Some(format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraints(size: u64, sha256: &str) -> PutConstraints {
        PutConstraints {
            size,
            sha256: sha256.to_owned(),
            content_type: "application/gzip".into(),
        }
    }

    /// sha256("") — its base64 form is the one S3 documents.
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn checksum_is_base64_of_the_raw_digest() {
        assert_eq!(
            constraints(0, EMPTY).checksum_base64().expect("valid"),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        for bad in [
            "abc".to_owned(),
            "zz".repeat(32),
            "ab".repeat(31),
            EMPTY.to_uppercase(),
        ] {
            match constraints(0, &bad).checksum_base64() {
                Err(BlobError::Other(m)) => assert!(m.contains("64 lower-case hex"), "{bad}: {m}"),
                other => panic!("{bad}: expected Other, got {other:?}"),
            }
        }
    }

    #[test]
    fn signed_headers_are_length_type_and_checksum() {
        let headers = constraints(5, EMPTY).signed_headers().expect("valid");
        assert_eq!(
            headers.into_iter().collect::<Vec<_>>(),
            [
                ("content-length".to_owned(), "5".to_owned()),
                ("content-type".to_owned(), "application/gzip".to_owned()),
                (
                    CHECKSUM_HEADER.to_owned(),
                    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".to_owned()
                ),
            ]
        );
        let mut bad_type = constraints(5, EMPTY);
        bad_type.content_type = "text/plain\r\nx-evil: 1".into();
        match bad_type.signed_headers() {
            Err(BlobError::Other(m)) => assert_eq!(m, "content type is not a valid header"),
            other => panic!("expected Other, got {other:?}"),
        }
    }

    #[test]
    fn a_received_put_must_carry_the_signed_headers() {
        let c = constraints(10, EMPTY);
        let signed = c.signed_headers().expect("valid");
        let with = |changes: &[(&str, Option<&str>)]| {
            let mut h = http::HeaderMap::new();
            for (k, v) in &signed {
                h.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    http::HeaderValue::from_str(v).expect("value"),
                );
            }
            for (k, v) in changes {
                let name = http::HeaderName::from_bytes(k.as_bytes()).expect("name");
                match v {
                    Some(v) => h.insert(name, http::HeaderValue::from_str(v).expect("value")),
                    None => h.remove(name),
                };
            }
            c.check_put_headers(&h)
        };
        assert_eq!(with(&[]), Ok(()));
        assert_eq!(
            with(&[("content-length", None)]),
            Err(PutRefusal::LengthRequired)
        );
        assert_eq!(
            with(&[("content-length", Some("ten"))]),
            Err(PutRefusal::MalformedLength)
        );
        let too_large = with(&[("content-length", Some("11"))]).expect_err("refused");
        assert_eq!(too_large.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        let short = with(&[("content-length", Some("9"))]).expect_err("refused");
        assert_eq!(short.status(), http::StatusCode::BAD_REQUEST);
        assert_eq!(
            with(&[(CHECKSUM_HEADER, None)]),
            Err(PutRefusal::ChecksumRequired)
        );
        assert_eq!(
            with(&[(
                CHECKSUM_HEADER,
                Some("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=")
            )]),
            Err(PutRefusal::ChecksumMismatch)
        );
    }

    #[test]
    fn content_disposition_quotes_safely() {
        assert_eq!(
            content_disposition("pkg-1.0.tar.gz").as_deref(),
            Some("attachment; filename=\"pkg-1.0.tar.gz\"; filename*=UTF-8''pkg-1.0.tar.gz")
        );
        assert_eq!(
            content_disposition("a\"b\r\n.txt").as_deref(),
            Some("attachment; filename=\"a_b__.txt\"; filename*=UTF-8''a%22b%0D%0A.txt")
        );
        assert_eq!(
            content_disposition("é; x.txt").as_deref(),
            Some("attachment; filename=\"_; x.txt\"; filename*=UTF-8''%C3%A9%3B%20x.txt")
        );
        assert_eq!(content_disposition(""), None);
        // Whatever the name, the value is one valid header line.
        for name in ["\u{0}\u{7f}\\\"", "x\ry\nz", "ünï\tcode 🎁"] {
            let value = content_disposition(name).expect("a value");
            assert!(http::HeaderValue::from_str(&value).is_ok(), "{value:?}");
            assert!(
                value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
                "{value:?}"
            );
        }
    }
}
