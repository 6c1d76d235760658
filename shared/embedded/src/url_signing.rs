//! The embedded stand-in for S3's presigned URLs: an HMAC-SHA256 over a canonical string of
//! everything the URL grants (operation, key, expiry, and the exact body for a PUT).
//!
//! ```text
//! {base}/_blobs/{key}?X-Trove-Op=put&X-Trove-Expires=<unix>&X-Trove-Size=<n>&X-Trove-Sha256=<hex>&X-Trove-Signature=<hex>
//! {base}/_blobs/{key}?X-Trove-Op=get&X-Trove-Expires=<unix>[&X-Trove-Download-Name=<name>]&X-Trove-Signature=<hex>
//! {base}/_blobs/{key}?X-Trove-Op=part&X-Trove-Expires=<unix>&X-Trove-Size=<n>&X-Trove-Sha256=<hex>&X-Trove-Upload=<id>&X-Trove-Part=<n>&X-Trove-Signature=<hex>
//! ```
//! A PUT's Content-Type is signed but travels as its header, as with S3's signed headers.
//!
//! The canonical string length-prefixes every free-form field, so no choice of values (a
//! content type or download name holding a newline, say) can make two different grants
//! sign the same bytes.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::form_urlencoded;

type HmacSha256 = Hmac<Sha256>;

pub(crate) const P_OP: &str = "X-Trove-Op";
pub(crate) const P_EXPIRES: &str = "X-Trove-Expires";
pub(crate) const P_SIZE: &str = "X-Trove-Size";
pub(crate) const P_SHA256: &str = "X-Trove-Sha256";
pub(crate) const P_DOWNLOAD_NAME: &str = "X-Trove-Download-Name";
pub(crate) const P_SIGNATURE: &str = "X-Trove-Signature";
pub(crate) const P_UPLOAD: &str = "X-Trove-Upload";
pub(crate) const P_PART: &str = "X-Trove-Part";
pub(crate) const P_OFFSET: &str = "X-Trove-Offset";

const ALL_PARAMS: [&str; 9] = [
    P_OP,
    P_EXPIRES,
    P_SIZE,
    P_SHA256,
    P_DOWNLOAD_NAME,
    P_SIGNATURE,
    P_UPLOAD,
    P_PART,
    P_OFFSET,
];

/// What a URL allows, beyond its key and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignedOp {
    /// Upload exactly these bytes; `content_type` travels as the request's header (as with
    /// S3's signed headers), the rest in the query.
    Put {
        size: u64,
        sha256: String,
        content_type: String,
    },
    Get {
        download_name: Option<String>,
    },
    /// Upload exactly these bytes as part `number` of the unfinished upload `upload`.
    Part {
        upload: String,
        number: u32,
        /// Where the part's bytes go in the upload's file.
        offset: u64,
        size: u64,
        sha256: String,
    },
}

