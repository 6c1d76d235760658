//! Who may do what: roles, the scopes grants apply to, and the rights a caller ends up with.
//! Pure rules, no I/O; `services::access` loads grants and builds `Rights`.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::names::{NameError, PackageName, RepoName};

/// Ordered: each role includes everything the roles below it may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read repositories, packages and versions; download.
    Reader,
    /// Publish new versions.
    Writer,
    /// Delete versions.
    Maintainer,
    /// Manage grants, principals, keys and settings within the scope.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Maintainer => "maintainer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A package name pattern: a package name in which `*` stands for any run of characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackagePattern(String);

impl PackagePattern {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        let err = |rule| NameError {
            what: "package pattern",
            value: crate::domain::echo::echo(value).to_string(),
            rule,
        };
        if value.is_empty() || value.len() > 128 {
            return Err(err("use 1 to 128 characters"));
        }
        // Each literal run must be a valid package-name fragment; only `*` is a wildcard.
        let literal_ok = value.split('*').filter(|s| !s.is_empty()).all(|s| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        });
        if !literal_ok {
            return Err(err(
                "use letters, digits, '-', '_', '.', and '*' as a wildcard",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, package: &str) -> bool {
        wildmatch::WildMatch::new(&self.0).matches(package)
    }

    /// Every name `other` matches, this matches too. Literal characters never include `*`,
    /// so matching the other pattern's text treats its wildcards as runs this one absorbs.
    pub fn includes(&self, other: &PackagePattern) -> bool {
        self.matches(other.as_str())
    }
}

impl TryFrom<String> for PackagePattern {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, NameError> {
        Self::parse(&value)
    }
}

impl From<PackagePattern> for String {
    fn from(p: PackagePattern) -> String {
        p.0
    }
}

impl fmt::Display for PackagePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a grant applies: the whole tenant (both empty), one repository, or the packages of
/// one repository whose names match a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "libs", max_length = 64, pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub repository: Option<RepoName>,
    /// A package name, or a pattern with `*`; requires `repository`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "acme-*", max_length = 128, pattern = "^[A-Za-z0-9._*-]{1,128}$")]
    pub package: Option<PackagePattern>,
}

impl Scope {
    pub fn tenant() -> Self {
        Self::default()
    }

    pub fn repository(repo: RepoName) -> Self {
        Self {
            repository: Some(repo),
            package: None,
        }
    }

    /// A package scope needs its repository.
    pub fn check(&self) -> Result<(), String> {
        if self.package.is_some() && self.repository.is_none() {
            return Err("invalid scope: a package pattern needs a repository".into());
        }
        Ok(())
    }

    /// Whether this scope gives rights on the target.
    pub fn covers(&self, target: &Target<'_>) -> bool {
        match (&self.repository, &self.package, target) {
            (None, _, _) => true,
            (Some(_), _, Target::Tenant) => false,
            (Some(r), None, Target::Repository(t) | Target::Package(t, _)) => r == *t,
            (Some(_), Some(_), Target::Repository(_)) => false,
            (Some(r), Some(p), Target::Package(t, pkg)) => r == *t && p.matches(pkg.as_str()),
        }
    }

    /// Whether everything in `other` is in this scope.
    pub fn includes(&self, other: &Scope) -> bool {
        match (&self.repository, &other.repository) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) if a != b => false,
            (Some(_), Some(_)) => match (&self.package, &other.package) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(p), Some(q)) => p.includes(q),
            },
        }
    }

    /// Whether the scope reaches into the repository at all (tenant-wide, the repository,
    /// or some of its packages): enough to see that the repository exists.
    pub fn touches(&self, repo: &RepoName) -> bool {
        self.repository.as_ref().is_none_or(|r| r == repo)
    }
}

/// What a request acts on.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Tenant,
    Repository(&'a RepoName),
    Package(&'a RepoName, &'a PackageName),
}

/// A role on a scope: what a grant gives and what a credential's scope allows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    pub role: Role,
    #[serde(default)]
    pub scope: Scope,
}

