//! `GET /v1/search`: each field finds what it names, from a catalogue published through the
//! pipeline; what the caller may not read is never shown; bad queries are 400s that say
//! where; pages cover every result once.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::app::TestApp;
use trove_core::domain::keys;
use trove_core::domain::names::TenantName;
use trove_core::ports::Query;

/// `(repository, package, version)` of each result, in order.
fn found(body: &Value) -> Vec<(String, String, String)> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items: {body}"))
        .iter()
        .map(|hit| {
            (
                hit["repository"].as_str().expect("repository").to_owned(),
                hit["package"].as_str().expect("package").to_owned(),
                hit["version"].as_str().expect("version").to_owned(),
            )
        })
        .collect()
}

fn triple(r: &str, p: &str, v: &str) -> (String, String, String) {
    (r.to_owned(), p.to_owned(), v.to_owned())
}

async fn search(app: &TestApp, key: &str, q: &str) -> Value {
    let (status, _, body) = app
        .call(Method::GET, &uri(q, None, None), Some(key), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{q}: {body}");
    body
}

fn uri(q: &str, limit: Option<usize>, cursor: Option<&str>) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let mut uri = format!("/v1/search?q={}", enc(q));
    if let Some(limit) = limit {
        uri.push_str(&format!("&limit={limit}"));
    }
    if let Some(cursor) = cursor {
        uri.push_str(&format!("&cursor={}", enc(cursor)));
    }
    uri
}

async fn published(app: &TestApp, key: &str, repo: &str, pkg: &str, version: &str, bytes: &[u8]) {
    let file = format!("{pkg}-{version}.bin");
    let up = app.publish(key, repo, pkg, version, &file, bytes).await;
    assert_eq!(up["status"], "published", "{up}");
}

async fn principal_of(app: &TestApp, key: &str) -> String {
    let (_, _, me) = app.call(Method::GET, "/v1/me", Some(key), None).await;
    me["principal"].as_str().expect("principal").to_owned()
}

/// libs: acme-widget 1.0.0, 2.0.0, 2.1.0 and acme-core 1.0.0 (by the admin); tools: widget
/// 3.0.0 (by a CI account) and other 1.0.0 with the same bytes as acme-core 1.0.0.
struct Catalogue {
    app: TestApp,
    ci: String,
    ci_principal: String,
    shared_sha: String,
}

