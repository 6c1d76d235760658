//! The accept loop of `trove serve`, hardened against clients that hold sockets: at most
//! `--max-connections` connections are served at once (the rest wait in the listen backlog),
//! each one is closed when it stalls (`stall`), a request body that stops sending fails the
//! request, and running out of file descriptors pauses accepting instead of ending it.
//!
//! HTTP/1 only, as `axum::serve` with axum's default features spoke before; hyper's `auto`
//! builder would also bring cleartext HTTP/2 in.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

use super::stall::{Activity, Tracked};

/// How long accepting pauses after an error that is not one connection's (out of file
/// descriptors, out of memory): long enough not to spin, short enough that a freed descriptor
/// is used soon.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Connections the kernel completes and queues while every slot is taken (it caps this at
/// `net.core.somaxconn`); std's and tokio's `bind` ask for 128, which a burst of idle
/// connections fills, and a full queue makes new clients' SYNs go unanswered.
const BACKLOG: u32 = 1024;

/// A listening socket on `addr` with room in its queue for connections over the limit.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std's `bind` does: a restart need not wait for the old sockets' TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The limits a client's connection is held to.
#[derive(clap::Args, Debug, Clone)]
pub struct Limits {
    /// Seconds a client gets to send a complete request head, counted from its first byte
    /// (from the connection's opening for its first request).
    #[arg(
        long = "header-timeout",
        value_name = "SECS",
        env = "TROVE_HEADER_TIMEOUT_SECS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    header_timeout_secs: u64,
    /// Seconds a connection may move no bytes while no request is being handled: a kept-alive
    /// connection waiting for its next request, a client that stopped reading a response.
    #[arg(
        long = "idle-timeout",
        value_name = "SECS",
        env = "TROVE_IDLE_TIMEOUT_SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    idle_timeout_secs: u64,
    /// Seconds a request body may go without sending any data before the request fails; a
    /// slow upload that keeps moving is never cut off.
    #[arg(
        long = "body-timeout",
        value_name = "SECS",
        env = "TROVE_BODY_TIMEOUT_SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    body_timeout_secs: u64,
    /// Connections served at once; more wait in the listen backlog until one closes.
    #[arg(
        long = "max-connections",
        value_name = "N",
        env = "TROVE_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    max_connections: u32,
}

impl Limits {
    fn header(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }
    fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
    fn body(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets every
/// open connection finish its request, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(
        usize::try_from(limits.max_connections).unwrap_or(Semaphore::MAX_PERMITS),
    ));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut paused = false;
    loop {
        // The slot is taken before accepting, so connections over the limit stay in the
        // kernel's backlog instead of holding a descriptor here.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = accept(&listener, &mut paused) => accepted,
            () = &mut shutdown => break,
        };
        tokio::spawn(connection(
            stream,
            peer,
            app.clone(),
            limits.clone(),
            slot,
            stopping.clone(),
        ));
    }
    drop(listener);
    stop.send_replace(true);
    // Every open connection holds a slot: having them all back means all have closed.
    let _all_closed = slots.acquire_many(limits.max_connections).await;
}

/// The next connection; errors that are not one connection's pause accepting briefly and
/// are retried, so the server never stops accepting.
async fn accept(listener: &TcpListener, paused: &mut bool) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                if std::mem::take(paused) {
                    tracing::info!("accepting connections again");
                }
                return accepted;
            }
            Err(e) if is_one_connections(&e) => {}
            Err(e) => {
                if !std::mem::replace(paused, true) {
                    tracing::error!(
                        error = %e,
                        "cannot accept connections; retrying every {ACCEPT_BACKOFF:?}"
                    );
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

fn is_one_connections(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    _slot: OwnedSemaphorePermit,
    mut stopping: watch::Receiver<bool>,
) {
    let activity = Activity::new();
    let io = TokioIo::new(Tracked::new(stream, Arc::clone(&activity)));
    let body_timeout = limits.body();
    let handlers = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: axum::http::Request<Incoming>| {
        let running = handlers.handler_started();
        // Counts only the time spent waiting for the client's next bytes, so a multi-GB
        // upload may take as long as it needs while it keeps moving.
        let mut request = request.map(|body| Body::new(TimeoutBody::new(body_timeout, body)));
        // The socket peer is the source address the access layer checks IP lists and limits
        // failed logins by.
        request.extensions_mut().insert(ConnectInfo(peer));
        let answer = app.clone().oneshot(request);
        async move {
            let response = answer.await;
            drop(running);
            response
        }
    });
    let mut http = http1::Builder::new();
    // `stall` keeps the head deadline, apart from the idle one.
    http.header_read_timeout(None);
    let mut conn = pin!(http.serve_connection(io, service));
    let mut stalled = pin!(activity.stalled(limits.header(), limits.idle()));
    let mut shutting_down = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            stall = &mut stalled => {
                tracing::debug!(%peer, reason = stall.as_str(), "closing a stalled connection");
                return;
            }
            _ = stopping.wait_for(|stop| *stop), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
