//! PyPI repositories in-process: twine's upload form through the whole pipeline, the simple
//! index in both forms, normalisation, ETags, file links, refusals with their reasons, and
//! who may do what.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt as _;
use trove_testkit::archives::fixtures::{PythonProject, eicar};

use super::app::TestApp;
use trove_core::domain::audit_action::AuditAction;

const JSON: &str = "application/vnd.pypi.simple.v1+json";

fn project<'a>(version: &'a str, files: &'a [(&'a str, &'a [u8])]) -> PythonProject<'a> {
    PythonProject {
        dist: "foo_bar",
        name: "Foo.Bar",
        version,
        extra_metadata: "Requires-Python: >=3.8\n",
        files,
    }
}

const MODULE: &[(&str, &[u8])] = &[("foo_bar/__init__.py", b"ANSWER = 42\n")];

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    reason: Option<String>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: header::HeaderName) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

fn basic(key: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("__token__:{key}"));
    format!("Basic {token}")
}

async fn send(app: &TestApp, req: Request<Body>) -> Answer {
    let res = app.router.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let reason = res
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
    let body = res
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
        reason,
    }
}

async fn get(app: &TestApp, uri: &str, auth: Option<&str>, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::get(uri);
    if let Some(auth) = auth {
        req = req.header(header::AUTHORIZATION, auth);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(app, req.body(Body::empty()).expect("request")).await
}

const BOUNDARY: &str = "----trove-test-boundary";

/// twine's form: the fields, then the file last.
pub(crate) fn form(fields: &[(&str, &str)], filename: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = BOUNDARY;
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload_form(app: &TestApp, repo: &str, auth: &str, ctype: &str, body: Vec<u8>) -> Answer {
    let req = Request::post(format!("/pypi/default/{repo}/legacy/"))
        .header(header::AUTHORIZATION, auth)
        .header(header::CONTENT_TYPE, ctype)
        .body(Body::from(body))
        .expect("request");
    send(app, req).await
}

async fn twine(
    app: &TestApp,
    repo: &str,
    auth: &str,
    name: &str,
    version: &str,
    filename: &str,
    bytes: &[u8],
) -> Answer {
    let sha = hex::encode(Sha256::digest(bytes));
    let fields = [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("name", name),
        ("version", version),
        ("description", "a long README that the upload skips"),
        ("sha256_digest", sha.as_str()),
    ];
    let (ctype, body) = form(&fields, filename, bytes);
    upload_form(app, repo, auth, &ctype, body).await
}

async fn pypi_repo(app: &TestApp, name: &str, max_file_size: Option<u64>) {
    let mut body = json!({"name": name, "format": "pypi"});
    if let Some(max) = max_file_size {
        body["max_file_size"] = json!(max);
    }
    let (status, _, v) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["format"], "pypi");
}

/// Repository `py` with foo-bar 1.0's wheel published by the admin.
async fn py_with_one_wheel(app: &TestApp) -> PythonProject<'static> {
    pypi_repo(app, "py", None).await;
    let p = project("1.0", MODULE);
    let up = twine(
        app,
        "py",
        &basic(&app.admin),
        "foo-bar",
        "1.0",
        &p.wheel_name(),
        &p.wheel(),
    )
    .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.text());
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn twine_uploads_publish_and_the_simple_index_shows_them_in_both_forms() {
    let app = TestApp::new().await;
    pypi_repo(&app, "py", None).await;
    let auth = basic(&app.admin);
    let p = project("1.0", MODULE);
    let up = twine(
        &app,
        "py",
        &auth,
        "Foo.Bar",
        "1.0",
        &p.wheel_name(),
        &p.wheel(),
    )
    .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.text());
    let up = twine(
        &app,
        "py",
        &auth,
        "foo_bar",
        "1.0",
        &p.sdist_name(),
        &p.sdist(),
    )
    .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.text());
    let newer = project("1.10rc1", MODULE);
    let up = twine(
        &app,
        "py",
        &auth,
        "foo-bar",
        "1.10rc1",
        &newer.wheel_name(),
        &newer.wheel(),
    )
    .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.text());

    // The index of projects, HTML by default and JSON when asked.
    let index = get(&app, "/pypi/default/py/simple/", Some(&auth), &[]).await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert!(
        index.text().contains("<a href=\"foo-bar/\">foo-bar</a>"),
        "{}",
        index.text()
    );
    let index = get(
        &app,
        "/pypi/default/py/simple/",
        Some(&auth),
        &[("accept", JSON)],
    )
    .await;
    assert_eq!(index.json()["projects"], json!([{"name": "foo-bar"}]));

    // The project page: PEP 691 JSON with PEP 700's fields, versions in PEP 440 order.
    let page = get(
        &app,
        "/pypi/default/py/simple/foo-bar/",
        Some(&auth),
        &[("accept", JSON)],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.header(header::CONTENT_TYPE), JSON);
    assert!(page.header(header::VARY).contains("Accept"));
    let v = page.json();
    assert_eq!(v["name"], "foo-bar");
    assert_eq!(v["versions"], json!(["1.0", "1.10rc1"]));
    let files = v["files"].as_array().expect("files");
    assert_eq!(files.len(), 3, "{v}");
    let wheel = files
        .iter()
        .find(|f| f["filename"] == p.wheel_name().as_str())
        .expect("the wheel is listed");
    assert_eq!(
        wheel["hashes"]["sha256"],
        hex::encode(Sha256::digest(p.wheel()))
    );
    assert_eq!(wheel["size"], p.wheel().len());
    assert_eq!(wheel["requires-python"], ">=3.8");
    assert!(wheel["upload-time"].as_str().expect("time").ends_with('Z'));
    assert_eq!(
        wheel["url"],
        format!("../../files/foo-bar/1.0/{}", p.wheel_name())
    );

    // HTML: a hash on every link and the Requires-Python attribute, escaped.
    let html = get(&app, "/pypi/default/py/simple/foo-bar/", Some(&auth), &[]).await;
    let text = html.text();
    assert!(text.contains("data-requires-python=\"&gt;=3.8\""), "{text}");
    assert_eq!(text.matches("#sha256=").count(), 3, "{text}");

    // ETag: the same page again is a 304.
    let etag = html.header(header::ETAG);
    assert!(!etag.is_empty());
    let again = get(
        &app,
        "/pypi/default/py/simple/foo-bar/",
        Some(&auth),
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let json_etag = page.header(header::ETAG);
    assert_ne!(etag, json_etag, "each form has its own ETag");

    // Other spellings lead to the normalised name.
    let other = get(&app, "/pypi/default/py/simple/Foo_Bar/", Some(&auth), &[]).await;
    assert_eq!(other.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        other.header(header::LOCATION),
        "/pypi/default/py/simple/foo-bar/"
    );

    // A file link is a redirect to the presigned GET of the content-addressed bytes.
    let link = get(
        &app,
        &format!("/pypi/default/py/files/foo-bar/1.0/{}", p.wheel_name()),
        Some(&auth),
        &[],
    )
    .await;
    assert_eq!(link.status, StatusCode::FOUND);
    let location = link.header(header::LOCATION);
    let path = location
        .strip_prefix("http://trove.test")
        .expect("our base url");
    let bytes = get(&app, path, Some(&auth), &[]).await;
    assert_eq!(
        bytes.status,
        StatusCode::OK,
        "the blob endpoint ignores Authorization"
    );
    assert_eq!(bytes.body, p.wheel());

    // The generic API sees the same package, version and file.
    let (status, _, version) = app
        .call(
            Method::GET,
            "/v1/repositories/py/packages/foo-bar/versions/1.0",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{version}");
    assert_eq!(version["files"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_file_again_is_409_and_refusals_carry_their_reason() {
    let app = TestApp::new().await;
    pypi_repo(&app, "py", None).await;
    let auth = basic(&app.admin);
    let p = project("1.0", MODULE);
    let first = twine(
        &app,
        "py",
        &auth,
        "foo-bar",
        "1.0",
        &p.wheel_name(),
        &p.wheel(),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let again = twine(
        &app,
        "py",
        &auth,
        "foo-bar",
        "1.0",
        &p.wheel_name(),
        &p.wheel(),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());

    // EICAR inside the wheel: refused, the reason in the body and in the reason phrase.
    let eicar_bytes = eicar();
    let files: &[(&str, &[u8])] = &[("foo_bar/eicar.com", &eicar_bytes)];
    let bad = project("2.0", files);
    let refused = twine(
        &app,
        "py",
        &auth,
        "foo-bar",
        "2.0",
        &bad.wheel_name(),
        &bad.wheel(),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refused.text()
    );
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("EICAR"),
        "{}",
        refused.text()
    );
    assert!(
        refused
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("EICAR"),
        "{:?}",
        refused.reason
    );

    // METADATA naming another project than the filename and the form.
    let liar = PythonProject {
        name: "evil",
        ..project("3.0", MODULE)
    };
    let refused = twine(
        &app,
        "py",
        &auth,
        "foo-bar",
        "3.0",
        &liar.wheel_name(),
        &liar.wheel(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.text().contains("name mismatch"),
        "{}",
        refused.text()
    );
    let liar = PythonProject {
        version: "3.1",
        ..project("3.0", MODULE)
    };
    let sdist_name = "foo_bar-3.0.tar.gz";
    let refused = twine(
        &app,
        "py",
        &auth,
        "foo-bar",
        "3.0",
        sdist_name,
        &liar.sdist(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.text().contains("PKG-INFO"), "{}", refused.text());

    // A digest that is not the file's.
    let p4 = project("4.0", MODULE);
    let fields = [
        (":action", "file_upload"),
        ("name", "foo-bar"),
        ("version", "4.0"),
        ("sha256_digest", &"0".repeat(64)),
    ];
    let (ctype, body) = form(&fields, &p4.wheel_name(), &p4.wheel());
    let refused = upload_form(&app, "py", &auth, &ctype, body).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.text().contains("checksum mismatch"),
        "{}",
        refused.text()
    );
    assert!(
        refused
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("checksum mismatch")
    );

    // None of the refused files shows in the index.
    let page = get(
        &app,
        "/pypi/default/py/simple/foo-bar/",
        Some(&auth),
        &[("accept", JSON)],
    )
    .await;
    assert_eq!(page.json()["versions"], json!(["1.0"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_4xx() {
    let app = TestApp::new().await;
    pypi_repo(&app, "py", None).await;
    pypi_repo(&app, "tiny", Some(100)).await;
    app.create_repository("libs").await;
    let auth = basic(&app.admin);
    let p = project("1.0", MODULE);
    let wheel = p.wheel();
    let fields = |action: &'static str, name: &'static str, version: &'static str| {
        vec![(":action", action), ("name", name), ("version", version)]
    };
    let valid = || {
        form(
            &fields("file_upload", "foo-bar", "1.0"),
            &p.wheel_name(),
            &wheel,
        )
    };
    let cases: Vec<(&str, Answer, &str)> = vec![
        (
            "not multipart",
            upload_form(&app, "py", &auth, "application/json", b"{}".to_vec()).await,
            "multipart/form-data",
        ),
        (
            "truncated",
            {
                let (ctype, body) = valid();
                upload_form(&app, "py", &auth, &ctype, body[..body.len() - 20].to_vec()).await
            },
            "closing boundary",
        ),
        (
            "cut half-way through the file",
            {
                let (ctype, body) = valid();
                upload_form(&app, "py", &auth, &ctype, body[..body.len() / 2].to_vec()).await
            },
            "closing boundary",
        ),
        (
            "no closing boundary",
            {
                let (ctype, body) = valid();
                let end = format!("--{BOUNDARY}--\r\n").len();
                upload_form(&app, "py", &auth, &ctype, body[..body.len() - end].to_vec()).await
            },
            "closing boundary",
        ),
        (
            "another boundary than the content type's",
            {
                let (_, body) = valid();
                let ctype = "multipart/form-data; boundary=not-the-one";
                upload_form(&app, "py", &auth, ctype, body).await
            },
            "closing boundary",
        ),
        (
            "no boundary",
            upload_form(&app, "py", &auth, "multipart/form-data", b"x".to_vec()).await,
            "names no boundary",
        ),
        (
            "a part without a name",
            {
                let (ctype, body) = valid();
                let nameless =
                    format!("--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n");
                let body = [nameless.as_bytes(), &body].concat();
                upload_form(&app, "py", &auth, &ctype, body).await
            },
            "a part has no name",
        ),
        (
            "a field after the file",
            {
                let (ctype, body) = form(
                    &[(":action", "file_upload"), ("version", "1.0")],
                    &p.wheel_name(),
                    &wheel,
                );
                let end = format!("--{BOUNDARY}--\r\n").len();
                let after = format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nfoo-bar\r\n--{BOUNDARY}--\r\n"
                );
                let body = [&body[..body.len() - end], after.as_bytes()].concat();
                upload_form(&app, "py", &auth, &ctype, body).await
            },
            "field name is missing (send it before content)",
        ),
        (
            "a field sent twice: the last one counts",
            {
                let (ctype, body) = form(
                    &[
                        (":action", "file_upload"),
                        (":action", "remove_pkg"),
                        ("name", "foo-bar"),
                        ("version", "1.0"),
                    ],
                    &p.wheel_name(),
                    &wheel,
                );
                upload_form(&app, "py", &auth, &ctype, body).await
            },
            r#"unsupported :action \"remove_pkg\""#,
        ),
        (
            "a field the upload reads, too long",
            {
                let long = "a".repeat(1025);
                let (ctype, body) = form(
                    &[
                        (":action", "file_upload"),
                        ("name", &long),
                        ("version", "1.0"),
                    ],
                    &p.wheel_name(),
                    &wheel,
                );
                upload_form(&app, "py", &auth, &ctype, body).await
            },
            "field name is longer than 1024 bytes",
        ),
        (
            "a field the upload skips, too long",
            {
                let readme = "a".repeat(4 * 1024 * 1024 + 1);
                let (ctype, body) = form(
                    &[
                        (":action", "file_upload"),
                        ("description", &readme),
                        ("name", "foo-bar"),
                        ("version", "1.0"),
                    ],
                    &p.wheel_name(),
                    &wheel,
                );
                upload_form(&app, "py", &auth, &ctype, body).await
            },
            "field description is longer than 4194304 bytes",
        ),
        (
            "unknown action",
            {
                let (ctype, body) = form(
                    &fields("remove_pkg", "foo-bar", "1.0"),
                    &p.wheel_name(),
                    &wheel,
                );
                upload_form(&app, "py", &auth, &ctype, body).await
            },
            "unsupported :action",
        ),
        (
            "no name",
            {
                let (ctype, body) = form(
                    &[(":action", "file_upload"), ("version", "1.0")],
                    &p.wheel_name(),
                    &wheel,
                );
                upload_form(&app, "py", &auth, &ctype, body).await
            },
            "field name is missing",
        ),
        (
            "not a distribution",
            twine(
                &app,
                "py",
                &auth,
                "foo-bar",
                "1.0",
                "foo_bar-1.0.exe",
                &wheel,
            )
            .await,
            "unsupported file",
        ),
        (
            "not PEP 440",
            twine(
                &app,
                "py",
                &auth,
                "foo-bar",
                "one",
                "foo_bar-one-py3-none-any.whl",
                &wheel,
            )
            .await,
            "invalid version",
        ),
        (
            "filename of another project",
            twine(&app, "py", &auth, "other", "1.0", &p.wheel_name(), &wheel).await,
            "name mismatch",
        ),
        (
            "a generic repository",
            twine(
                &app,
                "libs",
                &auth,
                "foo-bar",
                "1.0",
                &p.wheel_name(),
                &wheel,
            )
            .await,
            "not a pypi repository",
        ),
        (
            "over the repository's limit",
            twine(
                &app,
                "tiny",
                &auth,
                "foo-bar",
                "1.0",
                &p.wheel_name(),
                &wheel,
            )
            .await,
            "exceeds the repository limit of 100 bytes",
        ),
    ];
    for (what, answer, says) in cases {
        assert!(answer.status.is_client_error(), "{what}: {}", answer.status);
        assert!(answer.text().contains(says), "{what}: {}", answer.text());
        assert_eq!(
            answer.header(header::CONTENT_TYPE),
            "application/problem+json",
            "{what}"
        );
    }
    let too_big = twine(
        &app,
        "tiny",
        &auth,
        "foo-bar",
        "1.0",
        &p.wheel_name(),
        &wheel,
    )
    .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing refused was published.
    let page = get(
        &app,
        "/pypi/default/py/simple/",
        Some(&auth),
        &[("accept", JSON)],
    )
    .await;
    assert_eq!(page.json()["projects"], json!([]));
    let odd = get(
        &app,
        "/pypi/default/py/simple/",
        Some(&auth),
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(odd.status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_part_header_that_never_ends_is_refused_before_the_body_is_read_to_its_end() {
    let app = TestApp::new().await;
    pypi_repo(&app, "py", None).await;
    // 50 MiB of one header line without its line break, in chunks as a socket delivers them.
    const CHUNKS: usize = 200;
    let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: ");
    let pad = bytes::Bytes::from(vec![b'a'; 256 * 1024]);
    let chunks = std::iter::once(bytes::Bytes::from(start))
        .chain(std::iter::repeat_n(pad, CHUNKS - 1))
        .map({
            let pulled = std::sync::Arc::clone(&pulled);
            move |chunk| {
                pulled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok::<_, std::convert::Infallible>(chunk)
            }
        });
    let req = Request::post("/pypi/default/py/legacy/")
        .header(header::AUTHORIZATION, basic(&app.admin))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .expect("request");
    let answer = send(&app, req).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    assert!(
        answer
            .text()
            .contains("more than 16 MiB came before the content part"),
        "{}",
        answer.text()
    );
    let pulled = pulled.load(std::sync::atomic::Ordering::Relaxed);
    assert!(pulled < CHUNKS / 2, "{pulled} chunks of {CHUNKS} were read");
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_asked_for_and_other_tenants_see_nothing() {
    let app = TestApp::new().await;
    let p = py_with_one_wheel(&app).await;

    // No credential: 401 asking for Basic (pip's keyring and netrc flows answer it).
    let anonymous = get(&app, "/pypi/default/py/simple/foo-bar/", None, &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.header(header::WWW_AUTHENTICATE).contains("Basic"));
    // A wrong password is refused like any bad credential.
    let wrong = get(
        &app,
        "/pypi/default/py/simple/",
        Some(&basic("trove_nope_nope")),
        &[],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // Any username works, and so does Bearer.
    let token = base64::engine::general_purpose::STANDARD.encode(format!("someone:{}", app.admin));
    let any_user = get(
        &app,
        "/pypi/default/py/simple/",
        Some(&format!("Basic {token}")),
        &[],
    )
    .await;
    assert_eq!(any_user.status, StatusCode::OK);
    let bearer = get(
        &app,
        "/pypi/default/py/simple/",
        Some(&format!("Bearer {}", app.admin)),
        &[],
    )
    .await;
    assert_eq!(bearer.status, StatusCode::OK);

    // Another tenant's admin: nothing of this tenant exists for it, through any route.
    let other = basic(&app.tenant_key("other").await);
    for uri in [
        "/pypi/default/py/simple/".to_owned(),
        "/pypi/default/py/simple/foo-bar/".to_owned(),
        format!("/pypi/default/py/files/foo-bar/1.0/{}", p.wheel_name()),
    ] {
        let answer = get(&app, &uri, Some(&other), &[]).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let pushed = twine(
        &app,
        "py",
        &other,
        "foo-bar",
        "2.0",
        "foo_bar-2.0-py3-none-any.whl",
        &p.wheel(),
    )
    .await;
    assert_eq!(pushed.status, StatusCode::NOT_FOUND);
    // In its own tenant the same path names its own (absent) repository.
    let own = get(&app, "/pypi/other/py/simple/", Some(&other), &[]).await;
    assert_eq!(own.status, StatusCode::NOT_FOUND);
    assert!(
        own.text().contains("repository py not found"),
        "{}",
        own.text()
    );

    // A reader of the repository reads the index but may not publish: 403.
    let reader = basic(&granted(&app, "ci", "reader", json!({"repository": "py"})).await);
    let audited = |outcome: &'static str| {
        super::access::audit_count(&app, AuditAction::UploadPublish, outcome)
    };
    let (succeeded, denied) = (audited("success").await, audited("denied").await);
    assert_eq!(succeeded, 1, "the admin's upload is audited");
    let page = get(&app, "/pypi/default/py/simple/foo-bar/", Some(&reader), &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    let p2 = project("2.0", MODULE);
    let refused = twine(
        &app,
        "py",
        &reader,
        "foo-bar",
        "2.0",
        &p2.wheel_name(),
        &p2.wheel(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert_eq!(
        audited("denied").await,
        denied + 1,
        "the refused upload is audited"
    );
    assert_eq!(audited("success").await, succeeded);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_published_through_the_presigned_path_shows_in_the_index_like_twines() {
    let app = TestApp::new().await;
    pypi_repo(&app, "py", None).await;
    let p = project("1.0", MODULE);
    let up = app
        .publish(
            &app.admin,
            "py",
            "Foo_Bar",
            "1.0.0",
            &p.wheel_name(),
            &p.wheel(),
        )
        .await;
    assert_eq!(up["status"], "published", "{up}");
    // Stored under the project's normal name; the version in PEP 440's normal form.
    assert_eq!(
        (up["package"].as_str(), up["version"].as_str()),
        (Some("foo-bar"), Some("1.0.0"))
    );
    let auth = basic(&app.admin);
    let page = get(
        &app,
        "/pypi/default/py/simple/foo-bar/",
        Some(&auth),
        &[("accept", JSON)],
    )
    .await;
    assert_eq!(
        page.json()["files"][0]["requires-python"],
        ">=3.8",
        "{}",
        page.text()
    );

    // Validate reads the metadata whichever way the file came.
    let liar = PythonProject {
        name: "evil",
        ..project("2.0", MODULE)
    };
    let up = app
        .publish(
            &app.admin,
            "py",
            "foo-bar",
            "2.0",
            &liar.wheel_name(),
            &liar.wheel(),
        )
        .await;
    assert_eq!(up["status"], "rejected", "{up}");
    assert!(
        up["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("name mismatch"),
        "{up}"
    );
    // A file that is no distribution, or names another version, is refused at once.
    let (status, _, body) = app
        .request_upload(&app.admin, "py", "foo-bar", "3.0", "notes.txt", b"hello")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = app
        .request_upload(
            &app.admin,
            "py",
            "foo-bar",
            "3.0",
            &p.wheel_name(),
            &p.wheel(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("version mismatch"),
        "{body}"
    );
    // 1.0 and 1.0.0 are one PEP 440 version: a look-alike, refused.
    let p10 = PythonProject {
        dist: "foo_bar",
        ..project("1.0", MODULE)
    };
    let sdist = p10.sdist();
    let (status, _, body) = app
        .request_upload(
            &app.admin,
            "py",
            "foo-bar",
            "1.0",
            &p10.sdist_name(),
            &sdist,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_still_in_the_pipeline_when_the_wait_ends_is_202_and_published_later() {
    let settings = trove_core::config::Settings {
        publish_wait: std::time::Duration::ZERO,
        ..trove_core::config::Settings::for_testing()
    };
    let app = TestApp::with_settings(settings).await;
    pypi_repo(&app, "py", None).await;
    let auth = basic(&app.admin);
    let p = project("1.0", MODULE);
    let up = twine(
        &app,
        "py",
        &auth,
        "foo-bar",
        "1.0",
        &p.wheel_name(),
        &p.wheel(),
    )
    .await;
    assert_eq!(up.status, StatusCode::ACCEPTED, "{}", up.text());
    assert!(
        up.text().contains("appears in the index once published"),
        "{}",
        up.text()
    );
    for _ in 0..200 {
        let page = get(
            &app,
            "/pypi/default/py/simple/",
            Some(&auth),
            &[("accept", JSON)],
        )
        .await;
        if page.json()["projects"] == json!([{"name": "foo-bar"}]) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the upload answered 202 was never published");
}

/// A service account with one grant and a key, as pip would use it.
pub(super) async fn granted(app: &TestApp, name: &str, role: &str, scope: Value) -> String {
    let (_, _, sa) = app
        .call(
            Method::POST,
            "/v1/service-accounts",
            Some(&app.admin),
            Some(json!({ "name": name })),
        )
        .await;
    let sa = sa["id"].as_str().expect("id").to_owned();
    let (status, _, grant) = app
        .call(
            Method::POST,
            "/v1/grants",
            Some(&app.admin),
            Some(json!({"principal": sa, "role": role, "scope": scope})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let (status, _, key) = app
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&app.admin),
            Some(json!({"owner": sa, "name": name})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key["key"].as_str().expect("key").to_owned()
}

async fn json_page(app: &TestApp, auth: &str) -> Value {
    let page = get(
        app,
        "/pypi/default/py/simple/foo-bar/",
        Some(auth),
        &[("accept", JSON)],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    page.json()
}

fn file_entry<'a>(page: &'a Value, filename: &str) -> &'a Value {
    page["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["filename"] == filename))
        .unwrap_or_else(|| panic!("{filename} is not listed: {page}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn maintainers_yank_releases_and_files_and_the_index_says_so() {
    let app = TestApp::new().await;
    pypi_repo(&app, "py", None).await;
    let auth = basic(&app.admin);
    let (one, two) = (project("1.0", MODULE), project("2.0", MODULE));
    for (p, name) in [(&one, one.wheel_name()), (&two, two.wheel_name())] {
        let up = twine(&app, "py", &auth, "foo-bar", p.version, &name, &p.wheel()).await;
        assert_eq!(up.status, StatusCode::OK, "{}", up.text());
    }
    let up = twine(
        &app,
        "py",
        &auth,
        "foo-bar",
        "2.0",
        &two.sdist_name(),
        &two.sdist(),
    )
    .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.text());

    // Read (and so rendered and kept) before the yank: the yank must show all the same.
    let before = json_page(&app, &auth).await;
    assert_eq!(file_entry(&before, &two.wheel_name())["yanked"], false);
    assert_eq!(app.host.ctx.index_pages.len(), 1, "the page is kept");
    let release = "/v1/repositories/py/packages/foo-bar/versions/2.0/yank";
    let (status, _, v) = app
        .call(
            Method::PUT,
            release,
            Some(&app.admin),
            Some(json!({"reason": "broken <build>"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["yanked"]["reason"], "broken <build>");
    assert_eq!(v["files"].as_array().map(Vec::len), Some(2), "{v}");
    let page = json_page(&app, &auth).await;
    assert_eq!(
        file_entry(&page, &two.wheel_name())["yanked"],
        "broken <build>"
    );
    assert_eq!(
        file_entry(&page, &two.sdist_name())["yanked"],
        "broken <build>"
    );
    assert_eq!(file_entry(&page, &one.wheel_name())["yanked"], false);
    let html = get(&app, "/pypi/default/py/simple/foo-bar/", Some(&auth), &[]).await;
    assert_eq!(
        html.text()
            .matches("data-yanked=\"broken &lt;build&gt;\"")
            .count(),
        2,
        "{}",
        html.text()
    );
    // Still downloadable: a yank is advice to installers, not a deletion.
    let link = get(
        &app,
        &format!("/pypi/default/py/files/foo-bar/2.0/{}", two.wheel_name()),
        Some(&auth),
        &[],
    )
    .await;
    assert_eq!(link.status, StatusCode::FOUND);

    // One file yanked on its own, without a reason; it stays so when its release is unyanked.
    let (status, _, v) = app
        .call(
            Method::PUT,
            release,
            Some(&app.admin),
            Some(json!({"filename": two.sdist_name()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let sdist = v["files"]
        .as_array()
        .and_then(|files| {
            files
                .iter()
                .find(|f| f["filename"] == two.sdist_name().as_str())
        })
        .expect("the sdist");
    assert_eq!(sdist["yanked"]["reason"], "", "{v}");
    let (status, _, v) = app
        .call(Method::DELETE, release, Some(&app.admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v.get("yanked").is_none(), "{v}");
    let page = json_page(&app, &auth).await;
    assert_eq!(file_entry(&page, &two.wheel_name())["yanked"], false);
    assert_eq!(file_entry(&page, &two.sdist_name())["yanked"], true);
    let file = format!("{release}?filename={}", two.sdist_name());
    let (status, _, v) = app
        .call(Method::DELETE, &file, Some(&app.admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let page = json_page(&app, &auth).await;
    assert_eq!(file_entry(&page, &two.sdist_name())["yanked"], false);
    for action in [AuditAction::VersionYank, AuditAction::VersionUnyank] {
        assert_eq!(
            super::access::audit_count(&app, action, "success").await,
            2,
            "{action:?}: the release's and the file's"
        );
    }

    // Bad reasons, unknown targets, and callers without the right.
    for body in [
        json!({"reason": "x".repeat(501)}),
        json!({"reason": "two\nlines"}),
    ] {
        let (status, _, p) = app
            .call(Method::PUT, release, Some(&app.admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    }
    let (status, _, p) = app
        .call(
            Method::PUT,
            release,
            Some(&app.admin),
            Some(json!({"why": "unknown field"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (status, _, _) = app
        .call(
            Method::PUT,
            "/v1/repositories/py/packages/foo-bar/versions/9.9/yank",
            Some(&app.admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let missing = json!({"filename": "nope-2.0.tar.gz"});
    let (status, _, _) = app
        .call(Method::PUT, release, Some(&app.admin), Some(missing))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app
        .call(
            Method::DELETE,
            &format!("{release}?filename=../../x"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let reader = granted(&app, "reader", "reader", json!({"repository": "py"})).await;
    let (status, _, _) = app
        .call(Method::PUT, release, Some(&reader), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = app
        .call(Method::PUT, &file, Some(&reader), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let stranger = granted(
        &app,
        "stranger",
        "maintainer",
        json!({"repository": "py", "package": "other"}),
    )
    .await;
    let (status, _, _) = app
        .call(Method::PUT, release, Some(&stranger), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let page = json_page(&app, &auth).await;
    assert_eq!(file_entry(&page, &two.wheel_name())["yanked"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wheels_core_metadata_is_served_beside_it_and_collected_with_it() {
    let app = TestApp::new().await;
    pypi_repo(&app, "py", None).await;
    let auth = basic(&app.admin);
    let p = project("1.0", MODULE);
    for (name, bytes) in [(p.wheel_name(), p.wheel()), (p.sdist_name(), p.sdist())] {
        let up = twine(&app, "py", &auth, "foo-bar", "1.0", &name, &bytes).await;
        assert_eq!(up.status, StatusCode::OK, "{}", up.text());
    }
    let metadata = p.metadata();
    let sha = hex::encode(Sha256::digest(metadata.as_bytes()));
    let page = json_page(&app, &auth).await;
    let wheel = file_entry(&page, &p.wheel_name());
    assert_eq!(wheel["core-metadata"]["sha256"], sha, "{page}");
    assert_eq!(wheel["dist-info-metadata"]["sha256"], sha);
    assert!(
        file_entry(&page, &p.sdist_name())
            .get("core-metadata")
            .is_none()
    );
    let html = get(&app, "/pypi/default/py/simple/foo-bar/", Some(&auth), &[]).await;
    assert!(
        html.text()
            .contains(&format!("data-core-metadata=\"sha256={sha}\"")),
        "{}",
        html.text()
    );

    // `{url}.metadata`: a redirect to exactly the bytes announced.
    let url = format!(
        "/pypi/default/py/files/foo-bar/1.0/{}.metadata",
        p.wheel_name()
    );
    let link = get(&app, &url, Some(&auth), &[]).await;
    assert_eq!(link.status, StatusCode::FOUND, "{}", link.text());
    let location = link.header(header::LOCATION);
    let path = location
        .strip_prefix("http://trove.test")
        .expect("our base url");
    let served = get(&app, path, None, &[]).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(hex::encode(Sha256::digest(&served.body)), sha);
    assert_eq!(served.text(), metadata);
    // An sdist has none; a stranger sees nothing either way.
    let none = format!(
        "/pypi/default/py/files/foo-bar/1.0/{}.metadata",
        p.sdist_name()
    );
    assert_eq!(
        get(&app, &none, Some(&auth), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let other = basic(&app.tenant_key("other").await);
    assert_eq!(
        get(&app, &url, Some(&other), &[]).await.status,
        StatusCode::NOT_FOUND
    );

    // Deleted with its version, collected with the bytes by cleanup.
    let wheel_sha =
        trove_core::domain::names::Sha256Hex::parse(&hex::encode(Sha256::digest(p.wheel())))
            .expect("sha256");
    let meta_key = trove_core::domain::keys::BlobKey::core_metadata(&wheel_sha);
    let ctx = &app.host.ctx;
    assert!(ctx.blobs.head(&meta_key).await.expect("head").is_some());
    let (status, _, _) = app
        .call(
            Method::DELETE,
            "/v1/repositories/py/packages/foo-bar/versions/1.0",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    trove_core::services::catalog::blob_refs::collect(ctx, false, &Default::default())
        .await
        .expect("collect");
    assert!(ctx.blobs.head(&meta_key).await.expect("head").is_none());
    assert!(
        ctx.blobs
            .head(&trove_core::domain::keys::BlobKey::content(&wheel_sha))
            .await
            .expect("head")
            .is_none()
    );

    // With every version gone, the project leaves `/simple/`.
    let index = get(
        &app,
        "/pypi/default/py/simple/",
        Some(&auth),
        &[("accept", JSON)],
    )
    .await;
    assert_eq!(index.json()["projects"], json!([]), "{}", index.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grant_on_a_project_covers_every_spelling_of_its_name() {
    let app = TestApp::new().await;
    py_with_one_wheel(&app).await;
    let mine = basic(
        &granted(
            &app,
            "mine",
            "reader",
            json!({"repository": "py", "package": "foo-bar"}),
        )
        .await,
    );
    let redirect = get(&app, "/pypi/default/py/simple/Foo_Bar/", Some(&mine), &[]).await;
    assert_eq!(redirect.status, StatusCode::MOVED_PERMANENTLY);
    let page = get(&app, "/pypi/default/py/simple/foo-bar/", Some(&mine), &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());

    // A grant on another project: that one is as absent as a project that does not exist.
    let theirs = basic(
        &granted(
            &app,
            "theirs",
            "reader",
            json!({"repository": "py", "package": "other"}),
        )
        .await,
    );
    let hidden = get(&app, "/pypi/default/py/simple/foo-bar/", Some(&theirs), &[]).await;
    let absent = get(&app, "/pypi/default/py/simple/nothing/", Some(&theirs), &[]).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(absent.status, StatusCode::NOT_FOUND);
    let index = get(
        &app,
        "/pypi/default/py/simple/",
        Some(&theirs),
        &[("accept", JSON)],
    )
    .await;
    assert_eq!(index.json()["projects"], json!([]));
}
