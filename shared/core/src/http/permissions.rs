//! What every route requires, in one table. `guard` enforces it before any handler runs;
//! the matrix test (`http::matrix_tests`) checks every route's answers against it.

use crate::domain::access::Role;
use crate::domain::audit_action::AuditAction;

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
    pub audit: Option<AuditAction>,
    /// The route's clients are package managers, which send a credential only after a 401
    /// that challenges them (`WWW-Authenticate`). API Gateway answers a request without
    /// `Authorization` with a bare 401 of its own before any authorizer runs, so such a
    /// route is deployed without the gateway's authorizer and its function authenticates
    /// the caller itself, with the same checks (the guard does either).
    pub challenges_clients: bool,
}

const fn read(operation_id: &'static str, need: Need) -> Rule {
    Rule {
        operation_id,
        need,
        audit: None,
        challenges_clients: false,
    }
}

const fn write(operation_id: &'static str, need: Need, action: AuditAction) -> Rule {
    Rule {
        operation_id,
        need,
        audit: Some(action),
        challenges_clients: false,
    }
}

/// A package manager's route (see `Rule::challenges_clients`).
const fn client(rule: Rule) -> Rule {
    Rule {
        challenges_clients: true,
        ..rule
    }
}

use Need::*;
use Role::*;

pub const RULES: &[Rule] = &[
    read("healthz", Public),
    read("openapi", Public),
    // Repositories and their contents.
    write(
        "create_repository",
        Tenant(Admin),
        AuditAction::RepositoryCreate,
    ),
    read("list_repositories", Authenticated),
    read("get_repository", InRepository(None)),
    write(
        "delete_repository",
        Tenant(Admin),
        AuditAction::RepositoryDelete,
    ),
    write(
        "put_retention",
        Repository(Admin),
        AuditAction::RepositoryRetentionUpdate,
    ),
    write(
        "put_scan_policy",
        Repository(Admin),
        AuditAction::RepositoryScanPolicyUpdate,
    ),
    write(
        "create_upload",
        InRepository(Some(Writer)),
        AuditAction::UploadCreate,
    ),
    read("get_upload", InRepository(Some(Reader))),
    // Issues URLs and changes nothing stored: not audited.
    read("presign_upload_parts", InRepository(Some(Writer))),
    write(
        "complete_upload",
        InRepository(Some(Writer)),
        AuditAction::UploadComplete,
    ),
    write(
        "cancel_upload",
        InRepository(Some(Writer)),
        AuditAction::UploadCancel,
    ),
    read("list_packages", InRepository(None)),
    // Results are filtered to what the caller may read.
    read("search", Authenticated),
    read("get_package", Package(Reader)),
    read("list_versions", Package(Reader)),
    read("get_version", Package(Reader)),
    write(
        "delete_version",
        Package(Maintainer),
        AuditAction::VersionDelete,
    ),
    write("pin_version", Package(Maintainer), AuditAction::VersionPin),
    write(
        "put_version_labels",
        Package(Writer),
        AuditAction::VersionLabel,
    ),
    write(
        "unpin_version",
        Package(Maintainer),
        AuditAction::VersionUnpin,
    ),
    write(
        "yank_version",
        Package(Maintainer),
        AuditAction::VersionYank,
    ),
    write(
        "unyank_version",
        Package(Maintainer),
        AuditAction::VersionUnyank,
    ),
    read("download_file", Package(Reader)),
    // Package managers' own routes (`/pypi/{tenant}/...`: the tenant must be the caller's).
    client(read("pypi_simple_index", InRepository(None))),
    // The package is checked on its normal name, after the redirect (`index::package_files`).
    client(read("pypi_simple_project", InRepository(None))),
    client(read("pypi_download", Package(Reader))),
    client(write(
        "pypi_upload",
        InRepository(Some(Writer)),
        AuditAction::UploadPublish,
    )),
    // npm (`/npm/{tenant}/...`): a scoped name is not one path parameter the guard could
    // read, so the use case checks the package (`services::catalog::npm`, `dist_tags`).
    client(read("npm_packument", InRepository(None))),
    client(read("npm_tarball", InRepository(None))),
    client(write(
        "npm_publish",
        InRepository(Some(Writer)),
        AuditAction::UploadPublish,
    )),
    client(write(
        "npm_unpublish_versions",
        InRepository(Some(Maintainer)),
        AuditAction::VersionDelete,
    )),
    client(write(
        "npm_unpublish_package",
        InRepository(Some(Maintainer)),
        AuditAction::VersionDelete,
    )),
    client(write(
        "npm_delete_tarball",
        InRepository(Some(Maintainer)),
        AuditAction::VersionDelete,
    )),
    client(read("npm_dist_tags", InRepository(None))),
    client(write(
        "npm_set_dist_tag",
        InRepository(Some(Writer)),
        AuditAction::PackageTagSet,
    )),
    client(write(
        "npm_remove_dist_tag",
        InRepository(Some(Writer)),
        AuditAction::PackageTagRemove,
    )),
    client(read("npm_ping", InRepository(None))),
    client(read("npm_whoami", InRepository(None))),
    client(read("npm_audit", InRepository(None))),
    // Cargo (`/cargo/{tenant}/...`): the use case checks the crate, which the index path
    // names in lower case (`services::catalog::cargo::crate_named`).
    client(read("cargo_config", InRepository(None))),
    client(read("cargo_index_short", InRepository(None))),
    client(read("cargo_index_long", InRepository(None))),
    client(read("cargo_download", InRepository(None))),
    client(read("cargo_search", InRepository(None))),
    client(read("cargo_list_owners", InRepository(None))),
    client(write(
        "cargo_publish",
        InRepository(Some(Writer)),
        AuditAction::UploadPublish,
    )),
    client(write(
        "cargo_yank",
        InRepository(Some(Maintainer)),
        AuditAction::VersionYank,
    )),
    client(write(
        "cargo_unyank",
        InRepository(Some(Maintainer)),
        AuditAction::VersionUnyank,
    )),
    client(write(
        "cargo_add_owners",
        InRepository(Some(Admin)),
        AuditAction::GrantCreate,
    )),
    client(write(
        "cargo_remove_owners",
        InRepository(Some(Admin)),
        AuditAction::GrantDelete,
    )),
    // Identity and access.
    read("get_caller", Authenticated),
    read("issue_token", Authenticated),
    write("create_tenant", PlatformAdmin, AuditAction::TenantCreate),
    read("list_tenants", PlatformAdmin),
    write("create_user", Tenant(Admin), AuditAction::UserCreate),
    read("list_users", Tenant(Admin)),
    write(
        "create_service_account",
        Tenant(Admin),
        AuditAction::ServiceAccountCreate,
    ),
    read("list_service_accounts", Tenant(Admin)),
    write("create_group", Tenant(Admin), AuditAction::GroupCreate),
    read("list_groups", Tenant(Admin)),
    read("get_group", Tenant(Admin)),
    read("get_principal", Tenant(Admin)),
    write(
        "add_group_member",
        Tenant(Admin),
        AuditAction::GroupMemberAdd,
    ),
    write(
        "remove_group_member",
        Tenant(Admin),
        AuditAction::GroupMemberRemove,
    ),
    write("create_grant", Authenticated, AuditAction::GrantCreate),
    read("list_grants", Authenticated),
    read("get_grant", Authenticated),
    write("delete_grant", Authenticated, AuditAction::GrantDelete),
    write("create_api_key", Authenticated, AuditAction::ApiKeyCreate),
    read("list_api_keys", Authenticated),
    write("revoke_api_key", Authenticated, AuditAction::ApiKeyRevoke),
    read("list_audit", Tenant(Admin)),
    read("get_policy", Tenant(Admin)),
    write("put_policy", Tenant(Admin), AuditAction::PolicyUpdate),
    write(
        "create_oidc_provider",
        Tenant(Admin),
        AuditAction::OidcProviderCreate,
    ),
    read("list_oidc_providers", Tenant(Admin)),
    write(
        "delete_oidc_provider",
        Tenant(Admin),
        AuditAction::OidcProviderDelete,
    ),
    // Reports.
    read("list_reports", Tenant(Admin)),
    read("get_report", Tenant(Admin)),
    // Webhooks: tenant admins, and admins of the repository a webhook is scoped to (the
    // use cases check; a caller who may not manage one gets 404 or 403).
    write("create_webhook", Authenticated, AuditAction::WebhookCreate),
    read("list_webhooks", Authenticated),
    read("get_webhook", Authenticated),
    write("update_webhook", Authenticated, AuditAction::WebhookUpdate),
    write("delete_webhook", Authenticated, AuditAction::WebhookDelete),
    write("ping_webhook", Authenticated, AuditAction::WebhookPing),
    read("list_webhook_deliveries", Authenticated),
    write(
        "redeliver_webhook_delivery",
        Authenticated,
        AuditAction::WebhookRedeliver,
    ),
];