/// A caller's effective rights: the union of its own and its groups' grants, capped by the
/// credential's scopes when the credential has any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rights {
    pub grants: Vec<Permission>,
    /// `None`: the credential carries every right of its owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Vec<Permission>>,
}

fn best(perms: &[Permission], target: &Target<'_>) -> Option<Role> {
    perms
        .iter()
        .filter(|p| p.scope.covers(target))
        .map(|p| p.role)
        .max()
}

fn holds_in(perms: &[Permission], role: Role, scope: &Scope) -> bool {
    perms
        .iter()
        .any(|p| p.role >= role && p.scope.includes(scope))
}

impl Rights {
    /// The highest role the caller has on the target, if any.
    pub fn role_on(&self, target: &Target<'_>) -> Option<Role> {
        let granted = best(&self.grants, target)?;
        match &self.cap {
            None => Some(granted),
            Some(cap) => best(cap, target).map(|c| c.min(granted)),
        }
    }

    pub fn can(&self, role: Role, target: &Target<'_>) -> bool {
        self.role_on(target).is_some_and(|r| r >= role)
    }

    /// Whether the caller holds `role` on all of `scope` (so may hand it on, or put it on
    /// one of its keys).
    pub fn holds(&self, role: Role, scope: &Scope) -> bool {
        holds_in(&self.grants, role, scope)
            && self.cap.as_ref().is_none_or(|c| holds_in(c, role, scope))
    }

    /// Whether the caller may know the repository exists: any right reaching into it.
    pub fn sees_repository(&self, repo: &RepoName) -> bool {
        let touches = |perms: &[Permission]| perms.iter().any(|p| p.scope.touches(repo));
        touches(&self.grants) && self.cap.as_deref().is_none_or(touches)
    }

    /// Whether some grant (and the credential's cap) gives at least `role` somewhere in the
    /// repository: on all of it, or on some of its packages.
    pub fn may_in_repository(&self, role: Role, repo: &RepoName) -> bool {
        let reaches = |perms: &[Permission]| {
            perms
                .iter()
                .any(|p| p.role >= role && p.scope.touches(repo))
        };
        reaches(&self.grants) && self.cap.as_deref().is_none_or(reaches)
    }

