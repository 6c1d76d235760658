//! Who is calling. An `Identity` is what a credential proves (cacheable per credential); a
//! `Caller` is that identity on one request, with where it came from. Every use case takes a
//! `Caller` and scopes every query by its tenant.

use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::access::{Rights, Role, Target};
use crate::domain::names::TenantName;
use crate::services::Error;

/// The kinds of principal; the prefix of a principal id says which it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    User,
    ServiceAccount,
    Group,
}

impl PrincipalKind {
    pub fn prefix(self) -> &'static str {
        match self {
            PrincipalKind::User => "user_",
            PrincipalKind::ServiceAccount => "sa_",
            PrincipalKind::Group => "group_",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::ServiceAccount => "service_account",
            PrincipalKind::Group => "group",
        }
    }

    /// The kind a principal id names, if it is well formed (`<prefix><ulid>`).
    pub fn of_id(id: &str) -> Option<Self> {
        [Self::User, Self::ServiceAccount, Self::Group]
            .into_iter()
            .find(|k| {
                id.strip_prefix(k.prefix())
                    .is_some_and(|rest| rest.len() == 26 && ulid::Ulid::from_string(rest).is_ok())
            })
    }

    pub fn new_id(self) -> String {
        format!(
            "{}{}",
            self.prefix(),
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        )
    }
}

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Credential {
    ApiKey {
        id: String,
    },
    /// A Trove access token, obtained with the API key `key`.
    AccessToken {
        key: String,
    },
    /// A token of an external OIDC issuer the tenant trusts.
    Oidc {
        provider: String,
    },
}

/// What a credential proves: cached per credential for a few seconds, and carried from the
/// API Gateway authorizer to the route functions in the authorizer's context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub tenant: TenantName,
    pub principal: String,
    pub kind: PrincipalKind,
    pub credential: Credential,
    /// Shared with every request's `Caller`: no copy per request.
    pub rights: Arc<Rights>,
    /// When the credential itself stops working (`None`: it does not expire). A credential
    /// never makes one that outlives it.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
}

/// An identity on one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantName,
    pub principal: String,
    pub kind: PrincipalKind,
    pub credential: Credential,
    pub rights: Arc<Rights>,
    /// When the credential stops working; see `Identity::expires_at`.
    pub expires_at: Option<OffsetDateTime>,
    pub source_ip: Option<IpAddr>,
    pub request_id: String,
}

impl Caller {
    pub fn new(identity: &Identity, source_ip: Option<IpAddr>, request_id: String) -> Self {
        Self {
            tenant: identity.tenant.clone(),
            principal: identity.principal.clone(),
            kind: identity.kind,
            credential: identity.credential.clone(),
            rights: identity.rights.clone(),
            expires_at: identity.expires_at,
            source_ip,
            request_id,
        }
    }

    /// The caller may act as `role` on the target. One that may not even read it gets the
    /// same answer as if it did not exist (`not_found`), so names do not leak.
    pub fn require(
        &self,
        role: Role,
        target: &Target<'_>,
        not_found: impl FnOnce() -> Error,
    ) -> Result<(), Error> {
        match self.rights.role_on(target) {
            Some(have) if have >= role => Ok(()),
            Some(have) => Err(Error::Forbidden(format!(
                "this needs the {role} role on {}; you have {have}",
                describe(target)
            ))),
            None if matches!(target, Target::Tenant) => Err(Error::Forbidden(format!(
                "this needs the {role} role on the tenant"
            ))),
            None => {
                let visible = match target {
                    Target::Repository(r) | Target::Package(r, _) => self.rights.sees_repository(r),
                    Target::Tenant => false,
                };
                if visible && matches!(target, Target::Repository(_)) {
                    Err(Error::Forbidden(format!(
                        "this needs the {role} role on {}",
                        describe(target)
                    )))
                } else {
                    Err(not_found())
                }
            }
        }
    }

    /// The API key the caller presented, or the one its access token was made with.
    pub fn api_key_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::ApiKey { id } | Credential::AccessToken { key: id } => Some(id),
            Credential::Oidc { .. } => None,
        }
    }

    /// The credential carries every right of its owner (no scopes narrow it).
    pub fn acts_with_all_owner_rights(&self) -> bool {
        self.rights.cap.is_none()
    }

    pub fn is_tenant_admin(&self) -> bool {
        self.rights.is_tenant_admin()
    }

    /// The bootstrap admin's tenant is the platform's: its admins manage tenants.
    pub fn is_platform_admin(&self) -> bool {
        self.tenant.as_str() == crate::services::bootstrap::DEFAULT_TENANT && self.is_tenant_admin()
    }
}

impl Caller {
    /// The platform acting on its own schedule in a tenant (e.g. `system:cleanup`), as its
    /// audit records name it.
    pub fn system(tenant: TenantName, actor: &str) -> Self {
        use crate::domain::access::{Permission, Scope};
        Self {
            tenant,
            principal: format!("system:{actor}"),
            kind: PrincipalKind::ServiceAccount,
            credential: Credential::ApiKey {
                id: format!("system:{actor}"),
            },
            rights: Arc::new(Rights {
                grants: vec![Permission {
                    role: Role::Admin,
                    scope: Scope::tenant(),
                }],
                cap: None,
            }),
            expires_at: None,
            source_ip: None,
            request_id: ulid::Ulid::new().to_string(),
        }
    }
}

fn describe(target: &Target<'_>) -> String {
    match target {
        Target::Tenant => "the tenant".into(),
        Target::Repository(r) => format!("repository {r}"),
        Target::Package(r, p) => format!("package {r}/{p}"),
    }
}

#[cfg(any(test, feature = "testing"))]
impl Caller {
    /// A tenant admin, for tests of use cases that are not about access.
    pub fn tenant_admin_for_tests(tenant: TenantName) -> Self {
        use crate::domain::access::{Permission, Scope};
        Self {
            tenant,
            principal: PrincipalKind::User.new_id(),
            kind: PrincipalKind::User,
            credential: Credential::ApiKey { id: "test".into() },
            rights: Arc::new(Rights {
                grants: vec![Permission {
                    role: Role::Admin,
                    scope: Scope::tenant(),
                }],
                cap: None,
            }),
            expires_at: None,
            source_ip: None,
            request_id: "test".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_ids_name_their_kind() {
        for kind in [
            PrincipalKind::User,
            PrincipalKind::ServiceAccount,
            PrincipalKind::Group,
        ] {
            assert_eq!(PrincipalKind::of_id(&kind.new_id()), Some(kind));
        }
        assert_eq!(PrincipalKind::of_id("user_x"), None);
        assert_eq!(PrincipalKind::of_id("admin"), None);
    }
}
