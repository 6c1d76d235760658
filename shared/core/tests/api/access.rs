//! Access control end to end, in-process: the generated matrix (every route × role × scope ×
//! same / other tenant, checked against the hand-written policy of `access_policy` through
//! an independent model, never against the `permissions::RULES` the guard enforces), the
//! audit walk (one record per mutation and per denied attempt), and the identity flows.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::access_policy::need_of;
use crate::app::TestApp;
use trove_core::domain::audit_action::AuditAction;
use trove_core::http::permissions::{Need, RULES, rule};
use trove_core::http::route_table;

const ROLES: [&str; 4] = ["reader", "writer", "maintainer", "admin"];

/// The scopes the matrix grants on. The fixture's package is `libs/acme-core`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Tenant,
    Libs,
    /// `acme-*` in libs: covers the package.
    Acme,
    /// `zzz-*` in libs: sees the repository, not the package.
    Zzz,
    /// Another repository: nothing here.
    Elsewhere,
}

const SCOPES: [Scope; 5] = [
    Scope::Tenant,
    Scope::Libs,
    Scope::Acme,
    Scope::Zzz,
    Scope::Elsewhere,
];

fn scope_json(s: Scope) -> Value {
    match s {
        Scope::Tenant => json!({}),
        Scope::Libs => json!({"repository": "libs"}),
        Scope::Acme => json!({"repository": "libs", "package": "acme-*"}),
        Scope::Zzz => json!({"repository": "libs", "package": "zzz-*"}),
        Scope::Elsewhere => json!({"repository": "elsewhere"}),
    }
}

/// A principal of the matrix: a service account with at most one grant.
#[derive(Debug, Clone)]
struct Subject {
    label: String,
    key: String,
    grant: Option<(usize, Scope)>,
}

