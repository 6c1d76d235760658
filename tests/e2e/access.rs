//! Access control over a real `trove serve`: a service account publishing with an access
//! token under a repository grant, failed logins limited per address, and the audit trail
//! naming who, from where and in which request.

use reqwest::header::{AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, expect_json, pseudo_random_bytes};

async fn admin_post(server: &TestServer, path: &str, body: Value) -> Value {
    let resp = server
        .api(Method::POST, path)
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = resp.status();
    let value: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path}: {status} {value}");
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_account_publishes_with_a_token_within_its_grant_only() {
    let mut server = TestServer::start().await;
    server.create_repo("releases").await;
    server.create_repo("private").await;
    let sa = admin_post(&server, "/v1/service-accounts", json!({"name": "ci"})).await;
    let sa = sa["id"].as_str().expect("id").to_owned();
    admin_post(
        &server,
        "/v1/grants",
        json!({"principal": sa, "role": "writer", "scope": {"repository": "releases", "package": "app-*"}}),
    )
    .await;
    let key = admin_post(
        &server,
        "/v1/api-keys",
        json!({"owner": sa, "name": "ci", "expires_in": 3600}),
    )
    .await;
    let key = key["key"].as_str().expect("key").to_owned();
    let resp = server
        .anon(Method::POST, "/v1/auth/token")
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .send()
        .await
        .expect("token");
    let token = expect_json(resp, StatusCode::OK, "POST /v1/auth/token").await;
    let token = token["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();

    // From here on the harness speaks with the service account's token.
    let admin = std::mem::replace(&mut server.token, token);
    let bytes = pseudo_random_bytes(3, 4096);
    server
        .publish("releases", "app-cli", "1.0.0", "app.bin", &bytes)
        .await;
    assert_eq!(
        server
            .download("releases", "app-cli", "1.0.0", "app.bin")
            .await,
        bytes
    );
    let denied = |path: &str, body: Value| server.api(Method::POST, path).json(&body).send();
    let upload = |pkg: &str| json!({"package": pkg, "version": "1.0.0", "filename": "x.bin", "size": 1, "sha256": "a".repeat(64)});
    let resp = denied("/v1/repositories/releases/uploads", upload("other-lib"))
        .await
        .expect("send");
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "a package outside the grant does not exist for it"
    );
    let resp = denied("/v1/repositories/private/uploads", upload("app-x"))
        .await
        .expect("send");
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "another repository does not exist for it"
    );
    let resp = denied(
        "/v1/repositories",
        json!({"name": "mine", "format": "generic"}),
    )
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (status, list) = server.get_json("/v1/repositories").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("releases")],
        "lists show only what it may read"
    );
    server.token = admin;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_logins_are_limited_per_address() {
    let server = TestServer::start_with_env(&[("TROVE_AUTH_FAILURE_BURST", "3")]).await;
    let wrong = format!("{}x", &server.token[..server.token.len() - 1]);
    for i in 0..3 {
        let resp = server
            .anon(Method::GET, "/v1/me")
            .header(AUTHORIZATION, format!("Bearer {wrong}"))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let resp = server
        .anon(Method::GET, "/v1/me")
        .header(AUTHORIZATION, format!("Bearer {wrong}"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()[RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry >= 1, "{retry}");
    // Failures from the address stay refused for a while; the admin behind the same
    // address, presenting a valid key, is still served.
    let resp = server
        .anon(Method::GET, "/v1/me")
        .header(AUTHORIZATION, "Bearer trove_guess")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let resp = server
        .api(Method::GET, "/v1/me")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_admin_restores_a_tenant_whose_last_admin_key_is_gone() {
    let mut server = TestServer::start().await;
    // The API refuses to revoke the last admin key...
    let me = server.get_ok("/v1/me").await;
    let own_key = me["credential"]["id"].as_str().expect("key id").to_owned();
    let resp = server
        .api(Method::DELETE, &format!("/v1/api-keys/{own_key}"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    // ...so a lost key is what locks a tenant out; the operator, on the machine, recovers.
    server.token = "trove_lost".into();
    server.kill9();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(["admin", "reset-admin", "--tenant", "default", "--data-dir"])
        .arg(server.data_dir())
        .env_remove("TROVE_DATA_DIR")
        .output()
        .expect("run trove admin reset-admin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "reset-admin failed: {stderr}");
    let reset: Value = serde_json::from_slice(&out.stdout).expect("reset-admin prints JSON");
    server.restart().await;
    server.token = reset["api_key"].as_str().expect("api_key").to_owned();
    let me = server.get_ok("/v1/me").await;
    assert_eq!(me["principal"], reset["principal"]);
    admin_post(
        &server,
        "/v1/service-accounts",
        json!({"name": "new-admin"}),
    )
    .await;
    // An unknown tenant or a folder without data is refused with a reason.
    for (args, says) in [
        (vec!["--tenant", "nope"], "not found"),
        (vec!["--tenant", "Bad Name"], "invalid tenant"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_trove"))
            .args(["admin", "reset-admin", "--data-dir"])
            .arg(server.data_dir())
            .args(&args)
            .env_remove("TROVE_DATA_DIR")
            .output()
            .expect("run trove admin reset-admin");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(says),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_trail_names_actor_address_and_request() {
    let server = TestServer::start().await;
    let resp = server
        .api(Method::POST, "/v1/repositories")
        .header("x-request-id", "e2e-audit-1")
        .json(&json!({"name": "audited", "format": "generic"}))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let me = server.get_ok("/v1/me").await;
    let trail = server.get_ok("/v1/audit?action=repository.create").await;
    let records = trail["items"].as_array().expect("items");
    assert_eq!(records.len(), 1, "{trail}");
    let rec = &records[0];
    assert_eq!(rec["actor"], me["principal"]);
    assert_eq!(rec["target"], "repository/audited");
    assert_eq!(rec["source_ip"], "127.0.0.1");
    assert_eq!(rec["request_id"], "e2e-audit-1");
    assert_eq!(rec["outcome"], "success");
    // An email reaches the admin who asks, and never the log.
    let user = admin_post(
        &server,
        "/v1/users",
        json!({"name": "alice", "email": "alice.secret@example.com"}),
    )
    .await;
    assert_eq!(user["email"], "alice.secret@example.com");
    let resp = server
        .api(Method::POST, "/v1/users")
        .json(&json!({"name": "bob", "email": "bob.secret@@example"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let log = server.log();
    assert!(!log.contains("secret@"), "an email reached the log");
    // No route edits the trail.
    for method in [Method::PUT, Method::DELETE, Method::PATCH, Method::POST] {
        let resp = server
            .api(method.clone(), "/v1/audit")
            .send()
            .await
            .expect("send");
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} /v1/audit"
        );
    }
}