async fn catalogue() -> Catalogue {
    let app = TestApp::new().await;
    app.create_repository("libs").await;
    app.create_repository("tools").await;
    let admin = app.admin.clone();
    for v in ["1.0.0", "2.0.0", "2.1.0"] {
        published(
            &app,
            &admin,
            "libs",
            "acme-widget",
            v,
            format!("widget {v}").as_bytes(),
        )
        .await;
    }
    published(&app, &admin, "libs", "acme-core", "1.0.0", b"shared bytes").await;
    let ci = app
        .key_with("ci", "writer", json!({"repository": "tools"}))
        .await;
    published(&app, &ci, "tools", "widget", "3.0.0", b"tool widget").await;
    published(&app, &ci, "tools", "other", "1.0.0", b"shared bytes").await;
    let ci_principal = principal_of(&app, &ci).await;
    use sha2::Digest as _;
    let shared_sha = hex::encode(sha2::Sha256::digest(b"shared bytes"));
    Catalogue {
        app,
        ci,
        ci_principal,
        shared_sha,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_field_finds_what_it_names() {
    let c = catalogue().await;
    let (app, admin) = (&c.app, c.app.admin.clone());
    let q = |q: &'static str| {
        let admin = admin.clone();
        async move { found(&search(app, &admin, q).await) }
    };
    assert_eq!(
        q("name:acme-*").await,
        [
            triple("libs", "acme-core", "1.0.0"),
            triple("libs", "acme-widget", "2.1.0"),
            triple("libs", "acme-widget", "2.0.0"),
            triple("libs", "acme-widget", "1.0.0"),
        ],
        "by name, then newest first"
    );
    assert_eq!(q("name:widget").await, [triple("tools", "widget", "3.0.0")]);
    assert_eq!(
        q("widget").await,
        [
            triple("tools", "widget", "3.0.0"),
            triple("libs", "acme-widget", "2.1.0"),
            triple("libs", "acme-widget", "2.0.0"),
            triple("libs", "acme-widget", "1.0.0"),
        ],
        "the exact name first, then names with the word"
    );
    assert_eq!(
        q("repo:tools").await,
        [
            triple("tools", "other", "1.0.0"),
            triple("tools", "widget", "3.0.0")
        ]
    );
    assert_eq!(q("format:generic").await.len(), 6);
    assert!(q("format:npm").await.is_empty());
    assert_eq!(
        q("name:acme-widget version:>=2").await,
        [
            triple("libs", "acme-widget", "2.1.0"),
            triple("libs", "acme-widget", "2.0.0"),
        ]
    );
    assert_eq!(
        q("name:acme-widget version:>1.0,<2.1").await,
        [triple("libs", "acme-widget", "2.0.0")]
    );
    assert_eq!(q("published:<1d").await.len(), 6);
    assert!(q("published:>1d").await.is_empty());
    assert!(q("published:2020-01-01..2020-12-31").await.is_empty());
    let by_ci = found(&search(app, &admin, &format!("by:{}", c.ci_principal)).await);
    assert_eq!(
        by_ci.iter().map(|(_, p, _)| p.as_str()).collect::<Vec<_>>(),
        ["other", "widget"],
        "what the CI account published, newest first"
    );
    assert_eq!(
        q("(name:widget OR name:acme-core) -repo:tools").await,
        [triple("libs", "acme-core", "1.0.0")]
    );
    assert_eq!(
        q("name:acme-widget -version:2.0.0").await,
        [
            triple("libs", "acme-widget", "2.1.0"),
            triple("libs", "acme-widget", "1.0.0"),
        ]
    );

    // The same bytes under two names: the results are those files.
    let body = search(app, &admin, &format!("sha256:{}", &c.shared_sha[..12])).await;
    assert_eq!(body["results"], "files");
    assert_eq!(
        found(&body),
        [
            triple("libs", "acme-core", "1.0.0"),
            triple("tools", "other", "1.0.0"),
        ]
    );
    assert_eq!(body["items"][0]["file"]["sha256"], c.shared_sha.as_str());
    assert_eq!(body["items"][1]["file"]["filename"], "other-1.0.0.bin");
    let body = search(app, &admin, &format!("sha256:{} repo:tools", c.shared_sha)).await;
    assert_eq!(found(&body), [triple("tools", "other", "1.0.0")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn yanks_tags_labels_and_deletions_show_at_once() {
    let c = catalogue().await;
    let (app, admin) = (&c.app, c.app.admin.as_str());
    let v2 = "/v1/repositories/libs/packages/acme-widget/versions/2.0.0";
    let (status, _, body) = app
        .call(
            Method::PUT,
            &format!("{v2}/yank"),
            Some(admin),
            Some(json!({"reason": "bad"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        found(&search(app, admin, "status:yanked").await),
        [triple("libs", "acme-widget", "2.0.0")]
    );
    assert_eq!(
        found(&search(app, admin, "name:acme-widget status:published").await),
        [
            triple("libs", "acme-widget", "2.1.0"),
            triple("libs", "acme-widget", "1.0.0"),
        ]
    );

    let labels = |tags: Value, labels: Value| json!({"tags": tags, "labels": labels});
    let (status, _, body) = app
        .call(
            Method::PUT,
            &format!("{v2}/labels"),
            Some(admin),
            Some(labels(json!(["stable"]), json!({"env": "prod"}))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tags"], json!(["stable"]));
    assert_eq!(body["labels"]["env"], "prod");
    for q in [
        "tag:stable",
        "label:env=prod",
        "label:env",
        "tag:stable label:env=prod",
    ] {
        assert_eq!(
            found(&search(app, admin, q).await),
            [triple("libs", "acme-widget", "2.0.0")],
            "{q}"
        );
    }
    // Replaced: found by the new ones only.
    let (status, _, _) = app
        .call(
            Method::PUT,
            &format!("{v2}/labels"),
            Some(admin),
            Some(labels(json!(["lts"]), json!({"env": "staging"}))),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(found(&search(app, admin, "tag:stable").await).is_empty());
    assert!(found(&search(app, admin, "label:env=prod").await).is_empty());
    assert_eq!(
        found(&search(app, admin, "label:env=staging").await).len(),
        1
    );
    assert_eq!(found(&search(app, admin, "tag:lts").await).len(), 1);
    // A reader of tools may not label libs' versions; a bad label is a 400.
    let (status, _, _) = app
        .call(
            Method::PUT,
            &format!("{v2}/labels"),
            Some(&c.ci),
            Some(labels(json!(["x"]), json!({}))),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = app
        .call(
            Method::PUT,
            &format!("{v2}/labels"),
            Some(admin),
            Some(labels(json!(["Bad Tag"]), json!({}))),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A deleted version is gone from search, and so are its entries.
    let (status, _, _) = app.call(Method::DELETE, v2, Some(admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(found(&search(app, admin, "tag:lts").await).is_empty());
    assert_eq!(
        found(&search(app, admin, "name:acme-widget").await).len(),
        2
    );
    let tenant = TenantName::parse("default").expect("valid");
    for way in ["NAME", "PUB", "TAG#lts", "LABEL#env", "WORD"] {
        let page = app
            .host
            .ctx
            .table
            .query(&Query::new(keys::search_partition(&tenant, way)).limit(100))
            .await
            .expect("query");
        assert!(
            page.items
                .iter()
                .all(|i| i["version"] != "2.0.0" || i["package"] != "acme-widget"),
            "{way} still holds the deleted version"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_finds_only_what_it_may_read() {
    let c = catalogue().await;
    let app = &c.app;
    // The CI account may write tools only: libs' versions and files are not shown.
    let body = search(app, &c.ci, "format:generic").await;
    assert_eq!(
        found(&body),
        [
            triple("tools", "other", "1.0.0"),
            triple("tools", "widget", "3.0.0")
        ]
    );
    assert_eq!(found(&search(app, &c.ci, "acme").await), []);
    let body = search(app, &c.ci, &format!("sha256:{}", c.shared_sha)).await;
    assert_eq!(found(&body), [triple("tools", "other", "1.0.0")]);
    // A reader of one package pattern sees that package only.
    let narrow = app
        .key_with(
            "narrow",
            "reader",
            json!({"repository": "libs", "package": "acme-core"}),
        )
        .await;
    assert_eq!(
        found(&search(app, &narrow, "name:acme-*").await),
        [triple("libs", "acme-core", "1.0.0")]
    );
    // Another tenant sees nothing of this one.
    let other = app.tenant_key("globex").await;
    for q in ["format:generic", "widget", "name:acme-*", "repo:libs"] {
        assert!(found(&search(app, &other, q).await).is_empty(), "{q}");
    }
    let (status, _, _) = app
        .call(Method::GET, &uri("widget", None, None), None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_queries_are_refused_with_where_and_what_exists() {
    let app = TestApp::new().await;
    let admin = app.admin.as_str();
    let refused = |q: String, limit: Option<usize>, cursor: Option<String>| {
        let app = &app;
        async move {
            let (status, ctype, body) = app
                .call(
                    Method::GET,
                    &uri(&q, limit, cursor.as_deref()),
                    Some(admin),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {body}");
            assert_eq!(ctype, "application/problem+json");
            body["detail"].as_str().expect("detail").to_owned()
        }
    };
    let detail = refused("name:a colour:red".into(), None, None).await;
    assert!(detail.contains("at character 8"), "{detail}");
    assert!(detail.contains("colour"), "{detail}");
    assert!(
        detail.contains("fields are name, repo, format, version, sha256"),
        "{detail}"
    );
    let detail = refused("(name:a OR".into(), None, None).await;
    assert!(detail.contains("at character"), "{detail}");
    let detail = refused("sha256:abc".into(), None, None).await;
    assert!(detail.contains("12 to 64 hex digits"), "{detail}");
    let detail = refused("sha256:0123456789ab OR name:x".into(), None, None).await;
    assert!(detail.contains("sha256:"), "{detail}");
    refused("published:yesterday".into(), None, None).await;
    refused("x".repeat(5000), None, None).await;
    refused("(".repeat(500), None, None).await;
    refused("name:a".into(), Some(0), None).await;
    refused("name:a".into(), Some(201), None).await;
    refused("name:a".into(), None, Some("garbage".into())).await;
    // A cursor answers only the query that made it.
    app.create_repository("libs").await;
    for v in ["1.0.0", "2.0.0"] {
        published(&app, admin, "libs", "p", v, v.as_bytes()).await;
    }
    let (_, _, page) = app
        .call(
            Method::GET,
            &uri("name:p", Some(1), None),
            Some(admin),
            None,
        )
        .await;
    let cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    refused("name:q".into(), Some(1), Some(cursor)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_cover_every_result_once_in_order() {
    let app = TestApp::new().await;
    let admin = app.admin.as_str();
    app.create_repository("libs").await;
    // Interleaved: the query's matches are spread among entries it drops.
    for i in 0..12 {
        published(
            &app,
            admin,
            "libs",
            &format!("lib-{i:02}"),
            "1.0.0",
            format!("a{i}").as_bytes(),
        )
        .await;
        published(
            &app,
            admin,
            "libs",
            &format!("lib-{i:02}"),
            "2.0.0",
            format!("b{i}").as_bytes(),
        )
        .await;
    }
    let whole = found(&search(&app, admin, "name:lib-* version:2.0.0").await);
    assert_eq!(whole.len(), 12);
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let (status, _, body) = app
            .call(
                Method::GET,
                &uri("name:lib-* version:2.0.0", Some(5), cursor.as_deref()),
                Some(admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let items = found(&body);
        assert!(items.len() <= 5);
        paged.extend(items);
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, whole, "every result once, in the same order");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_catalogue_without_entries_is_found_again_after_a_reindex() {
    let c = catalogue().await;
    let (app, admin) = (&c.app, c.app.admin.as_str());
    let tenant = TenantName::parse("default").expect("valid");
    let table = &app.host.ctx.table;
    // As a catalogue published before search: no entries at all.
    let mut ways: Vec<String> = ["NAME", "PUB", "WORD", "SHA", "REPO#libs", "REPO#tools"]
        .map(str::to_owned)
        .to_vec();
    ways.push(format!("BY#{}", c.ci_principal));
    ways.push(format!("BY#{}", principal_of(app, admin).await));
    for way in &ways {
        let query = Query::new(keys::search_partition(&tenant, way)).limit(1000);
        for item in trove_core::ports::table::query_all(table.as_ref(), query)
            .await
            .expect("query")
        {
            let key = trove_core::ports::Key::of(&item).expect("key");
            table.delete(&key, None).await.expect("delete");
        }
    }
    assert!(found(&search(app, admin, "name:acme-*").await).is_empty());
    let versions = trove_core::services::search::maintain::reindex(&app.host.ctx, &tenant)
        .await
        .expect("reindex");
    assert_eq!(versions, 6);
    assert_eq!(found(&search(app, admin, "name:acme-*").await).len(), 4);
    let by_ci = found(&search(app, admin, &format!("by:{}", c.ci_principal)).await);
    assert_eq!(by_ci.len(), 2, "who published, from the uploads");
    let body = search(app, admin, &format!("sha256:{}", c.shared_sha)).await;
    assert_eq!(found(&body).len(), 2);
    // Again: the same entries, nothing doubled.
    trove_core::services::search::maintain::reindex(&app.host.ctx, &tenant)
        .await
        .expect("reindex again");
    assert_eq!(found(&search(app, admin, "format:generic").await).len(), 6);
}