/// The model the answers are checked against, written from the rules and not from
/// the code under test.
impl Subject {
    fn role_on_package(&self) -> Option<usize> {
        match self.grant {
            Some((r, Scope::Tenant | Scope::Libs | Scope::Acme)) => Some(r),
            _ => None,
        }
    }
    fn sees_libs(&self) -> bool {
        matches!(
            self.grant,
            Some((_, Scope::Tenant | Scope::Libs | Scope::Acme | Scope::Zzz))
        )
    }
    fn admin_of_libs(&self) -> bool {
        matches!(self.grant, Some((3, Scope::Tenant | Scope::Libs)))
    }
    fn tenant_role(&self) -> Option<usize> {
        match self.grant {
            Some((r, Scope::Tenant)) => Some(r),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Ok,
    Forbidden,
    NotFound,
}

fn rank(role: trove_core::domain::access::Role) -> usize {
    role as usize
}

/// What the subject of tenant `default` should get on the route.
fn expected(op: &str, need: Need, s: &Subject) -> Want {
    let package = |min: usize| match s.role_on_package() {
        _ if !s.sees_libs() => Want::NotFound,
        None => Want::NotFound,
        Some(r) if r < min => Want::Forbidden,
        Some(_) => Want::Ok,
    };
    match need {
        Need::Public => Want::Ok,
        Need::Tenant(role) => match s.tenant_role() {
            Some(r) if r >= rank(role) => Want::Ok,
            _ => Want::Forbidden,
        },
        Need::PlatformAdmin => match s.tenant_role() {
            Some(3) => Want::Ok,
            _ => Want::Forbidden,
        },
        Need::Package(role) => package(rank(role)),
        Need::Repository(role) => match s.grant {
            _ if !s.sees_libs() => Want::NotFound,
            Some((r, Scope::Tenant | Scope::Libs)) if r >= rank(role) => Want::Ok,
            _ => Want::Forbidden,
        },
        Need::InRepository(None) => {
            if s.sees_libs() {
                Want::Ok
            } else {
                Want::NotFound
            }
        }
        Need::InRepository(Some(role)) => package(rank(role)),
        Need::Authenticated => match op {
            "create_grant" => {
                if s.admin_of_libs() {
                    Want::Ok
                } else {
                    Want::Forbidden
                }
            }
            "get_grant" | "delete_grant" => {
                if s.admin_of_libs() {
                    Want::Ok
                } else {
                    Want::NotFound
                }
            }
            "create_webhook"
            | "get_webhook"
            | "update_webhook"
            | "delete_webhook"
            | "ping_webhook"
            | "list_webhook_deliveries"
            | "redeliver_webhook_delivery" => {
                // The fixture's webhook is scoped to libs: its admins manage it; who only
                // sees libs is refused, who does not even see it finds nothing.
                if s.admin_of_libs() {
                    Want::Ok
                } else if s.sees_libs() {
                    Want::Forbidden
                } else {
                    Want::NotFound
                }
            }
            "revoke_api_key" => {
                if s.tenant_role() == Some(3) {
                    Want::Ok
                } else {
                    Want::NotFound
                }
            }
            _ => Want::Ok,
        },
    }
}

fn success(op: &str) -> StatusCode {
    match op {
        "create_repository"
        | "create_upload"
        | "create_tenant"
        | "create_user"
        | "create_service_account"
        | "create_group"
        | "create_grant"
        | "create_api_key"
        | "create_oidc_provider"
        | "create_webhook" => StatusCode::CREATED,
        "ping_webhook" | "redeliver_webhook_delivery" | "complete_upload" => StatusCode::ACCEPTED,
        "delete_version"
        | "delete_repository"
        | "add_group_member"
        | "remove_group_member"
        | "delete_grant"
        | "revoke_api_key"
        | "delete_oidc_provider"
        | "delete_webhook"
        | "cancel_upload" => StatusCode::NO_CONTENT,
        _ => StatusCode::OK,
    }
}

/// The tenant `default` with: repository libs holding acme-core 1.0.0 (a.bin) and versions
/// to delete, an open upload, a group, a target service account and a grant to it.
pub(super) struct Fixture {
    pub(super) app: TestApp,
    upload_id: String,
    group: String,
    /// A service account nobody but the admin acts on.
    pub(super) target: String,
    target_grant: String,
    admin_id: String,
    /// The day of the one report the fixture's tenant has.
    report_date: String,
    /// A webhook scoped to libs, and one of its deliveries.
    hook: String,
    delivery: String,
    /// Versions 9.0.<i> published to be deleted, one per delete_version request.
    next_deletable: std::sync::atomic::AtomicUsize,
}

const DELETABLE: usize = 30;

async fn post(app: &TestApp, uri: &str, body: Value) -> Value {
    let (status, _, v) = app
        .call(Method::POST, uri, Some(&app.admin), Some(body))
        .await;
    assert!(status.is_success(), "POST {uri}: {status} {v}");
    v
}

pub(super) async fn fixture() -> Fixture {
    let app = TestApp::new().await;
    // The matrix sends hundreds of requests per principal: lift the limits for it (the
    // limits have their own tests).
    let big = json!({"per_second": 100000.0, "burst": 100000});
    let (status, _, v) = app
        .call(
            Method::PUT,
            "/v1/policy",
            Some(&app.admin),
            Some(json!({"rate_limits": {"anonymous": big, "user": big, "service_account": big, "admin": big}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    post(
        &app,
        "/v1/repositories",
        json!({"name": "libs", "format": "generic"}),
    )
    .await;
    let admin = app.admin.clone();
    for version in ["1.0.0"]
        .into_iter()
        .map(str::to_owned)
        .chain((0..DELETABLE).map(|i| format!("9.0.{i}")))
    {
        let up = app
            .publish(
                &admin,
                "libs",
                "acme-core",
                &version,
                "a.bin",
                version.as_bytes(),
            )
            .await;
        assert_eq!(up["status"], "published", "{up}");
    }
    let ticket = post(
        &app,
        "/v1/repositories/libs/uploads",
        json!({"package": "acme-core", "version": "2.0.0", "filename": "b.bin", "size": 3, "sha256": "a".repeat(64)}),
    )
    .await;
    let group = post(&app, "/v1/groups", json!({"name": "team"})).await;
    let target = post(&app, "/v1/service-accounts", json!({"name": "target"})).await;
    let target = target["id"].as_str().expect("id").to_owned();
    let grant = post(
        &app,
        "/v1/grants",
        json!({"principal": target, "role": "reader", "scope": {"repository": "libs"}}),
    )
    .await;
    let (_, _, me) = app.call(Method::GET, "/v1/me", Some(&admin), None).await;
    let today = app.host.ctx.clock.now().date();
    let options = trove_core::jobs::report::ReportOptions {
        dry_run: false,
        date: Some(today),
        stale_after_days: 90,
        deadline: None,
    };
    trove_core::jobs::report::run(&app.host.ctx, options)
        .await
        .expect("report runs");
    let hook = post(&app, "/v1/webhooks", webhook_config()).await;
    let hook = hook["id"].as_str().expect("id").to_owned();
    let delivery = post(&app, &format!("/v1/webhooks/{hook}/ping"), json!(null)).await;
    Fixture {
        report_date: trove_core::services::records::reports::format_date(today),
        hook,
        delivery: delivery["id"].as_str().expect("id").to_owned(),
        upload_id: ticket["upload_id"].as_str().expect("id").to_owned(),
        group: group["id"].as_str().expect("id").to_owned(),
        target,
        target_grant: grant["id"].as_str().expect("id").to_owned(),
        admin_id: me["principal"].as_str().expect("principal").to_owned(),
        next_deletable: std::sync::atomic::AtomicUsize::new(0),
        app,
    }
}

/// A service account with one grant (or none) and its API key.
async fn subject(app: &TestApp, label: &str, grant: Option<(usize, Scope)>) -> Subject {
    let sa = post(app, "/v1/service-accounts", json!({"name": label})).await;
    let id = sa["id"].as_str().expect("id");
    if let Some((role, scope)) = grant {
        post(
            app,
            "/v1/grants",
            json!({"principal": id, "role": ROLES[role], "scope": scope_json(scope)}),
        )
        .await;
    }
    let key = post(app, "/v1/api-keys", json!({"owner": id, "name": "matrix"})).await;
    Subject {
        label: label.to_owned(),
        key: key["key"].as_str().expect("key").to_owned(),
        grant,
    }
}

/// The API key of a service account without any grant: authenticated, and nothing more.
pub(super) async fn key_without_grants(app: &TestApp, label: &str) -> String {
    subject(app, label, None).await.key
}

/// The request that exercises `op` for case `n`: unique names for creations, and a fresh
/// target (made by the admin) for each destructive call.
pub(super) async fn request(f: &Fixture, op: &str, n: usize) -> (Method, String, Option<Value>) {
    let app = &f.app;
    let pkg = "/v1/repositories/libs/packages/acme-core";
    match op {
        "healthz" => (Method::GET, "/healthz".into(), None),
        "openapi" => (Method::GET, "/openapi.json".into(), None),
        "create_repository" => (
            Method::POST,
            "/v1/repositories".into(),
            Some(json!({"name": format!("r{n}"), "format": "generic"})),
        ),
        "list_repositories" => (Method::GET, "/v1/repositories".into(), None),
        "get_repository" => (Method::GET, "/v1/repositories/libs".into(), None),
        "delete_repository" => {
            let name = format!("gone{n}");
            post(
                app,
                "/v1/repositories",
                json!({"name": name, "format": "generic"}),
            )
            .await;
            (Method::DELETE, format!("/v1/repositories/{name}"), None)
        }
        "put_retention" => (
            Method::PUT,
            "/v1/repositories/libs/retention".into(),
            Some(json!({"keep_last": 1000})),
        ),
        "put_scan_policy" => (
            Method::PUT,
            "/v1/repositories/libs/scan-policy".into(),
            Some(json!({"max_ratio": 100})),
        ),
        "create_upload" => (
            Method::POST,
            "/v1/repositories/libs/uploads".into(),
            Some(
                json!({"package": "acme-core", "version": format!("3.0.{n}"), "filename": "c.bin", "size": 3, "sha256": "b".repeat(64)}),
            ),
        ),
        "get_upload" => (
            Method::GET,
            format!("/v1/repositories/libs/uploads/{}", f.upload_id),
            None,
        ),
        "presign_upload_parts" => {
            let id = upload_in_parts(app, n, false).await;
            (
                Method::POST,
                format!("/v1/repositories/libs/uploads/{id}/parts"),
                Some(json!({"parts": [{"number": 1, "sha256": ONE_PART_SHA}]})),
            )
        }
        "complete_upload" => {
            let id = upload_in_parts(app, n, true).await;
            (
                Method::POST,
                format!("/v1/repositories/libs/uploads/{id}/complete"),
                None,
            )
        }
        "cancel_upload" => {
            let ticket = post(
                app,
                "/v1/repositories/libs/uploads",
                json!({"package": "acme-core", "version": format!("5.0.{n}"), "filename": "e.bin", "size": 3, "sha256": "c".repeat(64)}),
            )
            .await;
            (
                Method::DELETE,
                format!(
                    "/v1/repositories/libs/uploads/{}",
                    ticket["upload_id"].as_str().expect("id")
                ),
                None,
            )
        }
        "list_packages" => (Method::GET, "/v1/repositories/libs/packages".into(), None),
        "get_package" => (Method::GET, pkg.into(), None),
        "list_versions" => (Method::GET, format!("{pkg}/versions"), None),
        "get_version" => (Method::GET, format!("{pkg}/versions/1.0.0"), None),
        "delete_version" => {
            let i = f
                .next_deletable
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            assert!(i < DELETABLE, "publish more deletable versions");
            (Method::DELETE, format!("{pkg}/versions/9.0.{i}"), None)
        }
        "pin_version" => (Method::PUT, format!("{pkg}/versions/1.0.0/pin"), None),
        "unpin_version" => (Method::DELETE, format!("{pkg}/versions/1.0.0/pin"), None),
        "put_version_labels" => (
            Method::PUT,
            format!("{pkg}/versions/1.0.0/labels"),
            Some(json!({"tags": [format!("t{n}")], "labels": {"case": format!("n{n}")}})),
        ),
        "search" => (Method::GET, "/v1/search?q=name:acme-core".into(), None),
        "yank_version" => (
            Method::PUT,
            format!("{pkg}/versions/1.0.0/yank"),
            Some(json!({"reason": "matrix"})),
        ),
        "unyank_version" => (Method::DELETE, format!("{pkg}/versions/1.0.0/yank"), None),
        "download_file" => (
            Method::GET,
            format!("{pkg}/versions/1.0.0/files/a.bin?redirect=false"),
            None,
        ),
        "get_caller" => (Method::GET, "/v1/me".into(), None),
        "issue_token" => (Method::POST, "/v1/auth/token".into(), None),
        "create_tenant" => (
            Method::POST,
            "/v1/tenants".into(),
            Some(json!({"name": format!("t{n}")})),
        ),
        "list_tenants" => (Method::GET, "/v1/tenants".into(), None),
        "create_user" => (
            Method::POST,
            "/v1/users".into(),
            Some(json!({"name": format!("u{n}"), "email": format!("u{n}@example.com")})),
        ),
        "list_users" => (Method::GET, "/v1/users".into(), None),
        "create_service_account" => (
            Method::POST,
            "/v1/service-accounts".into(),
            Some(json!({"name": format!("s{n}")})),
        ),
        "list_service_accounts" => (Method::GET, "/v1/service-accounts".into(), None),
        "create_group" => (
            Method::POST,
            "/v1/groups".into(),
            Some(json!({"name": format!("g{n}")})),
        ),
        "list_groups" => (Method::GET, "/v1/groups".into(), None),
        "get_group" => (Method::GET, format!("/v1/groups/{}", f.group), None),
        "get_principal" => (Method::GET, format!("/v1/principals/{}", f.target), None),
        "add_group_member" => (
            Method::PUT,
            format!("/v1/groups/{}/members/{}", f.group, f.target),
            None,
        ),
        "remove_group_member" => {
            let (status, _, _) = app
                .call(
                    Method::PUT,
                    &format!("/v1/groups/{}/members/{}", f.group, f.target),
                    Some(&app.admin),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT);
            (
                Method::DELETE,
                format!("/v1/groups/{}/members/{}", f.group, f.target),
                None,
            )
        }
        "create_grant" => (
            Method::POST,
            "/v1/grants".into(),
            Some(json!({"principal": f.target, "role": "reader", "scope": {"repository": "libs"}})),
        ),
        "list_grants" => (Method::GET, "/v1/grants".into(), None),
        "get_grant" => (Method::GET, format!("/v1/grants/{}", f.target_grant), None),
        "delete_grant" => {
            let grant = post(
                app,
                "/v1/grants",
                json!({"principal": f.target, "role": "writer", "scope": {"repository": "libs"}}),
            )
            .await;
            (
                Method::DELETE,
                format!("/v1/grants/{}", grant["id"].as_str().expect("id")),
                None,
            )
        }
        "create_api_key" => (
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({"name": format!("k{n}")})),
        ),
        "list_api_keys" => (Method::GET, "/v1/api-keys".into(), None),
        "revoke_api_key" => {
            let key = post(
                app,
                "/v1/api-keys",
                json!({"owner": f.target, "name": format!("victim{n}")}),
            )
            .await;
            (
                Method::DELETE,
                format!("/v1/api-keys/{}", key["id"].as_str().expect("id")),
                None,
            )
        }
        "list_audit" => (Method::GET, "/v1/audit".into(), None),
        "get_policy" => (Method::GET, "/v1/policy".into(), None),
        "put_policy" => {
            let (_, _, policy) = app
                .call(Method::GET, "/v1/policy", Some(&app.admin), None)
                .await;
            (Method::PUT, "/v1/policy".into(), Some(policy))
        }
        "create_oidc_provider" => (
            Method::POST,
            "/v1/oidc-providers".into(),
            Some(oidc_config(&format!("aud-{n}"), &f.target)),
        ),
        "list_oidc_providers" => (Method::GET, "/v1/oidc-providers".into(), None),
        "list_reports" => (Method::GET, "/v1/reports".into(), None),
        "get_report" => (Method::GET, format!("/v1/reports/{}", f.report_date), None),
        "delete_oidc_provider" => {
            let p = post(
                app,
                "/v1/oidc-providers",
                oidc_config(&format!("victim-{n}"), &f.target),
            )
            .await;
            (
                Method::DELETE,
                format!("/v1/oidc-providers/{}", p["id"].as_str().expect("id")),
                None,
            )
        }
        "create_webhook" => (Method::POST, "/v1/webhooks".into(), Some(webhook_config())),
        "list_webhooks" => (Method::GET, "/v1/webhooks".into(), None),
        "get_webhook" => (Method::GET, format!("/v1/webhooks/{}", f.hook), None),
        "update_webhook" => (
            Method::PATCH,
            format!("/v1/webhooks/{}", f.hook),
            Some(json!({"events": ["package.published", "version.deleted"]})),
        ),
        "delete_webhook" => {
            let victim = post(app, "/v1/webhooks", webhook_config()).await;
            (
                Method::DELETE,
                format!("/v1/webhooks/{}", victim["id"].as_str().expect("id")),
                None,
            )
        }
        "ping_webhook" => (Method::POST, format!("/v1/webhooks/{}/ping", f.hook), None),
        "list_webhook_deliveries" => (
            Method::GET,
            format!("/v1/webhooks/{}/deliveries", f.hook),
            None,
        ),
        "redeliver_webhook_delivery" => (
            Method::POST,
            format!(
                "/v1/webhooks/{}/deliveries/{}/redeliver",
                f.hook, f.delivery
            ),
            None,
        ),
        other => panic!("the matrix has no request for route {other}: add one"),
    }
}

const ONE_PART: &[u8] = b"one";
/// sha256("one")
const ONE_PART_SHA: &str = "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed";

/// An upload in parts of acme-core (version `4.0.{n}`) made by the admin: one small part,
/// sent when `send`, so it can be completed.
async fn upload_in_parts(app: &TestApp, n: usize, send: bool) -> String {
    let ticket = post(
        app,
        "/v1/repositories/libs/uploads",
        json!({"package": "acme-core", "version": format!("4.0.{n}"), "filename": "d.bin",
            "size": ONE_PART.len(), "sha256": ONE_PART_SHA, "part_size": 5 << 20,
            "parts": [{"number": 1, "sha256": ONE_PART_SHA}]}),
    )
    .await;
    if send {
        app.put_ticket(&ticket["multipart"]["parts"][0], ONE_PART)
            .await;
    }
    ticket["upload_id"].as_str().expect("id").to_owned()
}

/// A webhook on libs; the address is public (documentation range) and nothing listens.
fn webhook_config() -> Value {
    json!({"url": "https://203.0.113.10/hook", "events": ["package.published"], "repository": "libs"})
}

fn oidc_config(audience: &str, principal: &str) -> Value {
    json!({
        "issuer": "https://ci.example.com",
        "audience": audience,
        "jwks_uri": "https://ci.example.com/jwks",
        "rules": [{"claims": {"repository": "acme/app"}, "principal": principal}],
    })
}

/// Package managers' routes serve repositories of their format, which the fixture's generic
/// `libs` is not: their own modules (`api::pypi`, `api::npm`, `api::cargo`) and the policy
/// walk of `access_policy` check them.
pub(super) fn has_own_matrix(op: &str) -> bool {
    ["pypi_", "npm_", "cargo_"]
        .iter()
        .any(|p| op.starts_with(p))
}

fn check(op: &str, want: Want, status: StatusCode, body: &Value, who: &str) {
    let ok = match want {
        Want::Ok => status == success(op),
        Want::Forbidden => status == StatusCode::FORBIDDEN,
        Want::NotFound => status == StatusCode::NOT_FOUND,
    };
    assert!(ok, "{op} by {who}: want {want:?}, got {status} {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_every_role_and_scope_as_the_table_says() {
    let f = fixture().await;
    let mut subjects = vec![subject(&f.app, "nobody", None).await];
    for (r, role) in ROLES.iter().enumerate() {
        for scope in SCOPES {
            let label = format!("{role}-{scope:?}").to_lowercase();
            subjects.push(subject(&f.app, &label, Some((r, scope))).await);
        }
    }
    let routes = route_table();
    assert!(routes.len() >= 40, "every route: {}", routes.len());
    let mut n = 0;
    for route in &routes {
        let op = route.operation_id.as_str();
        if has_own_matrix(op) {
            continue;
        }
        let need = need_of(op);
        for s in &subjects {
            n += 1;
            let (method, uri, body) = request(&f, op, n).await;
            let (status, _, answer) = f.app.call(method, &uri, Some(&s.key), body).await;
            check(op, expected(op, need, s), status, &answer, &s.label);
            if status.is_success() && op == "list_packages" {
                let names: Vec<_> = answer["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|p| p["name"].clone())
                    .collect();
                let sees_pkg = s.role_on_package().is_some();
                assert_eq!(
                    names.contains(&json!("acme-core")),
                    sees_pkg,
                    "{} lists {names:?}",
                    s.label
                );
            }
            if status.is_success() && op == "list_repositories" {
                let listed = answer["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .any(|r| r["name"] == "libs");
                assert_eq!(listed, s.sees_libs(), "{} lists libs", s.label);
            }
        }
        // No credential: public routes only.
        n += 1;
        let (method, uri, body) = request(&f, op, n).await;
        let (status, _, answer) = f.app.call(method, &uri, None, body).await;
        if need == Need::Public {
            assert_eq!(status, StatusCode::OK, "{op} without credentials");
        } else {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{op} without credentials: {answer}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_tenant_reaches_nothing_of_this_one() {
    let f = fixture().await;
    let other = f.app.tenant_key("other").await;
    let mut n = 10_000;
    for route in route_table() {
        let op = route.operation_id.as_str();
        if has_own_matrix(op) {
            continue;
        }
        let need = need_of(op);
        n += 1;
        let (method, uri, body) = request(&f, op, n).await;
        let (status, _, answer) = f.app.call(method, &uri, Some(&other), body).await;
        // The other tenant's admin acts in its own tenant: whatever names this tenant's
        // things is not found there; tenant-level work succeeds in its own tenant.
        let names_ours = uri.contains("/libs")
            || uri.contains(&f.group)
            || uri.contains(&f.target)
            || uri.contains(&f.target_grant)
            || uri.contains(&f.hook)
            || [
                "delete_grant",
                "delete_repository",
                "revoke_api_key",
                "delete_oidc_provider",
                "create_grant",
                "create_oidc_provider",
                // The day of this tenant's report: the other tenant has none.
                "get_report",
                "create_webhook",
                "delete_webhook",
            ]
            .contains(&op);
        let want = match need {
            Need::Public => Want::Ok,
            Need::PlatformAdmin => Want::Forbidden,
            _ if names_ours => Want::NotFound,
            _ => Want::Ok,
        };
        check(op, want, status, &answer, "other tenant's admin");
        if status.is_success() && answer["items"].is_array() {
            let text = answer.to_string();
            for ours in [
                "libs",
                "acme-core",
                f.target.as_str(),
                f.admin_id.as_str(),
                "\"team\"",
            ] {
                assert!(
                    !text.contains(ours),
                    "{op} shows {ours} to the other tenant: {text}"
                );
            }
        }
    }
}

pub(super) async fn audit_count(app: &TestApp, action: AuditAction, outcome: &str) -> usize {
    let (status, _, page) = app
        .call(
            Method::GET,
            &format!("/v1/audit?action={action}&limit=1000"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["outcome"] == outcome)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mutation_and_every_denied_attempt_writes_exactly_one_audit_record() {
    let f = fixture().await;
    let reader = subject(&f.app, "audited-reader", Some((0, Scope::Tenant))).await;
    let mut n = 20_000;
    let mut walked = 0;
    for route in route_table() {
        let op = route.operation_id.as_str();
        if has_own_matrix(op) {
            continue;
        }
        let Some(action) = rule(op).expect("rule").audit else {
            continue;
        };
        walked += 1;
        // Denied: a reader of the whole tenant may not do any of it (a key for itself is
        // allowed, so ask for one for another principal).
        n += 1;
        let before = audit_count(&f.app, action, "denied").await;
        let (method, uri, mut body) = request(&f, op, n).await;
        if op == "create_api_key" {
            body = Some(json!({"name": "not mine", "owner": f.target}));
        }
        let (status, _, answer) = f.app.call(method, &uri, Some(&reader.key), body).await;
        assert!(
            matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{op} by a reader: {status} {answer}"
        );
        assert_eq!(
            audit_count(&f.app, action, "denied").await,
            before + 1,
            "{op} denied"
        );

        n += 1;
        let before = audit_count(&f.app, action, "success").await;
        let (method, uri, body) = request(&f, op, n).await;
        let (status, _, answer) = f.app.call(method, &uri, Some(&f.app.admin), body).await;
        assert_eq!(status, success(op), "{op} by the admin: {answer}");
        assert_eq!(
            audit_count(&f.app, action, "success").await,
            before + 1,
            "{op} succeeded"
        );
    }
    let audited = RULES
        .iter()
        .filter(|r| r.audit.is_some() && !has_own_matrix(r.operation_id));
    assert_eq!(walked, audited.count());
    // The records carry who, what, when, from where and which request.
    let (_, _, page) = f
        .app
        .call(
            Method::GET,
            "/v1/audit?action=repository.create&limit=1",
            Some(&f.app.admin),
            None,
        )
        .await;
    let rec = &page["items"][0];
    for field in [
        "id",
        "actor",
        "action",
        "target",
        "at",
        "request_id",
        "outcome",
    ] {
        assert!(!rec[field].is_null(), "{field} in {rec}");
    }
    // No route changes or removes audit records.
    for route in route_table() {
        if route.path.starts_with("/v1/audit") {
            assert_eq!(route.method, "GET", "{route:?}");
        }
    }
}