impl SignedOp {
    fn name(&self) -> &'static str {
        match self {
            SignedOp::Put { .. } => "put",
            SignedOp::Get { .. } => "get",
            SignedOp::Part { .. } => "part",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedRequest {
    pub key: String,
    /// Unix seconds; the URL is valid up to and including this second.
    pub expires: i64,
    pub op: SignedOp,
}

fn push_field(out: &mut String, value: &str) {
    out.push_str(&value.len().to_string());
    out.push(':');
    out.push_str(value);
    out.push('\n');
}

impl SignedRequest {
    pub(crate) fn canonical(&self) -> String {
        let mut out = String::from("TROVE-URL-V1\n");
        out.push_str(self.op.name());
        out.push('\n');
        push_field(&mut out, &self.key);
        out.push_str(&self.expires.to_string());
        out.push('\n');
        match &self.op {
            SignedOp::Put {
                size,
                sha256,
                content_type,
            } => {
                out.push_str(&size.to_string());
                out.push('\n');
                push_field(&mut out, sha256);
                push_field(&mut out, content_type);
            }
            SignedOp::Get { download_name } => match download_name {
                // "-" has no ':' so it cannot be mistaken for a length-prefixed name.
                None => out.push_str("-\n"),
                Some(name) => push_field(&mut out, name),
            },
            SignedOp::Part {
                upload,
                number,
                offset,
                size,
                sha256,
            } => {
                push_field(&mut out, upload);
                out.push_str(&format!("{number}\n{offset}\n{size}\n"));
                push_field(&mut out, sha256);
            }
        }
        out
    }

    /// The query string of the URL, signature included.
    pub(crate) fn to_query(&self, signature: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair(P_OP, self.op.name());
        q.append_pair(P_EXPIRES, &self.expires.to_string());
        match &self.op {
            SignedOp::Put { size, sha256, .. } => {
                q.append_pair(P_SIZE, &size.to_string());
                q.append_pair(P_SHA256, sha256);
            }
            SignedOp::Get { download_name } => {
                if let Some(name) = download_name {
                    q.append_pair(P_DOWNLOAD_NAME, name);
                }
            }
            SignedOp::Part {
                upload,
                number,
                offset,
                size,
                sha256,
            } => {
                q.append_pair(P_SIZE, &size.to_string());
                q.append_pair(P_SHA256, sha256);
                q.append_pair(P_UPLOAD, upload);
                q.append_pair(P_PART, &number.to_string());
                q.append_pair(P_OFFSET, &offset.to_string());
            }
        }
        q.append_pair(P_SIGNATURE, signature);
        q.finish()
    }

    /// Rebuilds the grant a request claims from its query (and, for a PUT, its Content-Type
    /// header). Returns the grant and the signature to check; any malformed or repeated
    /// parameter refuses the request, so what is checked is exactly what is used.
    pub(crate) fn from_query(
        key: &str,
        is_put: bool,
        query: &str,
        content_type: Option<&str>,
    ) -> Result<(SignedRequest, String), &'static str> {
        let mut found: [Option<String>; 9] = Default::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if let Some(i) = ALL_PARAMS.iter().position(|p| *p == name) {
                if found[i].is_some() {
                    return Err("repeated signing parameter");
                }
                found[i] = Some(value.into_owned());
            }
        }
        let [
            op,
            expires,
            size,
            sha256,
            download_name,
            signature,
            upload,
            part,
            offset,
        ] = found;
        let signature = signature.ok_or("missing signature")?;
        let expires = expires
            .ok_or("missing expiry")?
            .parse::<i64>()
            .map_err(|_| "malformed expiry")?;
        let size = || {
            size.as_deref()
                .ok_or("missing size")?
                .parse::<u64>()
                .map_err(|_| "malformed size")
        };
        let op = match (op.as_deref(), is_put) {
            (Some("put"), true) => SignedOp::Put {
                size: size()?,
                sha256: sha256.ok_or("missing sha256")?,
                content_type: content_type.unwrap_or_default().to_owned(),
            },
            (Some("part"), true) => SignedOp::Part {
                upload: upload.ok_or("missing upload id")?,
                number: part
                    .ok_or("missing part number")?
                    .parse::<u32>()
                    .map_err(|_| "malformed part number")?,
                offset: offset
                    .ok_or("missing part offset")?
                    .parse::<u64>()
                    .map_err(|_| "malformed part offset")?,
                size: size()?,
                sha256: sha256.ok_or("missing sha256")?,
            },
            (Some("get"), false) => SignedOp::Get { download_name },
            (None, _) => return Err("missing operation"),
            _ => return Err("the URL was not signed for this method"),
        };
        Ok((
            SignedRequest {
                key: key.to_owned(),
                expires,
                op,
            },
            signature,
        ))
    }
}

/// Signs and checks URLs with one secret key.
pub(crate) struct UrlSigner {
    key: Vec<u8>,
}

