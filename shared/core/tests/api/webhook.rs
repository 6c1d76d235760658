//! Webhooks end to end, in-process: a receiver on loopback (allowed by configuration)
//! checks what the dispatcher sends after a real publish, how failures are retried and
//! logged, and what the API refuses.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::app::TestApp;
use crate::table_breaker::ManualClock;
use trove_core::config::Settings;
use trove_core::domain::event_kind::EventKind;
use trove_core::domain::names::TenantName;
use trove_core::ports::{Clock, DeliveryQueue, DomainEvent, QueueError};
use trove_core::webhooks::Dispatcher;
use trove_core::webhooks::model::{DeliveryJob, DeliveryRecord, DeliveryStatus, unix_ms};
use trove_core::webhooks::schedule::{DeliveryTuning, RetrySchedule, SNIPPET_BYTES};
use trove_core::webhooks::store;

/// What the receiver answers to one request.
#[derive(Debug, Clone)]
enum Reply {
    Status(u16),
    /// 302 to `/elsewhere` on the same receiver.
    Redirect,
    /// 200 with a body that never ends.
    Endless,
    /// Answers 200 after this long.
    Slow(Duration),
    /// Answers this status after this long.
    Late(Duration, u16),
}

#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    /// How many requests have arrived, for tests that wait for one.
    arrived: Arc<watch::Sender<usize>>,
    /// Replies in order; when empty, `otherwise`.
    plan: Arc<Mutex<VecDeque<Reply>>>,
    otherwise: Arc<Mutex<Reply>>,
}

impl Receiver {
    async fn start(otherwise: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let r = Receiver {
            addr: listener.local_addr().expect("addr"),
            hits: Arc::default(),
            arrived: Arc::new(watch::Sender::new(0)),
            plan: Arc::default(),
            otherwise: Arc::new(Mutex::new(otherwise)),
        };
        let state = r.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { state.answer(uri.path().to_owned(), headers, body).await }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        r
    }

