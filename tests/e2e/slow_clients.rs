//! Clients that hold sockets without using them: a request head that never ends, a body that
//! stops, a crowd of idle connections, a server out of file descriptors. Each is cut off by
//! its timeout while well-behaved clients keep being served.
//!
//! Timing bounds are generous (the machine running these may be busy): what is asserted is
//! that a stalled socket gets closed at all, well before a bound it would otherwise reach.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::harness::{TestServer, pseudo_random_bytes, ticket_headers};

/// How long a stalled socket may stay open before the test calls it never closed.
const CLOSE_BOUND: Duration = Duration::from_secs(30);

fn addr(server: &TestServer) -> SocketAddr {
    server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("the test server's base is http://IP:PORT")
}

async fn connect(server: &TestServer) -> TcpStream {
    tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr(server)))
        .await
        .expect("connecting to the server timed out")
        .expect("connect to the server")
}

/// Reads (and keeps) whatever the server sends until it closes the connection; `None` if it
/// is still open after `bound`.
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Option<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + bound;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// A client with no pooled connections, so each request opens a connection of its own.
fn fresh_client() -> Client {
    Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(90))
        .build()
        .expect("build reqwest client")
}

async fn healthz(server: &TestServer, client: &Client) -> StatusCode {
    client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /healthz on a fresh connection: {e}"))
        .status()
}

