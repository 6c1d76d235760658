//! A bounded, deterministic fuzz loop over every route the OpenAPI document lists (and paths
//! it does not): garbage paths, queries, headers and bodies never get a 5xx, every error is
//! problem+json (or the shape npm's or cargo's client reads on their routes), and the server
//! keeps serving.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{
    Rng, TestServer, check_problem_body, encode_query, header_str, pseudo_random_bytes, sha256_hex,
};

const ROUNDS: usize = 1500;

fn garbage_segment(rng: &mut Rng) -> String {
    let choices: &[&str] = &[
        "v1",
        "repositories",
        "fuzz",
        "packages",
        "pkg",
        "versions",
        "1.0.0",
        "files",
        "f.bin",
        "uploads",
        "blobs",
        "..",
        ".",
        "%2e%2e",
        "%2F",
        "%00",
        "%ff%fe",
        "%",
        "{repo}",
        "\u{e9}t\u{e9}",
        "a#b",
        "UPPER",
        "-x",
        "",
        "01arz3ndektsv4rrffq69g5fav",
        "healthz",
        "openapi.json",
    ];
    match rng.below(10) {
        0 => "z".repeat(1 + rng.below(2000)),
        1 => encode_query(&String::from_utf8_lossy(&pseudo_random_bytes(
            rng.next_u64(),
            1 + rng.below(40),
        ))),
        _ => (*rng.pick(choices)).to_owned(),
    }
}

fn garbage_query(rng: &mut Rng) -> String {
    let choices: &[&str] = &[
        "limit=-1",
        "limit=0",
        "limit=abc",
        "limit=99999999999999999999",
        "limit=1000000",
        "cursor=garbage",
        "cursor=%ff",
        "cursor=eyJ4IjoxfQ",
        "prefix=%00",
        "prefix=..%2F",
        "redirect=maybe",
        "redirect=false",
        "X-Trove-Expires=1",
        "X-Trove-Signature=abc",
        "a=b&a=c",
        "&&&",
        "=",
    ];
    let n = rng.below(3);
    (0..n)
        .map(|_| (*rng.pick(choices)).to_owned())
        .collect::<Vec<_>>()
        .join("&")
}

fn garbage_body(rng: &mut Rng) -> (Option<&'static str>, Vec<u8>) {
    let content_types: &[Option<&'static str>] = &[
        Some("application/json"),
        Some("application/json"),
        Some("text/plain"),
        Some("application/octet-stream"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json; charset=utf-16"),
        None,
    ];
    let ct = *rng.pick(content_types);
    let body = match rng.below(12) {
        0 => Vec::new(),
        1 => pseudo_random_bytes(rng.next_u64(), rng.below(4096)),
        2 => b"{".repeat(1 + rng.below(5000)),
        3 => "[".repeat(3000).into_bytes(),
        4 => json!({"name": 1e308, "format": [null], "description": {"a": true}})
            .to_string()
            .into_bytes(),
        5 => json!({"package": "p", "version": "1", "filename": "f", "size": -9_223_372_036_854_775_807_i64, "sha256": "0"}).to_string().into_bytes(),
        6 => json!({"package": "p", "version": "1", "filename": "f", "size": 18_446_744_073_709_551_615_u64, "sha256": "a".repeat(64)}).to_string().into_bytes(),
        7 => json!({"name": "fuzz2", "format": "generic", "extra": "x".repeat(1000)})
            .to_string()
            .into_bytes(),
        8 => b"\xff\xfe\x00{\"name\":\"x\"}".to_vec(),
        9 => json!({"package": "\u{0000}", "version": "\u{202e}", "filename": "a\nb", "size": 1, "sha256": "a".repeat(64)}).to_string().into_bytes(),
        10 => "x".repeat(70 * 1024).into_bytes(),
        _ => b"null".to_vec(),
    };
    (ct, body)
}

/// Every route of the OpenAPI document with its methods, so a new route is fuzzed the day
/// it is documented.
fn documented_routes(doc: &Value) -> Vec<(String, Vec<Method>)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item")
                .keys()
                .filter_map(|m| Method::from_bytes(m.to_uppercase().as_bytes()).ok())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// The known value for a path parameter of `template`: what exists on the server.
fn known_value<'a>(template: &str, param: &str, upload_id: &'a str) -> Option<&'a str> {
    Some(match param {
        "tenant" => "default",
        "repo" if template.starts_with("/pypi/") => "py",
        "repo" if template.starts_with("/npm/") => "js",
        "repo" if template.starts_with("/cargo/") => "rs",
        "repo" => "fuzz",
        "upload_id" => upload_id,
        "package" => "keeper",
        "version" => "1.0.0",
        "filename" => "f.bin",
        _ => return None,
    })
}

