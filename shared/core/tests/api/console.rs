//! The web console's pages, rendered in-process: signing in keeps the session in an
//! HttpOnly cookie, each role sees exactly what the guard lets it do, every change needs
//! the CSRF token, names and reasons are escaped, and the security headers are on every page.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::json;
use tower::ServiceExt as _;

use super::app::TestApp;

struct Browser<'a> {
    app: &'a TestApp,
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The CSRF token the page carries.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf-token\" content=\"";
        let start = self.body.find(marker).expect("a csrf meta tag") + marker.len();
        self.body[start..]
            .split('"')
            .next()
            .expect("token")
            .to_owned()
    }
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self { app, cookie: None }
    }

    async fn request(
        &mut self,
        method: Method,
        uri: &str,
        form: Option<&[(&str, &str)]>,
        extra: &[(&str, &str)],
    ) -> Page {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "trove.test");
        if let Some(cookie) = &self.cookie {
            req = req.header(header::COOKIE, format!("trove_session={cookie}"));
        }
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        let body = match form {
            Some(fields) => {
                req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                let encoded: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| {
                        let enc = |s: &str| {
                            percent_encoding::utf8_percent_encode(
                                s,
                                percent_encoding::NON_ALPHANUMERIC,
                            )
                            .to_string()
                        };
                        format!("{}={}", enc(k), enc(v))
                    })
                    .collect();
                Body::from(encoded.join("&"))
            }
            None => Body::empty(),
        };
        let res = self
            .app
            .router
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        if let Some(set) = headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            let value = set
                .split(';')
                .next()
                .unwrap_or_default()
                .trim_start_matches("trove_session=");
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&mut self, uri: &str) -> Page {
        self.request(Method::GET, uri, None, &[]).await
    }

    async fn post(&mut self, uri: &str, form: &[(&str, &str)]) -> Page {
        self.request(Method::POST, uri, Some(form), &[]).await
    }

    async fn sign_in(&mut self, key: &str) -> Page {
        let page = self.post("/console/sign-in", &[("api_key", key)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert!(self.cookie.is_some(), "a session cookie");
        page
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_keeps_an_http_only_session_and_every_page_is_guarded() {
    let app = TestApp::new().await;
    let mut browser = Browser::new(&app);
    let root = browser.get("/").await;
    assert!(root.status.is_redirection());
    assert_eq!(root.location(), "/console/");
    let page = browser.get("/console/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "not signed in");
    assert_eq!(page.location(), "/console/sign-in");
    let page = browser.get("/console/sign-in").await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii");
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(!page.body.contains("<script>"), "no inline script");

    // Another site's form cannot sign the person in, even with a good key.
    let forged = browser
        .request(
            Method::POST,
            "/console/sign-in",
            Some(&[("api_key", app.admin.as_str())]),
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        browser.cookie.is_none(),
        "no session from a cross-site form"
    );
    let wrong = browser
        .post("/console/sign-in", &[("api_key", "trove_not_a_key")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("not accepted"), "{}", wrong.body);
    assert!(browser.cookie.is_none());

    let signed = browser
        .post("/console/sign-in", &[("api_key", &app.admin)])
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let set = signed.headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"),
        "{set}"
    );
    assert!(
        !set.contains(&app.admin),
        "the key itself is never the cookie"
    );
    let home = browser.get("/console/").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home.body.contains("Repositories") && home.body.contains("create-repository"));
    assert!(
        home.body.contains("href=\"/console/admin\""),
        "admins see Admin"
    );
    assert_eq!(home.headers[header::CACHE_CONTROL], "no-store");

    // Sign out needs the CSRF token, then the cookie is cleared.
    let refused = browser.post("/console/sign-out", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let csrf = home.csrf();
    let out = browser.post("/console/sign-out", &[("_csrf", &csrf)]).await;
    assert_eq!(out.location(), "/console/sign-in");
    assert!(browser.cookie.is_none());
    assert_eq!(
        browser.get("/console/keys").await.location(),
        "/console/sign-in"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_role_sees_what_the_guard_allows_and_no_more() {
    let app = TestApp::new().await;
    app.create_repository("libs").await;
    app.create_repository("secret").await;
    let up = app
        .publish(
            &app.admin,
            "libs",
            "widget",
            "1.0.0",
            "widget-1.0.0.bin",
            b"widget bytes",
        )
        .await;
    assert_eq!(up["status"], "published");
    let reader = app
        .key_with("reader", "reader", json!({"repository": "libs"}))
        .await;
    let writer = app
        .key_with(
            "writer",
            "writer",
            json!({"repository": "libs", "package": "widget*"}),
        )
        .await;

    let mut admin = Browser::new(&app);
    admin.sign_in(&app.admin).await;
    let page = admin.get("/console/r/libs").await;
    assert!(page.body.contains("id=\"upload\""), "admins may upload");
    assert!(page.body.contains("id=\"retention\""), "and set retention");

    let mut r = Browser::new(&app);
    r.sign_in(&reader).await;
    let home = r.get("/console/").await;
    assert!(home.body.contains("/console/r/libs"), "{}", home.body);
    assert!(
        !home.body.contains("/console/r/secret"),
        "a repository it may not see"
    );
    assert!(!home.body.contains("create-repository"));
    assert!(!home.body.contains("href=\"/console/admin\""));
    let libs = r.get("/console/r/libs").await;
    assert_eq!(libs.status, StatusCode::OK);
    assert!(
        !libs.body.contains("id=\"upload\""),
        "a reader has no upload widget"
    );
    assert!(
        !libs.body.contains("id=\"retention\""),
        "no retention form for a reader"
    );
    assert!(
        libs.body.contains("id=\"retention-readonly\""),
        "but the policy, read-only"
    );
    assert!(libs.body.contains("widget"));
    assert_eq!(
        r.get("/console/r/secret").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(r.get("/console/admin").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.get("/console/admin/audit").await.status,
        StatusCode::FORBIDDEN
    );
    let version = r.get("/console/r/libs/p/widget/v/1.0.0").await;
    assert!(version.body.contains("id=\"files\""), "{}", version.body);
    assert!(version.body.contains(&hex::encode(sha2::Digest::finalize(
        sha2::Digest::chain_update(sha2::Sha256::default(), b"widget bytes")
    ))));
    let download = r
        .get("/console/download/libs/widget/1.0.0/widget-1.0.0.bin")
        .await;
    assert_eq!(download.status, StatusCode::FOUND, "{}", download.body);
    assert!(
        download.location().contains("/blobs/"),
        "{}",
        download.location()
    );

    let mut w = Browser::new(&app);
    w.sign_in(&writer).await;
    assert!(
        w.get("/console/r/libs")
            .await
            .body
            .contains("id=\"upload\""),
        "a writer of widget* may upload there"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_need_the_csrf_token_and_the_bridge_carries_the_session() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app);
    b.sign_in(&app.admin).await;
    let home = b.get("/console/").await;
    let csrf = home.csrf();
    let forged = b
        .post(
            "/console/repositories",
            &[("name", "forged"), ("format", "generic")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let wrong = b
        .post(
            "/console/repositories",
            &[("name", "forged"), ("format", "generic"), ("_csrf", "0000")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let (_, _, list) = app
        .call(Method::GET, "/v1/repositories", Some(&app.admin), None)
        .await;
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(0),
        "nothing was created"
    );
    let made = b
        .post(
            "/console/repositories",
            &[("name", "libs"), ("format", "generic"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER);
    assert_eq!(made.location(), "/console/");
    // A refusal of the API reads as a page with its detail.
    let again = b
        .post(
            "/console/repositories",
            &[("name", "libs"), ("format", "generic"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("class=\"error\""), "{}", again.body);

    let bare = b.get("/console/api/v1/repositories").await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN, "no CSRF header");
    let bridged = b
        .request(
            Method::GET,
            "/console/api/v1/repositories",
            None,
            &[("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(bridged.status, StatusCode::OK, "{}", bridged.body);
    assert!(bridged.body.contains("\"libs\""));
    b.cookie = None;
    let gone = b
        .request(
            Method::GET,
            "/console/api/v1/repositories",
            None,
            &[("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn names_descriptions_and_labels_are_text_never_markup() {
    let app = TestApp::new().await;
    let hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/repositories",
            Some(&app.admin),
            Some(json!({"name": "libs", "format": "generic", "description": hostile})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let up = app
        .publish(&app.admin, "libs", "widget", "1.0.0", "w.bin", b"w")
        .await;
    assert_eq!(up["status"], "published");
    let (status, _, body) = app
        .call(
            Method::PUT,
            "/v1/repositories/libs/packages/widget/versions/1.0.0/labels",
            Some(&app.admin),
            Some(json!({"labels": {"note": "<b onmouseover=alert(1)>hi</b>"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut b = Browser::new(&app);
    b.sign_in(&app.admin).await;
    for uri in [
        "/console/",
        "/console/r/libs",
        "/console/r/libs/p/widget/v/1.0.0",
    ] {
        let page = b.get(uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        assert!(!page.body.contains("<script>alert"), "{uri}: {}", page.body);
        assert!(!page.body.contains("<img src=x"), "{uri}");
        assert!(!page.body.contains("<b onmouseover"), "{uri}");
    }
    assert!(
        b.get("/console/r/libs")
            .await
            .body
            .contains("&lt;script&gt;")
    );
    assert!(
        b.get("/console/r/libs/p/widget/v/1.0.0")
            .await
            .body
            .contains("&lt;b onmouseover")
    );
    // A page of a name that cannot exist is a 404 page, not an error of the server.
    let odd = b.get("/console/r/%3Cx%3E").await;
    assert!(
        odd.status == StatusCode::NOT_FOUND || odd.status == StatusCode::BAD_REQUEST,
        "{}",
        odd.status
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_method_a_page_does_not_take_is_a_405_problem() {
    let app = TestApp::new().await;
    let mut browser = Browser::new(&app);
    for (method, uri) in [
        (Method::PUT, "/"),
        (Method::DELETE, "/console"),
        (Method::PATCH, "/console/sign-in"),
        (Method::PUT, "/console/keys"),
    ] {
        let page = browser.request(method.clone(), uri, None, &[]).await;
        assert_eq!(
            page.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}"
        );
        let ctype = page
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        assert_eq!(ctype, Some("application/problem+json"), "{method} {uri}");
        assert!(
            page.body.contains("method not allowed"),
            "{method} {uri}: {}",
            page.body
        );
    }
}
