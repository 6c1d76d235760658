//! The console's pages for everyone: sign-in, repositories, a repository's packages (with
//! the lines to configure each client and the upload widget), a package's versions, a
//! version's files, search, and the person's API keys.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::model::Format;
use crate::domain::names::RepoName;
use crate::http::console::api::{self, Refusal};
use crate::http::console::layout::{
    self, Section, badge, copy_button, csrf_field, empty, human_bytes, page, seg, table_wrap, when,
};
use crate::http::console::session::{self, CSRF_FIELD, Session};
use crate::http::console::{Change, ClientIp, Console, SignedIn, Viewer, may};
use crate::http::routes::client_pages::origin;
use crate::services::search::plan::version_order;

type Form_ = HashMap<String, String>;

/// The signed-in session, or the answer that sends the person to sign in.
pub(super) fn signed_in(viewer: &Viewer) -> Result<Arc<Session>, Box<Response>> {
    viewer
        .0
        .clone()
        .ok_or_else(|| Box::new(Redirect::to("/console/sign-in").into_response()))
}

/// A change's form must carry the session's CSRF token.
pub(super) fn checked(viewer: &Viewer, form: &Form_) -> Result<Arc<Session>, Box<Response>> {
    let session = signed_in(viewer)?;
    if session.csrf_matches(form.get(CSRF_FIELD).map(String::as_str)) {
        Ok(session)
    } else {
        Err(Box::new(html_page(
            StatusCode::FORBIDDEN,
            page(
                Some(&session),
                Section::None,
                "Refused",
                layout::error("This form has expired; reload the page and try again."),
            ),
        )))
    }
}

pub(super) fn html_page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

pub(super) fn ok_page(markup: Markup) -> Response {
    html_page(StatusCode::OK, markup)
}

/// The API's refusal as a page: its status and detail.
pub(super) fn refused(session: &Session, title: &str, refusal: &Refusal) -> Response {
    if refusal.status == StatusCode::UNAUTHORIZED {
        return Redirect::to("/console/sign-in").into_response();
    }
    html_page(
        refusal.status,
        page(
            Some(session),
            Section::None,
            title,
            html! { h1 { (title) } (layout::error(&refusal.detail)) p { a href="/console/" { "Back to repositories" } } },
        ),
    )
}

pub async fn not_found(Extension(viewer): Extension<Viewer>) -> Response {
    html_page(
        StatusCode::NOT_FOUND,
        page(
            viewer.0.as_deref(),
            Section::None,
            "Not found",
            html! { h1 { "Not found" } p { "There is nothing here, or you may not see it." } p { a href="/console/" { "Repositories" } } },
        ),
    )
}

// ---- sign-in ----

pub async fn sign_in_form(Extension(viewer): Extension<Viewer>) -> Response {
    if viewer.0.is_some() {
        return Redirect::to("/console/").into_response();
    }
    ok_page(sign_in_page(None))
}

fn sign_in_page(problem: Option<&str>) -> Markup {
    page(
        None,
        Section::None,
        "Sign in",
        html! {
            h1 { "Sign in to Trove" }
            @if let Some(p) = problem { (layout::error(p)) }
            form #sign-in method="post" action="/console/sign-in" {
                label for="api-key" { "API key" }
                input #api-key name="api_key" type="password" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
            p.hint { "Use an API key of your user (" code { "trove_…" } "). The console keeps only a short-lived session, in a cookie scripts cannot read." }
        },
    )
}

