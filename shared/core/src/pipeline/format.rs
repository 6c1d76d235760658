//! What a file is, from its first bytes, and what its name claims it is. The scanner opens
//! archives by their magic bytes (a zip renamed `.bin` is still walked); Validate refuses a
//! name that promises an archive the bytes are not.

/// Container formats the scanner opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zip,
    Gzip,
    Tar,
}

impl Kind {
    /// How a person calls it, in a refusal.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Zip => "a zip archive",
            Kind::Gzip => "a gzip archive",
            Kind::Tar => "a tar archive",
        }
    }
}

/// Bytes needed to recognise every kind (the ustar magic sits at offset 257).
pub const SNIFF_LEN: usize = 512;

/// The kind the first bytes show, if any.
pub fn sniff(head: &[u8]) -> Option<Kind> {
    // A local file header, or the end record of an empty archive.
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Some(Kind::Zip);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some(Kind::Gzip);
    }
    // POSIX "ustar\0" and GNU "ustar  \0" both start with these five bytes.
    if head.get(257..262) == Some(b"ustar".as_slice()) {
        return Some(Kind::Tar);
    }
    None
}

/// The kind a filename promises (case-insensitive extension), if any.
pub fn claimed(filename: &str) -> Option<Kind> {
    let name = filename.to_ascii_lowercase();
    let ends = |exts: &[&str]| exts.iter().any(|e| name.ends_with(e));
    if ends(&[".zip", ".whl", ".jar", ".war", ".ear", ".nupkg"]) {
        Some(Kind::Zip)
    } else if ends(&[".tar.gz", ".tgz", ".crate", ".gz"]) {
        Some(Kind::Gzip)
    } else if ends(&[".tar"]) {
        Some(Kind::Tar)
    } else {
        None
    }
}

/// Refuses a file whose name claims an archive its first bytes are not.
pub fn check_claim(filename: &str, head: &[u8]) -> Result<(), String> {
    match claimed(filename) {
        Some(kind) if sniff(head) != Some(kind) => Err(format!(
            "content mismatch: {filename} is not {}",
            kind.describe()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_head() -> Vec<u8> {
        let mut head = vec![0u8; 512];
        head[257..263].copy_from_slice(b"ustar\0");
        head
    }

    #[test]
    fn sniffs_by_magic() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(Kind::Zip));
        assert_eq!(sniff(b"PK\x05\x06"), Some(Kind::Zip));
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Some(Kind::Gzip));
        assert_eq!(sniff(&tar_head()), Some(Kind::Tar));
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn names_claim_kinds() {
        assert_eq!(claimed("widget-1.0.ZIP"), Some(Kind::Zip));
        assert_eq!(claimed("w-1.0-py3-none-any.whl"), Some(Kind::Zip));
        assert_eq!(claimed("app.jar"), Some(Kind::Zip));
        assert_eq!(claimed("w-1.0.tar.gz"), Some(Kind::Gzip));
        assert_eq!(claimed("w.tgz"), Some(Kind::Gzip));
        assert_eq!(claimed("serde-1.0.0.crate"), Some(Kind::Gzip));
        assert_eq!(claimed("w.tar"), Some(Kind::Tar));
        assert_eq!(claimed("README.md"), None);
    }

    #[test]
    fn a_claim_must_match_the_bytes() {
        assert_eq!(
            check_claim("widget.zip", b"just text"),
            Err("content mismatch: widget.zip is not a zip archive".into())
        );
        assert_eq!(
            check_claim("widget.tgz", b"PK\x03\x04"),
            Err("content mismatch: widget.tgz is not a gzip archive".into())
        );
        assert!(check_claim("widget.tar", &tar_head()).is_ok());
        assert!(check_claim("widget.tar.gz", &[0x1f, 0x8b, 8]).is_ok());
        assert!(check_claim("notes.txt", b"PK\x03\x04").is_ok());
    }
}