    async fn answer(&self, path: String, headers: HeaderMap, body: Bytes) -> Response {
        let count = {
            let mut hits = self.hits.lock().expect("hits");
            hits.push(Hit {
                path,
                headers,
                body,
            });
            hits.len()
        };
        self.arrived.send_replace(count);
        let reply = {
            let mut plan = self.plan.lock().expect("plan");
            plan.pop_front()
                .unwrap_or_else(|| self.otherwise.lock().expect("otherwise").clone())
        };
        match reply {
            Reply::Status(code) => (
                StatusCode::from_u16(code).expect("status"),
                format!("answered {code}"),
            )
                .into_response(),
            Reply::Redirect => (
                StatusCode::FOUND,
                [(axum::http::header::LOCATION, "/elsewhere")],
            )
                .into_response(),
            Reply::Endless => {
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                let stream =
                    futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
                Response::new(Body::from_stream(stream))
            }
            Reply::Slow(d) => {
                tokio::time::sleep(d).await;
                StatusCode::OK.into_response()
            }
            Reply::Late(d, code) => {
                tokio::time::sleep(d).await;
                StatusCode::from_u16(code).expect("status").into_response()
            }
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }

    fn set(&self, reply: Reply) {
        *self.otherwise.lock().expect("otherwise") = reply;
    }

    /// Waits until `n` requests have arrived.
    async fn wait_for_hits(&self, n: usize) {
        let mut arrived = self.arrived.subscribe();
        tokio::time::timeout(HANG_GUARD, arrived.wait_for(|count| *count >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} requests never arrived: {:?}", self.hits()))
            .expect("the receiver lives as long as the test");
    }
}

/// Stops a test that waits for something that never happens; no expectation of how long
/// anything takes.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn settings() -> Settings {
    Settings {
        webhook_allow_hosts: vec!["127.0.0.1".into()],
        webhook_delivery: DeliveryTuning {
            schedule: RetrySchedule::compressed(),
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_millis(700),
            lease: Duration::from_secs(60),
        },
        ..Settings::for_testing()
    }
}

async fn app_with_repo() -> TestApp {
    let app = TestApp::with_settings(settings()).await;
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(json!({"name": "libs", "format": "generic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app
}

async fn create_hook(app: &TestApp, body: Value) -> Value {
    let (status, ctype, hook) = app
        .call(Method::POST, "/v1/webhooks", Some(&app.admin), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    hook
}

/// Polls the webhook's deliveries until `done` holds for the list.
async fn deliveries_until(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut last = Vec::new();
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while tokio::time::Instant::now() < deadline {
        let (status, _, page) = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{id}/deliveries"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        last = page["items"].as_array().cloned().unwrap_or_default();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("deliveries never reached the expected state: {last:?}");
}

fn header<'a>(hit: &'a Hit, name: &str) -> &'a str {
    hit.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("header {name} missing"))
}

/// SQS holds a message at most this long (`DelaySeconds` ≤ 900).
const SQS_MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// A message as the dispatcher sent it.
#[derive(Debug, Clone)]
struct Sent {
    job: DeliveryJob,
    delay: Duration,
}

/// A delivery queue whose messages the test hands over itself, with no timers: the test
/// moves a manual clock by as long as the queue would hold each one, so the attempts of
/// hours pass at once and nothing depends on how fast the machine is.
#[derive(Default)]
struct HandedQueue {
    sent: Mutex<VecDeque<Sent>>,
    dead: Mutex<Vec<DeliveryJob>>,
}

impl HandedQueue {
    fn take(&self) -> Option<Sent> {
        self.sent.lock().expect("sent").pop_front()
    }

    fn queued(&self) -> usize {
        self.sent.lock().expect("sent").len()
    }

    fn dead_letters(&self) -> Vec<DeliveryJob> {
        self.dead.lock().expect("dead").clone()
    }
}

#[async_trait::async_trait]
impl DeliveryQueue for HandedQueue {
    async fn send(&self, job: DeliveryJob, delay: Duration) -> Result<(), QueueError> {
        self.sent
            .lock()
            .expect("sent")
            .push_back(Sent { job, delay });
        Ok(())
    }

    async fn dead_letter(&self, job: DeliveryJob) -> Result<(), QueueError> {
        self.dead.lock().expect("dead").push(job);
        Ok(())
    }
}

/// An app whose every part reads `clock`.
async fn app_on(clock: &Arc<ManualClock>) -> TestApp {
    TestApp::with_clock(settings(), Arc::clone(clock) as Arc<dyn Clock>).await
}

fn dispatcher_on(app: &TestApp, queue: &Arc<HandedQueue>) -> Dispatcher {
    Dispatcher::new(
        Arc::clone(&app.host.ctx),
        Arc::clone(queue) as Arc<dyn DeliveryQueue>,
    )
    .expect("dispatcher")
}

/// How many pending deliveries a dispatcher starting now would pick up.
async fn pending_in(app: &TestApp) -> usize {
    let queue = Arc::new(HandedQueue::default());
    dispatcher_on(app, &queue)
        .sweep_on_start()
        .await
        .expect("sweep")
}

fn published(app: &TestApp) -> DomainEvent {
    let tenant = TenantName::parse("default").expect("tenant");
    trove_core::pipeline::events::event(
        &app.host.ctx,
        &tenant,
        EventKind::PackagePublished,
        json!({"repository": "libs", "package": "p", "version": "1"}),
    )
}

async fn record(app: &TestApp, job: &DeliveryJob) -> DeliveryRecord {
    let tenant = TenantName::parse(&job.tenant).expect("tenant");
    store::get_delivery(
        app.host.ctx.table.as_ref(),
        &tenant,
        &job.webhook_id,
        &job.delivery_id,
    )
    .await
    .expect("read")
    .expect("delivery exists")
}

/// Hands `queue`'s messages to `d`, each once `clock` has moved by as long as SQS would hold
/// it, until the delivery of `of` is no longer pending. Returns the finished record and how
/// far the clock moved meanwhile.
async fn run_until_finished(
    app: &TestApp,
    clock: &ManualClock,
    d: &Dispatcher,
    queue: &HandedQueue,
    of: &DeliveryJob,
) -> (DeliveryRecord, Duration) {
    let started = clock.now();
    // Far more hand-overs than the longest schedule takes: a delivery never finishing.
    for _ in 0..1000 {
        let rec = record(app, of).await;
        if rec.delivery.status != DeliveryStatus::Pending {
            return (rec, (clock.now() - started).unsigned_abs());
        }
        let sent = queue
            .take()
            .unwrap_or_else(|| panic!("nothing queued for a pending delivery: {rec:?}"));
        clock.advance(sent.delay.min(SQS_MAX_DELAY));
        d.run_job(&sent.job).await.expect("job runs");
    }
    panic!(
        "still pending after 1000 hand-overs: {:?}",
        record(app, of).await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_reaches_the_receiver_signed_with_the_envelope() {
    let app = app_with_repo().await;
    let receiver = Receiver::start(Reply::Status(204)).await;
    let hook = create_hook(
        &app,
        json!({"url": receiver.url(), "events": ["package.published"]}),
    )
    .await;
    let secret = hook["secret"]
        .as_str()
        .expect("secret generated")
        .to_owned();
    assert!(secret.len() >= 32);
    let id = hook["id"].as_str().expect("id").to_owned();
    // The secret is shown on create only.
    let (_, _, fetched) = app
        .call(
            Method::GET,
            &format!("/v1/webhooks/{id}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert!(fetched.get("secret").is_none(), "{fetched}");
    assert!(!fetched.to_string().contains(&secret));
    assert_eq!(fetched["failing"], false);

    let bytes = b"the widget's bytes";
    let upload = app
        .publish(&app.admin, "libs", "widget", "1.0.0", "w.bin", bytes)
        .await;
    assert_eq!(upload["status"], "published", "{upload}");
    let deliveries = deliveries_until(&app, &id, |d| {
        d.first().is_some_and(|d| d["status"] == "succeeded")
    })
    .await;
    assert_eq!(deliveries.len(), 1);

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "exactly one request");
    let hit = &hits[0];
    assert_eq!(hit.path, "/hook");
    assert_eq!(header(hit, "content-type"), "application/json");
    assert_eq!(header(hit, "x-trove-event"), "package.published");
    assert_eq!(header(hit, "x-trove-delivery"), deliveries[0]["id"]);
    let timestamp: i64 = header(hit, "x-trove-timestamp")
        .parse()
        .expect("unix seconds");
    let now = OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - timestamp).abs() < 60, "{timestamp}");
    // The receiver's own check: HMAC-SHA256 of "<timestamp>.<body>" with the secret.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&hit.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header(hit, "x-trove-signature-256"), expected);

    let envelope: Value = serde_json::from_slice(&hit.body).expect("JSON body");
    assert_eq!(envelope["type"], "package.published");
    assert_eq!(envelope["tenant"], "default");
    assert!(envelope["id"].is_string() && envelope["occurred_at"].is_string());
    assert_eq!(envelope["data"]["repository"], "libs");
    assert_eq!(envelope["data"]["package"], "widget");
    assert_eq!(envelope["data"]["version"], "1.0.0");
    assert_eq!(
        envelope["data"]["sha256"],
        hex::encode(Sha256::digest(bytes))
    );
    assert_eq!(deliveries[0]["event"], envelope);
    let attempt = &deliveries[0]["attempts"][0];
    assert_eq!(attempt["status_code"], 204);
    assert_eq!(attempt["success"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_receiver_is_retried_until_it_succeeds_once() {
    let app = app_with_repo().await;
    let receiver = Receiver::start(Reply::Status(200)).await;
    receiver
        .plan
        .lock()
        .expect("plan")
        .extend([Reply::Status(500), Reply::Status(503)]);
    let hook = create_hook(
        &app,
        json!({"url": receiver.url(), "events": ["package.published"], "repository": "libs"}),
    )
    .await;
    let id = hook["id"].as_str().expect("id");
    app.publish(&app.admin, "libs", "widget", "1.0.0", "w.bin", b"x")
        .await;
    let deliveries = deliveries_until(&app, id, |d| {
        d.first().is_some_and(|d| d["status"] == "succeeded")
    })
    .await;
    let attempts = deliveries[0]["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    let codes: Vec<_> = attempts.iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(500), json!(503), json!(200)]);
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a["number"], i + 1);
        assert!(a["latency_ms"].is_u64(), "{a}");
        assert_eq!(a["success"], i == 2);
    }
    assert_eq!(attempts[0]["error"], "answered 500 Internal Server Error");
    assert_eq!(attempts[0]["response"], "answered 500");
    // Succeeded once, and nothing of it is left to attempt (a job still on its way finds it
    // finished): no further request however long we wait.
    assert!(
        deliveries[0].get("next_attempt_at").is_none(),
        "{}",
        deliveries[0]
    );
    assert_eq!(pending_in(&app).await, 0, "nothing left pending");
    assert_eq!(receiver.hits().len(), 3);
    // A version deleted elsewhere, or another event type, is not delivered.
    assert_eq!(deliveries.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_last_retry_the_webhook_is_failing_and_redelivery_starts_over() {
    let app = app_with_repo().await;
    let receiver = Receiver::start(Reply::Status(500)).await;
    let hook = create_hook(
        &app,
        json!({"url": receiver.url(), "events": ["package.published"]}),
    )
    .await;
    let id = hook["id"].as_str().expect("id");
    app.publish(&app.admin, "libs", "widget", "1.0.0", "w.bin", b"x")
        .await;
    let deliveries = deliveries_until(&app, id, |d| {
        d.first().is_some_and(|d| d["status"] == "failed")
    })
    .await;
    let failed = &deliveries[0];
    assert_eq!(failed["attempts"].as_array().expect("attempts").len(), 9);
    assert!(failed.get("next_attempt_at").is_none(), "{failed}");
    assert_eq!(receiver.hits().len(), 9);
    // The flag is set right after the failed delivery is recorded, in a write of its own.
    let fetched = webhook_until(&app, id, |w| w["failing"] == true).await;
    assert_eq!(fetched["failing"], true, "{fetched}");

    receiver.set(Reply::Status(200));
    let delivery_id = failed["id"].as_str().expect("id");
    let (status, _, again) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["redelivery_of"], delivery_id);
    assert_eq!(again["event"], failed["event"]);
    let deliveries =
        deliveries_until(&app, id, |d| d.len() == 2 && d[0]["status"] == "succeeded").await;
    assert_eq!(deliveries[0]["id"], again["id"], "newest first");
    assert_eq!(deliveries[0]["attempts"].as_array().expect("a").len(), 1);
    assert_eq!(deliveries[1]["status"], "failed");
    let fetched = webhook_until(&app, id, |w| w["failing"] == false).await;
    assert_eq!(fetched["failing"], false, "a success clears it: {fetched}");
    assert_eq!(receiver.hits().len(), 10);
}

/// The webhook as `GET` shows it once `done` holds, or as it is when the hang guard ends.
async fn webhook_until(
    app: &TestApp,
    id: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut fetched = serde_json::Value::Null;
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while tokio::time::Instant::now() < deadline {
        (_, _, fetched) = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{id}"),
                Some(&app.admin),
                None,
            )
            .await;
        if done(&fetched) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fetched
}

async fn ping(app: &TestApp, id: &str) -> String {
    let uri = format!("/v1/webhooks/{id}/ping");
    let (status, _, d) = app.call(Method::POST, &uri, Some(&app.admin), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{d}");
    assert_eq!(d["event"]["type"], "ping");
    d["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_redirects_endless_bodies_and_slow_receivers() {
    let app = app_with_repo().await;
    let receiver = Receiver::start(Reply::Redirect).await;
    let hook = create_hook(
        &app,
        json!({"url": receiver.url(), "events": ["grant.changed"]}),
    )
    .await;
    let id = hook["id"].as_str().expect("id");
    let settled = |d: &Value| d["status"] != "pending";
    let find = |list: &[Value], delivery: &str| list.iter().find(|d| d["id"] == delivery).cloned();

    // A redirect is a failed attempt, never followed.
    let first = ping(&app, id).await;
    let list = deliveries_until(&app, id, |l| find(l, &first).is_some_and(|d| settled(&d))).await;
    let d = find(&list, &first).expect("delivery");
    assert_eq!(d["status"], "failed");
    assert_eq!(d["attempts"][0]["status_code"], 302);
    assert!(
        d["attempts"][0]["error"]
            .as_str()
            .expect("error")
            .contains("redirect")
    );
    assert!(
        receiver.hits().iter().all(|h| h.path == "/hook"),
        "followed a redirect"
    );

    // A body that never ends is read up to the snippet limit, and the attempt succeeds.
    receiver.set(Reply::Endless);
    let second = ping(&app, id).await;
    let list = deliveries_until(&app, id, |l| find(l, &second).is_some_and(|d| settled(&d))).await;
    let d = find(&list, &second).expect("delivery");
    assert_eq!(d["status"], "succeeded", "{}", d["attempts"]);
    let snippet = d["attempts"][0]["response"].as_str().expect("snippet");
    assert_eq!(snippet.len(), SNIPPET_BYTES);

    // A receiver slower than the timeout fails the attempt.
    receiver.set(Reply::Slow(Duration::from_secs(3)));
    let third = ping(&app, id).await;
    let list = deliveries_until(&app, id, |l| {
        find(l, &third).is_some_and(|d| !d["attempts"].as_array().expect("a").is_empty())
    })
    .await;
    let attempt = find(&list, &third).expect("delivery")["attempts"][0].clone();
    assert_eq!(attempt["success"], false);
    assert!(attempt["status_code"].is_null(), "{attempt}");
    assert!(
        attempt["error"]
            .as_str()
            .expect("error")
            .contains("timed out"),
        "{attempt}"
    );
    assert!(
        attempt["latency_ms"].as_u64().expect("ms") < 2000,
        "{attempt}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn internal_destinations_are_refused_unless_allowed() {
    let app = TestApp::new().await;
    for url in [
        "http://127.0.0.1/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://localhost:9000/hook",
        "http://[fd00:ec2::254]/",
        "http://100.64.0.1/",
    ] {
        let (status, ctype, body) = app
            .call(
                Method::POST,
                "/v1/webhooks",
                Some(&app.admin),
                Some(json!({"url": url, "events": ["package.published"]})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(ctype, "application/problem+json");
        assert!(
            body["detail"]
                .as_str()
                .expect("detail")
                .contains("public addresses only"),
            "{url}: {body}"
        );
    }
    // An update cannot move a webhook somewhere internal either.
    let hook = create_hook(
        &app,
        json!({"url": "https://203.0.113.10/hook", "events": ["package.published"]}),
    )
    .await;
    let id = hook["id"].as_str().expect("id");
    let (status, _, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(&app.admin),
            Some(json!({"url": "http://192.168.0.1/"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Allowed by configuration: accepted.
    let allowed = TestApp::with_settings(settings()).await;
    create_hook(
        &allowed,
        json!({"url": "http://127.0.0.1:9/hook", "events": ["package.published"]}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_problem_and_access_is_narrow() {
    let app = app_with_repo().await;
    let good = json!({"url": "https://203.0.113.10/hook", "events": ["package.published"]});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    for (body, needle) in [
        (
            with("events", json!(["package.exploded"])),
            "unknown event type",
        ),
        (with("events", json!([])), "at least one"),
        (with("events", json!(["ping"])), "unknown event type"),
        (with("url", json!("ftp://example.com/")), "http"),
        (with("url", json!("not a url")), "invalid url"),
        (
            with("url", json!("https://u:p@example.com/")),
            "credentials",
        ),
        (
            with(
                "url",
                json!(format!("https://example.com/{}", "a".repeat(3000))),
            ),
            "at most",
        ),
        (with("secret", json!("short")), "invalid secret"),
        (with("secret", json!("x".repeat(300))), "invalid secret"),
        (with("repository", json!("no/such")), "invalid"),
    ] {
        let (status, ctype, answer) = app
            .call(
                Method::POST,
                "/v1/webhooks",
                Some(&app.admin),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(ctype, "application/problem+json");
        assert!(
            answer["detail"].as_str().expect("detail").contains(needle),
            "{needle}: {answer}"
        );
    }
    // Bodies of the wrong shape: the API's usual 422.
    for body in [
        with("colour", json!("blue")),
        with("events", json!("package.published")),
    ] {
        let (status, ctype, answer) = app
            .call(Method::POST, "/v1/webhooks", Some(&app.admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(ctype, "application/problem+json");
    }
    let (status, _, answer) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            Some(&app.admin),
            Some(with("repository", json!("nowhere"))),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    let hook = create_hook(&app, with("secret", json!("a-secret-of-my-own-choosing"))).await;
    assert_eq!(hook["secret"], "a-secret-of-my-own-choosing");
    let id = hook["id"].as_str().expect("id");
    let uri = format!("/v1/webhooks/{id}");
    // Another tenant's admin: not found, for every route.
    let other = app.tenant_key("other").await;
    for (method, path) in [
        (Method::GET, uri.clone()),
        (Method::DELETE, uri.clone()),
        (Method::POST, format!("{uri}/ping")),
        (Method::GET, format!("{uri}/deliveries")),
    ] {
        let (status, _, answer) = app.call(method, &path, Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
    }
    let (_, _, listed) = app
        .call(Method::GET, "/v1/webhooks", Some(&other), None)
        .await;
    assert_eq!(listed["items"], json!([]));
    // A reader of the whole tenant sees none and may manage none.
    let sa = app
        .call(
            Method::POST,
            "/v1/service-accounts",
            Some(&app.admin),
            Some(json!({"name": "reader"})),
        )
        .await
        .2;
    let sa = sa["id"].as_str().expect("id");
    app.call(
        Method::POST,
        "/v1/grants",
        Some(&app.admin),
        Some(json!({"principal": sa, "role": "reader", "scope": {}})),
    )
    .await;
    let key = app
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&app.admin),
            Some(json!({"owner": sa, "name": "k"})),
        )
        .await
        .2;
    let reader = key["key"].as_str().expect("key");
    let (status, _, _) = app.call(Method::GET, &uri, Some(reader), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            Some(reader),
            Some(good.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, listed) = app
        .call(Method::GET, "/v1/webhooks", Some(reader), None)
        .await;
    assert_eq!(listed["items"], json!([]));

    // Updates: events replaced, secret rotated and shown once, unknown fields refused.
    let (status, _, updated) = app
        .call(
            Method::PATCH,
            &uri,
            Some(&app.admin),
            Some(
                json!({"events": ["version.deleted", "package.published"], "rotate_secret": true}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        updated["events"],
        json!(["package.published", "version.deleted"])
    );
    let rotated = updated["secret"].as_str().expect("rotated secret");
    assert_ne!(rotated, "a-secret-of-my-own-choosing");
    let (status, _, updated) = app
        .call(
            Method::PATCH,
            &uri,
            Some(&app.admin),
            Some(json!({"events": ["report.ready"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(updated.get("secret").is_none());
    let (status, _, _) = app
        .call(
            Method::PATCH,
            &uri,
            Some(&app.admin),
            Some(json!({"repository": "libs"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = app.call(Method::DELETE, &uri, Some(&app.admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = app.call(Method::GET, &uri, Some(&app.admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stored_secret_is_sealed() {
    let app = app_with_repo().await;
    let hook = create_hook(
        &app,
        json!({"url": "https://203.0.113.10/hook", "events": ["package.published"], "secret": "find-me-in-the-table-0123"}),
    )
    .await;
    let tenant = TenantName::parse("default").expect("tenant");
    let item = app
        .host
        .ctx
        .table
        .get(&trove_core::domain::keys::webhook(
            &tenant,
            hook["id"].as_str().expect("id"),
        ))
        .await
        .expect("read")
        .expect("stored");
    let text = serde_json::to_string(&item).expect("json");
    assert!(!text.contains("find-me-in-the-table"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_events_and_concurrent_jobs_never_send_twice() {
    use trove_embedded::queue::LocalQueue;

    let app = app_with_repo().await;
    let receiver = Receiver::start(Reply::Status(200)).await;
    let hook = create_hook(
        &app,
        json!({"url": receiver.url(), "events": ["package.published"]}),
    )
    .await;
    let id = hook["id"].as_str().expect("id").to_owned();
    app.publish(&app.admin, "libs", "widget", "1.0.0", "w.bin", b"x")
        .await;
    deliveries_until(&app, &id, |d| {
        d.first().is_some_and(|d| d["status"] == "succeeded")
    })
    .await;
    assert_eq!(receiver.hits().len(), 1);

    // A second dispatcher (another Lambda, a restarted server) gets the same event again
    // (at-least-once queues) and copies of jobs: nothing more is sent.
    let (queue, _jobs) = LocalQueue::new();
    let other = Dispatcher::new(Arc::clone(&app.host.ctx), Arc::new(queue)).expect("dispatcher");
    let event = app
        .host
        .events
        .published()
        .into_iter()
        .find(|e| e.kind == "package.published")
        .expect("published event");
    other.on_event(&event).await.expect("repeat fan-out");
    let list = deliveries_until(&app, &id, |d| !d.is_empty()).await;
    assert_eq!(list.len(), 1, "same delivery id for the same event");
    let job = DeliveryJob {
        tenant: "default".into(),
        webhook_id: id.clone(),
        delivery_id: list[0]["id"].as_str().expect("id").into(),
        due_ms: 0,
        enqueued_ms: 0,
    };
    other.run_job(&job).await.expect("repeat job");

    // Two dispatchers racing for one pending delivery: one claims it, one sends.
    let now = OffsetDateTime::now_utc();
    let rec = DeliveryRecord::pending(
        trove_core::webhooks::model::delivery_id(now, None),
        &id,
        event.clone(),
        now,
    );
    app.host
        .ctx
        .table
        .put(store::delivery_item(&rec).expect("item"), None)
        .await
        .expect("stored");
    let job = DeliveryJob {
        delivery_id: rec.delivery.id.clone(),
        due_ms: unix_ms(now),
        ..job
    };
    let (q2, _jobs2) = LocalQueue::new();
    let third = Dispatcher::new(Arc::clone(&app.host.ctx), Arc::new(q2)).expect("dispatcher");
    let (a, b) = tokio::join!(other.run_job(&job), third.run_job(&job));
    a.expect("first");
    b.expect("second");
    // Both jobs have returned: every request either of them made has been answered.
    assert_eq!(receiver.hits().len(), 2, "one more request, not two");
    let list = deliveries_until(&app, &id, |d| d.len() == 2 && d[0]["status"] == "succeeded").await;
    assert_eq!(list[0]["attempts"].as_array().expect("a").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_deliveries_survive_a_restart() {
    use trove_embedded::queue::LocalQueue;

    let app = app_with_repo().await;
    let receiver = Receiver::start(Reply::Status(200)).await;
    let hook = create_hook(
        &app,
        json!({"url": receiver.url(), "events": ["package.published"]}),
    )
    .await;
    let id = hook["id"].as_str().expect("id").to_owned();
    // An event fanned out by a dispatcher whose jobs are lost (the process died).
    let (queue, jobs) = LocalQueue::new();
    drop(jobs);
    let dying = Dispatcher::new(Arc::clone(&app.host.ctx), Arc::new(queue)).expect("dispatcher");
    let tenant = TenantName::parse("default").expect("tenant");
    let event = trove_core::pipeline::events::event(
        &app.host.ctx,
        &tenant,
        EventKind::PackagePublished,
        json!({"repository": "libs", "package": "p", "version": "1"}),
    );
    dying.on_event(&event).await.expect("fan-out");
    let list = deliveries_until(&app, &id, |d| !d.is_empty()).await;
    assert_eq!(list[0]["status"], "pending");
    assert_eq!(list[0]["attempts"], json!([]), "never attempted");
    assert!(receiver.hits().is_empty());
    // The next start sweeps the pending partition.
    let (queue, mut jobs) = LocalQueue::new();
    let next = Dispatcher::new(Arc::clone(&app.host.ctx), Arc::new(queue)).expect("dispatcher");
    assert_eq!(next.sweep().await.expect("sweep"), 1);
    let job = jobs.recv().await.expect("job queued");
    next.run_job(&job).await.expect("delivered");
    assert_eq!(receiver.hits().len(), 1);
    let list = deliveries_until(&app, &id, |d| d[0]["status"] == "succeeded").await;
    assert_eq!(list.len(), 1);
    assert_eq!(
        next.sweep().await.expect("sweep"),
        0,
        "nothing left pending"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_interrupted_by_a_crash_counts_as_failed_and_is_retried() {
    use trove_embedded::queue::LocalQueue;

    let app = app_with_repo().await;
    let receiver = Receiver::start(Reply::Status(200)).await;
    let hook = create_hook(
        &app,
        json!({"url": receiver.url(), "events": ["package.published"]}),
    )
    .await;
    let id = hook["id"].as_str().expect("id").to_owned();
    let tenant = TenantName::parse("default").expect("tenant");
    let event = trove_core::pipeline::events::event(
        &app.host.ctx,
        &tenant,
        EventKind::PackagePublished,
        json!({"repository": "libs"}),
    );
    // Claimed two minutes ago by a process that never came back: its lease has ended.
    let now = OffsetDateTime::now_utc();
    let claimed = now - time::Duration::minutes(2);
    let mut rec = DeliveryRecord::pending(
        trove_core::webhooks::model::delivery_id(claimed, None),
        &id,
        event,
        claimed,
    );
    rec.delivery.next_attempt_at = Some(now - time::Duration::seconds(1));
    rec.rev = 3;
    rec.in_flight_since = Some(claimed);
    app.host
        .ctx
        .table
        .put(store::delivery_item(&rec).expect("item"), None)
        .await
        .expect("stored");
    let (queue, mut jobs) = LocalQueue::new();
    let d = Dispatcher::new(Arc::clone(&app.host.ctx), Arc::new(queue)).expect("dispatcher");
    assert_eq!(d.sweep().await.expect("sweep"), 1);
    let job = jobs.recv().await.expect("swept job");
    d.run_job(&job).await.expect("interruption recorded");
    let retry = jobs.recv().await.expect("retry queued");
    d.run_job(&retry).await.expect("retried");
    let list = deliveries_until(&app, &id, |l| l[0]["status"] == "succeeded").await;
    let attempts = list[0]["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts[0]["error"]
            .as_str()
            .expect("error")
            .contains("interrupted")
    );
    assert_eq!(attempts[1]["status_code"], 200);
    assert_eq!(receiver.hits().len(), 1);
}

/// Crash safety of deliveries: a dispatcher "killed" at each point of an attempt (a fault
/// stops it there with nothing more written, or its task is aborted), then a new one on
/// the same table, as after a restart. The clock is manual: "at once after the restart"
/// means without the clock moving, however slow the machine.
mod crashes {
    use std::path::Path;

    use super::*;
    use trove_core::faults::Faults;
    use trove_core::webhooks::dispatcher::{INTERRUPTED, crash_point};
    use trove_core::webhooks::lease::Receipt;

    /// How the first dispatcher dies.
    #[derive(Debug, Clone, Copy)]
    enum Kill {
        /// A fault stops the attempt at this point.
        At(&'static str),
        /// Its task is aborted while the receiver has the request and has not answered.
        WhileAnswering,
    }

    /// A dispatcher on the app's table, as `trove serve` makes one (registered among the
    /// holders in `locks`), with its queue.
    fn local_dispatcher(
        app: &TestApp,
        locks: &Path,
        faults: &str,
    ) -> (Arc<Dispatcher>, Arc<HandedQueue>) {
        let queue = Arc::new(HandedQueue::default());
        let d = dispatcher_on(app, &queue)
            .with_holder_locks(locks)
            .expect("holder lock")
            .with_faults(Faults::parse(faults).expect("faults"));
        (Arc::new(d), queue)
    }

    /// A dispatcher as the Lambda function makes one: no holder locks.
    fn lambda_dispatcher(app: &TestApp, faults: &str) -> (Dispatcher, Arc<HandedQueue>) {
        let queue = Arc::new(HandedQueue::default());
        let d = dispatcher_on(app, &queue).with_faults(Faults::parse(faults).expect("faults"));
        (d, queue)
    }

    /// The first message `queue` holds: the job of a fan-out.
    fn first_job(queue: &HandedQueue) -> DeliveryJob {
        queue.take().expect("job queued").job
    }

    /// Kills a dispatcher mid-attempt of a `package.published` delivery the receiver first
    /// answers with `first`, then restarts: returns the receiver, the finished record, the
    /// restarted dispatcher's queue, and how far the clock moved before it finished.
    async fn crash_then_restart(
        kill: Kill,
        first: Reply,
    ) -> (Receiver, DeliveryRecord, Arc<HandedQueue>, Duration) {
        let clock = ManualClock::new();
        let app = app_on(&clock).await;
        let receiver = Receiver::start(first).await;
        create_hook(
            &app,
            json!({"url": receiver.url(), "events": ["package.published"]}),
        )
        .await;
        let locks = tempfile::tempdir().expect("locks dir");
        let faults = match kill {
            Kill::At(point) => format!("{point}=fail:1"),
            Kill::WhileAnswering => String::new(),
        };
        let (dying, queue) = local_dispatcher(&app, locks.path(), &faults);
        dying.on_event(&published(&app)).await.expect("fan-out");
        let job = first_job(&queue);
        match kill {
            Kill::At(point) => {
                let e = dying.run_job(&job).await.expect_err("killed");
                assert!(e.to_string().contains(point), "{e}");
            }
            Kill::WhileAnswering => {
                let d = Arc::clone(&dying);
                let running = job.clone();
                let task = tokio::spawn(async move { d.run_job(&running).await });
                receiver.wait_for_hits(1).await;
                task.abort();
                assert!(
                    task.await.is_err_and(|e| e.is_cancelled()),
                    "killed mid-answer"
                );
            }
        }
        // The process is gone: its dispatcher, its queued jobs, its lock.
        drop(dying);
        drop(queue);
        receiver.set(Reply::Status(204));

        let left = record(&app, &job).await;
        let (next, queue) = local_dispatcher(&app, locks.path(), "");
        assert_eq!(
            next.sweep_on_start().await.expect("sweep"),
            usize::from(left.delivery.status == DeliveryStatus::Pending),
            "the sweep on start queues what is left: {left:?}"
        );
        let (rec, waited) = run_until_finished(&app, &clock, &next, &queue, &job).await;
        (receiver, rec, queue, waited)
    }

    /// An attempt as the log shows it: its number, the status answered, whether it was
    /// interrupted.
    type Logged = (u32, Option<u16>, bool);

    fn attempt_summary(rec: &DeliveryRecord) -> Vec<Logged> {
        rec.delivery
            .attempts
            .iter()
            .map(|a| {
                let interrupted = a.error.as_deref() == Some(INTERRUPTED);
                (a.number, a.status_code, interrupted)
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_dispatcher_killed_at_any_point_of_an_attempt_delivers_once_promptly_after_restart() {
        let cases: [(Kill, Vec<Logged>, usize); 4] = [
            // Claimed, never sent: the receiver sees only the retry.
            (
                Kill::At(crash_point::CLAIMED),
                vec![(1, None, true), (2, Some(204), false)],
                1,
            ),
            // Sent, the answer never came back.
            (
                Kill::WhileAnswering,
                vec![(1, None, true), (2, Some(204), false)],
                2,
            ),
            // Answered 503, not recorded: the answer is lost, the attempt is not.
            (
                Kill::At(crash_point::ANSWERED),
                vec![(1, None, true), (2, Some(204), false)],
                2,
            ),
            // The 503 and its retry time recorded, the retry's job lost with the process.
            (
                Kill::At(crash_point::RECORDED),
                vec![(1, Some(503), false), (2, Some(204), false)],
                2,
            ),
        ];
        for (kill, attempts, requests) in cases {
            let first = match kill {
                Kill::WhileAnswering => Reply::Late(Duration::from_millis(600), 503),
                _ => Reply::Status(503),
            };
            let (receiver, rec, queue, waited) = crash_then_restart(kill, first).await;
            assert_eq!(rec.delivery.status, DeliveryStatus::Succeeded, "{kill:?}");
            assert_eq!(attempt_summary(&rec), attempts, "{kill:?}: {rec:?}");
            assert!(
                rec.in_flight_since.is_none() && rec.lease.is_none(),
                "{kill:?}"
            );
            // Not after the dead claim's lease (60 s) nor a retry delay: at the restart.
            assert_eq!(
                waited,
                Duration::ZERO,
                "{kill:?}: delivered {waited:?} later"
            );
            // Nothing more comes: nothing is queued, one success, every request one delivery.
            assert_eq!(queue.queued(), 0, "{kill:?}");
            let hits = receiver.hits();
            assert_eq!(hits.len(), requests, "{kill:?}");
            for hit in &hits {
                assert_eq!(header(hit, "x-trove-delivery"), rec.delivery.id, "{kill:?}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_success_lost_in_a_crash_is_sent_again_under_the_same_delivery_id() {
        let (receiver, rec, queue, waited) =
            crash_then_restart(Kill::At(crash_point::ANSWERED), Reply::Status(204)).await;
        assert_eq!(
            attempt_summary(&rec),
            vec![(1, None, true), (2, Some(204), false)]
        );
        assert_eq!(waited, Duration::ZERO);
        assert_eq!(queue.queued(), 0);
        let hits = receiver.hits();
        assert_eq!(hits.len(), 2, "the unavoidable repeat, once");
        assert_eq!(
            header(&hits[0], "x-trove-delivery"),
            header(&hits[1], "x-trove-delivery"),
            "the receiver can drop the repeat by its delivery id"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_recorded_success_is_never_sent_again_after_a_crash() {
        let (receiver, rec, queue, _) =
            crash_then_restart(Kill::At(crash_point::RECORDED), Reply::Status(204)).await;
        assert_eq!(attempt_summary(&rec), vec![(1, Some(204), false)]);
        assert_eq!(queue.queued(), 0, "nothing queued to send it again");
        assert_eq!(receiver.hits().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_claim_of_a_running_dispatcher_is_not_taken_over() {
        let clock = ManualClock::new();
        let app = app_on(&clock).await;
        let receiver = Receiver::start(Reply::Late(Duration::from_millis(400), 204)).await;
        create_hook(
            &app,
            json!({"url": receiver.url(), "events": ["package.published"]}),
        )
        .await;
        let locks = tempfile::tempdir().expect("locks dir");
        let (first, queue) = local_dispatcher(&app, locks.path(), "");
        first.on_event(&published(&app)).await.expect("fan-out");
        let job = first_job(&queue);
        let d = Arc::clone(&first);
        let running = job.clone();
        let task = tokio::spawn(async move { d.run_job(&running).await });
        receiver.wait_for_hits(1).await;
        // A second server on the same data dir (or `trove admin run-job`) while the first
        // one is mid-attempt: it leaves the attempt alone.
        let (second, second_queue) = local_dispatcher(&app, locks.path(), "");
        assert_eq!(second.sweep_on_start().await.expect("sweep"), 0);
        second.run_job(&job).await.expect("job");
        let claimed = record(&app, &job).await;
        assert!(claimed.in_flight_since.is_some() && claimed.lease.is_some());
        // It comes back when the claim's lease ends, in case its holder dies unnoticed.
        let back = second_queue.take().expect("the job comes back later");
        assert_eq!(
            back.delay,
            (claimed.delivery.next_attempt_at.expect("lease end") - clock.now()).unsigned_abs()
        );
        task.await.expect("joins").expect("delivered");
        let rec = record(&app, &job).await;
        assert_eq!(attempt_summary(&rec), vec![(1, Some(204), false)]);
        assert_eq!(receiver.hits().len(), 1);
        // When it comes back, the delivery is finished: nothing is sent again.
        clock.advance(back.delay);
        second.run_job(&back.job).await.expect("job");
        assert_eq!(receiver.hits().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_message_handed_out_again_takes_over_the_claim_its_dead_handler_left() {
        let clock = ManualClock::new();
        let app = app_on(&clock).await;
        let receiver = Receiver::start(Reply::Status(204)).await;
        create_hook(
            &app,
            json!({"url": receiver.url(), "events": ["package.published"]}),
        )
        .await;
        let (dying, queue) = lambda_dispatcher(&app, &format!("{}=fail:1", crash_point::CLAIMED));
        dying.on_event(&published(&app)).await.expect("fan-out");
        let job = first_job(&queue);
        let first = Receipt {
            message_id: "m-1".into(),
            receive_count: 1,
        };
        dying
            .run_received_job(&job, Some(&first))
            .await
            .expect_err("the function dies mid-attempt");
        let (next, next_queue) = lambda_dispatcher(&app, "");
        // Another message about the same delivery cannot know the first handler died.
        let other = Receipt {
            message_id: "m-2".into(),
            receive_count: 1,
        };
        next.run_received_job(&job, Some(&other))
            .await
            .expect("job");
        assert!(record(&app, &job).await.in_flight_since.is_some());
        assert!(receiver.hits().is_empty());
        // That message comes back when the lease ends; this test does not wait for it.
        assert!(next_queue.take().is_some(), "a job for the lease's end");
        // SQS hands the first message out again after its visibility timeout.
        let again = Receipt {
            receive_count: 2,
            ..first
        };
        next.run_received_job(&job, Some(&again))
            .await
            .expect("job");
        let (rec, waited) = run_until_finished(&app, &clock, &next, &next_queue, &job).await;
        assert_eq!(
            attempt_summary(&rec),
            vec![(1, None, true), (2, Some(204), false)],
            "the interrupted attempt counts"
        );
        assert_eq!(waited, Duration::ZERO, "taken over at once");
        assert_eq!(receiver.hits().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_message_handed_out_again_queues_a_retry_its_dead_handler_recorded_but_never_queued()
    {
        let clock = ManualClock::new();
        let mut tuned = settings();
        tuned.webhook_delivery.schedule = RetrySchedule {
            retries: vec![Duration::from_secs(300)],
        };
        let app = TestApp::with_clock(tuned, Arc::clone(&clock) as Arc<dyn Clock>).await;
        let receiver = Receiver::start(Reply::Status(503)).await;
        create_hook(
            &app,
            json!({"url": receiver.url(), "events": ["package.published"]}),
        )
        .await;
        let (dying, queue) = lambda_dispatcher(&app, &format!("{}=fail:1", crash_point::RECORDED));
        dying.on_event(&published(&app)).await.expect("fan-out");
        let job = first_job(&queue);
        let first = Receipt {
            message_id: "m-1".into(),
            receive_count: 1,
        };
        dying
            .run_received_job(&job, Some(&first))
            .await
            .expect_err("the function dies before queueing the retry");
        assert_eq!(queue.queued(), 0, "the retry was never queued");
        receiver.set(Reply::Status(204));
        let (next, next_queue) = lambda_dispatcher(&app, "");
        let again = Receipt {
            receive_count: 2,
            ..first
        };
        next.run_received_job(&job, Some(&again))
            .await
            .expect("job");
        let (rec, waited) = run_until_finished(&app, &clock, &next, &next_queue, &job).await;
        assert_eq!(
            attempt_summary(&rec),
            vec![(1, Some(503), false), (2, Some(204), false)]
        );
        assert_eq!(waited, Duration::from_secs(300), "the recorded retry time");
        assert_eq!(receiver.hits().len(), 2);
    }
}

/// The retry schedule in the clock's time: a dispatcher on a manual clock, its messages held
/// as SQS holds them, drives a delivery through every attempt.
mod schedule {
    use super::*;

    /// The delays before each retry as the README publishes them.
    const PUBLISHED: [Duration; 8] = [
        Duration::ZERO,
        Duration::from_secs(5),
        Duration::from_secs(5 * 60),
        Duration::from_secs(30 * 60),
        Duration::from_secs(2 * 3600),
        Duration::from_secs(5 * 3600),
        Duration::from_secs(10 * 3600),
        Duration::from_secs(10 * 3600),
    ];

    /// An app on `clock` whose deliveries follow the standard schedule.
    async fn app_with_standard_schedule(clock: &Arc<ManualClock>) -> TestApp {
        let mut tuned = settings();
        tuned.webhook_delivery.schedule = RetrySchedule::standard();
        TestApp::with_clock(tuned, Arc::clone(clock) as Arc<dyn Clock>).await
    }

    fn since(later: OffsetDateTime, earlier: OffsetDateTime) -> Duration {
        assert!(later >= earlier, "{later} is before {earlier}");
        (later - earlier).unsigned_abs()
    }

    #[test]
    fn sqs_holds_a_message_fifteen_minutes_at_most() {
        assert_eq!(trove_aws::delivery::MAX_DELAY, SQS_MAX_DELAY);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_delivery_nobody_accepts_is_attempted_on_the_published_schedule_then_dead_lettered() {
        let clock = ManualClock::new();
        let app = app_with_standard_schedule(&clock).await;
        let receiver = Receiver::start(Reply::Status(500)).await;
        let hook = create_hook(
            &app,
            json!({"url": receiver.url(), "events": ["package.published"]}),
        )
        .await;
        let queue = Arc::new(HandedQueue::default());
        let d = dispatcher_on(&app, &queue);
        d.on_event(&published(&app)).await.expect("fan-out");
        let of = queue.sent.lock().expect("sent")[0].job.clone();

        let mut attempted_at: Vec<OffsetDateTime> = Vec::new();
        // How many messages the queue handed over to reach each attempt.
        let mut hand_overs: Vec<usize> = Vec::new();
        let mut since_last = 0;
        loop {
            let before = record(&app, &of).await;
            if before.delivery.status != DeliveryStatus::Pending {
                break;
            }
            let due = before
                .delivery
                .next_attempt_at
                .expect("a pending delivery has a due time");
            let sent = queue
                .take()
                .unwrap_or_else(|| panic!("nothing queued for a pending delivery: {before:?}"));
            let now = clock.now();
            // Every message asks for the whole wait, so that the queue holds it as long as it
            // can (15 min) and never past the due time.
            assert_eq!(sent.delay, since(due, now), "the delay asked at {now}");
            assert_eq!(
                sent.job.due_ms,
                unix_ms(due),
                "the job carries the due time"
            );
            clock.advance(sent.delay.min(SQS_MAX_DELAY));
            since_last += 1;
            let hits = receiver.hits().len();
            d.run_job(&sent.job).await.expect("job runs");
            let now = clock.now();
            let after = record(&app, &of).await;
            let attempted = receiver.hits().len() - hits;
            if now < due {
                assert_eq!(
                    attempted,
                    0,
                    "attempt {} made {:?} early",
                    attempted_at.len() + 1,
                    since(due, now)
                );
                assert_eq!(after.delivery.attempts, before.delivery.attempts);
                assert_eq!(after.delivery.next_attempt_at, Some(due));
                continue;
            }
            assert_eq!(attempted, 1, "one request when due, at {now}");
            attempted_at.push(now);
            hand_overs.push(since_last);
            since_last = 0;
            let n = attempted_at.len();
            let logged = after.delivery.attempts.last().expect("attempt logged");
            assert_eq!((logged.number, logged.at), (n as u32, now));
            assert_eq!(logged.status_code, Some(500));
            match PUBLISHED.get(n - 1) {
                Some(delay) => {
                    assert_eq!(after.delivery.status, DeliveryStatus::Pending, "after {n}");
                    assert_eq!(
                        after.delivery.next_attempt_at,
                        Some(now + *delay),
                        "the retry after attempt {n}"
                    );
                }
                None => {
                    assert_eq!(after.delivery.status, DeliveryStatus::Failed, "after {n}");
                    assert_eq!(after.delivery.next_attempt_at, None);
                }
            }
        }

        let gaps: Vec<Duration> = attempted_at.windows(2).map(|w| since(w[1], w[0])).collect();
        assert_eq!(gaps, PUBLISHED, "the time between attempts");
        assert_eq!(receiver.hits().len(), 9);
        // A wait longer than the queue can hold arrives in 15-minute steps: 30 min in two,
        // 10 h in forty.
        assert_eq!(hand_overs, [1, 1, 1, 1, 2, 8, 20, 40, 40]);
        // Dead: dead-lettered once, nothing more queued, the webhook marked failing.
        assert_eq!(queue.queued(), 0, "nothing more comes");
        let dead = queue.dead_letters();
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert_eq!(dead[0].delivery_id, of.delivery_id);
        let id = hook["id"].as_str().expect("id");
        let tenant = TenantName::parse("default").expect("tenant");
        let stored = store::get_webhook(app.host.ctx.table.as_ref(), &tenant, id)
            .await
            .expect("read")
            .expect("webhook");
        assert!(stored.webhook.failing);
        assert_eq!(pending_in(&app).await, 0, "nothing left pending");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_job_handed_over_a_moment_before_its_time_waits_for_it() {
        let clock = ManualClock::new();
        let app = app_with_standard_schedule(&clock).await;
        let receiver = Receiver::start(Reply::Status(500)).await;
        create_hook(
            &app,
            json!({"url": receiver.url(), "events": ["package.published"]}),
        )
        .await;
        // The record keeps due times to the nanosecond, a job to the millisecond: start
        // 0.9 ms into a millisecond, so that 0.5 ms early is still within the same one.
        let sub_ms = u64::from(clock.now().nanosecond()) % 1_000_000;
        clock.advance(Duration::from_nanos(1_900_000 - sub_ms));
        let queue = Arc::new(HandedQueue::default());
        let d = dispatcher_on(&app, &queue);
        d.on_event(&published(&app)).await.expect("fan-out");
        let first = queue.take().expect("the first attempt's job");
        d.run_job(&first.job).await.expect("first attempt");
        d.run_job(&queue.take().expect("immediate retry").job)
            .await
            .expect("second attempt");
        let retry = queue.take().expect("the retry after 5 s");
        let due = record(&app, &first.job)
            .await
            .delivery
            .next_attempt_at
            .expect("due");
        assert_eq!(retry.delay, Duration::from_secs(5));

        // A queue may hand a job over early (the port allows it; timers and SQS's whole
        // seconds do): 0.5 ms early is early.
        let early = Duration::from_micros(500);
        clock.advance(retry.delay - early);
        d.run_job(&retry.job).await.expect("early job");
        assert_eq!(receiver.hits().len(), 2, "not attempted early");
        let again = queue
            .take()
            .expect("sent on toward its time, not dropped as a stale repeat");
        assert_eq!(again.delay, early);
        clock.advance(again.delay);
        d.run_job(&again.job).await.expect("job on time");
        assert_eq!(receiver.hits().len(), 3);
        let rec = record(&app, &first.job).await;
        assert_eq!(
            rec.delivery.attempts[2].at, due,
            "attempted exactly when due"
        );
    }
}
