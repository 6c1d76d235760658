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
/// deflate cannot shrink them.
pub struct Noise {
    state: u64,
    left: u64,
}

impl Noise {
    pub fn new(seed: u64, len: u64) -> Self {
        Self {
            state: seed | 1,
            left: len,
        }
    }
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let word = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
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
