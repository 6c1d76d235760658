//! Hostile input at the edge: ids and strings of any length or alphabet in paths, queries
//! and bodies are answered 400/404 before they reach a key, and what comes back quotes
//! them short and escaped. The OpenAPI document states every limit it enforces.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::app::TestApp;
use trove_core::http::problem::{CONTENT_TYPE, MAX_DETAIL_CHARS};

/// Path parameters that hold names (validated by `domain::names`: 400) or a date (400);
/// every other path parameter is an id, and an id of the wrong shape names nothing (404).
const NAME_PARAMS: &[&str] = &["repo", "package", "version", "filename", "date"];

fn benign(param: &str) -> &'static str {
    match param {
        "repo" => "libs",
        "package" => "widget",
        "version" => "1.0.0",
        "filename" => "widget-1.0.0.tar.gz",
        "date" => "2026-01-01",
        _ => "x",
    }
}

fn params_of(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(p, _)| p.to_owned()))
        .collect()
}

fn method_of(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("a method")
}

/// The detail is bounded and carries no raw control or bidi character.
fn assert_safe_detail(body: &Value, what: &str) {
    // npm's routes answer `{"error": …}` and cargo's `{"errors": [{"detail": …}]}`, what
    // those clients print (`http::routes::client_pages::client_errors`).
    let detail = body["detail"]
        .as_str()
        .or(body["error"].as_str())
        .or(body["errors"][0]["detail"].as_str())
        .unwrap_or_default();
    assert!(
        detail.chars().count() <= MAX_DETAIL_CHARS + 1,
        "{what}: a detail of {} characters",
        detail.chars().count()
    );
    assert!(
        !detail
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202E}')),
        "{what}: raw control characters in {detail:?}"
    );
}

