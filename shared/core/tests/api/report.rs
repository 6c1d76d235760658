//! The daily report against what a test did: known publishes, a deleted version, counted
//! downloads, a refused upload, access left unused while the clock moves on. Every figure is
//! checked in the JSON and in the CSV files fetched through the links `GET /v1/reports`
//! answers.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};
use tower::ServiceExt as _;

use crate::app::TestApp;
use trove_core::config::Settings;
use trove_core::jobs::report::{self, ReportOptions, StaleRow};
use trove_core::ports::Clock;

/// Real time flowing from a fixed instant, plus whatever the test jumps ahead: the day is
/// known whenever the test runs, and the pipeline's waits still pass.
struct MovableClock {
    base: OffsetDateTime,
    started: Instant,
    ahead: Mutex<Duration>,
}

impl MovableClock {
    fn new(base: OffsetDateTime) -> Self {
        Self {
            base,
            started: Instant::now(),
            ahead: Mutex::new(Duration::ZERO),
        }
    }

    fn jump(&self, by: Duration) {
        *self.ahead.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Clock for MovableClock {
    fn now(&self) -> OffsetDateTime {
        let ahead = *self.ahead.lock().unwrap_or_else(PoisonError::into_inner);
        self.base + self.started.elapsed() + ahead
    }
}

async fn ok(app: &TestApp, method: Method, uri: &str, key: &str, body: Option<Value>) -> Value {
    let (status, _, v) = app.call(method, uri, Some(key), body).await;
    assert!(status.is_success(), "{uri}: {status} {v}");
    v
}

async fn download(app: &TestApp, key: &str, path: &str, times: usize) {
    for _ in 0..times {
        let uri = format!("/v1/repositories/{path}?redirect=false");
        ok(app, Method::GET, &uri, key, None).await;
    }
}

/// Fetches a presigned URL of the embedded blob endpoint through the test router.
async fn fetch(app: &TestApp, url: &str) -> (StatusCode, Vec<u8>) {
    let path = url.strip_prefix("http://trove.test").expect("our base url");
    let res = app
        .router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, bytes.to_vec())
}

fn file_url<'a>(report: &'a Value, name: &str) -> &'a str {
    report["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["url"].as_str())
        .unwrap_or_else(|| panic!("{name} listed in {report}"))
}

fn csv_rows<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Vec<T> {
    csv::Reader::from_reader(bytes)
        .deserialize()
        .collect::<Result<_, _>>()
        .expect("CSV parses back")
}