/// Requests that would take away what the rest of the run stands on: the admin's tenant,
/// the tenant's policy (an allow-list without loopback refuses everything after), the
/// repository and the version the end of the test downloads.
fn spares_the_ground(method: &Method, path: &str) -> bool {
    let destructive = *method == Method::DELETE || *method == Method::PATCH;
    !(path.starts_with("/v1/policy") && *method == Method::PUT
        || path.starts_with("/v1/tenants/") && destructive
        || path == "/v1/repositories/fuzz" && destructive
        || path.contains("/keeper/") && *method == Method::DELETE)
}

/// A 4xx answer in the shape its client reads: npm's `{"error"}`, cargo's
/// `{"errors": [{"detail"}]}`, problem+json everywhere else.
fn check_error_body(
    path: &str,
    status: StatusCode,
    content_type: &str,
    body: &[u8],
) -> Result<(), String> {
    let client_json = || -> Result<Value, String> {
        serde_json::from_slice(body).map_err(|e| format!("{status}: body is not JSON: {e}"))
    };
    if path.starts_with("/npm/") {
        let v = client_json()?;
        return v["error"]
            .is_string()
            .then_some(())
            .ok_or(format!("{status}: no npm error: {v}"));
    }
    if path.starts_with("/cargo/") {
        let v = client_json()?;
        return v["errors"][0]["detail"]
            .is_string()
            .then_some(())
            .ok_or(format!("{status}: no cargo error: {v}"));
    }
    check_problem_body(status, content_type, body).map(|_| ())
}

/// A random JSON value of an awkward kind.
fn garbage_json(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(1e300),
        4 => json!(u64::MAX),
        5 => json!([1, "two", null]),
        6 => json!({"nested": {"deeper": []}}),
        7 => json!(""),
        8 => json!("x".repeat(rng.below(3000))),
        _ => json!(String::from_utf8_lossy(&pseudo_random_bytes(
            rng.next_u64(),
            20
        ))),
    }
}

