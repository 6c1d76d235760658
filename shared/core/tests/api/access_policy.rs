//! Who may call each route, written out by hand, line by line, and never read from
//! `permissions::RULES`: the table the guard enforces must say the same, and the router,
//! driven with the caller just below each route's level and the one at it, must refuse the
//! first and serve the second. Loosening (or tightening) a rule in the code alone fails here.

use std::collections::{BTreeSet, HashMap};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;
use trove_core::domain::access::Role::{self, Admin, Maintainer, Reader, Writer};
use trove_core::http::permissions::{Need, RULES};
use trove_core::http::route_table;
use trove_testkit::archives::fixtures::{
    PythonProject, cargo_crate, cargo_publish_body, npm_publish_document, npm_tarball,
};

use crate::access::{self, Fixture};
use crate::app::TestApp;

use Need::{Authenticated, InRepository, Package, PlatformAdmin, Public, Repository, Tenant};

/// One route's line of the policy.
struct Policy {
    operation_id: &'static str,
    /// What the guard asks of the caller before any handler runs.
    need: Need,
    /// Where the use case asks more of the request this file sends (the package it names,
    /// another principal's object): the least caller it serves, and what it answers a caller
    /// one rung below that.
    use_case: Option<(Need, StatusCode)>,
}

const fn guard(operation_id: &'static str, need: Need) -> Policy {
    Policy {
        operation_id,
        need,
        use_case: None,
    }
}

const fn use_case(
    operation_id: &'static str,
    need: Need,
    least: Need,
    refused: StatusCode,
) -> Policy {
    Policy {
        operation_id,
        need,
        use_case: Some((least, refused)),
    }
}

const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;

