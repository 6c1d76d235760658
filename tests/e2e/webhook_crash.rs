//! Webhook deliveries across `kill -9`: the server dies at each point of an attempt (before
//! it is sent, while the receiver answers, after the answer, after it is recorded), restarts
//! on the same data dir, and the delivery arrives without waiting out the dead process's
//! lease, with one 2xx answer and a deliveries log that shows every attempt.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{POLL_TIMEOUT, TestServer, pseudo_random_bytes};

const ALLOW: (&str, &str) = ("TROVE_WEBHOOK_ALLOW_HOSTS", "127.0.0.1");
/// How long a fault holds an attempt at its point: the window the kill lands in.
const HOLD_MS: &str = "3000";
/// How long an attempt's claim holds when its holder is not known to be gone
/// (`DeliveryTuning::lease`): a restart that found the dead process's claims only by
/// waiting this out would deliver at least this long after the claim.
const LEASE: Duration = Duration::from_secs(60);
/// How long the test waits for the delivery after the restart before calling it lost: past
/// the lease, the attempt timeout (10 s) and the next minutely sweep, so a delivery that
/// waited out the lease still arrives and fails on what its recorded attempts say.
const DELIVERY_BOUND: Duration = Duration::from_secs(150);

/// One request the receiver got: the event's version, its delivery id, what it answered.
#[derive(Debug, Clone)]
struct Hit {
    version: String,
    delivery: String,
    status: u16,
}

/// A receiver on 127.0.0.1 answering 503 while `failing`, else 204, after `delay_ms`.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    failing: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
}