pub async fn sign_in(
    State(console): State<Console>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    Form(form): Form<Form_>,
) -> Response {
    // No other site may sign a person in (to an account of its choosing): the form must come
    // from this origin. There is no session yet whose CSRF token could say so.
    if !session::same_origin(&headers) {
        return html_page(
            StatusCode::FORBIDDEN,
            sign_in_page(Some("Sign in from this site's own page.")),
        );
    }
    let key = form.get("api_key").map(|k| k.trim()).unwrap_or_default();
    match session::sign_in(&console.app, key, ip).await {
        Ok(Some((token, max_age))) => {
            let mut response = Redirect::to("/console/").into_response();
            if let Some(cookie) =
                session::set_cookie(&token, max_age, session::over_https(&headers))
            {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Ok(None) => html_page(
            StatusCode::UNAUTHORIZED,
            sign_in_page(Some(
                "That key was not accepted: it is unknown, revoked or expired.",
            )),
        ),
        Err(e) => html_page(
            StatusCode::SERVICE_UNAVAILABLE,
            sign_in_page(Some(&format!(
                "Signing in failed; try again shortly ({e})."
            ))),
        ),
    }
}

/// Signing out needs the CSRF token too (`Change`): no other site can end a session.
pub async fn sign_out(headers: HeaderMap, _: Change) -> Response {
    let mut response = Redirect::to("/console/sign-in").into_response();
    if let Some(cookie) = session::set_cookie("", 0, session::over_https(&headers)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

// ---- repositories ----

pub async fn repositories(State(console): State<Console>, SignedIn(session): SignedIn) -> Response {
    let list = match api::call(
        &console.api,
        &session,
        Method::GET,
        "/v1/repositories?limit=1000",
        None,
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return refused(&session, "Repositories", &r),
    };
    ok_page(repositories_page(&session, &list, None))
}

fn repositories_page(session: &Session, list: &Value, problem: Option<&str>) -> Markup {
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let admin = may(session, "create_repository", None, None);
    page(
        Some(session),
        Section::Repositories,
        "Repositories",
        html! {
            h1 { "Repositories" }
            @if let Some(p) = problem { (layout::error(p)) }
            @if items.is_empty() {
                (empty("No repositories you may see yet.", html! {
                    @if admin { "Create one below, then upload to it or point a package manager at it." }
                    @else { "Ask an admin of your tenant for access to a repository." }
                }))
            } @else {
                (table_wrap(html! {
                    table #repositories {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Format" } th scope="col" { "Description" } } }
                        tbody {
                            @for r in &items {
                                @let name = r["name"].as_str().unwrap_or_default();
                                tr {
                                    td { a href=(format!("/console/r/{}", seg(name))) { (name) } }
                                    td { (r["format"].as_str().unwrap_or_default()) }
                                    td { (r["description"].as_str().unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }))
            }
            @if admin {
                h2 { "Create a repository" }
                form #create-repository method="post" action="/console/repositories" {
                    (csrf_field(session))
                    div.row {
                        div {
                            label for="repo-name" { "Name" }
                            input #repo-name name="name" required maxlength="64" pattern="[a-z0-9][a-z0-9._\\-]*";
                        }
                        div {
                            label for="repo-format" { "Format" }
                            select #repo-format name="format" {
                                @for f in ["generic", "pypi", "npm", "cargo"] { option value=(f) { (f) } }
                            }
                        }
                    }
                    label for="repo-description" { "Description (optional)" }
                    input #repo-description name="description" maxlength="500";
                    button type="submit" { "Create repository" }
                }
            }
        },
    )
}

pub async fn create_repository(
    State(console): State<Console>,
    Change(session, form): Change,
) -> Response {
    let name = form.get("name").cloned().unwrap_or_default();
    let mut body = json!({"name": name, "format": form.get("format").cloned().unwrap_or_default()});
    if let Some(d) = form.get("description").filter(|d| !d.trim().is_empty()) {
        body["description"] = json!(d);
    }
    match api::call(
        &console.api,
        &session,
        Method::POST,
        "/v1/repositories",
        Some(body),
    )
    .await
    {
        // Back to the list, where the new repository now stands.
        Ok(_) => Redirect::to("/console/").into_response(),
        Err(r) => {
            let list = api::call(
                &console.api,
                &session,
                Method::GET,
                "/v1/repositories?limit=1000",
                None,
            )
            .await
            .unwrap_or(Value::Null);
            html_page(
                r.status,
                repositories_page(&session, &list, Some(&r.detail)),
            )
        }
    }
}

// ---- one repository ----

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    q: Option<String>,
}

pub async fn repository(
    State(console): State<Console>,
    SignedIn(session): SignedIn,
    Path(repo): Path<String>,
    Query(filter): Query<Filter>,
    headers: HeaderMap,
) -> Response {
    let Ok(name) = RepoName::parse(&repo) else {
        return refused(
            &session,
            "Repository",
            &Refusal {
                status: StatusCode::NOT_FOUND,
                detail: format!("no repository {repo}"),
            },
        );
    };
    let path = format!("/v1/repositories/{name}");
    let repository = match api::call(&console.api, &session, Method::GET, &path, None).await {
        Ok(v) => v,
        Err(r) => return refused(&session, "Repository", &r),
    };
    let q = filter.q.unwrap_or_default();
    let mut list_path = format!("{path}/packages?limit=1000");
    if !q.trim().is_empty() {
        list_path.push_str(&format!("&prefix={}", seg(q.trim())));
    }
    let packages = match api::call(&console.api, &session, Method::GET, &list_path, None).await {
        Ok(v) => v["items"].as_array().cloned().unwrap_or_default(),
        Err(r) => return refused(&session, "Repository", &r),
    };
    let base = origin(&headers).unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let format = repository["format"]
        .as_str()
        .unwrap_or("generic")
        .to_owned();
    ok_page(page(
        Some(&session),
        Section::Repositories,
        name.as_str(),
        html! {
            p.crumbs { a href="/console/" { "Repositories" } " / " }
            h1 { (name) " " (badge("readonly", &format)) }
            @if let Some(d) = repository["description"].as_str() { p { (d) } }
            h2 { "Packages" }
            form.row method="get" action=(format!("/console/r/{}", seg(name.as_str()))) role="search" {
                label.visually-hidden for="package-filter" { "Filter packages by name" }
                input #package-filter name="q" value=(q) placeholder="Filter by name" maxlength="256";
                button type="submit" { "Filter" }
            }
            @if packages.is_empty() {
                (empty(if q.is_empty() { "No packages yet." } else { "No package starts so." }, html! {
                    "Upload a file below, or publish with the client lines under “Set up”."
                }))
            } @else {
                (table_wrap(html! {
                    table #packages {
                        thead { tr { th scope="col" { "Package" } th scope="col" { "Latest" } th scope="col" { "Updated" } } }
                        tbody {
                            @for p in &packages {
                                @let pname = p["name"].as_str().unwrap_or_default();
                                tr {
                                    td { a href=(format!("/console/r/{}/p/{}", seg(name.as_str()), seg(pname))) { (pname) } }
                                    td { (p["latest_version"].as_str().unwrap_or("—")) }
                                    td { (when(p["updated_at"].as_str().unwrap_or_default())) }
                                }
                            }
                        }
                    }
                }))
                p #no-match hidden { "No package matches." }
            }
            @if may(&session, "create_upload", Some(&name), None) {
                (upload_widget(name.as_str()))
            }
            (setup(&base, session.caller.tenant.as_str(), name.as_str(), &format))
            @if may(&session, "put_retention", Some(&name), None) {
                (retention_form(&session, name.as_str(), &repository))
            } @else {
                (retention_summary(&repository))
            }
        },
    ))
}

fn upload_widget(repo: &str) -> Markup {
    html! {
        section #upload data-repo=(repo) aria-labelledby="upload-title" {
            h2 #upload-title { "Upload a file" }
            div #drop-zone.drop-zone tabindex="0" role="button" aria-describedby="upload-help" {
                "Drop a file here or choose one"
            }
            label for="file" { "File" }
            input #file type="file";
            div.row {
                div { label for="package" { "Package" } input #package name="package" required maxlength="214"; }
                div { label for="version" { "Version" } input #version name="version" required maxlength="64"; }
            }
            p #upload-help.hint { "The browser hashes the file and sends it straight to storage; large files go in parts. The upload is then scanned and validated before it is published." }
            button #upload-button type="button" { "Upload" }
            progress #upload-progress max="100" value="0" hidden {}
            span #upload-rate {}
            p #upload-status aria-live="polite" {}
            a #upload-result hidden href="#" {}
        }
    }
}

fn setup(base: &str, tenant: &str, repo: &str, format: &str) -> Markup {
    let host = base.split("://").nth(1).unwrap_or(base);
    let mut blocks: Vec<(&str, String)> = Vec::new();
    match format {
        "pypi" => {
            blocks.push(("pip.conf", format!("[global]\nindex-url = {}/pypi/{tenant}/{repo}/simple/\n# pip asks for a user name and password: __token__ and your API key", base)));
            blocks.push(("twine", format!("twine upload --repository-url {base}/pypi/{tenant}/{repo}/legacy/ -u __token__ -p \"$TROVE_KEY\" dist/*")));
        }
        "npm" => blocks.push((".npmrc", format!("registry={base}/npm/{tenant}/{repo}/\n//{host}/npm/{tenant}/{repo}/:_authToken=${{TROVE_KEY}}"))),
        "cargo" => blocks.push((".cargo/config.toml", format!("[registries.trove]\nindex = \"sparse+{base}/cargo/{tenant}/{repo}/index/\"\n[registry]\nglobal-credential-providers = [\"cargo:token\"]\n# then: export CARGO_REGISTRIES_TROVE_TOKEN=\"$TROVE_KEY\""))),
        _ => {}
    }
    blocks.push(("trove push", format!("trove login --url {base}\ntrove push {repo} ./widget-1.0.0.tgz --package widget --version 1.0.0")));
    blocks.push(("curl", format!("curl -sf -H \"Authorization: Bearer $TROVE_KEY\" -H 'content-type: application/json' \\\n  -d '{{\"package\":\"widget\",\"version\":\"1.0.0\",\"filename\":\"widget.tgz\",\"size\":SIZE,\"sha256\":\"SHA256\"}}' \\\n  {base}/v1/repositories/{repo}/uploads")));
    html! {
        section #setup aria-labelledby="setup-title" {
            h2 #setup-title { "Set up" }
            @for (i, (title, text)) in blocks.iter().enumerate() {
                @let id = format!("snippet-{i}");
                div.snippet-wrap {
                    h3 { (title) }
                    pre.snippet #(id) { code { (text) } }
                    button.copy type="button" data-copy=(text) data-copy-target=(id) { "Copy" }
                }
            }
        }
    }
}

fn retention_form(session: &Session, repo: &str, repository: &Value) -> Markup {
    let r = &repository["retention"];
    let value = |k: &str| r[k].as_u64().map(|n| n.to_string()).unwrap_or_default();
    html! {
        details #retention {
            summary { "Retention" }
            form method="post" action=(format!("/console/r/{}/retention", seg(repo))) {
                (csrf_field(session))
                label for="keep-last" { "Keep the newest versions of each package (empty: all)" }
                input #keep-last name="keep_last" type="number" min="1" max="100000" value=(value("keep_last"));
                label for="max-age" { "Remove versions older than this many days (empty: never)" }
                input #max-age name="max_age_days" type="number" min="1" max="100000" value=(value("max_age_days"));
                label for="quarantine-days" { "Keep refused uploads this many days (default 30)" }
                input #quarantine-days name="quarantine_days" type="number" min="1" max="100000" value=(value("quarantine_days"));
                button type="submit" { "Save retention" }
            }
        }
    }
}

/// What the retention policy is, for whom may not change it.
fn retention_summary(repository: &Value) -> Markup {
    let r = &repository["retention"];
    let rule = |k: &str, some: &dyn Fn(u64) -> String, none: &str| {
        r[k].as_u64().map_or_else(|| none.to_owned(), some)
    };
    html! {
        details #retention-readonly {
            summary { "Retention " (badge("readonly", "read-only")) }
            ul {
                li { (rule("keep_last", &|n| format!("Keeps the newest {n} versions of each package"), "Keeps every version")) }
                li { (rule("max_age_days", &|n| format!("Removes versions older than {n} days"), "Removes no version for its age")) }
                li { (rule("quarantine_days", &|n| format!("Keeps refused uploads {n} days"), "Keeps refused uploads 30 days")) }
            }
            p.hint { "Pinned versions and each package's newest are never removed. Admins of the repository change this." }
        }
    }
}

pub async fn put_retention(
    State(console): State<Console>,
    Path(repo): Path<String>,
    Change(session, form): Change,
) -> Response {
    let mut body = json!({});
    for field in ["keep_last", "max_age_days", "quarantine_days"] {
        if let Some(v) = form.get(field).filter(|v| !v.trim().is_empty()) {
            match v.trim().parse::<u64>() {
                Ok(n) => body[field] = json!(n),
                Err(_) => {
                    return refused(
                        &session,
                        "Retention",
                        &Refusal {
                            status: StatusCode::BAD_REQUEST,
                            detail: format!("{field} must be a whole number"),
                        },
                    );
                }
            }
        }
    }
    let path = format!("/v1/repositories/{}/retention", seg(&repo));
    match api::call(&console.api, &session, Method::PUT, &path, Some(body)).await {
        Ok(_) => Redirect::to(&format!("/console/r/{}", seg(&repo))).into_response(),
        Err(r) => refused(&session, "Retention", &r),
    }
}

// ---- a package, a version ----

pub async fn package_or_version(
    State(console): State<Console>,
    SignedIn(session): SignedIn,
    Path((repo, rest)): Path<(String, String)>,
) -> Response {
    match rest.rsplit_once("/v/") {
        Some((package, version)) => version_page(&console, &session, &repo, package, version).await,
        None => package_page(&console, &session, &repo, rest.trim_end_matches('/')).await,
    }
}

async fn package_page(console: &Console, session: &Session, repo: &str, package: &str) -> Response {
    let base = format!("/v1/repositories/{}/packages/{}", seg(repo), seg(package));
    let repository = match api::call(
        &console.api,
        session,
        Method::GET,
        &format!("/v1/repositories/{}", seg(repo)),
        None,
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return refused(session, "Package", &r),
    };
    let versions = match api::call(
        &console.api,
        session,
        Method::GET,
        &format!("{base}/versions?limit=1000"),
        None,
    )
    .await
    {
        Ok(v) => v["items"].as_array().cloned().unwrap_or_default(),
        Err(r) => return refused(session, "Package", &r),
    };
    let format: Format =
        serde_json::from_value(repository["format"].clone()).unwrap_or(Format::Generic);
    let mut versions = versions;
    // Newest first, in the format's own order (PEP 440, SemVer, or part by part).
    versions.sort_by(|a, b| {
        version_order(
            format,
            b["version"].as_str().unwrap_or_default(),
            a["version"].as_str().unwrap_or_default(),
        )
    });
    ok_page(page(
        Some(session),
        Section::Repositories,
        package,
        html! {
            p.crumbs { a href="/console/" { "Repositories" } " / " a href=(format!("/console/r/{}", seg(repo))) { (repo) } " / " }
            h1 { (package) }
            @if versions.is_empty() {
                (empty("No published versions.", html! { "Versions appear here once their upload has passed the scan." }))
            } @else {
                (table_wrap(html! {
                    table #versions {
                        thead { tr { th scope="col" { "Version" } th scope="col" { "Status" } th scope="col" { "Files" } th scope="col" { "Published" } } }
                        tbody {
                            @for v in &versions {
                                @let name = v["version"].as_str().unwrap_or_default();
                                tr {
                                    td { a href=(format!("/console/r/{}/p/{}/v/{}", seg(repo), seg(package), seg(name))) { (name) } }
                                    td {
                                        @if v["yanked"].is_object() { (badge("yanked", "yanked")) }
                                        @else { (badge("published", "published")) }
                                        @if v["pinned"].as_bool() == Some(true) { " " (badge("readonly", "pinned")) }
                                    }
                                    td { (v["file_count"].as_u64().unwrap_or(0)) }
                                    td { (when(v["created_at"].as_str().unwrap_or_default())) }
                                }
                            }
                        }
                    }
                }))
            }
        },
    ))
}

async fn version_page(
    console: &Console,
    session: &Session,
    repo: &str,
    package: &str,
    version: &str,
) -> Response {
    let path = format!(
        "/v1/repositories/{}/packages/{}/versions/{}",
        seg(repo),
        seg(package),
        seg(version)
    );
    let detail = match api::call(&console.api, session, Method::GET, &path, None).await {
        Ok(v) => v,
        Err(r) => return refused(session, "Version", &r),
    };
    let files = detail["files"].as_array().cloned().unwrap_or_default();
    let tags: Vec<String> = detail["tags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let labels = detail["labels"].as_object().cloned().unwrap_or_default();
    ok_page(page(
        Some(session),
        Section::Repositories,
        &format!("{package} {version}"),
        html! {
            p.crumbs {
                a href="/console/" { "Repositories" } " / "
                a href=(format!("/console/r/{}", seg(repo))) { (repo) } " / "
                a href=(format!("/console/r/{}/p/{}", seg(repo), seg(package))) { (package) } " / "
            }
            h1 { (package) " " (version) }
            @if let Some(y) = detail["yanked"].as_object() {
                p.notice { (badge("yanked", "yanked")) " " (y.get("reason").and_then(Value::as_str).unwrap_or_default()) }
            }
            @if !tags.is_empty() || !labels.is_empty() {
                p { @for t in &tags { (badge("readonly", t)) " " } @for (k, v) in &labels { (badge("readonly", &format!("{k}={}", v.as_str().unwrap_or_default()))) " " } }
            }
            (table_wrap(html! {
                table #files {
                    thead { tr {
                        th scope="col" { "File" } th scope="col" { "Size" } th scope="col" { "SHA-256" }
                        th scope="col" { "Uploaded" } th scope="col" { "By" } th scope="col" { "Scan" } th scope="col" { span.visually-hidden { "Download" } }
                    } }
                    tbody {
                        @for f in &files {
                            @let filename = f["filename"].as_str().unwrap_or_default();
                            @let sha = f["sha256"].as_str().unwrap_or_default();
                            tr {
                                td { (filename) }
                                td { (human_bytes(f["size"].as_u64().unwrap_or(0))) }
                                td { code.digest { (sha) } " " (copy_button(sha, &format!("Copy the SHA-256 of {filename}"))) }
                                td { (when(f["created_at"].as_str().unwrap_or_default())) }
                                td { (f["uploaded_by"].as_str().unwrap_or("—")) }
                                td { (scan_summary(&f["scan"])) }
                                td { a.download href=(format!("/console/download/{}/{}/{}/{}", seg(repo), seg(package), seg(version), seg(filename))) download=(filename) { "Download" } }
                            }
                        }
                    }
                }
            }))
        },
    ))
}

fn scan_summary(scan: &Value) -> Markup {
    match scan.as_object() {
        None => html! { "—" },
        Some(s) => {
            let status = s
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("complete");
            let engine = s.get("engine").and_then(Value::as_str).unwrap_or_default();
            html! { (badge(if status == "complete" { "published" } else { "pending" }, &format!("clean · {status}"))) " " small { (engine) } }
        }
    }
}

pub async fn download(
    State(console): State<Console>,
    SignedIn(session): SignedIn,
    Path((repo, rest)): Path<(String, String)>,
) -> Response {
    let mut parts = rest.rsplitn(3, '/');
    let (Some(filename), Some(version), Some(package)) = (parts.next(), parts.next(), parts.next())
    else {
        return not_found(Extension(Viewer(Some(session)))).await;
    };
    let path = format!(
        "/v1/repositories/{}/packages/{}/versions/{}/files/{}",
        seg(&repo),
        seg(package),
        seg(version),
        seg(filename)
    );
    match api::send(&console.api, &session, Method::GET, &path, None).await {
        Ok(response) if response.status().is_redirection() => response,
        Ok(response) => {
            let status = response.status();
            refused(
                &session,
                "Download",
                &Refusal {
                    status,
                    detail: format!("the download answered {status}"),
                },
            )
        }
        Err(r) => refused(&session, "Download", &r),
    }
}

// ---- search ----

pub async fn search(
    State(console): State<Console>,
    SignedIn(session): SignedIn,
    Query(filter): Query<Filter>,
) -> Response {
    let q = filter.q.unwrap_or_default();
    let result = if q.trim().is_empty() {
        None
    } else {
        let path = format!(
            "/v1/search?limit=50&q={}",
            percent_encoding::utf8_percent_encode(&q, percent_encoding::NON_ALPHANUMERIC)
        );
        Some(api::call(&console.api, &session, Method::GET, &path, None).await)
    };
    ok_page(page(
        Some(&session),
        Section::Search,
        "Search",
        html! {
            h1 { "Search" }
            form #search method="get" action="/console/search" role="search" {
                label for="q" { "Query" }
                input #q name="q" value=(q) maxlength="1024" placeholder="name:acme-* version:>=2 published:<30d";
                button type="submit" { "Search" }
            }
            p.hint { "Fields: name, repo, format, version, sha256, status, published, by, tag, label; free words match names and descriptions; OR, parentheses and - (not)." }
            @match &result {
                None => {}
                Some(Err(r)) => (layout::error(&r.detail)),
                Some(Ok(page)) => {
                    @let items = page["items"].as_array().cloned().unwrap_or_default();
                    @if items.is_empty() {
                        (empty("Nothing found.", html! { "Try fewer terms, or a glob such as name:acme-*." }))
                    } @else {
                        (table_wrap(html! {
                            table #results {
                                thead { tr { th scope="col" { "Repository" } th scope="col" { "Package" } th scope="col" { "Version" } th scope="col" { "Published" } th scope="col" { "Description" } } }
                                tbody {
                                    @for hit in &items {
                                        @let (r, p, v) = (hit["repository"].as_str().unwrap_or_default(), hit["package"].as_str().unwrap_or_default(), hit["version"].as_str().unwrap_or_default());
                                        tr {
                                            td { a href=(format!("/console/r/{}", seg(r))) { (r) } }
                                            td { (p) }
                                            td { a href=(format!("/console/r/{}/p/{}/v/{}", seg(r), seg(p), seg(v))) { (v) } }
                                            td { (when(hit["published_at"].as_str().unwrap_or_default())) }
                                            td { (hit["description"].as_str().unwrap_or_default()) }
                                        }
                                    }
                                }
                            }
                        }))
                        @if page["next_cursor"].is_string() { p.hint { "More results follow: narrow the query." } }
                    }
                }
            }
        },
    ))
}