/// The policy: for each operation of the API, the least caller that may call it.
const POLICY: &[Policy] = &[
    guard("healthz", Public),
    guard("openapi", Public),
    // Repositories: tenant admins create and delete them; their settings take an admin of the
    // whole repository; whoever sees anything in one may look at it.
    guard("create_repository", Tenant(Admin)),
    guard("list_repositories", Authenticated),
    guard("get_repository", InRepository(None)),
    guard("delete_repository", Tenant(Admin)),
    guard("put_retention", Repository(Admin)),
    guard("put_scan_policy", Repository(Admin)),
    guard("list_packages", InRepository(None)),
    guard("search", Authenticated),
    // Uploads: the package the body or the upload record names decides.
    use_case(
        "create_upload",
        InRepository(Some(Writer)),
        Package(Writer),
        FORBIDDEN,
    ),
    use_case(
        "get_upload",
        InRepository(Some(Reader)),
        Package(Reader),
        NOT_FOUND,
    ),
    use_case(
        "presign_upload_parts",
        InRepository(Some(Writer)),
        Package(Writer),
        FORBIDDEN,
    ),
    use_case(
        "complete_upload",
        InRepository(Some(Writer)),
        Package(Writer),
        FORBIDDEN,
    ),
    use_case(
        "cancel_upload",
        InRepository(Some(Writer)),
        Package(Writer),
        FORBIDDEN,
    ),
    // Packages and versions: readers read, writers label, maintainers change what is published.
    guard("get_package", Package(Reader)),
    guard("list_versions", Package(Reader)),
    guard("get_version", Package(Reader)),
    guard("download_file", Package(Reader)),
    guard("put_version_labels", Package(Writer)),
    guard("delete_version", Package(Maintainer)),
    guard("pin_version", Package(Maintainer)),
    guard("unpin_version", Package(Maintainer)),
    guard("yank_version", Package(Maintainer)),
    guard("unyank_version", Package(Maintainer)),
    // PyPI: the index lists what the caller may read; a project's page takes its reader.
    guard("pypi_simple_index", InRepository(None)),
    use_case(
        "pypi_simple_project",
        InRepository(None),
        Package(Reader),
        NOT_FOUND,
    ),
    guard("pypi_download", Package(Reader)),
    use_case(
        "pypi_upload",
        InRepository(Some(Writer)),
        Package(Writer),
        FORBIDDEN,
    ),
    // npm: a scoped name is no path parameter of the guard's, so the use case checks it.
    use_case(
        "npm_packument",
        InRepository(None),
        Package(Reader),
        NOT_FOUND,
    ),
    use_case(
        "npm_tarball",
        InRepository(None),
        Package(Reader),
        NOT_FOUND,
    ),
    use_case(
        "npm_publish",
        InRepository(Some(Writer)),
        Package(Writer),
        FORBIDDEN,
    ),
    use_case(
        "npm_unpublish_versions",
        InRepository(Some(Maintainer)),
        Package(Maintainer),
        FORBIDDEN,
    ),
    use_case(
        "npm_unpublish_package",
        InRepository(Some(Maintainer)),
        Package(Maintainer),
        FORBIDDEN,
    ),
    use_case(
        "npm_delete_tarball",
        InRepository(Some(Maintainer)),
        Package(Maintainer),
        FORBIDDEN,
    ),
    use_case(
        "npm_dist_tags",
        InRepository(None),
        Package(Reader),
        NOT_FOUND,
    ),
    use_case(
        "npm_set_dist_tag",
        InRepository(Some(Writer)),
        Package(Writer),
        FORBIDDEN,
    ),
    use_case(
        "npm_remove_dist_tag",
        InRepository(Some(Writer)),
        Package(Writer),
        FORBIDDEN,
    ),
    guard("npm_ping", InRepository(None)),
    guard("npm_whoami", InRepository(None)),
    guard("npm_audit", InRepository(None)),
    // Cargo: the crate is named in lower case by index paths, so the use case checks it.
    guard("cargo_config", InRepository(None)),
    use_case(
        "cargo_index_short",
        InRepository(None),
        Package(Reader),
        NOT_FOUND,
    ),
    use_case(
        "cargo_index_long",
        InRepository(None),
        Package(Reader),
        NOT_FOUND,
    ),
    use_case(
        "cargo_download",
        InRepository(None),
        Package(Reader),
        NOT_FOUND,
    ),
    guard("cargo_search", InRepository(None)),
    use_case(
        "cargo_list_owners",
        InRepository(None),
        Package(Reader),
        NOT_FOUND,
    ),
    use_case(
        "cargo_publish",
        InRepository(Some(Writer)),
        Package(Writer),
        FORBIDDEN,
    ),
    use_case(
        "cargo_yank",
        InRepository(Some(Maintainer)),
        Package(Maintainer),
        FORBIDDEN,
    ),
    use_case(
        "cargo_unyank",
        InRepository(Some(Maintainer)),
        Package(Maintainer),
        FORBIDDEN,
    ),
    use_case(
        "cargo_add_owners",
        InRepository(Some(Admin)),
        Package(Admin),
        FORBIDDEN,
    ),
    use_case(
        "cargo_remove_owners",
        InRepository(Some(Admin)),
        Package(Admin),
        FORBIDDEN,
    ),
    // Identity: anyone about themselves; tenant admins about everyone; platform admins
    // about tenants.
    guard("get_caller", Authenticated),
    guard("issue_token", Authenticated),
    guard("create_tenant", PlatformAdmin),
    guard("list_tenants", PlatformAdmin),
    guard("create_user", Tenant(Admin)),
    guard("list_users", Tenant(Admin)),
    guard("create_service_account", Tenant(Admin)),
    guard("list_service_accounts", Tenant(Admin)),
    guard("create_group", Tenant(Admin)),
    guard("list_groups", Tenant(Admin)),
    guard("get_group", Tenant(Admin)),
    guard("get_principal", Tenant(Admin)),
    guard("add_group_member", Tenant(Admin)),
    guard("remove_group_member", Tenant(Admin)),
    // Grants within the caller's admin scopes (the request's grant is on libs); another
    // principal's grant the caller may not manage is not there for it.
    use_case("create_grant", Authenticated, Repository(Admin), FORBIDDEN),
    guard("list_grants", Authenticated),
    use_case("get_grant", Authenticated, Repository(Admin), NOT_FOUND),
    use_case("delete_grant", Authenticated, Repository(Admin), NOT_FOUND),
    // One's own keys; another principal's only for a tenant admin.
    guard("create_api_key", Authenticated),
    guard("list_api_keys", Authenticated),
    use_case("revoke_api_key", Authenticated, Tenant(Admin), NOT_FOUND),
    guard("list_audit", Tenant(Admin)),
    guard("get_policy", Tenant(Admin)),
    guard("put_policy", Tenant(Admin)),
    guard("create_oidc_provider", Tenant(Admin)),
    guard("list_oidc_providers", Tenant(Admin)),
    guard("delete_oidc_provider", Tenant(Admin)),
    guard("list_reports", Tenant(Admin)),
    guard("get_report", Tenant(Admin)),
    // Webhooks: tenant admins, and admins of the repository a webhook is scoped to (libs).
    use_case(
        "create_webhook",
        Authenticated,
        Repository(Admin),
        FORBIDDEN,
    ),
    guard("list_webhooks", Authenticated),
    use_case("get_webhook", Authenticated, Repository(Admin), FORBIDDEN),
    use_case(
        "update_webhook",
        Authenticated,
        Repository(Admin),
        FORBIDDEN,
    ),
    use_case(
        "delete_webhook",
        Authenticated,
        Repository(Admin),
        FORBIDDEN,
    ),
    use_case("ping_webhook", Authenticated, Repository(Admin), FORBIDDEN),
    use_case(
        "list_webhook_deliveries",
        Authenticated,
        Repository(Admin),
        FORBIDDEN,
    ),
    use_case(
        "redeliver_webhook_delivery",
        Authenticated,
        Repository(Admin),
        FORBIDDEN,
    ),
];

