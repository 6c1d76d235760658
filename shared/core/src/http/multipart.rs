//! A streaming `multipart/form-data` reader (RFC 7578): fields are read one at a time,
//! each bounded by the caller, and a file part is handed on as a stream, never held whole.
//! Package managers' publish requests (twine's `legacy` upload) come in this form.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt as _};

pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// Longest header section of one part.
const MAX_PART_HEADERS: usize = 8 * 1024;
/// Longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

/// Why the body is not the multipart form it claims to be; phrased for the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed multipart body: {0}")]
pub struct MultipartError(pub String);

fn malformed(why: impl Into<String>) -> MultipartError {
    MultipartError(why.into())
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return Err(malformed("send the upload as multipart/form-data"));
    }
    for param in parts {
        if let Some((k, v)) = param.split_once('=')
            && k.trim().eq_ignore_ascii_case("boundary")
        {
            let b = v.trim().trim_matches('"');
            if b.is_empty() || b.len() > MAX_BOUNDARY || !b.is_ascii() {
                return Err(malformed("invalid boundary"));
            }
            return Ok(b.to_owned());
        }
    }
    Err(malformed("the content type names no boundary"))
}

/// One part's name and, for a file, its filename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHead {
    pub name: String,
    pub filename: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first boundary (a preamble is skipped).
    Start,
    /// Just after a boundary: a part's headers follow, or `--` ends the body.
    Boundary,
    /// Inside a part's body.
    InPart,
    Done,
}

pub struct Multipart {
    body: BodyStream,
    buf: BytesMut,
    /// `\r\n--{boundary}`: what ends every part.
    delimiter: Vec<u8>,
    state: State,
}

impl Multipart {
    pub fn new(body: BodyStream, boundary: &str) -> Self {
        let mut buf = BytesMut::new();
        // The first boundary has no line break before it: pretend it has.
        buf.extend_from_slice(b"\r\n");
        Self {
            body,
            buf,
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            state: State::Start,
        }
    }

    /// Reads more of the body; false at its end.
    async fn fill(&mut self) -> Result<bool, MultipartError> {
        match self.body.next().await {
            Some(Ok(chunk)) => {
                self.buf.extend_from_slice(&chunk);
                Ok(true)
            }
            Some(Err(e)) => Err(malformed(format!("the body could not be read: {e}"))),
            None => Ok(false),
        }
    }

    async fn need(&mut self, n: usize) -> Result<(), MultipartError> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(malformed("the body ends before its closing boundary"));
            }
        }
        Ok(())
    }

    /// The next part's head, skipping what is left of the current one; `None` after the
    /// closing boundary.
    pub async fn next_part(&mut self) -> Result<Option<PartHead>, MultipartError> {
        match self.state {
            State::Done => return Ok(None),
            State::Start => {
                // Skip a preamble up to the first boundary.
                self.state = State::InPart;
                while self.chunk().await?.is_some() {}
            }
            State::InPart => while self.chunk().await?.is_some() {},
            State::Boundary => {}
        }
        self.need(2).await?;
        if self.buf.starts_with(b"--") {
            self.state = State::Done;
            return Ok(None);
        }
        // Transport padding, then the line break before the headers.
        loop {
            self.need(1).await?;
            match self.buf[0] {
                b' ' | b'\t' => drop(self.buf.split_to(1)),
                _ => break,
            }
        }
        self.need(2).await?;
        if !self.buf.starts_with(b"\r\n") {
            return Err(malformed("a boundary is not followed by a line break"));
        }
        drop(self.buf.split_to(2));
        let headers = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let headers = self.buf.split_to(end + 4);
                break headers;
            }
            if self.buf.len() > MAX_PART_HEADERS {
                return Err(malformed("a part's headers are too long"));
            }
            if !self.fill().await? {
                return Err(malformed("the body ends inside a part's headers"));
            }
        };
        if headers.len() > MAX_PART_HEADERS {
            return Err(malformed("a part's headers are too long"));
        }
        let text = std::str::from_utf8(&headers)
            .map_err(|_| malformed("a part's headers are not UTF-8"))?;
        let head = parse_head(text)?;
        self.state = State::InPart;
        Ok(Some(head))
    }

    /// The next bytes of the current part's body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, MultipartError> {
        if self.state != State::InPart {
            return Ok(None);
        }
        let n = self.delimiter.len();
        loop {
            if let Some(at) = find(&self.buf, &self.delimiter) {
                if at > 0 {
                    return Ok(Some(self.buf.split_to(at).freeze()));
                }
                drop(self.buf.split_to(n));
                self.state = State::Boundary;
                return Ok(None);
            }
            // All but what could be the start of a delimiter is the part's.
            if self.buf.len() >= n {
                let safe = self.buf.len() - (n - 1);
                return Ok(Some(self.buf.split_to(safe).freeze()));
            }
            if !self.fill().await? {
                self.state = State::Done;
                return Err(malformed("the body ends before its closing boundary"));
            }
        }
    }

    /// The current part's body as text, refused past `max` bytes.
    pub async fn text(&mut self, field: &str, max: usize) -> Result<String, MultipartError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            if out.len() + chunk.len() > max {
                return Err(malformed(format!(
                    "field {field} is longer than {max} bytes"
                )));
            }
            out.extend_from_slice(&chunk);
        }
        String::from_utf8(out).map_err(|_| malformed(format!("field {field} is not UTF-8")))
    }

    /// The current part's body as a stream; the reader ends with it (what follows the
    /// file part is not read).
    pub fn into_part_stream(self) -> impl Stream<Item = Result<Bytes, MultipartError>> + Send {
        futures::stream::unfold(self, |mut reader| async move {
            match reader.chunk().await {
                Ok(Some(bytes)) => Some((Ok(bytes), reader)),
                Ok(None) => None,
                Err(e) => {
                    reader.state = State::Done;
                    Some((Err(e), reader))
                }
            }
        })
    }
}