pub fn rule(operation_id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.operation_id == operation_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every audit action is the one of exactly one mutating route, except those recorded
    /// by no route at all, and the same change made through package managers' own
    /// protocols (listed here, route by route): a typo or a forgotten row would leave a
    /// route unaudited, or two routes indistinguishable in the trail.
    #[test]
    fn each_audit_action_belongs_to_one_route() {
        const RECORDED_OFF_ROUTE: &[AuditAction] = &[
            AuditAction::TenantResetAdmin,
            AuditAction::FilePublish,
            AuditAction::UploadReject,
        ];
        const SAME_CHANGE: &[(AuditAction, &[&str])] = &[
            (
                AuditAction::UploadPublish,
                &["pypi_upload", "npm_publish", "cargo_publish"],
            ),
            (AuditAction::VersionYank, &["yank_version", "cargo_yank"]),
            (
                AuditAction::VersionUnyank,
                &["unyank_version", "cargo_unyank"],
            ),
            (
                AuditAction::GrantCreate,
                &["create_grant", "cargo_add_owners"],
            ),
            (
                AuditAction::GrantDelete,
                &["delete_grant", "cargo_remove_owners"],
            ),
            (
                AuditAction::VersionDelete,
                &[
                    "delete_version",
                    "npm_unpublish_versions",
                    "npm_unpublish_package",
                    "npm_delete_tarball",
                ],
            ),
        ];
        for action in AuditAction::ALL {
            let routes: Vec<&str> = RULES
                .iter()
                .filter(|r| r.audit == Some(*action))
                .map(|r| r.operation_id)
                .collect();
            match SAME_CHANGE.iter().find(|(a, _)| a == action) {
                Some((_, shared)) => {
                    let mut routes = routes.clone();
                    let mut shared = shared.to_vec();
                    routes.sort_unstable();
                    shared.sort_unstable();
                    assert_eq!(routes, shared, "{action}");
                }
                None => {
                    let expected = usize::from(!RECORDED_OFF_ROUTE.contains(action));
                    assert_eq!(routes.len(), expected, "{action}: {routes:?}");
                }
            }
        }
    }
}