fn policy(operation_id: &str) -> Option<&'static Policy> {
    POLICY.iter().find(|p| p.operation_id == operation_id)
}

/// What the guard asks on `operation_id`, by this file's policy.
pub(super) fn need_of(operation_id: &str) -> Need {
    policy(operation_id)
        .unwrap_or_else(|| panic!("{operation_id} has no line in access_policy::POLICY"))
        .need
}

#[test]
fn the_permission_table_says_what_the_written_policy_says_for_every_route() {
    let mut disagreements = Vec::new();
    let mut lines = BTreeSet::new();
    for p in POLICY {
        let op = p.operation_id;
        if !lines.insert(op) {
            disagreements.push(format!("{op}: two lines in the policy"));
        }
        let rules: Vec<_> = RULES.iter().filter(|r| r.operation_id == op).collect();
        match rules.as_slice() {
            [] => disagreements.push(format!("{op}: in the policy, not in permissions::RULES")),
            [rule] if rule.need != p.need => disagreements.push(format!(
                "{op}: permissions::RULES say {:?}, the policy {:?}",
                rule.need, p.need
            )),
            [_] => {}
            _ => disagreements.push(format!("{op}: {} rules in RULES", rules.len())),
        }
    }
    for rule in RULES {
        if policy(rule.operation_id).is_none() {
            disagreements.push(format!(
                "{}: a permission rule without a policy line",
                rule.operation_id
            ));
        }
    }
    let routes = route_table();
    for route in &routes {
        if policy(&route.operation_id).is_none() {
            disagreements.push(format!(
                "{} ({} {}): a route without a policy line",
                route.operation_id, route.method, route.path
            ));
        }
    }
    let served: BTreeSet<&str> = routes.iter().map(|r| r.operation_id.as_str()).collect();
    for op in lines.difference(&served) {
        disagreements.push(format!("{op}: a policy line for no route"));
    }
    assert!(
        disagreements.is_empty(),
        "the policy and the code disagree:\n{}",
        disagreements.join("\n")
    );
}