impl UrlSigner {
    pub(crate) fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, request: &SignedRequest) -> Option<HmacSha256> {
        // HMAC accepts keys of any length, so this never fails in practice.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key).ok()?;
        mac.update(request.canonical().as_bytes());
        Some(mac)
    }

    /// Lower-case hex signature, or `None` if the key is unusable.
    pub(crate) fn sign(&self, request: &SignedRequest) -> Option<String> {
        Some(hex::encode(self.mac(request)?.finalize().into_bytes()))
    }

    /// Constant-time check of a hex signature.
    pub(crate) fn verify(&self, request: &SignedRequest, signature_hex: &str) -> bool {
        let Ok(signature) = hex::decode(signature_hex) else {
            return false;
        };
        self.mac(request)
            .is_some_and(|mac| mac.verify_slice(&signature).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_request() -> SignedRequest {
        SignedRequest {
            key: "incoming/acme/01h".into(),
            expires: 1_700_000_000,
            op: SignedOp::Put {
                size: 42,
                sha256: "ab".repeat(32),
                content_type: "application/gzip".into(),
            },
        }
    }

    #[test]
    fn canonical_string_is_stable_and_length_prefixed() {
        let expected = format!(
            "TROVE-URL-V1\nput\n17:incoming/acme/01h\n1700000000\n42\n64:{}\n16:application/gzip\n",
            "ab".repeat(32)
        );
        assert_eq!(put_request().canonical(), expected);
        let get = SignedRequest {
            key: "blobs/sha256/x".into(),
            expires: 5,
            op: SignedOp::Get {
                download_name: None,
            },
        };
        assert_eq!(
            get.canonical(),
            "TROVE-URL-V1\nget\n14:blobs/sha256/x\n5\n-\n"
        );
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let a = SignedRequest {
            key: "k".into(),
            expires: 1,
            op: SignedOp::Get {
                download_name: Some("-".into()),
            },
        };
        let b = SignedRequest {
            op: SignedOp::Get {
                download_name: None,
            },
            ..a.clone()
        };
        assert_ne!(a.canonical(), b.canonical());
    }

    #[test]
    fn any_tampering_is_detected() {
        let signer = UrlSigner::new(b"secret".to_vec());
        let request = put_request();
        let sig = signer.sign(&request).expect("signs");
        assert!(signer.verify(&request, &sig));

        let mut tampered = vec![];
        let mut r = request.clone();
        r.key.push('x');
        tampered.push(r);
        let mut r = request.clone();
        r.expires += 1;
        tampered.push(r);
        for change in 0..3 {
            let mut r = request.clone();
            if let SignedOp::Put {
                size,
                sha256,
                content_type,
            } = &mut r.op
            {
                match change {
                    0 => *size += 1,
                    1 => *sha256 = "cd".repeat(32),
                    _ => *content_type = "text/plain".into(),
                }
            }
            tampered.push(r);
        }
        for r in &tampered {
            assert!(!signer.verify(r, &sig), "accepted {r:?}");
        }
        assert!(!UrlSigner::new(b"other".to_vec()).verify(&request, &sig));
        assert!(!signer.verify(&request, "zz"));
        assert!(!signer.verify(&request, ""));
        assert!(!signer.verify(&request, &sig[..62]));
    }

    #[test]
    fn query_round_trips() {
        let signer = UrlSigner::new(b"secret".to_vec());
        let request = put_request();
        let sig = signer.sign(&request).expect("signs");
        let query = request.to_query(&sig);
        let (parsed, parsed_sig) =
            SignedRequest::from_query(&request.key, true, &query, Some("application/gzip"))
                .expect("parses");
        assert_eq!(parsed, request);
        assert_eq!(parsed_sig, sig);

        let get = SignedRequest {
            key: "k/x".into(),
            expires: 9,
            op: SignedOp::Get {
                download_name: Some("my file \"v1\" & é.tgz".into()),
            },
        };
        let sig = signer.sign(&get).expect("signs");
        let (parsed, _) =
            SignedRequest::from_query("k/x", false, &get.to_query(&sig), None).expect("parses");
        assert_eq!(parsed, get);
    }

    #[test]
    fn a_part_grant_round_trips_and_binds_its_upload_number_and_offset() {
        let signer = UrlSigner::new(b"secret".to_vec());
        let part = SignedRequest {
            key: "incoming/acme/01h".into(),
            expires: 7,
            op: SignedOp::Part {
                upload: "ab".repeat(16),
                number: 3,
                offset: 10 << 20,
                size: 5,
                sha256: "cd".repeat(32),
            },
        };
        let sig = signer.sign(&part).expect("signs");
        let (parsed, _) =
            SignedRequest::from_query(&part.key, true, &part.to_query(&sig), None).expect("parses");
        assert_eq!(parsed, part);
        for change in 0..3 {
            let mut other = part.clone();
            if let SignedOp::Part {
                upload,
                number,
                offset,
                ..
            } = &mut other.op
            {
                match change {
                    0 => *upload = "ef".repeat(16),
                    1 => *number = 4,
                    _ => *offset = 0,
                }
            }
            assert!(!signer.verify(&other, &sig), "accepted {other:?}");
        }
        // A part URL is no object PUT, and the reverse.
        let as_put = SignedRequest {
            op: SignedOp::Put {
                size: 5,
                sha256: "cd".repeat(32),
                content_type: String::new(),
            },
            ..part.clone()
        };
        assert!(!signer.verify(&as_put, &sig));
    }

    #[test]
    fn malformed_queries_are_refused() {
        let key = "k";
        for (query, is_put, reason) in [
            ("", true, "missing signature"),
            (
                "X-Trove-Op=put&X-Trove-Expires=1&X-Trove-Size=1&X-Trove-Sha256=a",
                true,
                "missing signature",
            ),
            (
                "X-Trove-Op=get&X-Trove-Expires=1&X-Trove-Signature=ab",
                true,
                "the URL was not signed for this method",
            ),
            (
                "X-Trove-Op=put&X-Trove-Expires=1&X-Trove-Size=1&X-Trove-Sha256=a&X-Trove-Signature=ab",
                false,
                "the URL was not signed for this method",
            ),
            (
                "X-Trove-Op=get&X-Trove-Expires=soon&X-Trove-Signature=ab",
                false,
                "malformed expiry",
            ),
            (
                "X-Trove-Op=put&X-Trove-Expires=1&X-Trove-Size=-1&X-Trove-Sha256=a&X-Trove-Signature=ab",
                true,
                "malformed size",
            ),
            (
                "X-Trove-Op=get&X-Trove-Expires=1&X-Trove-Expires=2&X-Trove-Signature=ab",
                false,
                "repeated signing parameter",
            ),
            (
                "X-Trove-Op=part&X-Trove-Expires=1&X-Trove-Size=1&X-Trove-Sha256=a&X-Trove-Part=1&X-Trove-Signature=ab",
                true,
                "missing upload id",
            ),
            (
                "X-Trove-Op=part&X-Trove-Expires=1&X-Trove-Size=1&X-Trove-Sha256=a&X-Trove-Upload=u&X-Trove-Part=-1&X-Trove-Offset=0&X-Trove-Signature=ab",
                true,
                "malformed part number",
            ),
            (
                "X-Trove-Op=part&X-Trove-Expires=1&X-Trove-Size=1&X-Trove-Sha256=a&X-Trove-Upload=u&X-Trove-Part=1&X-Trove-Signature=ab",
                true,
                "missing part offset",
            ),
            (
                "X-Trove-Op=part&X-Trove-Expires=1&X-Trove-Size=1&X-Trove-Sha256=a&X-Trove-Upload=u&X-Trove-Part=1&X-Trove-Offset=x&X-Trove-Signature=ab",
                true,
                "malformed part offset",
            ),
        ] {
            assert_eq!(
                SignedRequest::from_query(key, is_put, query, None).err(),
                Some(reason),
                "{query}"
            );
        }
    }
}