    /// Holds admin on the whole tenant.
    pub fn is_tenant_admin(&self) -> bool {
        self.can(Role::Admin, &Target::Tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).expect("valid")
    }
    fn pkg(s: &str) -> PackageName {
        PackageName::parse(s).expect("valid")
    }
    fn pat(s: &str) -> PackagePattern {
        PackagePattern::parse(s).expect("valid")
    }
    fn perm(role: Role, r: Option<&str>, p: Option<&str>) -> Permission {
        Permission {
            role,
            scope: Scope {
                repository: r.map(repo),
                package: p.map(pat),
            },
        }
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Reader < Role::Writer);
        assert!(Role::Writer < Role::Maintainer);
        assert!(Role::Maintainer < Role::Admin);
    }

    #[test]
    fn no_grant_no_access() {
        let rights = Rights::default();
        let (r, p) = (repo("libs"), pkg("a"));
        assert_eq!(rights.role_on(&Target::Tenant), None);
        assert_eq!(rights.role_on(&Target::Repository(&r)), None);
        assert_eq!(rights.role_on(&Target::Package(&r, &p)), None);
        assert!(!rights.sees_repository(&r));
    }

    #[test]
    fn scopes_cover_what_they_name() {
        let (libs, other) = (repo("libs"), repo("other"));
        let (acme, zed) = (pkg("acme-core"), pkg("zed"));
        let rights = Rights {
            grants: vec![
                perm(Role::Writer, Some("libs"), Some("acme-*")),
                perm(Role::Reader, Some("libs"), None),
            ],
            cap: None,
        };
        assert_eq!(
            rights.role_on(&Target::Package(&libs, &acme)),
            Some(Role::Writer)
        );
        assert_eq!(
            rights.role_on(&Target::Package(&libs, &zed)),
            Some(Role::Reader)
        );
        assert_eq!(rights.role_on(&Target::Package(&other, &acme)), None);
        assert_eq!(
            rights.role_on(&Target::Repository(&libs)),
            Some(Role::Reader)
        );
        assert_eq!(rights.role_on(&Target::Tenant), None);
        assert!(rights.sees_repository(&libs));
        assert!(!rights.sees_repository(&other));
    }

    #[test]
    fn a_package_grant_shows_its_repository_but_gives_no_repository_role() {
        let libs = repo("libs");
        let rights = Rights {
            grants: vec![perm(Role::Admin, Some("libs"), Some("a"))],
            cap: None,
        };
        assert!(rights.sees_repository(&libs));
        assert_eq!(rights.role_on(&Target::Repository(&libs)), None);
    }

    #[test]
    fn caps_narrow_never_widen() {
        let (libs, a, b) = (repo("libs"), pkg("a"), pkg("b"));
        let rights = Rights {
            grants: vec![perm(Role::Maintainer, Some("libs"), None)],
            cap: Some(vec![
                perm(Role::Reader, Some("libs"), Some("a")),
                perm(Role::Admin, None, None),
            ]),
        };
        // The admin cap is no grant: the owner's maintainer is the ceiling.
        assert_eq!(
            rights.role_on(&Target::Package(&libs, &a)),
            Some(Role::Maintainer)
        );
        let narrow = Rights {
            grants: rights.grants.clone(),
            cap: Some(vec![perm(Role::Reader, Some("libs"), Some("a"))]),
        };
        assert_eq!(
            narrow.role_on(&Target::Package(&libs, &a)),
            Some(Role::Reader)
        );
        assert_eq!(narrow.role_on(&Target::Package(&libs, &b)), None);
        assert!(!narrow.holds(Role::Writer, &Scope::repository(libs.clone())));
    }

    #[test]
    fn inclusion_of_scopes() {
        let tenant = Scope::tenant();
        let libs = perm(Role::Reader, Some("libs"), None).scope;
        let acme = perm(Role::Reader, Some("libs"), Some("acme-*")).scope;
        let acme_core = perm(Role::Reader, Some("libs"), Some("acme-core*")).scope;
        let other = perm(Role::Reader, Some("other"), None).scope;
        assert!(tenant.includes(&libs) && tenant.includes(&acme));
        assert!(libs.includes(&acme) && !acme.includes(&libs));
        assert!(acme.includes(&acme_core) && !acme_core.includes(&acme));
        assert!(!libs.includes(&other) && !libs.includes(&tenant));
    }

    #[test]
    fn holding_needs_one_grant_that_covers() {
        let rights = Rights {
            grants: vec![perm(Role::Admin, Some("libs"), None)],
            cap: None,
        };
        let libs = Scope::repository(repo("libs"));
        assert!(rights.holds(Role::Admin, &libs));
        assert!(rights.holds(
            Role::Reader,
            &perm(Role::Reader, Some("libs"), Some("x*")).scope
        ));
        assert!(!rights.holds(Role::Reader, &Scope::tenant()));
        assert!(!rights.is_tenant_admin());
    }

    #[test]
    fn patterns_refuse_other_wildcards_and_separators() {
        assert!(PackagePattern::parse("acme-*").is_ok());
        assert!(PackagePattern::parse("*").is_ok());
        let long = "a".repeat(129);
        for (bad, rule) in [
            ("", "use 1 to 128 characters"),
            (&long, "use 1 to 128 characters"),
            ("a?b", "'*' as a wildcard"),
            ("a#b", "'*' as a wildcard"),
            ("a/b", "'*' as a wildcard"),
            ("a b", "'*' as a wildcard"),
            ("[ab]", "'*' as a wildcard"),
        ] {
            let err = PackagePattern::parse(bad).expect_err(bad);
            assert_eq!(err.what, "package pattern", "{err}");
            assert!(err.rule.contains(rule), "{bad}: {err}");
        }
    }

    #[test]
    fn package_scope_needs_repository() {
        let s = Scope {
            repository: None,
            package: Some(pat("a")),
        };
        assert_eq!(
            s.check(),
            Err("invalid scope: a package pattern needs a repository".into())
        );
        assert!(Scope::tenant().check().is_ok());
    }
}
