//! Archives through the Scan step's `scan_stream` (hash and walk in parallel), under the
//! limits the pipeline uses for a default repository (5 GiB files: the cap on expanded
//! bytes is 40 GiB): big honest archives must pass, bombs must be refused quickly and
//! with little memory.
//!
//! `cargo bench -p trove-scan --bench archives` runs every case in a child process of its
//! own (a clean peak RSS each) and prints time and peak RSS (VmHWM) per case;
//! `... -- CASE` runs one. The 1.5 GiB archives are written to a temp file first,
//! streamed (`trove_testkit::archives::noise`, shared with the unit and e2e tests); the peak is reset after
//! writing them, so it is the scan's.

use trove_testkit::archives::noise;

use std::io::{BufWriter, Cursor, Write};
use std::process::Command;
use std::time::Instant;

use flate2::Compression;
use flate2::write::GzEncoder;
use futures::StreamExt as _;
use trove_core::domain::model::{Format, Repository, ScanPolicy};
use trove_core::domain::names::RepoName;
use trove_core::ports::{BlobError, ByteStream};
use trove_scan::{ScanError, ScanLimits, scan_stream};
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const CASES: [&str; 7] = [
    "tgz-1.5GiB",
    "zip-1.5GiB",
    "zip-bomb-2GiB",
    "gzip-bomb-2GiB",
    "nested-zip-bomb",
    "many-parts-bomb",
    "many-entries-bomb",
];

fn main() {
    let case = std::env::args()
        .skip(1)
        .find(|a| CASES.contains(&a.as_str()));
    match case {
        Some(case) => run(&case),
        None => {
            println!("archive scan bench (scan_stream, default repository of 5 GiB files)");
            let me = std::env::current_exe().expect("own path");
            for case in CASES {
                let status = Command::new(&me).arg(case).status().expect("child runs");
                assert!(status.success(), "{case} failed");
            }
        }
    }
}

fn run(case: &str) {
    let limits = ScanLimits::for_repository(&Repository {
        name: RepoName::parse("bench").expect("valid"),
        id: None,
        format: Format::Generic,
        description: None,
        max_file_size: 5 * GIB,
        retention: Default::default(),
        scan_policy: ScanPolicy::default(),
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    });
    let content = 3 * GIB / 2;
    let (name, input) = match case {
        "tgz-1.5GiB" => (
            "big.tar.gz",
            Input::File(to_file(|out| {
                noise::tar_gz_of_noise(out, "data.bin", content, 1)
            })),
        ),
        "zip-1.5GiB" => (
            "big.zip",
            Input::File(to_file(|out| {
                noise::zip_of_noise(out, "data.bin", content, 2)
            })),
        ),
        "zip-bomb-2GiB" => ("bomb.zip", Input::Memory(zip_of_zeros(&[2 * GIB]))),
        "gzip-bomb-2GiB" => ("bomb.gz", Input::Memory(gzip_of_zeros(2 * GIB))),
        "nested-zip-bomb" => {
            // 16 copies of a 2 GiB bomb in a zip: 32 GiB claimed.
            let inner = zip_of_zeros(&[2 * GIB]);
            let mut w = ZipWriter::new(Cursor::new(Vec::new()));
            for i in 0..16 {
                w.start_file(format!("bomb{i}.zip"), stored())
                    .expect("entry");
                w.write_all(&inner).expect("write");
            }
            (
                "nested.zip",
                Input::Memory(w.finish().expect("zip").into_inner()),
            )
        }
        // Each entry below the 8 MiB a stream must produce before its own ratio is judged.
        "many-parts-bomb" => ("parts.zip", Input::Memory(zip_of_zeros(&[4 * MIB; 1000]))),
        "many-entries-bomb" => {
            let mut w = ZipWriter::new(Cursor::new(Vec::new()));
            for i in 0..100_000 {
                w.start_file(format!("e{i}"), stored()).expect("entry");
            }
            (
                "entries.zip",
                Input::Memory(w.finish().expect("zip").into_inner()),
            )
        }
        other => panic!("unknown case {other}"),
    };
    let size = input.len();
    reset_peak();
    let stream = input.stream();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let outcome = runtime.block_on(scan_stream(stream, name, limits, u64::MAX));
    let secs = started.elapsed().as_secs_f64();
    let verdict = match outcome {
        Ok(report) if report.findings.total() == 0 && report.findings.partial.is_none() => {
            "passed".to_owned()
        }
        Ok(report) => format!("findings: {:?}", report.findings),
        Err(ScanError::Limit(hit)) => format!("refused by {}: {}", hit.setting, hit.message),
        Err(e) => format!("error: {e}"),
    };
    println!(
        "  {case:<18} {:>10} in   {secs:>7.2} s  ({:>6.0} MB/s of input)  peak RSS {:>5} MB  {verdict}",
        human(size),
        size as f64 / 1e6 / secs,
        peak_mb()
    );
}

enum Input {
    File(tempfile::NamedTempFile),
    Memory(Vec<u8>),
}

impl Input {
    fn len(&self) -> u64 {
        match self {
            Input::File(f) => f.as_file().metadata().expect("metadata").len(),
            Input::Memory(v) => v.len() as u64,
        }
    }

    fn stream(self) -> ByteStream {
        match self {
            Input::Memory(v) => {
                let chunks: Vec<_> = v
                    .chunks(256 * 1024)
                    .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                    .collect();
                Box::pin(futures::stream::iter(chunks))
            }
            Input::File(f) => {
                let file = tokio::fs::File::from_std(f.reopen().expect("reopen"));
                let reader = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
                // The temp file is removed when the stream is done with it.
                Box::pin(reader.map(move |r| {
                    let _keep = &f;
                    r.map_err(|e| BlobError::Other(e.to_string()))
                }))
            }
        }
    }
}

type Out = BufWriter<std::fs::File>;

fn to_file(write: impl FnOnce(Out) -> std::io::Result<Out>) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let out = BufWriter::with_capacity(MIB as usize, file.reopen().expect("reopen"));
    write(out).expect("archive").flush().expect("flush");
    file
}

fn stored() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
}

/// A zip of one deflated entry of zeros per size; only compressed bytes are held.
fn zip_of_zeros(sizes: &[u64]) -> Vec<u8> {
    let zeros = vec![0u8; MIB as usize];
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9));
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (i, size) in sizes.iter().enumerate() {
        w.start_file(format!("zeros{i}.bin"), options)
            .expect("entry");
        write_zeros(&mut w, &zeros, *size);
    }
    w.finish().expect("zip").into_inner()
}

fn gzip_of_zeros(size: u64) -> Vec<u8> {
    let zeros = vec![0u8; MIB as usize];
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    write_zeros(&mut gz, &zeros, size);
    gz.finish().expect("gzip")
}

fn write_zeros(w: &mut impl Write, zeros: &[u8], size: u64) {
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        w.write_all(&zeros[..n]).expect("write");
        left -= n as u64;
    }
}

fn human(bytes: u64) -> String {
    if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// Resets this process's peak RSS (VmHWM), so what follows is measured alone.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_mb() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.0}", kb / 1024.0))
        })
        .unwrap_or_else(|| "?".into())
}