/// A caller of the walk, on the route's repository and package where that matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Anonymous,
    /// Authenticated, without any grant.
    Nobody,
    /// An admin of another tenant.
    AdminElsewhere,
    /// The role on the whole tenant `default` (its admins are platform admins).
    OnTenant(Role),
    OnRepository(Role),
    OnPackage(Role),
    /// A reader of another package of the repository: sees the repository, not the package.
    Neighbour,
    /// A reader of another repository.
    Outsider,
}

/// The least caller `need` admits.
fn least(need: Need) -> Who {
    match need {
        Public => Who::Anonymous,
        Authenticated => Who::Nobody,
        PlatformAdmin => Who::OnTenant(Admin),
        Tenant(role) => Who::OnTenant(role),
        Repository(role) => Who::OnRepository(role),
        Package(role) | InRepository(Some(role)) => Who::OnPackage(role),
        InRepository(None) => Who::Neighbour,
    }
}

fn role_below(role: Role) -> Option<Role> {
    match role {
        Reader => None,
        Writer => Some(Reader),
        Maintainer => Some(Writer),
        Admin => Some(Maintainer),
    }
}

/// The authenticated callers one rung below what `need` admits.
fn just_below(need: Need) -> Vec<Who> {
    match need {
        Public | Authenticated => Vec::new(),
        PlatformAdmin => vec![Who::AdminElsewhere],
        Tenant(role) => vec![role_below(role).map_or(Who::Nobody, Who::OnTenant)],
        // A grant on a package of the repository is not one on the repository.
        Repository(role) => vec![
            role_below(role).map_or(Who::Neighbour, Who::OnRepository),
            Who::OnPackage(Admin),
        ],
        Package(role) | InRepository(Some(role)) => {
            vec![role_below(role).map_or(Who::Neighbour, Who::OnPackage)]
        }
        InRepository(None) => vec![Who::Outsider],
    }
}

/// What the guard answers `who`, below what `need` admits: who cannot see the repository or
/// the package finds nothing there; who sees it is refused.
fn guard_refusal(need: Need, who: Who) -> StatusCode {
    match who {
        Who::Anonymous => StatusCode::UNAUTHORIZED,
        Who::Outsider => NOT_FOUND,
        Who::Neighbour if !matches!(need, Repository(_)) => NOT_FOUND,
        _ => FORBIDDEN,
    }
}

/// The repository and the package pattern a route's request is about.
fn target(op: &str) -> (&'static str, &'static str) {
    match op {
        "npm_unpublish_versions" | "npm_unpublish_package" | "npm_delete_tarball" => {
            ("js", "gone-*")
        }
        // Index paths of one- and two-letter crates are the short ones.
        "cargo_index_short" => ("crates", "ab"),
        _ if op.starts_with("pypi_") => ("py", "acme-core"),
        _ if op.starts_with("npm_") => ("js", "acme-core"),
        _ if op.starts_with("cargo_") => ("crates", "acme-core"),
        _ => ("libs", "acme-core"),
    }
}

/// The keys of the walk's callers, each made once.
struct Callers<'a> {
    app: &'a TestApp,
    made: HashMap<(Who, &'static str, &'static str), String>,
}