fn status_line(response: &[u8]) -> String {
    let text = String::from_utf8_lossy(response);
    text.lines().next().unwrap_or("").to_owned()
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("list /proc/{pid}/fd: {e}"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_sends_half_a_request_head_and_stalls_is_disconnected() {
    let server = TestServer::start_with_env(&[("TROVE_HEADER_TIMEOUT_SECS", "1")]).await;
    let started = Instant::now();
    let mut stream = connect(&server).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .expect("send half a request head");

    let answer = read_until_closed(&mut stream, CLOSE_BOUND)
        .await
        .unwrap_or_else(|| panic!("a half-sent head still holds its socket after {CLOSE_BOUND:?}"));
    let open_for = started.elapsed();
    assert!(
        open_for >= Duration::from_millis(900),
        "closed after {open_for:?}, before the 1 s header timeout could have run out"
    );
    assert!(
        !status_line(&answer).contains(" 200 "),
        "the half-sent request was answered: {}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(healthz(&server, &fresh_client()).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_head_trickled_a_byte_at_a_time_is_cut_off_at_the_header_timeout() {
    // Every byte is progress, so only a deadline on the whole head stops this (slowloris).
    let server = TestServer::start_with_env(&[("TROVE_HEADER_TIMEOUT_SECS", "1")]).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("send the request line");
    let (mut reader, mut writer) = stream.split();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let mut closed = false;
    // At most 30 s of trickling: 150 bytes, one per 200 ms.
    for _ in 0..150 {
        if writer.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), reader.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {}
        }
    }
    assert!(
        closed,
        "a head trickled for {:?} is still being read",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kept_alive_connection_waits_for_the_idle_timeout_not_the_header_timeout() {
    let server = TestServer::start_with_env(&[
        ("TROVE_HEADER_TIMEOUT_SECS", "1"),
        ("TROVE_IDLE_TIMEOUT_SECS", "10"),
    ])
    .await;
    let mut stream = connect(&server).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut buf = [0u8; 4096];
    for round in 0..2 {
        stream
            .write_all(request)
            .await
            .unwrap_or_else(|e| panic!("request {round} on the kept-alive connection: {e}"));
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("request {round} was not answered"))
            .unwrap_or_else(|e| panic!("read answer {round}: {e}"));
        assert!(
            status_line(&buf[..n]).starts_with("HTTP/1.1 200"),
            "answer {round}: {}",
            String::from_utf8_lossy(&buf[..n])
        );
        // Longer than the header timeout, well within the idle one.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // Silent from now on: the idle timeout closes it.
    assert!(
        read_until_closed(&mut stream, Duration::from_secs(60))
            .await
            .is_some(),
        "an idle kept-alive connection is still open a minute after a 10 s idle timeout"
    );
}

/// A presigned PUT of `size` bytes: the raw request head (with Content-Length) and the body.
async fn signed_put(server: &TestServer, repo: &str, size: usize) -> (Vec<u8>, Vec<u8>) {
    server.create_repo(repo).await;
    let bytes = pseudo_random_bytes(7, size);
    let ticket = server
        .request_upload(repo, "slow", "1.0.0", "slow.bin", &bytes)
        .await;
    let url = server.resolve(ticket["url"].as_str().expect("ticket url is a string"));
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut head = format!("PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (name, value) in &ticket_headers(&ticket, false) {
        let value = value.to_str().expect("ticket header value is ASCII");
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {size}\r\n\r\n"));
    (head.into_bytes(), bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_body_that_stops_half_way_fails_after_the_body_timeout() {
    let server = TestServer::start_with_env(&[("TROVE_BODY_TIMEOUT_SECS", "1")]).await;
    let (head, body) = signed_put(&server, "stalled", 64 * 1024).await;
    let mut stream = connect(&server).await;
    stream.write_all(&head).await.expect("send the PUT head");
    stream
        .write_all(&body[..body.len() / 2])
        .await
        .expect("send half the body");

    let answer = read_until_closed(&mut stream, CLOSE_BOUND)
        .await
        .unwrap_or_else(|| panic!("a stalled upload still holds its socket after {CLOSE_BOUND:?}"));
    let status = status_line(&answer);
    assert!(
        status.starts_with("HTTP/1.1 4"),
        "a stalled upload should fail with a 4xx, got {status:?}: {}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_request_body_that_stops_half_way_gets_a_problem_after_the_body_timeout() {
    let server = TestServer::start_with_env(&[("TROVE_BODY_TIMEOUT_SECS", "1")]).await;
    let body = br#"{"name":"never-finished","format":"generic"}"#;
    let head = format!(
        "POST /v1/repositories HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        server.token,
        body.len()
    );
    let mut stream = connect(&server).await;
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream
        .write_all(&body[..10])
        .await
        .expect("send a bit of the body");

    let answer = read_until_closed(&mut stream, CLOSE_BOUND)
        .await
        .unwrap_or_else(|| {
            panic!("a stalled request still holds its socket after {CLOSE_BOUND:?}")
        });
    let text = String::from_utf8_lossy(&answer);
    assert!(
        status_line(&answer).starts_with("HTTP/1.1 4"),
        "a stalled body should fail with a 4xx: {text}"
    );
    assert!(
        text.to_lowercase()
            .contains("content-type: application/problem+json"),
        "the failure is not a problem document: {text}"
    );
    let (status, _) = server.get_json("/v1/repositories/never-finished").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the half-sent request created its repository"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_upload_that_keeps_moving_outlives_the_body_timeout() {
    let server = TestServer::start_with_env(&[("TROVE_BODY_TIMEOUT_SECS", "2")]).await;
    let (head, body) = signed_put(&server, "trickle", 16 * 1024).await;
    let mut stream = connect(&server).await;
    stream.write_all(&head).await.expect("send the PUT head");
    let started = Instant::now();
    // 16 chunks 250 ms apart: about 4 s in all, twice the body timeout.
    for chunk in body.chunks(1024) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        stream.write_all(chunk).await.expect("send a chunk");
    }
    let took = started.elapsed();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
        .await
        .expect("the finished upload was not answered")
        .expect("read the answer");
    assert!(
        status_line(&buf[..n]).starts_with("HTTP/1.1 200"),
        "an upload that kept moving for {took:?} failed: {}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_idle_connections_neither_exceed_the_cap_nor_keep_a_fresh_request_out() {
    let server = TestServer::start_with_env(&[
        ("TROVE_MAX_CONNECTIONS", "20"),
        ("TROVE_HEADER_TIMEOUT_SECS", "1"),
    ])
    .await;
    let pid = server.pid().expect("the server runs");
    let before = open_descriptors(pid);

    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(connect(&server).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = open_descriptors(pid);
    assert!(
        during <= before + 20 + 5,
        "with --max-connections 20, 200 idle connections took the server from {before} to \
         {during} open descriptors"
    );

    let client = fresh_client();
    assert_eq!(
        healthz(&server, &client).await,
        StatusCode::OK,
        "a well-behaved request behind 200 idle connections"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, stream) in idle.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            read_until_closed(stream, left).await.is_some(),
            "idle connection {i} of 200 is still open after a minute"
        );
    }
    assert_eq!(healthz(&server, &client).await, StatusCode::OK);
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the server process is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn running_out_of_file_descriptors_pauses_accepting_but_never_ends_it() {
    let server = TestServer::start_with_env(&[("TROVE_HEADER_TIMEOUT_SECS", "1")]).await;
    let pid = server.pid().expect("the server runs");
    // Leave the server room for 40 more descriptors, then hold 150 connections open.
    let limit = open_descriptors(pid) + 40;
    let prlimit = std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .expect("run prlimit (util-linux) to lower the server's descriptor limit");
    assert!(prlimit.success(), "prlimit failed: {prlimit}");

    let mut idle = Vec::new();
    for _ in 0..150 {
        idle.push(connect(&server).await);
    }
    let client = fresh_client();
    assert_eq!(
        healthz(&server, &client).await,
        StatusCode::OK,
        "a well-behaved request once the idle connections time out"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, stream) in idle.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            read_until_closed(stream, left).await.is_some(),
            "idle connection {i} of 150 is still open after a minute"
        );
    }
    assert_eq!(healthz(&server, &client).await, StatusCode::OK);
    let log = server.log();
    assert!(
        log.contains("cannot accept connections"),
        "the server never ran out of descriptors, so this tested nothing; log:\n{log}"
    );
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the server process is gone"
    );
}

/// Whether the process has exited (gone, or a zombie its parent has not reaped yet).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name: `pid (comm) S ...`.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shutdown_signal_lets_a_running_upload_finish_then_the_server_exits() {
    let server = TestServer::start().await;
    let pid = server.pid().expect("the server runs");
    let (head, body) = signed_put(&server, "draining", 8 * 1024).await;
    let mut upload = connect(&server).await;
    upload.write_all(&head).await.expect("send the PUT head");
    upload
        .write_all(&body[..body.len() / 2])
        .await
        .expect("send half the body");
    // A connection that never sent anything must not hold the shutdown up.
    let _silent = connect(&server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let term = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .expect("run kill -TERM on the server's pid");
    assert!(term.success(), "kill -TERM {pid} failed: {term}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!exited(pid), "the server exited with an upload half-way");

    upload
        .write_all(&body[body.len() / 2..])
        .await
        .expect("send the rest of the body after the signal");
    let answer = read_until_closed(&mut upload, CLOSE_BOUND)
        .await
        .unwrap_or_else(|| panic!("the upload was not answered within {CLOSE_BOUND:?}"));
    assert!(
        status_line(&answer).starts_with("HTTP/1.1 200"),
        "the upload running at the signal did not complete: {}",
        String::from_utf8_lossy(&answer)
    );
    let deadline = Instant::now() + CLOSE_BOUND;
    while !exited(pid) {
        assert!(
            Instant::now() < deadline,
            "the server still runs {CLOSE_BOUND:?} after SIGTERM with nothing left to serve"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The inode of the server's socket of the loopback connection between `server_port` and
/// `client_port`, from `/proc/net/tcp` (`local_address` and `rem_address` are `IP:PORT` in
/// hex, the inode is the tenth column).
fn server_socket_inode(server_port: u16, client_port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let port = |address: &str| {
        address
            .rsplit_once(':')
            .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok())
    };
    table.lines().skip(1).find_map(|line| {
        let columns: Vec<&str> = line.split_whitespace().collect();
        let local = port(columns.get(1)?)?;
        let remote = port(columns.get(2)?)?;
        (local == server_port && remote == client_port)
            .then(|| columns.get(9)?.parse().ok())
            .flatten()
    })
}

/// Whether process `pid` still has a descriptor open on the socket `inode`.
fn holds_socket(pid: u32, inode: u64) -> bool {
    let target = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("list /proc/{pid}/fd: {e}"))
        .filter_map(Result::ok)
        .any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == target.as_str())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_stops_reading_a_download_is_disconnected_after_the_idle_timeout() {
    let server = TestServer::start_with_env(&[("TROVE_IDLE_TIMEOUT_SECS", "2")]).await;
    server.create_repo("unread").await;
    // More than the kernel buffers on both ends of a loopback connection hold.
    let size = 12 * 1024 * 1024;
    let bytes = pseudo_random_bytes(11, size);
    server
        .publish("unread", "big", "1.0.0", "big.bin", &bytes)
        .await;
    let resp = server
        .api(
            reqwest::Method::GET,
            "/v1/repositories/unread/packages/big/versions/1.0.0/files/big.bin",
        )
        .send()
        .await
        .expect("ask for the download");
    assert_eq!(resp.status(), StatusCode::FOUND, "download redirects");
    let location = server.resolve(
        resp.headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("302 carries a Location"),
    );
    let target = match location.query() {
        Some(q) => format!("{}?{q}", location.path()),
        None => location.path().to_owned(),
    };

    let socket = tokio::net::TcpSocket::new_v4().expect("create a socket");
    socket
        .set_recv_buffer_size(8 * 1024)
        .expect("shrink the receive buffer");
    let mut stream = socket.connect(addr(&server)).await.expect("connect");
    stream
        .write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .expect("send the download request");
    let mut first = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut first))
        .await
        .expect("the download did not start")
        .expect("read the start of the download");
    assert!(
        status_line(&first[..n]).starts_with("HTTP/1.1 200"),
        "download answer: {}",
        String::from_utf8_lossy(&first[..n])
    );
    // Stop reading, and watch the server's end of this connection: the idle timeout is
    // the server letting go of it while the client reads nothing.
    let pid = server.pid().expect("the server runs");
    let client_port = stream.local_addr().expect("client address").port();
    let inode = server_socket_inode(addr(&server).port(), client_port)
        .unwrap_or_else(|| panic!("no server socket for the download from port {client_port}"));
    let deadline = Instant::now() + CLOSE_BOUND;
    while holds_socket(pid, inode) {
        assert!(
            Instant::now() < deadline,
            "a download nobody reads still holds its socket after {CLOSE_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let rest = read_until_closed(&mut stream, CLOSE_BOUND)
        .await
        .unwrap_or_else(|| panic!("the connection the server let go of is still open"));
    assert!(
        n + rest.len() < size,
        "the whole download ({} bytes) was sent to a client that stopped reading",
        n + rest.len()
    );
}
