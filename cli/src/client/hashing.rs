//! SHA-256 of a file and of each of its parts.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

use crate::client::parts::Layout;
use crate::client::progress::Progress;

const CHUNK: usize = 1 << 20;

/// A file's digest and, for a multipart layout, each part's (index 0 = part 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub sha256: String,
    pub parts: Vec<String>,
}

/// Hashes the whole of `path` and every part of `layout` (on blocking threads).
/// Fails if the file's length is not `layout.size` (it changed while being read).
pub async fn digest_file(
    path: &Path,
    layout: Layout,
    progress: Progress,
) -> anyhow::Result<FileDigest> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || digest_blocking(&path, layout, &progress)).await?
}

fn digest_blocking(path: &Path, layout: Layout, progress: &Progress) -> anyhow::Result<FileDigest> {
    if !layout.is_multipart() {
        let sha256 = hash_ranges(path, layout, &[layout.size], Some(progress))?.remove(0);
        progress.finish();
        return Ok(FileDigest {
            sha256,
            parts: Vec::new(),
        });
    }
    // The whole file's digest and the parts' are two independent sequential chains: each
    // reads the file on its own core (the second read comes from the page cache), which
    // halves the wait on a machine with two cores or more.
    let part_lengths: Vec<u64> = layout.parts().map(|p| p.len).collect();
    let (whole, parts) = std::thread::scope(|scope| {
        let whole = scope.spawn(|| hash_ranges(path, layout, &[layout.size], None));
        let parts = hash_ranges(path, layout, &part_lengths, Some(progress));
        let whole = whole
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the hashing thread failed")));
        (whole, parts)
    });
    let (mut whole, parts) = (whole?, parts?);
    progress.finish();
    Ok(FileDigest {
        sha256: whole.remove(0),
        parts,
    })
}

/// Reads `path` from its start, hashing consecutive ranges of `lengths` (which add up to
/// `layout.size`); fails if the file is not exactly that long.
fn hash_ranges(
    path: &Path,
    layout: Layout,
    lengths: &[u64],
    progress: Option<&Progress>,
) -> anyhow::Result<Vec<String>> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buf = vec![0u8; CHUNK];
    let mut read_total = 0u64;
    let mut digests = Vec::with_capacity(lengths.len());
    for &len in lengths {
        let mut hasher = Sha256::new();
        let mut left = len;
        while left > 0 {
            let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
            let n = file
                .read(&mut buf[..want])
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                bail!(
                    "{} got shorter while it was read ({} bytes, {} expected): the file changed",
                    path.display(),
                    read_total,
                    layout.size
                );
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
            read_total += n as u64;
            if let Some(progress) = progress {
                progress.add(n as u64);
            }
        }
        digests.push(hex::encode(hasher.finalize()));
    }
    if file.read(&mut buf[..1])? != 0 {
        bail!(
            "{} grew while it was read (more than {} bytes): the file changed",
            path.display(),
            layout.size
        );
    }
    Ok(digests)
}

/// The running SHA-256 of the first `len` bytes of `path` (a download to continue).
pub async fn hash_prefix(path: &Path, len: u64) -> anyhow::Result<Sha256> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut hasher = Sha256::new();
        let copied = std::io::copy(&mut file.take(len), &mut hasher)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if copied != len {
            bail!("{} is shorter than {len} bytes", path.display());
        }
        Ok(hasher)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[tokio::test]
    async fn the_whole_and_each_part_are_hashed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..(11 * MIB + 7)).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, &bytes).expect("write");
        let layout = Layout {
            size: bytes.len() as u64,
            part_size: 5 * MIB,
        };
        let digest = digest_file(&path, layout, Progress::hidden())
            .await
            .expect("digest");
        assert_eq!(digest.sha256, sha(&bytes));
        let five = 5 * MIB as usize;
        assert_eq!(
            digest.parts,
            vec![
                sha(&bytes[..five]),
                sha(&bytes[five..2 * five]),
                sha(&bytes[2 * five..])
            ]
        );

        let single = Layout {
            size: bytes.len() as u64,
            part_size: 16 * MIB,
        };
        let digest = digest_file(&path, single, Progress::hidden())
            .await
            .expect("digest");
        assert!(digest.parts.is_empty());

        let prefix = hash_prefix(&path, 1000).await.expect("prefix");
        assert_eq!(hex::encode(prefix.finalize()), sha(&bytes[..1000]));
    }

    #[tokio::test]
    async fn a_file_of_another_length_than_expected_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").expect("write");
        let short = Layout {
            size: 9,
            part_size: 5 * MIB,
        };
        let long = Layout {
            size: 11,
            part_size: 5 * MIB,
        };
        for layout in [short, long] {
            let e = digest_file(&path, layout, Progress::hidden())
                .await
                .expect_err("refused");
            assert!(e.to_string().contains("the file changed"), "{e}");
        }
    }
}
