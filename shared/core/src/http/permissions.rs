//! What every route requires, in one table. `guard` enforces it before any handler runs;
//! the matrix test (`http::matrix_tests`) checks every route's answers against it.

use crate::domain::access::Role;

/// What a route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No credential needed.
    Public,
    /// Any authenticated principal; the use case narrows what it shows or allows (own keys,
    /// grants within the caller's admin scopes) and answers 404 for what the caller may not
    /// read.
    Authenticated,
    /// An admin of the tenant `default`.
    PlatformAdmin,
    /// The role on the whole tenant.
    Tenant(Role),
    /// Any right inside the path's `{repo}` (else 404). Lists are filtered to what the caller
    /// may read; `Some(role)`: the use case also requires that role on the package the body
    /// or the stored record names (404 if it cannot read it, 403 if it can).
    InRepository(Option<Role>),
    /// The role on the path's `{repo}/{package}`: 404 for who cannot read it, 403 for who
    /// can read it but lacks the role.
    Package(Role),
    /// The role on the whole path's `{repo}` (a grant on some of its packages is not
    /// enough): 404 for who sees nothing in it, 403 for who sees it but lacks the role.
    Repository(Role),
}

#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub operation_id: &'static str,
    pub need: Need,
    /// The audit action of a mutating route (one record per success or denial); `None` for
    /// reads.
    pub audit: Option<&'static str>,
}

const fn read(operation_id: &'static str, need: Need) -> Rule {
    Rule {
        operation_id,
        need,
        audit: None,
    }
}

const fn write(operation_id: &'static str, need: Need, action: &'static str) -> Rule {
    Rule {
        operation_id,
        need,
        audit: Some(action),
    }
}

use Need::*;
use Role::*;

pub const RULES: &[Rule] = &[
    read("healthz", Public),
    read("openapi", Public),
    // Repositories and their contents.
    write("create_repository", Tenant(Admin), "repository.create"),
    read("list_repositories", Authenticated),
    read("get_repository", InRepository(None)),
    write("delete_repository", Tenant(Admin), "repository.delete"),
    write(
        "put_retention",
        Repository(Admin),
        "repository.retention.update",
    ),
    write(
        "put_scan_policy",
        Repository(Admin),
        "repository.scan_policy.update",
    ),
    write("create_upload", InRepository(Some(Writer)), "upload.create"),
    read("get_upload", InRepository(Some(Reader))),
    read("list_packages", InRepository(None)),
    read("get_package", Package(Reader)),
    read("list_versions", Package(Reader)),
    read("get_version", Package(Reader)),
    write("delete_version", Package(Maintainer), "version.delete"),
    write("pin_version", Package(Maintainer), "version.pin"),
    write("unpin_version", Package(Maintainer), "version.unpin"),
    read("download_file", Package(Reader)),
    // Package managers' own routes (`/pypi/{tenant}/...`: the tenant must be the caller's).
    read("pypi_simple_index", InRepository(None)),
    read("pypi_simple_project", Package(Reader)),
    read("pypi_download", Package(Reader)),
    write("pypi_upload", InRepository(Some(Writer)), "upload.create"),
    // Identity and access.
    read("get_caller", Authenticated),
    read("issue_token", Authenticated),
    write("create_tenant", PlatformAdmin, "tenant.create"),
    read("list_tenants", PlatformAdmin),
    write("create_user", Tenant(Admin), "user.create"),
    read("list_users", Tenant(Admin)),
    write(
        "create_service_account",
        Tenant(Admin),
        "service_account.create",
    ),
    read("list_service_accounts", Tenant(Admin)),
    write("create_group", Tenant(Admin), "group.create"),
    read("list_groups", Tenant(Admin)),
    read("get_group", Tenant(Admin)),
    read("get_principal", Tenant(Admin)),
    write("add_group_member", Tenant(Admin), "group.member.add"),
    write("remove_group_member", Tenant(Admin), "group.member.remove"),
    write("create_grant", Authenticated, "grant.create"),
    read("list_grants", Authenticated),
    read("get_grant", Authenticated),
    write("delete_grant", Authenticated, "grant.delete"),
    write("create_api_key", Authenticated, "api_key.create"),
    read("list_api_keys", Authenticated),
    write("revoke_api_key", Authenticated, "api_key.revoke"),
    read("list_audit", Tenant(Admin)),
    read("get_policy", Tenant(Admin)),
    write("put_policy", Tenant(Admin), "policy.update"),
    write(
        "create_oidc_provider",
        Tenant(Admin),
        "oidc_provider.create",
    ),
    read("list_oidc_providers", Tenant(Admin)),
    write(
        "delete_oidc_provider",
        Tenant(Admin),
        "oidc_provider.delete",
    ),
    // Reports.
    read("list_reports", Tenant(Admin)),
    read("get_report", Tenant(Admin)),
    // Webhooks: tenant admins, and admins of the repository a webhook is scoped to (the
    // use cases check; a caller who may not manage one gets 404 or 403).
    write("create_webhook", Authenticated, "webhook.create"),
    read("list_webhooks", Authenticated),
    read("get_webhook", Authenticated),
    write("update_webhook", Authenticated, "webhook.update"),
    write("delete_webhook", Authenticated, "webhook.delete"),
    write("ping_webhook", Authenticated, "webhook.ping"),
    read("list_webhook_deliveries", Authenticated),
    write(
        "redeliver_webhook_delivery",
        Authenticated,
        "webhook.redeliver",
    ),
];

pub fn rule(operation_id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.operation_id == operation_id)
}
