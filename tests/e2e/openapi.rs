//! The OpenAPI document lists every route.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};

use crate::harness::TestServer;

/// `/a/{x}/b/{y}` → `/a/{}/b/{}`, so parameter names may differ.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openapi_document_lists_every_route() {
    let server = TestServer::start().await;
    let resp = server
        .anon(Method::GET, "/openapi.json")
        .send()
        .await
        .expect("GET /openapi.json");
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: serde_json::Value = resp.json().await.expect("openapi.json is JSON");

    let version = doc["openapi"].as_str().expect("\"openapi\" is a string");
    assert!(version.starts_with("3.1"), "openapi version {version}");
    assert!(doc["info"]["title"].is_string(), "info.title");

    let paths = doc["paths"].as_object().expect("paths is an object");
    let by_shape: BTreeMap<String, Vec<String>> = paths
        .iter()
        .map(|(p, item)| {
            let methods = item
                .as_object()
                .map(|o| o.keys().map(|k| k.to_lowercase()).collect())
                .unwrap_or_default();
            (shape(p), methods)
        })
        .collect();

    let r = "/v1/repositories";
    let v = "/v1/repositories/{}/packages/{}/versions/{}";
    let expected: Vec<(String, &[&str])> = vec![
        ("/healthz".into(), &["get"]),
        (r.into(), &["get", "post"]),
        (format!("{r}/{{}}"), &["get"]),
        (format!("{r}/{{}}/retention"), &["put"]),
        (format!("{r}/{{}}/scan-policy"), &["put"]),
        (format!("{r}/{{}}/uploads"), &["post"]),
        (format!("{r}/{{}}/uploads/{{}}"), &["get"]),
        (format!("{r}/{{}}/packages"), &["get"]),
        (format!("{r}/{{}}/packages/{{}}"), &["get"]),
        (format!("{r}/{{}}/packages/{{}}/versions"), &["get"]),
        (v.into(), &["get", "delete"]),
        (format!("{v}/pin"), &["put", "delete"]),
        (format!("{v}/files/{{}}"), &["get"]),
    ];
    let mut missing = Vec::new();
    for (path, methods) in &expected {
        match by_shape.get(path) {
            None => missing.push(format!("{path} (absent)")),
            Some(have) => {
                for m in *methods {
                    if !have.iter().any(|h| h == m) {
                        missing.push(format!("{} {path}", m.to_uppercase()));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "openapi.json lacks: {missing:?}; it has: {:?}",
        by_shape.keys().collect::<Vec<_>>()
    );
}