impl Receiver {
    async fn start() -> (SocketAddr, Receiver) {
        let receiver = Receiver::default();
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { state.answer(&headers, &body).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver on loopback");
        let addr = listener.local_addr().expect("receiver address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (addr, receiver)
    }

    async fn answer(&self, headers: &HeaderMap, body: &Bytes) -> AxumStatus {
        let status = if self.failing.load(Ordering::SeqCst) {
            503
        } else {
            204
        };
        let event: Value = serde_json::from_slice(body).unwrap_or_default();
        let delivery = headers
            .get("x-trove-delivery")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.hits.lock().expect("hits").push(Hit {
            version: event["data"]["version"].as_str().unwrap_or("").to_owned(),
            delivery,
            status,
        });
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        AxumStatus::from_u16(status).unwrap_or(AxumStatus::INTERNAL_SERVER_ERROR)
    }

    /// Waits for the first request about `version`, polling often: the kill that follows
    /// should land within a millisecond or two of it.
    async fn first_request(&self, version: &str) {
        let deadline = Instant::now() + POLL_TIMEOUT;
        while self.hits_of(version).is_empty() {
            assert!(Instant::now() < deadline, "no request about {version}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn hits_of(&self, version: &str) -> Vec<Hit> {
        let hits = self.hits.lock().expect("hits");
        hits.iter()
            .filter(|h| h.version == version)
            .cloned()
            .collect()
    }
}

/// Where the server is killed.
#[derive(Debug, Clone, Copy)]
enum Window {
    /// The attempt is claimed, not sent (held by a fault).
    BeforeSend,
    /// The receiver has the request and takes its time answering 503.
    WhileAnswering,
    /// The receiver answered 503; the outcome is not recorded yet (held by a fault).
    AfterAnswer,
    /// The 503 is recorded; the retry not yet queued (held by a fault).
    AfterRecord,
    /// As an operator would: right as the 503 arrives, a little later each round.
    AsTheAnswerArrives(u64),
}

impl Window {
    fn faults(self) -> Option<String> {
        let point = match self {
            Window::BeforeSend => "WebhookClaimed",
            Window::AfterAnswer => "WebhookAnswered",
            Window::AfterRecord => "WebhookRecorded",
            _ => return None,
        };
        Some(format!("{point}=delay:{HOLD_MS}"))
    }
}

async fn wait_until<T>(
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The webhook's delivery of the `package.published` event of `version`.
async fn delivery_of(server: &TestServer, hook: &str, version: &str) -> Option<Value> {
    let (status, page) = server
        .get_json(&format!("/v1/webhooks/{hook}/deliveries"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()?
        .iter()
        .find(|d| d["event"]["data"]["version"] == version)
        .cloned()
}

/// When an attempt of the deliveries log was made (for an interrupted one: claimed).
fn attempt_at(attempt: &Value) -> OffsetDateTime {
    let at = attempt["at"]
        .as_str()
        .unwrap_or_else(|| panic!("attempt without a time: {attempt}"));
    OffsetDateTime::parse(at, &Rfc3339).unwrap_or_else(|e| panic!("attempt time {at:?}: {e}"))
}

/// One round: publish `version` on a server started with the window's faults, kill it in
/// the window, restart it plain, and check the delivery.
async fn round(server: &mut TestServer, receiver: &Receiver, hook: &str, window: Window, n: u64) {
    let version = format!("1.0.{n}");
    let mut env = vec![ALLOW];
    let faults = window.faults();
    if let Some(faults) = &faults {
        env.push(("TROVE_FAULTS", faults.as_str()));
    }
    server.restart_with_env(&env).await;
    receiver.failing.store(true, Ordering::SeqCst);
    let slow = matches!(window, Window::WhileAnswering);
    receiver
        .delay_ms
        .store(if slow { 3000 } else { 0 }, Ordering::SeqCst);

    let bytes = pseudo_random_bytes(700 + n, 2048);
    {
        let in_window = async {
            match window {
                Window::BeforeSend => {
                    wait_until("the delivery", POLL_TIMEOUT, async || {
                        delivery_of(server, hook, &version).await
                    })
                    .await;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Window::WhileAnswering | Window::AfterAnswer => {
                    receiver.first_request(&version).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Window::AfterRecord => {
                    wait_until("the recorded 503", POLL_TIMEOUT, async || {
                        let d = delivery_of(server, hook, &version).await?;
                        let attempts = d["attempts"].as_array()?;
                        (attempts.len() == 1).then_some(())
                    })
                    .await;
                }
                Window::AsTheAnswerArrives(after_ms) => {
                    receiver.first_request(&version).await;
                    tokio::time::sleep(Duration::from_millis(after_ms)).await;
                }
            }
        };
        // The delivery may start before the client sees the upload published: the window
        // is watched while the upload runs, and the kill does not wait for its poll.
        let publish = server.publish("hooked", "pkg", &version, "a.bin", &bytes);
        tokio::pin!(in_window, publish);
        tokio::select! {
            () = &mut in_window => {}
            _ = &mut publish => in_window.await,
        }
    }
    server.kill9();
    let before = receiver.hits_of(&version);
    match window {
        Window::BeforeSend => assert!(before.is_empty(), "killed before sending: {before:?}"),
        Window::AsTheAnswerArrives(_) => assert!(!before.is_empty()),
        _ => assert_eq!(before.len(), 1, "{window:?}: {before:?}"),
    }

    receiver.failing.store(false, Ordering::SeqCst);
    receiver.delay_ms.store(0, Ordering::SeqCst);
    let restarted = Instant::now();
    server.restart_with_env(&[ALLOW]).await;
    wait_until(
        "the delivery after the restart",
        DELIVERY_BOUND,
        async || {
            receiver
                .hits_of(&version)
                .iter()
                .any(|h| h.status == 204)
                .then_some(())
        },
    )
    .await;
    eprintln!(
        "{window:?}: delivered {:?} after the restart began",
        restarted.elapsed()
    );
    let delivery = wait_until("the recorded success", POLL_TIMEOUT, async || {
        let d = delivery_of(server, hook, &version).await?;
        (d["status"] == "succeeded").then_some(d)
    })
    .await;
    let attempts = delivery["attempts"].as_array().expect("attempts");
    // The attempt before the success is the one the kill cut short or the last 503; the
    // retry schedule makes the next one due at once or 5 s later. A dead process's claim
    // found only when its lease ran out would put the success a lease after it.
    let [.., before, success] = attempts.as_slice() else {
        panic!("{window:?}: no attempt before the success: {attempts:?}");
    };
    let gap = attempt_at(success) - attempt_at(before);
    assert!(
        gap < LEASE,
        "{window:?}: the success came {gap} after the attempt before it: the restart \
         waited out the lease: {attempts:?}"
    );

    // The success is recorded with nothing more scheduled: the receiver's requests are
    // all there will be.
    assert!(
        delivery["next_attempt_at"].is_null(),
        "{window:?}: a succeeded delivery has another attempt scheduled: {delivery}"
    );
    let hits = receiver.hits_of(&version);
    let id = delivery["id"].as_str().expect("delivery id");
    assert_eq!(
        hits.iter().filter(|h| h.status == 204).count(),
        1,
        "{hits:?}"
    );
    assert!(hits.iter().all(|h| h.delivery == id), "{hits:?}");
    assert!(
        attempts.len() >= hits.len(),
        "{window:?}: the log misses requests: {attempts:?} vs {hits:?}"
    );
    let numbers: Vec<u64> = attempts
        .iter()
        .map(|a| a["number"].as_u64().expect("number"))
        .collect();
    let expected: Vec<u64> = (1..=attempts.len() as u64).collect();
    assert_eq!(numbers, expected, "{window:?}: {attempts:?}");
    assert_eq!(attempts.last().expect("an attempt")["status_code"], 204);
    assert!(
        attempts[..attempts.len() - 1]
            .iter()
            .all(|a| a["success"] == false),
        "{attempts:?}"
    );
    if !matches!(window, Window::BeforeSend) {
        let first = &attempts[0];
        assert!(
            first["status_code"] == 503
                || first["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("interrupted")),
            "{window:?}: the first attempt is logged as answered or interrupted: {first}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_at_any_point_of_a_webhook_attempt_delivers_once_without_waiting_out_the_lease() {
    let (mut server, receiver, hook) = hooked().await;

    let windows = [
        Window::BeforeSend,
        Window::WhileAnswering,
        Window::AfterAnswer,
        Window::AfterRecord,
        Window::AsTheAnswerArrives(0),
        Window::AsTheAnswerArrives(2),
        Window::AsTheAnswerArrives(8),
    ];
    for (n, window) in windows.into_iter().enumerate() {
        round(&mut server, &receiver, &hook, window, n as u64).await;
    }
}

/// A server with the repository `hooked` and a webhook for `package.published` to a
/// receiver on loopback: the server, the receiver and the webhook's id.
async fn hooked() -> (TestServer, Receiver, String) {
    let (addr, receiver) = Receiver::start().await;
    let server = TestServer::start_with_env(&[ALLOW]).await;
    server.create_repo("hooked").await;
    let created = server
        .create_webhook(&format!("http://{addr}/hook"), &["package.published"])
        .await;
    let hook = created["id"].as_str().expect("webhook id").to_owned();
    (server, receiver, hook)
}

/// The events relayed by this server process so far, from `GET /metrics`.
async fn relayed(server: &TestServer) -> u64 {
    server
        .metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(trove_core::metrics::EVENTS_RELAYED))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_between_the_commit_and_the_relay_still_delivers_package_published_once() {
    use trove_core::outbox::fault_point::{RELAYED, RELAYING};

    let (mut server, receiver, hook) = hooked().await;

    // Held before the event is handed over (committed, nothing stored for the webhook), and
    // after it was handed over but before the outbox let go of it (so it is relayed twice).
    for (n, point) in [RELAYING, RELAYED].into_iter().enumerate() {
        let version = format!("2.0.{n}");
        let hold = format!("{point}=delay:60000");
        server
            .restart_with_env(&[ALLOW, ("TROVE_FAULTS", hold.as_str())])
            .await;
        let bytes = pseudo_random_bytes(900 + n as u64, 2048);
        server
            .publish("hooked", "pkg", &version, "a.bin", &bytes)
            .await;
        if point == RELAYING {
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(
                delivery_of(&server, &hook, &version).await.is_none(),
                "handed over before the relay"
            );
        } else {
            wait_until("the delivery handed over", POLL_TIMEOUT, async || {
                delivery_of(&server, &hook, &version).await
            })
            .await;
        }
        server.kill9();

        server.restart_with_env(&[ALLOW]).await;
        // The new process relays what the old one left: once when it was held before the
        // hand-over, again when it was held after.
        wait_until("the relay after the restart", POLL_TIMEOUT, async || {
            (relayed(&server).await >= 1).then_some(())
        })
        .await;
        let delivery = wait_until("the recorded success", DELIVERY_BOUND, async || {
            let d = delivery_of(&server, &hook, &version).await?;
            (d["status"] == "succeeded").then_some(d)
        })
        .await;
        // Time for a second delivery, if the repeated hand-over made one, to be attempted.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let hits = receiver.hits_of(&version);
        assert_eq!(hits.len(), 1, "{point}: {hits:?}");
        assert_eq!(hits[0].status, 204);
        assert_eq!(hits[0].delivery, delivery["id"].as_str().expect("id"));
        let (status, page) = server
            .get_json(&format!("/v1/webhooks/{hook}/deliveries"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let of_version = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|d| d["event"]["data"]["version"] == version.as_str())
            .count();
        assert_eq!(of_version, 1, "{point}: one delivery per event: {page}");
    }
}