async fn with_repo() -> TestApp {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&admin),
            Some(json!({"name": "libs", "format": "generic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app
}

#[tokio::test]
async fn every_path_parameter_of_2_kb_is_a_problem_never_a_500() {
    let app = with_repo().await;
    let admin = app.admin.clone();
    let long = "a".repeat(2048);
    for route in trove_core::http::route_table() {
        for param in params_of(&route.path) {
            let mut uri = route.path.clone();
            for other in params_of(&route.path) {
                let value = if other == param {
                    long.as_str()
                } else {
                    benign(&other)
                };
                uri = uri.replace(&format!("{{{other}}}"), value);
            }
            let body = matches!(route.method.as_str(), "POST" | "PUT" | "PATCH").then(|| json!({}));
            let (status, ctype, answer) = app
                .call(method_of(&route.method), &uri, Some(&admin), body)
                .await;
            let what = format!("{} {} with a 2 KB {param}", route.method, route.path);
            assert!(!status.is_server_error(), "{what}: {status} {answer}");
            let shape = if route.path.starts_with("/npm/") {
                assert!(answer["error"].is_string(), "{what}: {answer}");
                "application/json"
            } else if route.path.starts_with("/cargo/") {
                assert!(
                    answer["errors"][0]["detail"].is_string(),
                    "{what}: {answer}"
                );
                "application/json"
            } else {
                CONTENT_TYPE
            };
            assert_eq!(ctype, shape, "{what}: {status}");
            let expected: &[StatusCode] = if NAME_PARAMS.contains(&param.as_str()) {
                &[StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND]
            } else {
                &[StatusCode::NOT_FOUND]
            };
            assert!(expected.contains(&status), "{what}: {status} {answer}");
            assert_safe_detail(&answer, &what);
        }
    }
}

#[tokio::test]
async fn a_1_kb_webhook_id_and_a_2_kb_api_key_id_are_404_problems() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let webhook = format!("wh_{}", "0".repeat(1024));
    let key = "0".repeat(2048);
    for (method, uri) in [
        (Method::GET, format!("/v1/webhooks/{webhook}")),
        (Method::DELETE, format!("/v1/webhooks/{webhook}")),
        (Method::POST, format!("/v1/webhooks/{webhook}/ping")),
        (
            Method::POST,
            format!("/v1/webhooks/{webhook}/deliveries/{key}/redeliver"),
        ),
        (Method::DELETE, format!("/v1/api-keys/{key}")),
    ] {
        let (status, ctype, body) = app.call(method.clone(), &uri, Some(&admin), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}: {body}");
        assert_eq!(ctype, CONTENT_TYPE);
        // npm's routes answer `{"error": …}`, what npm prints (`http::routes::npm`).
        let detail = body["detail"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or_default();
        assert!(detail.starts_with("no such "), "{detail}");
        assert!(detail.len() < 100, "{detail}");
    }
}

#[tokio::test]
async fn a_60_kb_upload_id_with_line_breaks_nul_and_rlm_comes_back_short_and_escaped() {
    let app = with_repo().await;
    let admin = app.admin.clone();
    let hostile = format!("%0D%0Ainjected%00%E2%80%8F{}", "y".repeat(60 * 1024));
    let uri = format!("/v1/repositories/libs/uploads/{hostile}");
    let (status, ctype, body) = app.call(Method::GET, &uri, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(ctype, CONTENT_TYPE);
    let detail = body["detail"].as_str().expect("a detail");
    assert!(detail.chars().count() < 120, "{detail}");
    assert!(
        detail.contains("\\u{d}\\u{a}injected\\u{0}\\u{200f}"),
        "{detail}"
    );
    assert_safe_detail(&body, "upload id");
}

#[tokio::test]
async fn a_refused_name_is_echoed_short_and_escaped() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let name = format!("bad\r\nname\u{202E}{}", "z".repeat(10_000));
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&admin),
            Some(json!({"name": name, "format": "generic"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_safe_detail(&body, "repository name");
    assert!(body["detail"].as_str().unwrap_or_default().len() < 300);
}

#[tokio::test]
async fn a_30000_character_oidc_issuer_is_refused_naming_the_field_and_limit() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let issuer = format!("https://{}.example.com", "a".repeat(30_000));
    let (status, ctype, body) = app
        .call(
            Method::POST,
            "/v1/oidc-providers",
            Some(&admin),
            Some(json!({"issuer": issuer, "audience": "trove", "rules": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(ctype, CONTENT_TYPE);
    // npm's routes answer `{"error": …}` and cargo's `{"errors": [{"detail": …}]}`, what
    // those clients print (`http::routes::client_pages::client_errors`).
    let detail = body["detail"]
        .as_str()
        .or(body["error"].as_str())
        .or(body["errors"][0]["detail"].as_str())
        .unwrap_or_default();
    assert!(
        detail.contains("issuer") && detail.contains("1024"),
        "{detail}"
    );
}

#[tokio::test]
async fn body_fields_over_their_limit_are_400_naming_the_field() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let long = "a".repeat(2048);
    let cases = [
        (
            "/v1/grants",
            json!({"principal": long, "role": "reader"}),
            "principal",
        ),
        ("/v1/api-keys", json!({"owner": long, "name": "k"}), "owner"),
        ("/v1/api-keys", json!({"name": long}), "name"),
        (
            "/v1/webhooks",
            json!({"url": "https://example.com/", "events": [long]}),
            "events",
        ),
        (
            "/v1/webhooks",
            json!({"url": "https://example.com/", "events": vec!["package.published"; 100]}),
            "events",
        ),
        (
            "/v1/oidc-providers",
            json!({"issuer": "https://i.example.com", "audience": "a",
                   "rules": [{"claims": {long.clone(): "v"}, "principal": "sa_x"}]}),
            "rules[0].claims",
        ),
        ("/v1/tenants", json!({"name": long}), "name"),
    ];
    for (uri, body, field) in cases {
        let (status, ctype, answer) = app.call(Method::POST, uri, Some(&admin), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} {field}: {answer}");
        assert_eq!(ctype, CONTENT_TYPE);
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(field), "{uri} {field}: {detail}");
    }
    let (status, _, answer) = app
        .call(
            Method::PUT,
            "/v1/policy",
            Some(&admin),
            Some(json!({"network": {"allow": [long]}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
}

#[tokio::test]
async fn long_cursors_and_filters_are_400_before_any_query() {
    let app = with_repo().await;
    let admin = app.admin.clone();
    let long = "a".repeat(4096);
    for uri in [
        format!("/v1/repositories?cursor={long}"),
        format!("/v1/audit?actor={long}"),
        format!("/v1/audit?action={long}"),
        format!("/v1/grants?principal={long}"),
        format!("/v1/repositories/libs/packages?prefix={long}"),
        format!("/v1/webhooks?cursor={long}"),
    ] {
        let (status, ctype, body) = app.call(Method::GET, &uri, Some(&admin), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {body}", &uri[..40]);
        assert_eq!(ctype, CONTENT_TYPE);
        assert_safe_detail(&body, "query");
    }
}

/// The document as JSON, and the schema a `$ref` names.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn has_type(schema: &Value, ty: &str) -> bool {
    match &schema["type"] {
        Value::String(t) => t == ty,
        Value::Array(ts) => ts.iter().any(|t| t == ty),
        _ => false,
    }
}

/// Every string, list and map under `schema` that states no bound.
fn unbounded(doc: &Value, schema: &Value, at: &str, depth: usize, out: &mut Vec<String>) {
    if depth > 16 {
        return;
    }
    let schema = resolve(doc, schema);
    for union in ["oneOf", "anyOf", "allOf"] {
        if let Some(variants) = schema[union].as_array() {
            for v in variants {
                unbounded(doc, v, at, depth + 1, out);
            }
        }
    }
    if has_type(schema, "string")
        && schema.get("maxLength").is_none()
        && schema.get("enum").is_none()
        && schema.get("const").is_none()
    {
        out.push(format!("{at}: a string without maxLength"));
    }
    if has_type(schema, "array") {
        if schema.get("maxItems").is_none() {
            out.push(format!("{at}: a list without maxItems"));
        }
        unbounded(doc, &schema["items"], &format!("{at}[]"), depth + 1, out);
    }
    if let Some(props) = schema["properties"].as_object() {
        for (name, prop) in props {
            unbounded(doc, prop, &format!("{at}.{name}"), depth + 1, out);
        }
    }
    if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        if schema.get("maxProperties").is_none() {
            out.push(format!("{at}: a map without maxProperties"));
        }
        if schema["propertyNames"].get("maxLength").is_none() {
            out.push(format!("{at}: a map whose keys have no maxLength"));
        }
        unbounded(doc, extra, &format!("{at}{{}}"), depth + 1, out);
    }
}

#[test]
fn every_request_string_list_and_map_in_the_openapi_document_states_its_limit() {
    let doc = serde_json::to_value(trove_core::http::openapi()).expect("document as JSON");
    let mut out = Vec::new();
    let mut bodies = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let route = format!("{} {path}", method.to_uppercase());
            for param in op["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().unwrap_or_default();
                let at = format!("{route} parameter {name}");
                unbounded(&doc, &param["schema"], &at, 0, &mut out);
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for media in content.values() {
                    bodies += 1;
                    unbounded(
                        &doc,
                        &media["schema"],
                        &format!("{route} body"),
                        0,
                        &mut out,
                    );
                }
            }
        }
    }
    assert!(bodies >= 13, "the walk found only {bodies} request bodies");
    assert!(
        out.is_empty(),
        "unbounded request input:\n{}",
        out.join("\n")
    );
}

#[test]
fn the_limit_walk_sees_fields_inside_optional_and_nested_schemas() {
    use utoipa::PartialSchema as _;
    let doc = trove_core::http::openapi();
    let long = "a".repeat(300);
    let grant = json!({"principal": "user_x", "role": "reader", "scope": {"repository": long}});
    let err = trove_core::http::limits::check(
        &grant,
        &trove_core::services::access::grants::CreateGrant::schema(),
        &doc,
    )
    .expect_err("over the limit");
    assert!(
        err.contains("scope.repository") && err.contains("64"),
        "{err}"
    );
    let fine = json!({"principal": "user_x", "role": "reader"});
    assert!(
        trove_core::http::limits::check(
            &fine,
            &trove_core::services::access::grants::CreateGrant::schema(),
            &doc
        )
        .is_ok()
    );
}