/// A valid request body for the route, with one field broken, dropped or added (or not).
fn mutated_body(rng: &mut Rng, route: &str, upload_id: &str) -> Option<Value> {
    let mut body = if route.ends_with("/uploads") {
        json!({
            "package": format!("fz{}", rng.below(5)),
            "version": format!("1.{}", rng.below(5)),
            "filename": "f.bin",
            "size": 1 + rng.below(100),
            "sha256": sha256_hex(upload_id.as_bytes()),
        })
    } else if route == "/v1/repositories" {
        json!({"name": format!("fz{}", rng.below(5)), "format": "generic", "description": "d"})
    } else {
        return None;
    };
    let obj = body.as_object_mut().expect("object body");
    let keys: Vec<String> = obj.keys().cloned().collect();
    match rng.below(4) {
        0 => {
            let key = rng.pick(&keys).clone();
            obj.insert(key, garbage_json(rng));
        }
        1 => {
            let key = rng.pick(&keys).clone();
            obj.remove(&key);
        }
        2 => {
            obj.insert("unexpected".into(), garbage_json(rng));
        }
        _ => {}
    }
    Some(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fuzzed_requests_never_get_a_5xx() {
    let server = TestServer::start().await;
    server.create_repo("fuzz").await;
    server
        .publish("fuzz", "keeper", "1.0.0", "f.bin", b"fuzz target")
        .await;
    let ticket = server
        .request_upload("fuzz", "pkg", "2.0.0", "f.bin", b"pending bytes")
        .await;
    let upload_url = server.resolve(ticket["url"].as_str().expect("url"));
    let upload_id = ticket["upload_id"].as_str().expect("upload_id").to_owned();
    for (name, format) in [("py", "pypi"), ("js", "npm"), ("rs", "cargo")] {
        server.create_repo_of(name, format).await;
    }
    let routes = documented_routes(&server.get_ok("/openapi.json").await);
    assert!(routes.len() > 40, "{} documented routes", routes.len());

    let methods = [
        Method::GET,
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ];
    // A fresh connection per request: a server may close a keep-alive connection after
    // answering without reading a garbage body, and a reused pooled connection would then
    // fail on the client side for a reason that is not the request's.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("build fuzz client");
    let mut rng = Rng::new(0x51ed);
    let mut server_errors = Vec::new();
    let mut not_problem = Vec::new();
    let mut histogram = std::collections::BTreeMap::<u16, usize>::new();

    for round in 0..ROUNDS {
        let mut json_body = None;
        let (method, url) = if rng.chance(15) {
            // The blob endpoint: its path with garbage queries.
            let mut u = upload_url.clone();
            if rng.chance(50) {
                u.set_query(Some(&garbage_query(&mut rng)));
            }
            if rng.chance(30) {
                let p = format!("{}{}", u.path(), garbage_segment(&mut rng));
                u.set_path(&p);
            }
            (rng.pick(&methods).clone(), u.to_string())
        } else if rng.chance(15) {
            // Anything at all.
            let depth = 1 + rng.below(9);
            let mut path = String::new();
            for i in 0..depth {
                path.push('/');
                path.push_str(&match i {
                    0 if rng.chance(80) => "v1".to_owned(),
                    1 if rng.chance(80) => "repositories".to_owned(),
                    2 if rng.chance(60) => "fuzz".to_owned(),
                    _ => garbage_segment(&mut rng),
                });
            }
            (rng.pick(&methods).clone(), server.url(&path))
        } else {
            // A documented route, holes filled with known values or garbage.
            let (template, route_methods) = rng.pick(&routes);
            let mut path = String::new();
            for segment in template.split('/').skip(1) {
                path.push('/');
                let param = segment.strip_prefix('{').and_then(|p| p.strip_suffix('}'));
                match param {
                    None => path.push_str(segment),
                    Some(name) => match known_value(template, name, &upload_id) {
                        Some(known) if rng.chance(60) => path.push_str(known),
                        _ => path.push_str(&garbage_segment(&mut rng)),
                    },
                }
            }
            let method = if rng.chance(75) {
                rng.pick(route_methods).clone()
            } else {
                rng.pick(&methods).clone()
            };
            if method == Method::POST && rng.chance(70) {
                json_body = mutated_body(&mut rng, template, &upload_id);
            }
            (method, server.url(&path))
        };
        let path = url.strip_prefix(&server.base).unwrap_or(&url);
        if !spares_the_ground(&method, path) {
            continue;
        }
        let query = garbage_query(&mut rng);
        let url = if query.is_empty() || url.contains('?') {
            url
        } else {
            format!("{url}?{query}")
        };
        let mut req = if rng.chance(85) {
            client
                .request(method.clone(), &url)
                .bearer_auth(&server.token)
        } else {
            client.request(method.clone(), &url)
        };
        if let Some(body) = json_body {
            req = req.json(&body);
        } else if method != Method::GET && method != Method::HEAD && rng.chance(80) {
            let (ct, body) = garbage_body(&mut rng);
            if let Some(ct) = ct {
                req = req.header(CONTENT_TYPE, ct);
            }
            req = req.body(body);
        }
        if rng.chance(10) {
            req = req.header("X-Trove-Sha256", "not-a-digest");
        }
        let resp = match req.send().await {
            Ok(r) => r,
            // A URL the client itself refuses to send is not the server's fault.
            Err(e) if e.is_builder() => continue,
            Err(e) => {
                let health = server
                    .client
                    .get(server.url("/healthz"))
                    .send()
                    .await
                    .map(|r| r.status());
                panic!(
                    "round {round}: {method} {url}: transport error {e:?}; /healthz after: {health:?}; log:\n{}",
                    server.log()
                )
            }
        };
        let status = resp.status();
        // The path as sent: the client resolves `..` and `.` segments.
        let answered_path = resp.url().path().to_owned();
        *histogram.entry(status.as_u16()).or_default() += 1;
        let content_type = header_str(&resp, CONTENT_TYPE);
        let body = resp.bytes().await.unwrap_or_default();
        if status.is_server_error() {
            server_errors.push(format!(
                "{method} {url} -> {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
        } else if status.is_client_error() && method != Method::HEAD {
            let checked = check_error_body(&answered_path, status, &content_type, &body);
            if let Err(e) = checked {
                not_problem.push(format!("{method} {url} -> {e}"));
            }
        }
    }

    eprintln!("fuzz statuses: {histogram:?}");
    assert!(
        server_errors.is_empty(),
        "{} fuzzed requests got a 5xx:\n{}",
        server_errors.len(),
        server_errors.join("\n")
    );
    assert!(
        not_problem.is_empty(),
        "{} fuzzed 4xx answers were not problem+json:\n{}",
        not_problem.len(),
        not_problem.join("\n")
    );

    // Still serving, nothing lost.
    let (code, _) = server.get_json("/healthz").await;
    assert_eq!(code, StatusCode::OK);
    let got = server.download("fuzz", "keeper", "1.0.0", "f.bin").await;
    assert_eq!(got, b"fuzz target");
}
