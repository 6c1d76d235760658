//! Identity flows in-process: access tokens, key scopes, groups, grants that cannot exceed
//! their giver, PII, rate limits, IP lists, failed-login limits and OIDC tokens.

use std::net::IpAddr;

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::app::TestApp;
use trove_core::config::Settings;
use trove_core::domain::keys;
use trove_core::domain::names::TenantName;
use trove_core::services::access::oidc_testing::{Signer, jwt};

pub(super) async fn ok(
    app: &TestApp,
    method: Method,
    uri: &str,
    key: &str,
    body: Option<Value>,
) -> Value {
    let (status, _, v) = app.call(method.clone(), uri, Some(key), body).await;
    assert!(status.is_success(), "{method} {uri}: {status} {v}");
    v
}

pub(super) async fn status(
    app: &TestApp,
    method: Method,
    uri: &str,
    key: &str,
    body: Option<Value>,
) -> StatusCode {
    app.call(method, uri, Some(key), body).await.0
}

/// A service account with the given grants, and an API key for it.
pub(super) async fn account(
    app: &TestApp,
    name: &str,
    grants: &[(&str, Value)],
) -> (String, String) {
    let admin = app.admin.clone();
    let sa = ok(
        app,
        Method::POST,
        "/v1/service-accounts",
        &admin,
        Some(json!({"name": name})),
    )
    .await;
    let id = sa["id"].as_str().expect("id").to_owned();
    for (role, scope) in grants {
        ok(
            app,
            Method::POST,
            "/v1/grants",
            &admin,
            Some(json!({"principal": id, "role": role, "scope": scope})),
        )
        .await;
    }
    let key = ok(
        app,
        Method::POST,
        "/v1/api-keys",
        &admin,
        Some(json!({"owner": id, "name": "k"})),
    )
    .await;
    (id, key["key"].as_str().expect("key").to_owned())
}

pub(super) async fn with_repo() -> TestApp {
    with_repo_in(TestApp::new().await).await
}

/// `app` with a repository named `name`.
async fn with_repo_named(app: TestApp, name: &str) -> TestApp {
    let admin = app.admin.clone();
    ok(
        &app,
        Method::POST,
        "/v1/repositories",
        &admin,
        Some(json!({"name": name, "format": "generic"})),
    )
    .await;
    app
}

async fn with_repo_in(app: TestApp) -> TestApp {
    with_repo_named(app, "libs").await
}