// ---- API keys ----

pub async fn keys(State(console): State<Console>, SignedIn(session): SignedIn) -> Response {
    keys_page(&console, &session, None, None).await
}

async fn keys_page(
    console: &Console,
    session: &Session,
    created: Option<&Value>,
    problem: Option<&str>,
) -> Response {
    let list = match api::call(
        &console.api,
        session,
        Method::GET,
        "/v1/api-keys?limit=1000",
        None,
    )
    .await
    {
        Ok(v) => v["items"].as_array().cloned().unwrap_or_default(),
        Err(r) => return refused(session, "API keys", &r),
    };
    let mine: Vec<&Value> = list
        .iter()
        .filter(|k| k["revoked"].as_bool() != Some(true))
        .collect();
    ok_page(page(
        Some(session),
        Section::Keys,
        "API keys",
        html! {
            h1 { "API keys" }
            @if let Some(p) = problem { (layout::error(p)) }
            @if let Some(k) = created {
                @let secret = k["key"].as_str().unwrap_or_default();
                div #new-key.secret role="status" {
                    p { "Your new key " strong { (k["name"].as_str().unwrap_or_default()) } ". Copy it now: it is not shown again." }
                    code #new-key-value { (secret) }
                    " " (copy_button(secret, "Copy the new key"))
                }
            }
            @if mine.is_empty() {
                (empty("No API keys.", html! { "Create one for a laptop or a CI job below." }))
            } @else {
                (table_wrap(html! {
                    table #keys {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Owner" } th scope="col" { "Created" } th scope="col" { "Expires" } th scope="col" { "Last used" } th scope="col" { span.visually-hidden { "Actions" } } } }
                        tbody {
                            @for k in &mine {
                                @let id = k["id"].as_str().unwrap_or_default();
                                tr {
                                    td { (k["name"].as_str().unwrap_or_default()) }
                                    td { (k["owner"].as_str().unwrap_or_default()) }
                                    td { (when(k["created_at"].as_str().unwrap_or_default())) }
                                    td { @if let Some(t) = k["expires_at"].as_str() { (when(t)) } @else { "never" } }
                                    td { @if let Some(t) = k["last_used_at"].as_str() { (when(t)) } @else { "never" } }
                                    td {
                                        form.revoke method="post" action=(format!("/console/keys/{}/revoke", seg(id))) data-confirm=(format!("Revoke the key {}? Whatever uses it stops working.", k["name"].as_str().unwrap_or_default())) {
                                            (csrf_field(session))
                                            button.danger type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }))
            }
            h2 { "Create a key" }
            form #create-key method="post" action="/console/keys" {
                (csrf_field(session))
                label for="key-name" { "Name" }
                input #key-name name="name" required maxlength="100" placeholder="laptop";
                label for="key-days" { "Valid for (days)" }
                input #key-days name="days" type="number" min="1" max="730" value="90";
                label for="confirm-key" { "Your current API key, to confirm" }
                input #confirm-key name="confirm_key" type="password" autocomplete="current-password" required;
                p.hint { "A key is made with a key: a session lasts hours, and a credential never makes a key that outlives it." }
                button type="submit" { "Create key" }
            }
        },
    ))
}

pub async fn create_key(State(console): State<Console>, Change(session, form): Change) -> Response {
    let days: u64 = form
        .get("days")
        .and_then(|d| d.trim().parse().ok())
        .unwrap_or(90);
    let body = json!({
        "name": form.get("name").cloned().unwrap_or_default(),
        "expires_in": days.saturating_mul(86_400),
    });
    // Made with the person's own key, given again: a session's token lives hours, and the
    // API never lets a credential make a key that outlives it.
    let confirm = form
        .get("confirm_key")
        .map(|k| k.trim())
        .unwrap_or_default();
    let Some(confirming) = confirming_session(&console, &session, confirm).await else {
        let problem = "That is not a live key of yours: give the API key you signed in with, or another of your own.";
        return keys_page(&console, &session, None, Some(problem)).await;
    };
    match api::call(
        &console.api,
        &confirming,
        Method::POST,
        "/v1/api-keys",
        Some(body),
    )
    .await
    {
        Ok(created) => keys_page(&console, &session, Some(&created), None).await,
        Err(r) if r.status == StatusCode::UNAUTHORIZED => refused(&session, "API keys", &r),
        Err(r) => keys_page(&console, &session, None, Some(&r.detail)).await,
    }
}

/// `key` as a session of the same person, if it is one of their live API keys.
async fn confirming_session(console: &Console, session: &Session, key: &str) -> Option<Session> {
    use crate::services::access::authn::Decision;
    use crate::services::access::caller::{Caller, Credential};
    if key.is_empty() {
        return None;
    }
    let ip = session.caller.source_ip;
    let Ok(Decision::Allowed(identity)) = console
        .app
        .authorizer
        .decide(&console.app.ctx, Some(key), ip)
        .await
    else {
        return None;
    };
    let same = identity.tenant == session.caller.tenant
        && identity.principal == session.caller.principal
        && matches!(identity.credential, Credential::ApiKey { .. });
    same.then(|| Session {
        caller: Caller::new(&identity, ip, session.caller.request_id.clone()),
        token: key.to_owned(),
        csrf: session.csrf.clone(),
    })
}

pub async fn revoke_key(
    State(console): State<Console>,
    Path(id): Path<String>,
    Change(session, _): Change,
) -> Response {
    let path = format!("/v1/api-keys/{}", seg(&id));
    match api::call(&console.api, &session, Method::DELETE, &path, None).await {
        Ok(_) => Redirect::to("/console/keys").into_response(),
        Err(r) => keys_page(&console, &session, None, Some(&r.detail)).await,
    }
}