impl Callers<'_> {
    async fn key(
        &mut self,
        who: Who,
        (repo, package): (&'static str, &'static str),
    ) -> Option<String> {
        let place = match who {
            Who::OnRepository(_) | Who::OnPackage(_) | Who::Neighbour => (repo, package),
            _ => ("", ""),
        };
        if let Some(key) = self.made.get(&(who, place.0, place.1)) {
            return Some(key.clone());
        }
        let app = self.app;
        let name = format!("policy-{}", self.made.len());
        let key = match who {
            Who::Anonymous => return None,
            Who::Nobody => access::key_without_grants(app, &name).await,
            Who::AdminElsewhere => app.tenant_key("other").await,
            Who::OnTenant(role) => app.key_with(&name, role.as_str(), json!({})).await,
            Who::OnRepository(role) => {
                app.key_with(&name, role.as_str(), json!({"repository": repo}))
                    .await
            }
            Who::OnPackage(role) => {
                let scope = json!({"repository": repo, "package": package});
                app.key_with(&name, role.as_str(), scope).await
            }
            Who::Neighbour => {
                let scope = json!({"repository": repo, "package": "zzz-*"});
                app.key_with(&name, "reader", scope).await
            }
            Who::Outsider => {
                app.key_with(&name, "reader", json!({"repository": "elsewhere"}))
                    .await
            }
        };
        self.made.insert((who, place.0, place.1), key.clone());
        Some(key)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_refuses_the_caller_just_below_its_policy_and_serves_the_one_at_it() {
    let f = access::fixture().await;
    client_registries(&f.app).await;
    let mut callers = Callers {
        app: &f.app,
        made: HashMap::new(),
    };
    let mut wrong = Vec::new();
    let mut n = 0;
    for route in route_table() {
        let op = route.operation_id.as_str();
        let Some(line) = policy(op) else {
            wrong.push(format!("{op}: no policy line"));
            continue;
        };
        let (need, use_case_refusal) = match line.use_case {
            Some((least, refused)) => (least, Some(refused)),
            None => (line.need, None),
        };
        let mut cases = Vec::new();
        if line.need != Public {
            cases.push((Who::Anonymous, Some(StatusCode::UNAUTHORIZED)));
        }
        for who in just_below(need) {
            let refused = use_case_refusal.unwrap_or_else(|| guard_refusal(need, who));
            cases.push((who, Some(refused)));
        }
        cases.push((least(need), None));
        for (who, refused) in cases {
            n += 1;
            let key = callers.key(who, target(op)).await;
            let sent = if access::has_own_matrix(op) {
                client_request(&f, op, n).await
            } else {
                let (method, uri, body) = access::request(&f, op, n).await;
                Sent::json(method, uri, body)
            };
            let (status, answer) = send(&f.app, sent, key.as_deref()).await;
            let served = status.is_success() || status.is_redirection();
            let answer = excerpt(&answer);
            match refused {
                Some(want) if status != want => wrong.push(format!(
                    "{op} by {who:?}: want {want}, got {status} {answer}"
                )),
                None if !served => {
                    wrong.push(format!("{op} by {who:?}: refused with {status} {answer}"))
                }
                _ => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "routes that do not keep the policy:\n{}",
        wrong.join("\n")
    );
}

/// The start of an answer, enough to tell why it came.
fn excerpt(answer: &str) -> String {
    answer.chars().take(200).collect()
}

/// A request as the router receives it.
struct Sent {
    method: Method,
    uri: String,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Sent {
    fn json(method: Method, uri: impl Into<String>, body: Option<Value>) -> Self {
        Self {
            method,
            uri: uri.into(),
            content_type: body.as_ref().map(|_| "application/json".to_owned()),
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        }
    }

    fn get(uri: impl Into<String>) -> Self {
        Self::json(Method::GET, uri, None)
    }
}

/// Package managers' clients send the registry's host, from which their URLs are made.
const HOST: &str = "registry.test";

/// `sent` with `key` as a Bearer credential (which every client route takes): the status
/// and the body as text.
async fn send(app: &TestApp, sent: Sent, key: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(sent.method)
        .uri(&sent.uri)
        .header(header::HOST, HOST)
        .extension(trove_core::http::guard::SourceIp(None));
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    if let Some(ctype) = &sent.content_type {
        req = req.header(header::CONTENT_TYPE, ctype);
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(Body::from(sent.body)).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// `sent` as the admin, which must succeed: the answer as JSON (null if it is not).
async fn as_admin(app: &TestApp, sent: Sent) -> Value {
    let what = format!("{} {}", sent.method, sent.uri);
    let (status, answer) = send(app, sent, Some(&app.admin)).await;
    assert!(
        status.is_success(),
        "{what} as the admin: {status} {answer}"
    );
    serde_json::from_str(&answer).unwrap_or(Value::Null)
}

/// A PyPI, an npm and a Cargo registry, each with acme-core published by the admin (and the
/// two-letter crate `ab`, whose index path is a short one).
async fn client_registries(app: &TestApp) {
    for (name, format) in [("py", "pypi"), ("js", "npm"), ("crates", "cargo")] {
        let repo = json!({"name": name, "format": format});
        as_admin(
            app,
            Sent::json(Method::POST, "/v1/repositories", Some(repo)),
        )
        .await;
    }
    as_admin(app, twine_upload("1.0")).await;
    as_admin(app, npm_publish("acme-core", "1.0.0")).await;
    as_admin(app, cargo_publish("acme-core", "1.0.0")).await;
    as_admin(app, cargo_publish("ab", "1.0.0")).await;
}

const PY_MODULE: &[(&str, &[u8])] = &[("acme_core/__init__.py", b"ANSWER = 42\n")];

fn python_project(version: &str) -> PythonProject<'_> {
    PythonProject {
        dist: "acme_core",
        name: "acme-core",
        version,
        extra_metadata: "",
        files: PY_MODULE,
    }
}

/// twine's upload of acme-core's wheel at `version`: the form's fields, then the file.
fn twine_upload(version: &str) -> Sent {
    let project = python_project(version);
    let wheel = project.wheel();
    let sha = hex::encode(Sha256::digest(&wheel));
    let fields = [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("name", "acme-core"),
        ("version", version),
        ("sha256_digest", sha.as_str()),
    ];
    let (content_type, body) = crate::pypi::form(&fields, &project.wheel_name(), &wheel);
    Sent {
        method: Method::POST,
        uri: "/pypi/default/py/legacy/".into(),
        content_type: Some(content_type),
        body,
    }
}

/// `npm publish` of `name@version` under the tag latest.
fn npm_publish(name: &str, version: &str) -> Sent {
    let manifest = format!(
        r#"{{"name":"{name}","version":"{version}","description":"A widget","main":"index.js","license":"MIT"}}"#
    );
    let tarball = npm_tarball(&manifest, &[("index.js", b"module.exports = 42;\n")]);
    let doc = npm_publish_document(name, version, "latest", &tarball);
    Sent {
        method: Method::PUT,
        uri: format!("/npm/default/js/{name}"),
        content_type: Some("application/json".into()),
        body: doc.into_bytes(),
    }
}

fn cargo_publish(name: &str, version: &str) -> Sent {
    let krate = cargo_crate(name, version, "");
    Sent {
        method: Method::PUT,
        uri: "/cargo/default/crates/api/v1/crates/new".into(),
        content_type: None,
        body: cargo_publish_body(name, version, &krate),
    }
}

/// A package of the npm registry made for one destructive request: 0.9.0, then 1.0.0 as
/// latest, so that no tag holds 0.9.0 back. Its name and its packument.
async fn npm_victim(app: &TestApp, n: usize) -> (String, Value) {
    let name = format!("gone-{n}");
    as_admin(app, npm_publish(&name, "0.9.0")).await;
    as_admin(app, npm_publish(&name, "1.0.0")).await;
    let packument = as_admin(app, Sent::get(format!("/npm/default/js/{name}"))).await;
    (name, packument)
}

fn rev_of(packument: &Value) -> &str {
    packument["_rev"].as_str().expect("_rev")
}

/// The request that exercises the package manager's route `op` for case `n`.
async fn client_request(f: &Fixture, op: &str, n: usize) -> Sent {
    let app = &f.app;
    let crates = "/cargo/default/crates";
    let tags = "/npm/default/js/-/package/acme-core/dist-tags";
    match op {
        "pypi_simple_index" => Sent::get("/pypi/default/py/simple/"),
        "pypi_simple_project" => Sent::get("/pypi/default/py/simple/acme-core/"),
        "pypi_download" => Sent::get(format!(
            "/pypi/default/py/files/acme-core/1.0/{}",
            python_project("1.0").wheel_name()
        )),
        "pypi_upload" => twine_upload(&format!("1.{n}")),
        "npm_packument" => Sent::get("/npm/default/js/acme-core"),
        "npm_tarball" => Sent::get("/npm/default/js/acme-core/-/acme-core-1.0.0.tgz"),
        "npm_publish" => npm_publish("acme-core", &format!("1.{n}.0")),
        "npm_unpublish_versions" => {
            let (name, mut doc) = npm_victim(app, n).await;
            let rev = rev_of(&doc).to_owned();
            doc["versions"]
                .as_object_mut()
                .expect("versions")
                .remove("0.9.0");
            let uri = format!("/npm/default/js/{name}/-rev/{rev}");
            Sent::json(Method::PUT, uri, Some(doc))
        }
        "npm_unpublish_package" => {
            let (name, doc) = npm_victim(app, n).await;
            let uri = format!("/npm/default/js/{name}/-rev/{}", rev_of(&doc));
            Sent::json(Method::DELETE, uri, None)
        }
        "npm_delete_tarball" => {
            let (name, doc) = npm_victim(app, n).await;
            let uri = format!(
                "/npm/default/js/{name}/-/{name}-0.9.0.tgz/-rev/{}",
                rev_of(&doc)
            );
            Sent::json(Method::DELETE, uri, None)
        }
        "npm_dist_tags" => Sent::get(tags),
        "npm_set_dist_tag" => Sent::json(Method::PUT, format!("{tags}/t{n}"), Some(json!("1.0.0"))),
        "npm_remove_dist_tag" => {
            let uri = format!("{tags}/t{n}");
            as_admin(app, Sent::json(Method::PUT, &uri, Some(json!("1.0.0")))).await;
            Sent::json(Method::DELETE, uri, None)
        }
        "npm_ping" => Sent::get("/npm/default/js/-/ping"),
        "npm_whoami" => Sent::get("/npm/default/js/-/whoami"),
        // The body (what is installed) is not read: nothing is matched against it.
        "npm_audit" => Sent::json(
            Method::POST,
            "/npm/default/js/-/npm/v1/security/advisories/bulk",
            Some(json!({})),
        ),
        "cargo_config" => Sent::get(format!("{crates}/index/config.json")),
        "cargo_index_short" => Sent::get(format!("{crates}/index/2/ab")),
        "cargo_index_long" => Sent::get(format!("{crates}/index/ac/me/acme-core")),
        "cargo_download" => Sent::get(format!("{crates}/api/v1/crates/acme-core/1.0.0/download")),
        "cargo_search" => Sent::get(format!("{crates}/api/v1/crates?q=acme")),
        "cargo_list_owners" => Sent::get(format!("{crates}/api/v1/crates/acme-core/owners")),
        "cargo_publish" => cargo_publish("acme-core", &format!("1.{n}.0")),
        "cargo_yank" => Sent::json(
            Method::DELETE,
            format!("{crates}/api/v1/crates/acme-core/1.0.0/yank"),
            None,
        ),
        "cargo_unyank" => Sent::json(
            Method::PUT,
            format!("{crates}/api/v1/crates/acme-core/1.0.0/unyank"),
            None,
        ),
        "cargo_add_owners" => Sent::json(
            Method::PUT,
            format!("{crates}/api/v1/crates/acme-core/owners"),
            Some(json!({"users": [f.target]})),
        ),
        "cargo_remove_owners" => {
            let uri = format!("{crates}/api/v1/crates/acme-core/owners");
            let owners = json!({"users": [f.target]});
            as_admin(app, Sent::json(Method::PUT, &uri, Some(owners.clone()))).await;
            Sent::json(Method::DELETE, uri, Some(owners))
        }
        other => panic!("the policy walk has no request for route {other}: add one"),
    }
}
