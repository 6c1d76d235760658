//! Authentication: every API route wants a credential; health and the OpenAPI document do not.

use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TestServer, assert_problem, pseudo_random_bytes};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auth_required_on_api_routes() {
    // Every bad credential below is a failed login from 127.0.0.1: lift that limit here
    // (`access::failed_logins_are_limited` tests it).
    let server = TestServer::start_with_env(&[("TROVE_AUTH_FAILURE_BURST", "1000")]).await;

    // The admin key: a 0600 file, printed once on stderr at first start.
    let token_path = server.data_dir().join("admin-token");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_path)
            .expect("admin-token exists")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "admin-token mode is {:o}",
            mode & 0o777
        );
    }
    assert!(
        server.log().contains(&server.token),
        "the admin key was not printed on first start"
    );

    // Something real to point at.
    server.create_repo("authrepo").await;
    let bytes = pseudo_random_bytes(7, 256);
    server
        .publish("authrepo", "pkg", "1.0.0", "f.bin", &bytes)
        .await;
    let ticket = server
        .request_upload("authrepo", "pkg", "2.0.0", "f.bin", &bytes)
        .await;
    let upload_id = ticket["upload_id"].as_str().expect("upload_id");

    let upload_body = json!({
        "package": "pkg", "version": "3.0.0", "filename": "f.bin",
        "size": 256, "sha256": crate::harness::sha256_hex(&bytes),
    });
    let routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, "/v1/repositories".into(), None),
        (
            Method::POST,
            "/v1/repositories".into(),
            Some(json!({"name": "sneaky", "format": "generic"})),
        ),
        (Method::GET, "/v1/repositories/authrepo".into(), None),
        (Method::GET, "/v1/repositories/does-not-exist".into(), None),
        (
            Method::POST,
            "/v1/repositories/authrepo/uploads".into(),
            Some(upload_body),
        ),
        (
            Method::GET,
            format!("/v1/repositories/authrepo/uploads/{upload_id}"),
            None,
        ),
        (
            Method::GET,
            "/v1/repositories/authrepo/packages".into(),
            None,
        ),
        (
            Method::GET,
            "/v1/repositories/authrepo/packages/pkg".into(),
            None,
        ),
        (
            Method::GET,
            "/v1/repositories/authrepo/packages/pkg/versions".into(),
            None,
        ),
        (
            Method::GET,
            "/v1/repositories/authrepo/packages/pkg/versions/1.0.0".into(),
            None,
        ),
        (
            Method::GET,
            "/v1/repositories/authrepo/packages/pkg/versions/1.0.0/files/f.bin".into(),
            None,
        ),
        (
            Method::DELETE,
            "/v1/repositories/authrepo/packages/pkg/versions/1.0.0".into(),
            None,
        ),
    ];

    let mut wrong_key = server.token.clone();
    let last = wrong_key.pop().expect("token is not empty");
    wrong_key.push(if last == 'A' { 'B' } else { 'A' });
    let bad_headers: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("wrong key", Some(format!("Bearer {wrong_key}"))),
        ("garbage key", Some("Bearer not-a-key".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("basic scheme", Some(format!("Basic {}", server.token))),
        ("bare key", Some(server.token.clone())),
    ];

    for (method, path, body) in &routes {
        for (label, header) in &bad_headers {
            let mut req = server.anon(method.clone(), path);
            if let Some(h) = header {
                req = req.header(AUTHORIZATION, h);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.expect("send unauthenticated request");
            assert_problem(resp, &[401], &format!("{method} {path} with {label}")).await;
        }
    }

    // Nothing above had an effect.
    let (code, _) = server.get_json("/v1/repositories/sneaky").await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "unauthenticated create took effect"
    );
    let version = server
        .get_ok("/v1/repositories/authrepo/packages/pkg/versions/1.0.0")
        .await;
    assert_eq!(
        version["status"], "published",
        "unauthenticated delete took effect"
    );

    // With the key, the same routes are not 401.
    let (code, _) = server.get_json("/v1/repositories").await;
    assert_eq!(code, StatusCode::OK);

    // Open routes.
    for path in ["/healthz", "/openapi.json"] {
        let resp = server
            .anon(Method::GET, path)
            .send()
            .await
            .expect("GET open route");
        assert_eq!(resp.status(), StatusCode::OK, "{path} without a key");
        let resp = server
            .anon(Method::GET, path)
            .header(AUTHORIZATION, "Bearer wrong")
            .send()
            .await
            .expect("GET open route with a wrong key");
        assert_eq!(resp.status(), StatusCode::OK, "{path} with a wrong key");
    }
}