#[tokio::test(flavor = "multi_thread")]
async fn report_figures_equal_what_happened() {
    let clock = Arc::new(MovableClock::new(datetime!(2026-03-10 08:00 UTC)));
    let mut app = TestApp::with_clock(Settings::for_testing(), clock.clone()).await;
    let acme = app.tenant_key("acme").await;
    let zeta = app.tenant_key("zeta").await;
    for repo in ["libs", "tools"] {
        let body = json!({"name": repo, "format": "generic"});
        ok(&app, Method::POST, "/v1/repositories", &acme, Some(body)).await;
    }
    let published = [
        ("libs", "widget", "1.0.0", "w.bin", 100),
        ("libs", "widget", "1.1.0", "w.bin", 250),
        ("libs", "gadget", "1.0.0", "g.bin", 40),
        ("libs", "gadget", "1.0.0", "g.txt", 7),
        ("tools", "cli", "2.0.0", "cli.bin", 1000),
    ];
    for (i, (repo, pkg, version, file, size)) in published.into_iter().enumerate() {
        // Distinct bytes per file: content addressing must not merge them.
        let mut bytes = vec![b'a' + i as u8; size];
        bytes[0] = b'#';
        let up = app.publish(&acme, repo, pkg, version, file, &bytes).await;
        assert_eq!(up["status"], "published", "{up}");
    }
    let refused = app
        .publish(
            &acme,
            "tools",
            "cli",
            "2.1.0",
            "eicar.com",
            &trove_testkit::archives::fixtures::eicar(),
        )
        .await;
    assert_eq!(refused["status"], "rejected", "{refused}");
    ok(
        &app,
        Method::DELETE,
        "/v1/repositories/libs/packages/widget/versions/1.0.0",
        &acme,
        None,
    )
    .await;

    download(
        &app,
        &acme,
        "libs/packages/gadget/versions/1.0.0/files/g.bin",
        3,
    )
    .await;
    download(
        &app,
        &acme,
        "libs/packages/gadget/versions/1.0.0/files/g.txt",
        2,
    )
    .await;
    download(
        &app,
        &acme,
        "libs/packages/widget/versions/1.1.0/files/w.bin",
        1,
    )
    .await;
    download(
        &app,
        &acme,
        "tools/packages/cli/versions/2.0.0/files/cli.bin",
        2,
    )
    .await;
    // Refused downloads count nothing.
    let (status, _, _) = app
        .call(
            Method::GET,
            "/v1/repositories/libs/packages/widget/versions/1.0.0/files/w.bin",
            Some(&acme),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another tenant's downloads stay its own.
    let body = json!({"name": "libs", "format": "generic"});
    ok(&app, Method::POST, "/v1/repositories", &zeta, Some(body)).await;
    let up = app
        .publish(&zeta, "libs", "gadget", "1.0.0", "g.bin", b"zeta")
        .await;
    assert_eq!(up["status"], "published", "{up}");
    download(
        &app,
        &zeta,
        "libs/packages/gadget/versions/1.0.0/files/g.bin",
        4,
    )
    .await;

    // Access that will go unused: a grant, a working key, and keys that stop working.
    let bot = ok(
        &app,
        Method::POST,
        "/v1/service-accounts",
        &acme,
        Some(json!({"name": "old-bot"})),
    )
    .await;
    let bot = bot["id"].as_str().expect("id").to_owned();
    let grant = ok(
        &app,
        Method::POST,
        "/v1/grants",
        &acme,
        Some(json!({"principal": bot, "role": "reader", "scope": {"repository": "libs"}})),
    )
    .await;
    let key_body = |name: &str, ttl: u64| json!({"owner": bot, "name": name, "expires_in": ttl});
    let stale_key = ok(
        &app,
        Method::POST,
        "/v1/api-keys",
        &acme,
        Some(key_body("ci", 2 * 365 * 86400)),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/v1/api-keys",
        &acme,
        Some(key_body("short", 86400)),
    )
    .await;
    let revoked = ok(
        &app,
        Method::POST,
        "/v1/api-keys",
        &acme,
        Some(key_body("gone", 2 * 365 * 86400)),
    )
    .await;
    let revoked = revoked["id"].as_str().expect("id");
    ok(
        &app,
        Method::DELETE,
        &format!("/v1/api-keys/{revoked}"),
        &acme,
        None,
    )
    .await;

    // 100 days on, in a fresh process (grant use is recorded at most hourly per process):
    // the tenant admin works again, the bot does not.
    clock.jump(Duration::days(100));
    app.router = app.host.router();
    ok(&app, Method::GET, "/v1/me", &acme, None).await;
    ok(&app, Method::GET, "/v1/me", &zeta, None).await;

    let ctx = &app.host.ctx;
    // Counters are kept a retention past their day, then DynamoDB's TTL drops them; the
    // day's five downloads are spread over shards and add up.
    let tenant = trove_core::domain::names::TenantName::parse("acme").expect("tenant");
    let repo = trove_core::domain::names::RepoName::parse("libs").expect("repo");
    let gadget = trove_core::domain::names::PackageName::parse("gadget").expect("package");
    let day_ends = datetime!(2026-03-11 00:00 UTC).unix_timestamp();
    let mut stored = 0;
    for shard in 0..trove_core::domain::keys::USAGE_SHARDS {
        let key = trove_core::domain::keys::usage(&tenant, &repo, "2026-03-10", &gadget, shard);
        if let Some(counter) = ctx.table.get(&key).await.expect("get") {
            // A shard may hold only the day's accepted uploads.
            stored += counter
                .get("downloads")
                .and_then(|n| n.as_u64())
                .unwrap_or(0);
            assert_eq!(
                counter[trove_core::ports::table::TTL_ATTR],
                day_ends + trove_core::services::records::usage::RETENTION_DAYS * 86_400
            );
        }
    }
    assert_eq!(stored, 5, "the day's gadget downloads, over its shards");
    let totals =
        trove_core::services::records::usage::of_day(ctx, &tenant, &repo, date!(2026 - 03 - 10))
            .await
            .expect("the day's usage");
    let gadget_total = totals
        .iter()
        .find(|u| u.package == gadget)
        .expect("gadget counted");
    assert_eq!(gadget_total.downloads, 5, "{totals:?}");
    let options = |dry_run| ReportOptions {
        dry_run,
        date: Some(date!(2026 - 03 - 10)),
        stale_after_days: 90,
        deadline: None,
    };
    app.host.settle_events().await.expect("outbox relayed");
    let before = app.host.events.published().len();
    let dry = report::run(ctx, options(true)).await.expect("dry run");
    assert!(dry.dry_run && dry.failed.is_empty());
    let (_, _, listed) = app
        .call(Method::GET, "/v1/reports", Some(&acme), None)
        .await;
    assert_eq!(listed["items"], json!([]), "a dry run writes nothing");
    app.host.settle_events().await.expect("outbox relayed");
    assert_eq!(app.host.events.published().len(), before, "nor announces");

    let summary = report::run(ctx, options(false)).await.expect("report runs");
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    assert_eq!(summary.date, "2026-03-10");
    let tenants: Vec<_> = summary.reports.iter().map(|r| r.tenant.as_str()).collect();
    assert_eq!(tenants, ["acme", "default", "zeta"]);
    let computed = summary
        .reports
        .iter()
        .find(|r| r.tenant.as_str() == "acme")
        .expect("acme reported");
    let mut dry_acme = dry
        .reports
        .iter()
        .find(|r| r.tenant.as_str() == "acme")
        .cloned()
        .expect("acme in the dry run");
    dry_acme.generated_at = computed.generated_at;
    assert_eq!(&dry_acme, computed, "a dry run computes the same report");

    // The listing: newest first, tenant admins only, links that work.
    let (status, _, page) = app
        .call(Method::GET, "/v1/reports", Some(&acme), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    let listed = &items[0];
    assert_eq!(listed["date"], "2026-03-10");
    let names: Vec<_> = listed["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["report.json", "report.csv", "stale-access.csv"]);
    let (_, _, one) = app
        .call(Method::GET, "/v1/reports/2026-03-10", Some(&acme), None)
        .await;
    assert_eq!(one["summary"], listed["summary"]);

    let (status, json_bytes) = fetch(&app, file_url(listed, "report.json")).await;
    assert_eq!(status, StatusCode::OK);
    let report: Value = serde_json::from_slice(&json_bytes).expect("JSON report");
    assert_eq!(
        serde_json::to_value(computed).expect("serialises"),
        report,
        "the file holds what the run computed"
    );
    let size = listed["files"][0]["size"].as_u64().expect("size");
    assert_eq!(size, json_bytes.len() as u64);

    // Every figure, as the test made it.
    assert_eq!(report["tenant"], "acme");
    assert_eq!(report["date"], "2026-03-10");
    let libs = json!({
        "name": "libs",
        // widget 1.0.0 (100 bytes) was deleted.
        "storage_bytes": 250 + 40 + 7,
        "versions": 2,
        "files": 3,
        "downloads": 3 + 2 + 1,
        "download_bytes": 3 * 40 + 2 * 7 + 250,
        "uploads_accepted": 4,
        "uploads_rejected": 0,
        "top_packages": [
            {"package": "gadget", "downloads": 5},
            {"package": "widget", "downloads": 1},
        ],
    });
    let tools = json!({
        "name": "tools",
        "storage_bytes": 1000,
        "versions": 1,
        "files": 1,
        "downloads": 2,
        "download_bytes": 2000,
        "uploads_accepted": 1,
        "uploads_rejected": 1,
        "top_packages": [{"package": "cli", "downloads": 2}],
    });
    assert_eq!(report["repositories"], json!([libs, tools]));
    let totals = json!({
        "repositories": 2,
        "storage_bytes": 1297,
        "versions": 3,
        "files": 4,
        "downloads": 8,
        "download_bytes": 2384,
        "uploads_accepted": 5,
        "uploads_rejected": 1,
        "stale_grants": 1,
        "stale_api_keys": 1,
    });
    assert_eq!(report["totals"], totals);
    assert_eq!(listed["summary"], totals);

    let grants = report["stale_access"]["grants"].as_array().expect("grants");
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0]["id"], grant["id"]);
    assert_eq!(grants[0]["principal"], bot.as_str());
    assert_eq!(grants[0]["role"], "reader");
    assert_eq!(grants[0]["scope"], json!({"repository": "libs"}));
    assert_eq!(grants[0]["last_used_at"], Value::Null);
    let api_keys = report["stale_access"]["api_keys"].as_array().expect("keys");
    assert_eq!(api_keys.len(), 1, "{api_keys:?}");
    assert_eq!(api_keys[0]["id"], stale_key["id"]);
    assert_eq!(api_keys[0]["owner"], bot.as_str());
    let text = String::from_utf8_lossy(&json_bytes);
    let secret = stale_key["key"].as_str().expect("key");
    assert!(
        !text.contains(secret) && !text.contains("\"ci\""),
        "no secret, no key name"
    );

    // The CSV files say the same.
    let (status, csv_bytes) = fetch(&app, file_url(listed, "report.csv")).await;
    assert_eq!(status, StatusCode::OK);
    let header = String::from_utf8_lossy(&csv_bytes);
    assert_eq!(
        header.lines().next(),
        Some(
            "repository,storage_bytes,versions,files,downloads,download_bytes,\
             uploads_accepted,uploads_rejected,top_packages"
        )
    );
    let rows: Vec<(String, [u64; 7], String)> = csv_rows(&csv_bytes);
    let row = |name: &str, figures: [u64; 7], top: &str| (name.to_owned(), figures, top.to_owned());
    assert_eq!(
        rows,
        [
            row("libs", [297, 2, 3, 6, 384, 4, 0], "gadget=5;widget=1"),
            row("tools", [1000, 1, 1, 2, 2000, 1, 1], "cli=2"),
        ]
    );
    let (_, stale_bytes) = fetch(&app, file_url(listed, "stale-access.csv")).await;
    let stale: Vec<StaleRow> = csv_rows(&stale_bytes);
    assert_eq!(stale.len(), 2, "{stale:?}");
    assert_eq!(
        (
            stale[0].kind.as_str(),
            stale[0].id.as_str(),
            stale[0].access.as_str()
        ),
        ("grant", grant["id"].as_str().expect("id"), "reader@libs")
    );
    assert_eq!(
        (
            stale[1].kind.as_str(),
            stale[1].id.as_str(),
            stale[1].principal.as_str()
        ),
        (
            "api_key",
            stale_key["id"].as_str().expect("id"),
            bot.as_str()
        )
    );
    assert_eq!(stale[1].last_used_at, "", "never used");

    // Announced once per tenant, naming the files.
    app.host.settle_events().await.expect("outbox relayed");
    let ready: Vec<_> = app
        .host
        .events
        .published()
        .into_iter()
        .filter(|e| e.kind == "report.ready" && e.tenant == "acme")
        .collect();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].data["date"], "2026-03-10");
    assert_eq!(
        ready[0].data["keys"],
        json!([
            "reports/acme/2026-03-10/report.json",
            "reports/acme/2026-03-10/report.csv",
            "reports/acme/2026-03-10/stale-access.csv",
        ])
    );

    // Tenant isolation: zeta's report is its own and says nothing of acme's.
    let (_, _, zeta_page) = app
        .call(Method::GET, "/v1/reports", Some(&zeta), None)
        .await;
    let zeta_items = zeta_page["items"].as_array().expect("items");
    assert_eq!(zeta_items.len(), 1);
    assert_eq!(zeta_items[0]["summary"]["downloads"], 4);
    assert_eq!(zeta_items[0]["summary"]["repositories"], 1);
    let (_, zeta_json) = fetch(&app, file_url(&zeta_items[0], "report.json")).await;
    let zeta_report: Value = serde_json::from_slice(&zeta_json).expect("JSON");
    assert_eq!(zeta_report["tenant"], "zeta");
    assert!(!String::from_utf8_lossy(&zeta_json).contains(&bot));

    // A re-run for the day overwrites: still one report, same figures.
    report::run(ctx, options(false)).await.expect("re-run");
    let (_, _, again) = app
        .call(Method::GET, "/v1/reports", Some(&acme), None)
        .await;
    assert_eq!(again["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(again["items"][0]["summary"], totals);
}

#[tokio::test(flavor = "multi_thread")]
async fn report_routes_refuse_bad_dates_unknown_days_and_non_admins() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    for bad in [
        "2026-3-10",
        "2026-02-30",
        "yesterday",
        "2026-03-10T00:00:00Z",
    ] {
        let (status, ctype, body) = app
            .call(
                Method::GET,
                &format!("/v1/reports/{bad}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(ctype, "application/problem+json");
    }
    let (status, ctype, _) = app
        .call(Method::GET, "/v1/reports/2026-03-10", Some(&admin), None)
        .await;
    assert_eq!(
        (status, ctype.as_str()),
        (StatusCode::NOT_FOUND, "application/problem+json")
    );
    let (status, _, body) = app
        .call(Method::GET, "/v1/reports?limit=0", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A reader of the tenant is no admin of it.
    let sa = ok(
        &app,
        Method::POST,
        "/v1/service-accounts",
        &admin,
        Some(json!({"name": "reader"})),
    )
    .await;
    let id = sa["id"].as_str().expect("id");
    ok(
        &app,
        Method::POST,
        "/v1/grants",
        &admin,
        Some(json!({"principal": id, "role": "reader"})),
    )
    .await;
    let key = ok(
        &app,
        Method::POST,
        "/v1/api-keys",
        &admin,
        Some(json!({"owner": id, "name": "r"})),
    )
    .await;
    let key = key["key"].as_str().expect("key");
    let (status, _, _) = app.call(Method::GET, "/v1/reports", Some(key), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A run that must stop early writes one tenant's report at least and records where it
/// stopped, for that day: the next run of the day goes on with the next tenant, a run for
/// another day starts from the first, and a finished walk leaves no cursor behind.
#[tokio::test]
async fn a_report_run_out_of_time_goes_on_where_the_last_one_stopped() {
    let app = TestApp::new().await;
    for tenant in ["acme", "zeta"] {
        app.tenant_key(tenant).await;
    }
    let ctx = &app.host.ctx;
    let late = |day| ReportOptions {
        dry_run: false,
        date: Some(day),
        stale_after_days: 90,
        deadline: Some(ctx.clock.now() - Duration::seconds(1)),
    };
    let reported = |summary: &report::ReportSummary| -> Vec<String> {
        assert!(summary.failed.is_empty(), "{:?}", summary.failed);
        summary
            .reports
            .iter()
            .map(|r| r.tenant.to_string())
            .collect()
    };
    let day = date!(2026 - 03 - 10);
    let first = report::run(ctx, late(day)).await.expect("report runs");
    assert_eq!(reported(&first), ["acme"]);
    assert_eq!(
        first.resume_after.as_ref().map(|t| t.as_str()),
        Some("acme")
    );

    // Another day is a walk of its own.
    let other = report::run(ctx, late(date!(2026 - 03 - 11)))
        .await
        .expect("report runs");
    assert_eq!(reported(&other), ["acme"]);

    let second = report::run(ctx, late(date!(2026 - 03 - 11)))
        .await
        .expect("report runs");
    assert_eq!(reported(&second), ["default"]);
    let third = report::run(ctx, late(date!(2026 - 03 - 11)))
        .await
        .expect("report runs");
    assert_eq!(reported(&third), ["zeta"]);
    assert_eq!(third.resume_after, None);
    let again = report::run(ctx, late(date!(2026 - 03 - 11)))
        .await
        .expect("report runs");
    assert_eq!(reported(&again), ["acme"], "the walk starts over");

    // Scheduled, a run that stopped early fails, so the platform invokes it again at once.
    let stopped = trove_core::jobs::schedule::run(
        ctx,
        trove_core::jobs::schedule::Job::Report,
        trove_core::jobs::schedule::RunOptions {
            dry_run: false,
            date: Some(date!(2026 - 03 - 11)),
            deadline: Some(ctx.clock.now() - Duration::seconds(1)),
        },
    )
    .await;
    assert!(
        matches!(&stopped, Err(trove_core::services::Error::Unavailable(why)) if why.contains("after default (out of time)")),
        "{stopped:?}"
    );
}
