//! Route families: routes one Lambda function serves together, behind greedy API Gateway
//! routes (`/npm/{tenant}/{repo}/{proxy+}`). A package manager's protocol may have paths
//! API Gateway cannot tell apart (a scoped npm name is one segment or two, and the gateway
//! decodes `%2f`), and one function per route would spend the stack's resource budget on
//! routes that differ only in path. Inside the function the router still matches each
//! route, and the guard applies each route's own rule.

use crate::http::RouteSpec;
use crate::http::permissions::{self, Rule};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteFamily {
    /// The function's `Handler` setting.
    pub handler: &'static str,
    /// Every member's path starts so; the gateway route is this followed by `{proxy+}`.
    pub prefix: &'static str,
    pub methods: &'static [&'static str],
}

pub const FAMILIES: &[RouteFamily] = &[
    // The simple index, its project pages and the file links (twine's upload, a POST, keeps
    // a function of its own).
    RouteFamily {
        handler: "pypi_read",
        prefix: "/pypi/{tenant}/{repo}/",
        methods: &["GET"],
    },
    // Reads: packuments, tarballs, dist-tags, ping, whoami, and the audit POST npm makes
    // on install (it reads nothing either).
    RouteFamily {
        handler: "npm_read",
        prefix: "/npm/{tenant}/{repo}/",
        methods: &["GET", "POST"],
    },
    // Publish, deprecate, dist-tag changes, unpublish.
    RouteFamily {
        handler: "npm_write",
        prefix: "/npm/{tenant}/{repo}/",
        methods: &["PUT", "DELETE"],
    },
    // The sparse index (its paths are 2 to 4 segments deep), downloads, search, owners.
    RouteFamily {
        handler: "cargo_read",
        prefix: "/cargo/{tenant}/{repo}/",
        methods: &["GET"],
    },
    // Publish, yank, owner changes.
    RouteFamily {
        handler: "cargo_write",
        prefix: "/cargo/{tenant}/{repo}/",
        methods: &["PUT", "DELETE"],
    },
    // Changes to a published version: pin, yank, tags and labels, delete. Not for a
    // package manager's sake: one function for six routes keeps the stack's resource count
    // below CloudFormation's limit.
    RouteFamily {
        handler: "version_write",
        prefix: "/v1/repositories/{repo}/packages/",
        methods: &["PUT", "DELETE"],
    },
];

/// The read door's `Handler`: one function behind a Lambda function URL (template
/// `ReadFunction`, README "Cheaper reads") that serves the high-volume reads, file downloads
/// and the package managers' read families, a second time: with no gateway charge per
/// request. The same routes stay on the HTTP API. Its caller's identity is decided in the
/// function, as for the package managers' routes.
pub const READ_DOOR_HANDLER: &str = "reads";
const READ_DOOR_OPERATIONS: &[&str] = &["download_file"];
const READ_DOOR_FAMILIES: &[&str] = &["pypi_read", "npm_read", "cargo_read"];

/// Whether the read door serves `route`.
pub fn read_door_covers(route: &RouteSpec) -> bool {
    READ_DOOR_OPERATIONS.contains(&route.operation_id.as_str())
        || FAMILIES
            .iter()
            .filter(|f| READ_DOOR_FAMILIES.contains(&f.handler))
            .any(|f| f.covers(route))
}

impl RouteFamily {
    /// The API Gateway route path of each of its methods.
    pub fn gateway_path(&self) -> String {
        format!("{}{{proxy+}}", self.prefix)
    }

    pub fn covers(&self, route: &RouteSpec) -> bool {
        self.methods.contains(&route.method.as_str()) && route.path.starts_with(self.prefix)
    }

    /// Its routes, from the route table.
    pub fn routes(&self) -> Vec<RouteSpec> {
        self.routes_in(crate::http::route_table())
    }

    /// Its routes, from `table`.
    pub fn routes_in(&self, table: Vec<RouteSpec>) -> Vec<RouteSpec> {
        table.into_iter().filter(|r| self.covers(r)).collect()
    }

    /// What its routes have in common, as one rule: whether they challenge clients (the
    /// gateway's authorizer is off for all or none) and whether they write (audit).
    pub fn rule(&self) -> Rule {
        let rules: Vec<&Rule> = self
            .routes()
            .iter()
            .filter_map(|r| permissions::rule(&r.operation_id))
            .collect();
        Rule {
            operation_id: self.handler,
            need: rules
                .first()
                .map_or(permissions::Need::Authenticated, |r| r.need),
            audit: rules.iter().find_map(|r| r.audit),
            challenges_clients: !rules.is_empty() && rules.iter().all(|r| r.challenges_clients),
        }
    }
}

/// The family a function's `Handler` names, if it names one.
pub fn family(handler: &str) -> Option<&'static RouteFamily> {
    FAMILIES.iter().find(|f| f.handler == handler)
}

/// A route's rule, or a family's (see [`RouteFamily::rule`]).
pub fn rule_of_handler(handler: &str) -> Option<Rule> {
    if handler == crate::http::console::HANDLER {
        return Some(crate::http::console::RULE);
    }
    permissions::rule(handler)
        .copied()
        .or_else(|| family(handler).map(RouteFamily::rule))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_familys_members_agree_on_what_its_function_is_deployed_with() {
        for family in FAMILIES {
            let routes = family.routes();
            assert!(routes.len() >= 2, "{}: {routes:?}", family.handler);
            let rules: Vec<&Rule> = routes
                .iter()
                .map(|r| permissions::rule(&r.operation_id).expect("every route has a rule"))
                .collect();
            let challenges = rules[0].challenges_clients;
            let writes = rules[0].audit.is_some();
            for (route, rule) in routes.iter().zip(&rules) {
                assert_eq!(rule.challenges_clients, challenges, "{route:?}");
                assert_eq!(
                    rule.audit.is_some(),
                    writes,
                    "{route:?}: reads and writes mixed"
                );
            }
            assert_eq!(family.rule().challenges_clients, challenges);
        }
    }

    #[test]
    fn the_read_door_serves_downloads_and_the_package_managers_reads_and_no_write() {
        let served: Vec<RouteSpec> = crate::http::route_table()
            .into_iter()
            .filter(read_door_covers)
            .collect();
        let ids: std::collections::BTreeSet<&str> =
            served.iter().map(|r| r.operation_id.as_str()).collect();
        for id in [
            "download_file",
            "pypi_simple_project",
            "npm_packument",
            "cargo_index_long",
        ] {
            assert!(ids.contains(id), "{id} not in {ids:?}");
        }
        for route in &served {
            let rule = permissions::rule(&route.operation_id).expect("every route has a rule");
            assert!(rule.audit.is_none(), "{route:?} writes");
        }
        assert!(family(READ_DOOR_HANDLER).is_none());
        assert!(permissions::rule(READ_DOOR_HANDLER).is_none());
    }

    #[test]
    fn no_route_belongs_to_two_families_or_to_one_and_a_function_of_its_own_name() {
        for route in crate::http::route_table() {
            let owners: Vec<_> = FAMILIES.iter().filter(|f| f.covers(&route)).collect();
            assert!(owners.len() <= 1, "{route:?}: {owners:?}");
            assert!(family(&route.operation_id).is_none(), "{route:?}");
        }
        let npm_publish = crate::http::route_table()
            .into_iter()
            .find(|r| r.operation_id == "npm_publish")
            .expect("npm_publish");
        assert_eq!(
            FAMILIES
                .iter()
                .find(|f| f.covers(&npm_publish))
                .map(|f| f.handler),
            Some("npm_write")
        );
    }
}