/// The first position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = hay[from..].iter().position(|&b| b == first) {
        let at = from + i;
        if hay.len() - at < needle.len() {
            return None;
        }
        if &hay[at..at + needle.len()] == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn parse_head(headers: &str) -> Result<PartHead, MultipartError> {
    let mut head = None;
    for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(malformed("a part header has no ':'"));
        };
        if !name.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let mut params = split_params(value)?.into_iter();
        match params.next() {
            Some((kind, None)) if kind.eq_ignore_ascii_case("form-data") => {}
            _ => return Err(malformed("a part is not form-data")),
        }
        let (mut field, mut filename) = (None, None);
        for (k, v) in params {
            match (k.to_ascii_lowercase().as_str(), v) {
                ("name", Some(v)) => field = Some(v),
                ("filename", Some(v)) => filename = Some(v),
                _ => {}
            }
        }
        let name = field.ok_or_else(|| malformed("a part has no name"))?;
        head = Some(PartHead { name, filename });
    }
    head.ok_or_else(|| malformed("a part has no Content-Disposition"))
}

/// `form-data; name="a"; filename="b"` as (key, value) pairs; quoted values may escape
/// `"` and `\` with a backslash.
fn split_params(value: &str) -> Result<Vec<(String, Option<String>)>, MultipartError> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ';') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            key.push(c);
            chars.next();
        }
        let key = key.trim().to_owned();
        if chars.peek() != Some(&'=') {
            out.push((key, None));
            continue;
        }
        chars.next();
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some(c) => val.push(c),
                        None => return Err(malformed("unterminated quoted parameter")),
                    },
                    Some('"') => break,
                    Some(c) => val.push(c),
                    None => return Err(malformed("unterminated quoted parameter")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ';' {
                    break;
                }
                val.push(c);
                chars.next();
            }
            val = val.trim().to_owned();
        }
        out.push((key, Some(val)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body cut into chunks of `size` bytes: boundaries straddle chunks.
    fn reader(body: &[u8], size: usize) -> Multipart {
        let chunks: Vec<Result<Bytes, String>> = body
            .chunks(size.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Multipart::new(Box::pin(futures::stream::iter(chunks)), "XyZ")
    }

    fn form(content: &[u8]) -> Vec<u8> {
        let mut body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n--XyZ\r\nContent-Disposition: form-data; name=\"content\"; filename=\"a \\\"b\\\".whl\"\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        body
    }

    async fn read_all(mut m: Multipart) -> Result<Vec<(PartHead, Vec<u8>)>, MultipartError> {
        let mut parts = Vec::new();
        while let Some(head) = m.next_part().await? {
            let mut data = Vec::new();
            while let Some(c) = m.chunk().await? {
                data.extend_from_slice(&c);
            }
            parts.push((head, data));
        }
        Ok(parts)
    }

    #[tokio::test]
    async fn fields_and_files_are_read_whatever_the_chunking() {
        // Content that nearly looks like a delimiter must come through intact.
        let content = b"\r\n--XyQ\r\n--Xy\r\r\n-binary\x00\xff";
        for size in [1, 2, 3, 7, 64, 4096] {
            let parts = read_all(reader(&form(content), size))
                .await
                .expect("parses");
            assert_eq!(parts.len(), 2, "chunk size {size}");
            assert_eq!(parts[0].0.name, ":action");
            assert_eq!(parts[0].1, b"file_upload");
            assert_eq!(parts[1].0.filename.as_deref(), Some("a \"b\".whl"));
            assert_eq!(parts[1].1, content, "chunk size {size}");
        }
    }

    #[tokio::test]
    async fn a_file_part_streams_out() {
        let mut m = reader(&form(b"hello"), 5);
        assert_eq!(
            m.next_part().await.expect("ok").map(|h| h.name).as_deref(),
            Some(":action")
        );
        assert_eq!(m.text(":action", 64).await.expect("text"), "file_upload");
        let head = m.next_part().await.expect("ok").expect("content");
        assert_eq!(head.name, "content");
        let bytes: Vec<Bytes> = m
            .into_part_stream()
            .map(|r| r.expect("chunk"))
            .collect()
            .await;
        assert_eq!(bytes.concat(), b"hello");
    }

    #[tokio::test]
    async fn broken_bodies_are_refused() {
        let truncated = &form(b"data")[..60];
        assert!(read_all(reader(truncated, 8)).await.is_err());
        let no_disposition = b"--XyZ\r\nX-A: b\r\n\r\nv\r\n--XyZ--";
        assert!(read_all(reader(no_disposition, 8)).await.is_err());
        let not_form_data = b"--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--XyZ--";
        assert!(read_all(reader(not_form_data, 8)).await.is_err());
        let endless_headers = [b"--XyZ\r\n".as_slice(), &[b'a'; 9000]].concat();
        let err = read_all(reader(&endless_headers, 512))
            .await
            .expect_err("too long");
        assert!(err.0.contains("too long"), "{err}");
        let mut m = reader(&form(b"x"), 4);
        m.next_part().await.expect("head");
        assert!(m.text(":action", 3).await.is_err());
    }

    #[test]
    fn boundaries_come_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"ab c\"").as_deref(),
            Ok("ab c")
        );
        assert_eq!(
            boundary("Multipart/Form-Data;boundary=x").as_deref(),
            Ok("x")
        );
        assert!(boundary("application/json").is_err());
        assert!(boundary("multipart/form-data").is_err());
        assert!(boundary(&format!("multipart/form-data; boundary={}", "a".repeat(71))).is_err());
    }
}
