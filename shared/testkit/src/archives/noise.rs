//! Archives of incompressible data of any size, generated while they are written: nothing
//! the size of the archive is ever held. Used by the scanner's unit tests, its archive bench
//! (`benches/archives.rs`) and the end-to-end tests (both include this file by path), so
//! all three measure the same bytes. Needs only `std`, `flate2`, `tar` and `zip`.

use std::io::{self, Read, Seek, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

/// `len` pseudo-random bytes (xorshift64*, from `seed`): the same for the same seed, and
/// deflate cannot shrink them. A block of them is generated once and served again and
/// again: deflate looks back 32 KiB at most, so the repetition gives it nothing, and
/// copying is fast even in a debug build.
pub struct Noise {
    block: Vec<u8>,
    at: usize,
    left: u64,
}

const BLOCK: usize = 4 << 20;

impl Noise {
    pub fn new(seed: u64, len: u64) -> Self {
        let mut state = seed | 1;
        let block = (0..BLOCK / 8)
            .flat_map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes()
            })
            .collect();
        Self {
            block,
            at: 0,
            left: len,
        }
    }
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(BLOCK - self.at)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at = (self.at + n) % BLOCK;
        self.left -= n as u64;
        Ok(n)
    }
}

/// A `.tar.gz` holding one file `name` of `len` noise bytes, written to `out`.
pub fn tar_gz_of_noise<W: Write>(out: W, name: &str, len: u64, seed: u64) -> io::Result<W> {
    let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::fast()));
    let mut header = tar::Header::new_gnu();
    header.set_size(len);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, name, Noise::new(seed, len))?;
    tar.into_inner()?.finish()
}

/// A zip holding one deflated file `name` of `len` noise bytes, written to `out`.
pub fn zip_of_noise<W: Write + Seek>(out: W, name: &str, len: u64, seed: u64) -> io::Result<W> {
    let mut zip = ZipWriter::new(out);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(1))
        .large_file(len >= u64::from(u32::MAX));
    zip.start_file(name, options).map_err(io::Error::other)?;
    io::copy(&mut Noise::new(seed, len), &mut zip)?;
    zip.finish().map_err(io::Error::other)
}
