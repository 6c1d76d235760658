//! Uploads in parts: S3's rules for them, which the embedded store follows too, and what a
//! part's presigned PUT is bound to.

use std::collections::BTreeMap;

use super::presigned::{check_length_and_checksum, checksum_base64};
use super::{BlobError, CHECKSUM_HEADER, PutRefusal};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// Every part but the last is at least this long (S3's `EntityTooSmall`).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * GIB;
/// S3's most parts in one upload.
pub const MAX_PARTS: u32 = 10_000;
/// S3's largest single PUT: a larger file must come in parts.
pub const MAX_SINGLE_PUT: u64 = 5 * GIB;
/// S3's largest object.
pub const MAX_OBJECT_SIZE: u64 = 5 * 1024 * GIB;

/// How a file of `size` bytes is cut: every part `part_size` long but the last, which
/// holds the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartLayout {
    size: u64,
    part_size: u64,
    count: u32,
}

impl PartLayout {
    /// The layout, if storage takes it; otherwise why not, for a person to act on.
    pub fn new(size: u64, part_size: u64) -> Result<Self, String> {
        if size == 0 {
            return Err("invalid size 0: files must not be empty".into());
        }
        if size > MAX_OBJECT_SIZE {
            return Err(format!(
                "invalid size {size}: storage keeps files of at most {MAX_OBJECT_SIZE} bytes (5 TiB)"
            ));
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
            return Err(format!(
                "invalid part_size {part_size}: use {MIN_PART_SIZE} (5 MiB) to {MAX_PART_SIZE} (5 GiB) bytes"
            ));
        }
        let count = size.div_ceil(part_size);
        match u32::try_from(count) {
            Ok(count) if count <= MAX_PARTS => Ok(Self {
                size,
                part_size,
                count,
            }),
            _ => Err(format!(
                "part_size {part_size} cuts {size} bytes into {count} parts; at most {MAX_PARTS} are allowed: use a part_size of at least {}",
                size.div_ceil(u64::from(MAX_PARTS))
            )),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn part_size(&self) -> u64 {
        self.part_size
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Where part `number` (1-based) starts in the file, or `None` past the last part.
    pub fn offset_of(&self, number: u32) -> Option<u64> {
        self.length_of(number)
            .map(|_| u64::from(number - 1) * self.part_size)
    }

    /// The length of part `number` (1-based), or `None` past the last part.
    pub fn length_of(&self, number: u32) -> Option<u64> {
        if number == 0 || number > self.count {
            return None;
        }
        let before = u64::from(number - 1) * self.part_size;
        Some((self.size - before).min(self.part_size))
    }
}

/// What a part's presigned PUT is bound to: storage refuses any other body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartConstraints {
    /// 1-based, as S3 numbers parts.
    pub number: u32,
    /// Where the part starts in the object. S3 places parts by number alone; the embedded
    /// store writes each part in place in one file, so completing needs no copy.
    pub offset: u64,
    pub size: u64,
    /// Lower-case hex SHA-256 of the part's exact bytes.
    pub sha256: String,
}

impl PartConstraints {
    /// The headers the client must send with the part, lower-case names.
    pub fn signed_headers(&self) -> Result<BTreeMap<String, String>, BlobError> {
        Ok(BTreeMap::from([
            ("content-length".to_owned(), self.size.to_string()),
            (CHECKSUM_HEADER.to_owned(), self.checksum_base64()?),
        ]))
    }

    pub fn checksum_base64(&self) -> Result<String, BlobError> {
        checksum_base64(&self.sha256)
    }

    /// Checks a received part's headers against what its URL signed.
    pub fn check_put_headers(&self, headers: &http::HeaderMap) -> Result<(), PutRefusal> {
        check_length_and_checksum(self.size, &self.sha256, headers)
    }
}

/// A part storage holds for an unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    pub number: u32,
    pub size: u64,
    /// What completing the upload names the part by.
    pub etag: String,
    /// Lower-case hex SHA-256 of the part, as storage checked it on arrival.
    pub sha256: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_cuts_every_part_but_the_last_to_the_part_size() {
        let layout = PartLayout::new(12 * MIB + 1, 5 * MIB).expect("valid");
        assert_eq!(layout.count(), 3);
        assert_eq!(layout.length_of(1), Some(5 * MIB));
        assert_eq!(layout.length_of(2), Some(5 * MIB));
        assert_eq!(layout.length_of(3), Some(2 * MIB + 1));
        assert_eq!(layout.length_of(0), None);
        assert_eq!(layout.length_of(4), None);
        assert_eq!(layout.offset_of(1), Some(0));
        assert_eq!(layout.offset_of(3), Some(10 * MIB));
        assert_eq!((layout.offset_of(0), layout.offset_of(4)), (None, None));
        let exact = PartLayout::new(10 * MIB, 5 * MIB).expect("valid");
        assert_eq!((exact.count(), exact.length_of(2)), (2, Some(5 * MIB)));
        // One part may be smaller than the minimum: it is also the last.
        let small = PartLayout::new(10, MIN_PART_SIZE).expect("valid");
        assert_eq!((small.count(), small.length_of(1)), (1, Some(10)));
    }

    #[test]
    fn layouts_storage_refuses_say_why() {
        for (size, part, needle) in [
            (0, MIN_PART_SIZE, "empty"),
            (MAX_OBJECT_SIZE + 1, MAX_PART_SIZE, "5 TiB"),
            (10 * MIB, MIN_PART_SIZE - 1, "5 MiB"),
            (10 * GIB, MAX_PART_SIZE + 1, "5 GiB"),
            (MAX_OBJECT_SIZE, MIN_PART_SIZE, "at most 10000"),
        ] {
            let why = PartLayout::new(size, part).expect_err("refused");
            assert!(why.contains(needle), "{size}/{part}: {why}");
        }
        let largest = PartLayout::new(MAX_OBJECT_SIZE, MAX_OBJECT_SIZE / 10_000 + 1).expect("fits");
        assert_eq!(largest.count(), 10_000);
    }

    #[test]
    fn a_part_signs_its_length_and_checksum_only() {
        let part = PartConstraints {
            number: 2,
            offset: 5 * MIB,
            size: 7,
            sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        };
        let headers = part.signed_headers().expect("valid");
        assert_eq!(headers.len(), 2);
        assert_eq!(headers["content-length"], "7");
        assert_eq!(
            headers[CHECKSUM_HEADER],
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        let mut sent = http::HeaderMap::new();
        for (k, v) in &headers {
            sent.insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            );
        }
        assert_eq!(part.check_put_headers(&sent), Ok(()));
        sent.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(8));
        assert_eq!(
            part.check_put_headers(&sent),
            Err(PutRefusal::TooLarge { length: 8, size: 7 })
        );
    }
}