fn upload_body(pkg: &str) -> Value {
    json!({"package": pkg, "version": "1.0.0", "filename": "a.bin", "size": 1, "sha256": "c".repeat(64)})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_key_buys_a_short_lived_token_that_dies_with_the_key() {
    let app = with_repo().await;
    let (_, key) = account(&app, "ci", &[("reader", json!({"repository": "libs"}))]).await;
    let token = ok(&app, Method::POST, "/v1/auth/token", &key, None).await;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 900);
    let access = token["access_token"].as_str().expect("token").to_owned();
    let me = ok(&app, Method::GET, "/v1/me", &access, None).await;
    assert_eq!(me["credential"]["type"], "access_token");
    assert_eq!(
        status(&app, Method::GET, "/v1/repositories/libs", &access, None).await,
        StatusCode::OK
    );
    // A token does not buy tokens, and its rights are the key's.
    assert_eq!(
        status(&app, Method::POST, "/v1/auth/token", &access, None).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/repositories",
            &access,
            Some(json!({"name": "x", "format": "generic"}))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    // Tampered, unsigned or foreign tokens are refused.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    parts[2] = parts[2].chars().rev().collect();
    let tampered = parts.join(".");
    let unsigned = format!("{}.{}.", parts[0].replace('H', "h"), parts[1]);
    for bad in [tampered.as_str(), unsigned.as_str(), "a.b.c", "not-a-token"] {
        assert_eq!(
            status(&app, Method::GET, "/v1/me", bad, None).await,
            StatusCode::UNAUTHORIZED,
            "{bad}"
        );
    }
    // Revoking the key ends the token.
    let key_id = me["credential"]["key"].as_str().expect("key id").to_owned();
    let admin = app.admin.clone();
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/api-keys/{key_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        status(&app, Method::GET, "/v1/me", &access, None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, Method::GET, "/v1/me", &key, None).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_key_acts_with_less_and_cannot_mint_more() {
    let app = with_repo().await;
    let admin = app.admin.clone();
    let scoped = ok(
        &app,
        Method::POST,
        "/v1/api-keys",
        &admin,
        Some(json!({"name": "read-only", "scopes": [{"role": "reader", "scope": {"repository": "libs"}}]})),
    )
    .await;
    let scoped = scoped["key"].as_str().expect("key").to_owned();
    assert_eq!(
        status(&app, Method::GET, "/v1/repositories/libs", &scoped, None).await,
        StatusCode::OK
    );
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/repositories",
            &scoped,
            Some(json!({"name": "x", "format": "generic"}))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    // A key it makes inherits its scopes; wider scopes are refused.
    let child = ok(
        &app,
        Method::POST,
        "/v1/api-keys",
        &scoped,
        Some(json!({"name": "child"})),
    )
    .await;
    let child = child["key"].as_str().expect("key").to_owned();
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/repositories/libs/uploads",
            &child,
            Some(upload_body("p"))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/api-keys",
            &scoped,
            Some(json!({"name": "wide", "scopes": [{"role": "admin", "scope": {}}]}))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    // Scopes beyond the owner's grants are refused too.
    let (sa, _) = account(&app, "reader", &[("reader", json!({"repository": "libs"}))]).await;
    let (s, _, body) = app
        .call(Method::POST, "/v1/api-keys", Some(&admin), Some(json!({"owner": sa, "name": "w", "scopes": [{"role": "writer", "scope": {"repository": "libs"}}]})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    // Expired keys do not work; nonsense expiries are refused.
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/api-keys",
            &admin,
            Some(json!({"name": "x", "expires_in": 5}))
        )
        .await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_groups_grant_and_cycles_are_refused() {
    let app = with_repo().await;
    let admin = app.admin.clone();
    let (sa, key) = account(&app, "builder", &[]).await;
    let outer = ok(
        &app,
        Method::POST,
        "/v1/groups",
        &admin,
        Some(json!({"name": "outer"})),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let inner = ok(
        &app,
        Method::POST,
        "/v1/groups",
        &admin,
        Some(json!({"name": "inner"})),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let member = |g: &str, m: &str| format!("/v1/groups/{g}/members/{m}");
    assert_eq!(
        status(&app, Method::PUT, &member(&inner, &sa), &admin, None).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(&app, Method::PUT, &member(&outer, &inner), &admin, None).await,
        StatusCode::NO_CONTENT
    );
    // No grant yet: the repository does not exist for the member.
    assert_eq!(
        status(&app, Method::GET, "/v1/repositories/libs", &key, None).await,
        StatusCode::NOT_FOUND
    );
    ok(
        &app,
        Method::POST,
        "/v1/grants",
        &admin,
        Some(json!({"principal": outer, "role": "writer", "scope": {"repository": "libs"}})),
    )
    .await;
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/repositories/libs/uploads",
            &key,
            Some(upload_body("p"))
        )
        .await,
        StatusCode::CREATED
    );
    // Cycles: outer into inner, and a group into itself.
    let (s, _, body) = app
        .call(Method::PUT, &member(&inner, &outer), Some(&admin), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().expect("detail").contains("cycle"));
    assert_eq!(
        status(&app, Method::PUT, &member(&inner, &inner), &admin, None).await,
        StatusCode::CONFLICT
    );
    // Leaving the inner group takes the rights away.
    assert_eq!(
        status(&app, Method::DELETE, &member(&inner, &sa), &admin, None).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(&app, Method::GET, "/v1/repositories/libs", &key, None).await,
        StatusCode::NOT_FOUND
    );
    let group = ok(
        &app,
        Method::GET,
        &format!("/v1/groups/{inner}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(group["members"], json!([]));
    // Unknown members and groups are 404s.
    assert_eq!(
        status(
            &app,
            Method::PUT,
            &member(&inner, "sa_01jd5x7k3m2n4p6q8r0s2t4v6w"),
            &admin,
            None
        )
        .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(
            &app,
            Method::PUT,
            &member("group_01jd5x7k3m2n4p6q8r0s2t4v6w", &sa),
            &admin,
            None
        )
        .await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_grants_more_than_they_hold() {
    let app = with_repo_named(with_repo().await, "other").await;
    let admin = app.admin.clone();
    let (_, repo_admin) = account(
        &app,
        "libs-admin",
        &[("admin", json!({"repository": "libs"}))],
    )
    .await;
    let (target, _) = account(&app, "target", &[]).await;
    let grant =
        |role: &str, scope: Value| json!({"principal": target, "role": role, "scope": scope});
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/grants",
            &repo_admin,
            Some(grant("writer", json!({"repository": "libs"})))
        )
        .await,
        StatusCode::CREATED
    );
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/grants",
            &repo_admin,
            Some(grant(
                "admin",
                json!({"repository": "libs", "package": "a-*"})
            ))
        )
        .await,
        StatusCode::CREATED
    );
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/grants",
            &repo_admin,
            Some(grant("reader", json!({})))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/grants",
            &repo_admin,
            Some(grant("reader", json!({"repository": "other"})))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    // Bad scopes and roles are 4xx problems.
    for body in [
        grant("owner", json!({})),
        grant("reader", json!({"package": "a"})),
        grant("reader", json!({"repository": "libs", "package": "a?b"})),
        json!({"principal": target}),
    ] {
        let (s, ctype, _) = app
            .call(Method::POST, "/v1/grants", Some(&admin), Some(body.clone()))
            .await;
        assert!(s.is_client_error(), "{body}: {s}");
        assert_eq!(ctype, "application/problem+json");
    }
    // The target sees its own grants; the libs admin sees those it administers.
    let (_, target_key) = {
        let key = ok(
            &app,
            Method::POST,
            "/v1/api-keys",
            &admin,
            Some(json!({"owner": target, "name": "t"})),
        )
        .await;
        ((), key["key"].as_str().expect("key").to_owned())
    };
    let own = ok(&app, Method::GET, "/v1/grants", &target_key, None).await;
    assert_eq!(own["items"].as_array().expect("items").len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn emails_are_sealed_at_rest_and_shown_to_tenant_admins_only() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let user = ok(
        &app,
        Method::POST,
        "/v1/users",
        &admin,
        Some(json!({"name": "alice", "email": "alice@example.com"})),
    )
    .await;
    assert_eq!(user["email"], "alice@example.com");
    let id = user["id"].as_str().expect("id");
    let tenant = TenantName::parse("default").expect("valid");
    let stored = app
        .host
        .ctx
        .table
        .get(&keys::principal(&tenant, id))
        .await
        .expect("read")
        .expect("stored");
    let text = serde_json::to_string(&stored).expect("json");
    assert!(!text.contains("alice@example.com"), "{text}");
    assert!(text.contains("email_sealed"));
    let listed = ok(&app, Method::GET, "/v1/users", &admin, None).await;
    assert!(listed.to_string().contains("alice@example.com"));
    // A caller that is no tenant admin reaches no principal at all.
    let (_, reader) = account(&app, "reader", &[("reader", json!({}))]).await;
    assert_eq!(
        status(
            &app,
            Method::GET,
            &format!("/v1/principals/{id}"),
            &reader,
            None
        )
        .await,
        StatusCode::FORBIDDEN
    );
    // Bad emails are refused without being echoed.
    let (s, _, body) = app
        .call(
            Method::POST,
            "/v1/users",
            Some(&admin),
            Some(json!({"name": "bob", "email": "not an email"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(!body.to_string().contains("not an email"), "{body}");
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/users",
            &admin,
            Some(json!({"name": "alice", "email": "a2@example.com"}))
        )
        .await,
        StatusCode::CONFLICT
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_answer_429_with_retry_after_per_tier() {
    let app = with_repo().await;
    let admin = app.admin.clone();
    let tiny = json!({"per_second": 0.5, "burst": 3});
    let big = json!({"per_second": 1000.0, "burst": 1000});
    ok(&app, Method::PUT, "/v1/policy", &admin, Some(json!({"rate_limits": {"anonymous": big, "user": big, "service_account": tiny, "admin": big}}))).await;
    let (_, sa) = account(&app, "busy", &[("reader", json!({}))]).await;
    for _ in 0..3 {
        assert_eq!(
            status(&app, Method::GET, "/v1/repositories/libs", &sa, None).await,
            StatusCode::OK
        );
    }
    let (s, headers, body) = app
        .send(Method::GET, "/v1/repositories/libs", Some(&sa), None, None)
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    // Other principals have their own buckets.
    assert_eq!(
        status(&app, Method::GET, "/v1/repositories/libs", &admin, None).await,
        StatusCode::OK
    );
    // Invalid limits are refused.
    assert_eq!(
        status(&app, Method::PUT, "/v1/policy", &admin, Some(json!({"rate_limits": {"anonymous": big, "user": big, "service_account": {"per_second": 0, "burst": 1}, "admin": big}}))).await,
        StatusCode::BAD_REQUEST
    );
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().expect("address"))
}

#[tokio::test(flavor = "multi_thread")]
async fn ip_lists_refuse_with_a_reason_and_never_lock_the_admin_out() {
    let app = with_repo().await;
    let admin = app.admin.clone();
    let home = ip("192.0.2.10");
    let put = |policy: Value| app.send(Method::PUT, "/v1/policy", Some(&admin), Some(policy), home);
    let (s, _, body) = put(json!({"network": {"block": ["192.0.2.0/24"]}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, _, body) = put(json!({"network": {"block": ["not-an-address"]}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("not-an-address")
    );
    let (s, _, body) = put(
        json!({"network": {"allow": ["192.0.2.0/24", "2001:db8::/32"], "block": ["192.0.2.66"]}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let get = |from: &'static str| {
        app.send(
            Method::GET,
            "/v1/repositories/libs",
            Some(&admin),
            None,
            ip(from),
        )
    };
    assert_eq!(get("192.0.2.10").await.0, StatusCode::OK);
    assert_eq!(get("2001:db8::5").await.0, StatusCode::OK);
    let (s, _, body) = get("192.0.2.66").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("block list"),
        "{body}"
    );
    let (s, _, body) = get("203.0.113.9").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("allow list"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_limited_per_source_address() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let attacker = ip("203.0.113.50");
    let mut limited = None;
    for i in 0..30 {
        let wrong = format!("trove_01jd5x7k3m2n4p6q8r0s2t4v6w_{}", "x".repeat(43));
        let (s, headers, _) = app
            .send(Method::GET, "/v1/me", Some(&wrong), None, attacker)
            .await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert!(headers.contains_key(header::RETRY_AFTER));
            limited = Some(i);
            break;
        }
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(limited, Some(20), "the burst of failures is 20");
    // Failures from the address stay refused; a valid key from the same address (people
    // behind one NAT) is served, fresh or cached, and others are unaffected.
    let wrong = format!("trove_01jd5x7k3m2n4p6q8r0s2t4v6w_{}", "y".repeat(43));
    assert_eq!(
        app.send(Method::GET, "/v1/me", Some(&wrong), None, attacker)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let (_, fresh) = account(&app, "behind-the-nat", &[("reader", json!({}))]).await;
    for key in [&admin, &fresh, &fresh] {
        let (s, _, body) = app
            .send(Method::GET, "/v1/me", Some(key), None, attacker)
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    assert_eq!(
        app.send(Method::GET, "/v1/me", Some("garbage"), None, attacker)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.send(
            Method::GET,
            "/v1/me",
            Some(&admin),
            None,
            ip("198.51.100.1")
        )
        .await
        .0,
        StatusCode::OK
    );
}

/// A JWKS endpoint on 127.0.0.1 for one RSA key.
async fn jwks_server(jwk: Value) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwk = jwk.clone();
            async move { axum::Json(json!({"keys": [jwk]})) }
        }),
    );
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serves");
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_ci_token_acts_as_its_mapped_service_account() {
    let app = with_repo_in(
        TestApp::with_settings(Settings {
            allow_http_jwks: true,
            ..Settings::for_testing()
        })
        .await,
    )
    .await;
    let admin = app.admin.clone();
    let (sa, _) = account(
        &app,
        "release",
        &[("writer", json!({"repository": "libs"}))],
    )
    .await;
    let signer = Signer::rsa();
    let (issuer, _server) = jwks_server(signer.jwk("k1")).await;
    let provider = json!({
        "issuer": issuer, "audience": "trove:default", "jwks_uri": format!("{issuer}/jwks"),
        "rules": [{"claims": {"repository": "acme/widgets", "ref": "refs/heads/main"}, "principal": sa}],
    });
    ok(
        &app,
        Method::POST,
        "/v1/oidc-providers",
        &admin,
        Some(provider.clone()),
    )
    .await;
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/oidc-providers",
            &admin,
            Some(provider)
        )
        .await,
        StatusCode::CONFLICT
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |repo: &str, aud: &str, exp: i64| json!({"iss": issuer, "aud": aud, "sub": "repo", "repository": repo, "ref": "refs/heads/main", "iat": now, "nbf": now, "exp": exp});
    let good = jwt(
        "RS256",
        "k1",
        &claims("acme/widgets", "trove:default", now + 300),
        &signer,
    );
    let me = ok(&app, Method::GET, "/v1/me", &good, None).await;
    assert_eq!(me["principal"], sa.as_str());
    assert_eq!(me["credential"]["type"], "oidc");
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/repositories/libs/uploads",
            &good,
            Some(upload_body("p"))
        )
        .await,
        StatusCode::CREATED
    );
    let other = Signer::rsa();
    for (label, bad) in [
        (
            "unmapped repository",
            jwt(
                "RS256",
                "k1",
                &claims("evil/fork", "trove:default", now + 300),
                &signer,
            ),
        ),
        (
            "wrong audience",
            jwt(
                "RS256",
                "k1",
                &claims("acme/widgets", "trove:else", now + 300),
                &signer,
            ),
        ),
        (
            "expired",
            jwt(
                "RS256",
                "k1",
                &claims("acme/widgets", "trove:default", now - 120),
                &signer,
            ),
        ),
        (
            "signed by another key",
            jwt(
                "RS256",
                "k1",
                &claims("acme/widgets", "trove:default", now + 300),
                &other,
            ),
        ),
        (
            "alg none",
            jwt(
                "none",
                "k1",
                &claims("acme/widgets", "trove:default", now + 300),
                &Signer::Unsigned,
            ),
        ),
    ] {
        assert_eq!(
            status(&app, Method::GET, "/v1/me", &bad, None).await,
            StatusCode::UNAUTHORIZED,
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_and_grants_record_their_last_use() {
    let app = with_repo().await;
    let admin = app.admin.clone();
    let (sa, key) = account(&app, "used", &[("reader", json!({"repository": "libs"}))]).await;
    let (unused_sa, _) = account(&app, "idle", &[("reader", json!({"repository": "libs"}))]).await;
    assert_eq!(
        status(&app, Method::GET, "/v1/repositories/libs", &key, None).await,
        StatusCode::OK
    );
    let keys = ok(&app, Method::GET, "/v1/api-keys", &admin, None).await;
    let last_used = |owner: &str| {
        keys["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|k| k["owner"] == owner)
            .map(|k| k["last_used_at"].clone())
            .expect("the owner's key")
    };
    assert!(last_used(&sa).is_string(), "{keys}");
    assert!(last_used(&unused_sa).is_null(), "{keys}");
    let grants = ok(&app, Method::GET, "/v1/grants", &admin, None).await;
    let grant_used = |principal: &str| {
        grants["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|g| g["principal"] == principal)
            .map(|g| g["last_used_at"].clone())
            .expect("the principal's grant")
    };
    assert!(grant_used(&sa).is_string(), "{grants}");
    assert!(grant_used(&unused_sa).is_null(), "{grants}");
}
