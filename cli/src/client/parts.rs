//! How a file is cut into the parts of a multipart upload. The limits are S3's, which the
//! server enforces on every storage backend.

/// Storage refuses smaller parts (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// Storage refuses larger parts.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
/// Storage refuses more parts.
pub const MAX_PARTS: u64 = 10_000;
/// What `--part-size` defaults to.
pub const DEFAULT_PART_SIZE: u64 = 16 * MIB;

const MIB: u64 = 1024 * 1024;

/// A file of `size` bytes in parts of `part_size`: every part is full except the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub size: u64,
    pub part_size: u64,
}

/// One part: its 1-based number, where it starts in the file, and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    pub offset: u64,
    pub len: u64,
}

impl Layout {
    /// The layout for a file of `size` bytes with parts of about `requested` bytes: the part
    /// size grows (in whole MiB) until the file fits in `MAX_PARTS` parts.
    pub fn plan(size: u64, requested: u64) -> Result<Self, String> {
        if requested < MIN_PART_SIZE {
            return Err(format!(
                "part size {requested} bytes is below storage's minimum of 5 MiB"
            ));
        }
        if requested > MAX_PART_SIZE {
            return Err(format!(
                "part size {requested} bytes is above storage's maximum of 5 GiB"
            ));
        }
        let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
        let part_size = requested.max(needed);
        if part_size > MAX_PART_SIZE {
            return Err(format!(
                "a file of {size} bytes does not fit in {MAX_PARTS} parts of at most 5 GiB"
            ));
        }
        Ok(Self { size, part_size })
    }

    /// Whether the file needs more than one part (else one presigned PUT carries it).
    pub fn is_multipart(&self) -> bool {
        self.size > self.part_size
    }

    pub fn count(&self) -> u32 {
        // At most MAX_PARTS for any planned layout; a server's layout is checked by `parts`.
        u32::try_from(self.size.div_ceil(self.part_size).max(1)).unwrap_or(u32::MAX)
    }

    /// Part `number` (1-based), or None past the last.
    pub fn part(&self, number: u32) -> Option<Part> {
        if number == 0 || number > self.count() {
            return None;
        }
        let offset = u64::from(number - 1) * self.part_size;
        let len = self.part_size.min(self.size - offset);
        Some(Part {
            number,
            offset,
            len,
        })
    }

    pub fn parts(&self) -> impl Iterator<Item = Part> + '_ {
        (1..=self.count()).filter_map(|n| self.part(n))
    }
}

/// Reads a byte count as people write it: `16MiB`, `16M`, `5GiB`, `8388608` (units are
/// binary: K = 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 16MiB, 8M, 1048576)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => 1024 * MIB,
        other => return Err(format!("unknown size unit {other:?} (use K, M or G)")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_no_larger_than_one_part_is_one_put() {
        let layout = Layout::plan(DEFAULT_PART_SIZE, DEFAULT_PART_SIZE).expect("plans");
        assert!(!layout.is_multipart());
        assert_eq!(layout.count(), 1);
        let layout = Layout::plan(DEFAULT_PART_SIZE + 1, DEFAULT_PART_SIZE).expect("plans");
        assert!(layout.is_multipart());
        assert_eq!(layout.count(), 2);
    }

    #[test]
    fn every_part_is_full_except_the_last() {
        let layout = Layout::plan(300_000_000, DEFAULT_PART_SIZE).expect("plans");
        let parts: Vec<Part> = layout.parts().collect();
        assert_eq!(parts.len(), 18);
        assert!(parts[..17].iter().all(|p| p.len == DEFAULT_PART_SIZE));
        assert_eq!(parts[17].len, 300_000_000 - 17 * DEFAULT_PART_SIZE);
        assert_eq!(parts.iter().map(|p| p.len).sum::<u64>(), 300_000_000);
        for pair in parts.windows(2) {
            assert_eq!(pair[0].offset + pair[0].len, pair[1].offset);
        }
        assert_eq!(layout.part(0), None);
        assert_eq!(layout.part(19), None);
    }

    #[test]
    fn the_part_size_grows_so_that_at_most_ten_thousand_parts_are_needed() {
        let size = 500 * 1024 * 1024 * 1024; // 500 GiB: 32,000 parts of 16 MiB
        let layout = Layout::plan(size, DEFAULT_PART_SIZE).expect("plans");
        assert!(layout.count() <= 10_000, "{} parts", layout.count());
        assert_eq!(layout.part_size % MIB, 0, "whole MiB");
        assert!(layout.part_size >= size / 10_000);
        let exact = Layout::plan(10_000 * DEFAULT_PART_SIZE, DEFAULT_PART_SIZE).expect("plans");
        assert_eq!(exact.part_size, DEFAULT_PART_SIZE);
        assert_eq!(exact.count(), 10_000);
    }

    #[test]
    fn part_sizes_outside_storage_limits_are_refused() {
        for (size, part_size, why) in [
            (100 * MIB, 4 * MIB, "below storage's minimum of 5 MiB"),
            (
                100 * MIB,
                6 * 1024 * MIB,
                "above storage's maximum of 5 GiB",
            ),
            (
                60_000 * 1024 * MIB * 1024,
                MAX_PART_SIZE,
                "does not fit in 10000 parts of at most 5 GiB",
            ),
        ] {
            let err = Layout::plan(size, part_size).expect_err(why);
            assert!(err.contains(why), "{size}/{part_size}: {err}");
        }
    }

    #[test]
    fn sizes_read_with_binary_units() {
        assert_eq!(parse_size("16MiB"), Ok(16 * MIB));
        assert_eq!(parse_size("16M"), Ok(16 * MIB));
        assert_eq!(parse_size("5 GiB"), Ok(5 * 1024 * MIB));
        assert_eq!(parse_size("64k"), Ok(64 * 1024));
        assert_eq!(parse_size("8388608"), Ok(8 * MIB));
        for (text, why) in [
            ("MiB", "\"MiB\" is not a size"),
            ("5 parsecs", "unknown size unit \"parsecs\""),
            // More digits than a u64 holds: no number at all.
            ("99999999999999999999G", "is not a size"),
            ("99999999999G", "\"99999999999G\" is too large"),
        ] {
            let err = parse_size(text).expect_err(text);
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
