//! Big honest archives through the presigned flow: a 1.5 GiB `.tar.gz` and a 1.5 GiB zip of
//! incompressible data (they expand 1:1) publish under the default scan policy, and the
//! scan result says it saw all of it. The archives are generated and uploaded streamed: a
//! temp file each, never in memory.

use std::io::{BufWriter, Read, Seek, Write};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::CONTENT_LENGTH;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{TestServer, expect_json, ticket_headers};
use trove_testkit::archives::noise::{tar_gz_of_noise, zip_of_noise};

const REPO: &str = "data";
const CONTENT: u64 = 3 << 29; // 1.5 GiB
const SETTLE: Duration = Duration::from_secs(600);

type Out = BufWriter<std::fs::File>;
type Writer = Box<dyn FnOnce(Out) -> std::io::Result<Out>>;

/// Writes an archive to a temp file; returns it with its size and SHA-256.
fn generate(write: Writer) -> (tempfile::NamedTempFile, u64, String) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let out = BufWriter::with_capacity(1 << 20, file.reopen().expect("reopen"));
    write(out).expect("archive").flush().expect("flush");
    let mut reader = file.reopen().expect("reopen");
    reader.rewind().expect("rewind");
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf).expect("read back");
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
    (file, size, hex::encode(hash.finalize()))
}

async fn upload(
    server: &TestServer,
    filename: &str,
    file: &tempfile::NamedTempFile,
    size: u64,
    sha256: &str,
) -> Value {
    let resp = server
        .api(Method::POST, &format!("/v1/repositories/{REPO}/uploads"))
        .json(
            &json!({"package": "bundle", "version": "1.0.0", "filename": filename,
            "size": size, "sha256": sha256}),
        )
        .send()
        .await
        .expect("POST uploads");
    let ticket = expect_json(resp, reqwest::StatusCode::CREATED, filename).await;
    let body = tokio::fs::File::open(file.path())
        .await
        .expect("open archive");
    let mut headers = ticket_headers(&ticket, false);
    headers.insert(CONTENT_LENGTH, size.into());
    let url = server.resolve(ticket["url"].as_str().expect("url"));
    let put = reqwest::Client::new()
        .put(url)
        .headers(headers)
        .body(reqwest::Body::from(body))
        .send()
        .await
        .expect("PUT the archive");
    assert!(
        put.status().is_success(),
        "PUT {filename}: {}",
        put.status()
    );
    let id = ticket["upload_id"].as_str().expect("upload id").to_owned();
    let deadline = Instant::now() + SETTLE;
    loop {
        let view = server.upload_status(REPO, &id).await;
        if matches!(view["status"].as_str(), Some("published" | "rejected")) {
            return view;
        }
        assert!(Instant::now() < deadline, "{filename} not settled: {view}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn big_archives_of_incompressible_data_publish_under_the_default_policy() {
    let server = TestServer::start().await;
    server.create_repo(REPO).await;
    let archives: [(&str, Writer); 2] = [
        (
            "big.tar.gz",
            Box::new(|out| tar_gz_of_noise(out, "bundle/data.bin", CONTENT, 1)),
        ),
        (
            "big.zip",
            Box::new(|out| zip_of_noise(out, "bundle/data.bin", CONTENT, 2)),
        ),
    ];
    for (filename, write) in archives {
        let started = Instant::now();
        let (file, size, sha256) = generate(write);
        assert!(size > CONTENT, "{filename} is incompressible: {size} bytes");
        let generated = started.elapsed();
        let view = upload(&server, filename, &file, size, &sha256).await;
        drop(file);
        eprintln!(
            "{filename}: {size} bytes generated in {generated:?}, uploaded and settled in {:?}",
            started.elapsed() - generated
        );
        assert_eq!(view["status"], "published", "{view}");
        assert_eq!(view["scan"]["status"], "complete", "{view}");
        assert!(view["scan"].get("limit").is_none(), "{view}");
    }
    let version = server
        .get_ok(&format!(
            "/v1/repositories/{REPO}/packages/bundle/versions/1.0.0"
        ))
        .await;
    let files = version["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "{version}");
    for f in files {
        assert_eq!(f["scan"]["status"], "complete", "{f}");
    }
}
