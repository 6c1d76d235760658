//! The digests npm clients check a tarball against: `dist.integrity` (SHA-512, as a
//! Subresource Integrity string) and the older `dist.shasum` (SHA-1, hex).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::formats::{ByteDigests, FileAttributes};

use super::{INTEGRITY, SHASUM};

/// Both digests of a tarball, fed chunk by chunk.
#[derive(Default)]
pub struct TarballDigests {
    sha512: sha2::Sha512,
    sha1: sha1::Sha1,
}

impl TarballDigests {
    pub fn of(bytes: &[u8]) -> Self {
        let mut digests = Self::default();
        digests.feed(bytes);
        digests
    }

    fn feed(&mut self, chunk: &[u8]) {
        sha2::Digest::update(&mut self.sha512, chunk);
        sha1::Digest::update(&mut self.sha1, chunk);
    }

    /// The SHA-512 and SHA-1 digests, raw.
    pub fn finalize(self) -> (Vec<u8>, Vec<u8>) {
        (
            sha2::Digest::finalize(self.sha512).to_vec(),
            sha1::Digest::finalize(self.sha1).to_vec(),
        )
    }
}

impl ByteDigests for TarballDigests {
    fn update(&mut self, chunk: &[u8]) {
        self.feed(chunk);
    }

    fn finish(self: Box<Self>) -> FileAttributes {
        let (sha512, sha1) = self.finalize();
        FileAttributes::from([
            (INTEGRITY.to_owned(), integrity(&sha512)),
            (SHASUM.to_owned(), hex::encode(sha1)),
        ])
    }
}

/// A SHA-512 digest as a Subresource Integrity string: `sha512-<base64>`.
pub fn integrity(sha512: &[u8]) -> String {
    format!("sha512-{}", STANDARD.encode(sha512))
}

/// The SHA-512 digest an SRI string names (the first `sha512-` of its space-separated
/// hashes; options after `?` ignored), when it names one that decodes.
pub fn sri_sha512(sri: &str) -> Option<Vec<u8>> {
    sri.split_ascii_whitespace().find_map(|hash| {
        let encoded = hash.strip_prefix("sha512-")?;
        let encoded = encoded
            .split_once('?')
            .map_or(encoded, |(digest, _)| digest);
        STANDARD.decode(encoded).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `printf hello | sha512sum | xxd -r -p | base64` and `printf hello | sha1sum`.
    const HELLO_INTEGRITY: &str = "sha512-m3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw==";
    const HELLO_SHASUM: &str = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d";

    #[test]
    fn digests_of_hello_are_the_known_ones() {
        let mut digests: Box<dyn ByteDigests> = Box::new(TarballDigests::default());
        // Fed in two chunks: the digests are of the whole stream.
        digests.update(b"he");
        digests.update(b"llo");
        let attributes = digests.finish();
        assert_eq!(
            attributes.get(INTEGRITY).map(String::as_str),
            Some(HELLO_INTEGRITY)
        );
        assert_eq!(
            attributes.get(SHASUM).map(String::as_str),
            Some(HELLO_SHASUM)
        );
        assert_eq!(attributes.len(), 2);
    }

    #[test]
    fn sri_strings_name_their_sha512_digest() {
        let (sha512, _) = TarballDigests::of(b"hello").finalize();
        assert_eq!(sri_sha512(HELLO_INTEGRITY), Some(sha512.clone()));
        let several = format!("sha1-qvTGHdzF6KLavt4PO0gs2a6pQ00= {HELLO_INTEGRITY}?opt");
        assert_eq!(sri_sha512(&several), Some(sha512));
        assert_eq!(sri_sha512("sha1-qvTGHdzF6KLavt4PO0gs2a6pQ00="), None);
        assert_eq!(sri_sha512("sha512-not*base64"), None);
    }
}
