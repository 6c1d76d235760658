//! What each path parameter (and a query's file name) may hold, as a `pattern` in the OpenAPI document: a client, or
//! a generator such as Schemathesis, learns the shape of a name without trying, and an input
//! the document allows is one the routes accept (or answer 404 for, when nothing has that
//! name). One pattern per parameter name, written from the domain's rules
//! (`domain::names`, `formats::cargo::names`); the tests hold each to its rule.

use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{Object, Schema};
use utoipa::openapi::{OpenApi, RefOr};

/// `TenantName`.
pub const TENANT: &str = "^[a-z0-9][a-z0-9-]{0,62}$";
/// `RepoName`.
pub const REPO: &str = "^[a-z0-9][a-z0-9._-]{0,63}$";
/// `PackageName`: a plain name, or npm's `@scope/name` (at most 214 characters in all,
/// which the parameter's `maxLength` says).
pub const PACKAGE: &str =
    "^([A-Za-z0-9][A-Za-z0-9._-]{0,127}|@[a-z0-9][a-z0-9._~-]*/[a-z0-9][a-z0-9._~-]*)$";
/// `VersionName`.
pub const VERSION: &str = "^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$";
/// `FileName`.
pub const FILENAME: &str = "^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$";
/// A crate's name (`formats::cargo::names::check_shape`).
pub const CRATE: &str = "^[A-Za-z][A-Za-z0-9_-]{0,63}$";

/// A package, version or file being introduced (`parse_new`: it also ends with a letter or
/// digit), as the bodies that introduce one say (`CreateUpload`).
pub const NEW_PACKAGE: &str = "^([A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?|@[a-z0-9][a-z0-9._~-]*/[a-z0-9][a-z0-9._~-]*)$";
pub const NEW_VERSION: &str = "^[A-Za-z0-9]([A-Za-z0-9._+-]{0,62}[A-Za-z0-9])?$";
pub const NEW_FILENAME: &str = "^[A-Za-z0-9]([A-Za-z0-9._+-]{0,253}[A-Za-z0-9])?$";

/// A project name on the Python index's routes (`formats::pypi::names::normalize`: it also
/// ends with a letter or digit, and has no scope).
pub const PYPI_PROJECT: &str = "^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$";
/// A dist-tag's characters (`formats::npm::tags::check_dist_tag`, which also refuses a tag
/// that reads as a SemVer range).
pub const DIST_TAG: &str = "^[A-Za-z0-9._-]{1,64}$";

/// Where a format's routes read a parameter by the format's own rule: (path prefix, name,
/// pattern), ahead of `BY_NAME`.
const BY_PREFIX: &[(&str, &str, &str)] = &[
    ("/pypi/", "package", PYPI_PROJECT),
    ("/npm/", "tag", DIST_TAG),
];

/// The pattern of each path parameter, by name.
const BY_NAME: &[(&str, &str)] = &[
    ("tenant", TENANT),
    ("repo", REPO),
    ("package", PACKAGE),
    ("version", VERSION),
    ("filename", FILENAME),
    ("name", CRATE),
    // `GET …/packages?prefix=`: the start of a package name, read as one.
    ("prefix", PACKAGE),
];

/// Sets the pattern of every parameter of `doc` named in `BY_NAME` that has none (the path's,
/// and a query's `filename`).
pub fn add(doc: &mut OpenApi) {
    for (path, op) in crate::http::operations_mut(doc) {
        for param in op.parameters.iter_mut().flatten() {
            if !matches!(param.parameter_in, ParameterIn::Path | ParameterIn::Query) {
                continue;
            }
            let by_prefix = BY_PREFIX
                .iter()
                .find(|(prefix, name, _)| path.starts_with(prefix) && *name == param.name)
                .map(|(_, _, pattern)| pattern);
            let by_name = || {
                BY_NAME
                    .iter()
                    .find(|(name, _)| *name == param.name)
                    .map(|(_, pattern)| pattern)
            };
            let Some(pattern) = by_prefix.or_else(by_name) else {
                continue;
            };
            if let Some(RefOr::T(Schema::Object(object))) = param.schema.as_mut() {
                set_pattern(object, pattern);
            }
        }
    }
}

fn set_pattern(object: &mut Object, pattern: &str) {
    if object.pattern.is_none() {
        object.pattern = Some(pattern.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::names::{FileName, PackageName, RepoName, TenantName, VersionName};

    fn matches(pattern: &str, value: &str) -> bool {
        regex::Regex::new(pattern)
            .expect("a valid pattern")
            .is_match(value)
    }

    /// Names the rules accept and refuse, around each rule's edges.
    const SAMPLES: &[&str] = &[
        "a",
        "0",
        "acme",
        "acme-corp",
        "Acme",
        "-acme",
        "acme-",
        "a.b",
        "a_b",
        "a+b",
        "a b",
        "a/b",
        "@acme/widget",
        "@Acme/widget",
        "@acme/",
        "@/w",
        "@acme/widget/x",
        "1.0.0",
        "1.0.0+build",
        "widget-1.0.tar.gz",
        "é",
        "a#b",
        "",
    ];

    fn long(n: usize) -> String {
        "a".repeat(n)
    }

    #[test]
    fn each_pattern_accepts_what_its_rule_accepts_and_nothing_else() {
        type Rule = fn(&str) -> bool;
        let rules: [(&str, &str, Rule, usize); 6] = [
            ("tenant", TENANT, |v| TenantName::parse(v).is_ok(), 63),
            ("repo", REPO, |v| RepoName::parse(v).is_ok(), 64),
            ("package", PACKAGE, |v| PackageName::parse(v).is_ok(), 128),
            ("version", VERSION, |v| VersionName::parse(v).is_ok(), 64),
            ("filename", FILENAME, |v| FileName::parse(v).is_ok(), 255),
            (
                "name",
                CRATE,
                |v| crate::formats::cargo::names::check_shape(v).is_ok(),
                64,
            ),
        ];
        let format_rules: [(&str, &str, Rule, usize); 2] = [
            (
                "pypi project",
                PYPI_PROJECT,
                |v| crate::formats::pypi::names::normalize(v).is_ok(),
                128,
            ),
            (
                "dist-tag characters",
                DIST_TAG,
                // A range (`1.0.0`) has a tag's characters; only the range rule refuses it.
                |v| match crate::formats::npm::tags::check_dist_tag(v) {
                    Ok(()) => true,
                    Err(e) => e.ends_with("must not be a valid SemVer range"),
                },
                64,
            ),
        ];
        let new_rules: [(&str, &str, Rule, usize); 3] = [
            (
                "new package",
                NEW_PACKAGE,
                |v| PackageName::parse_new(v).is_ok(),
                128,
            ),
            (
                "new version",
                NEW_VERSION,
                |v| VersionName::parse_new(v).is_ok(),
                64,
            ),
            (
                "new filename",
                NEW_FILENAME,
                |v| FileName::parse_new(v).is_ok(),
                255,
            ),
        ];
        for (name, pattern, rule, max) in rules.into_iter().chain(new_rules).chain(format_rules) {
            let mut samples: Vec<String> = SAMPLES.iter().map(|s| (*s).to_owned()).collect();
            samples.extend([long(max), long(max + 1)]);
            for sample in &samples {
                // The parameter's maxLength bounds scoped package names (214) apart.
                if name.ends_with("package") && sample.starts_with('@') && sample.len() > 214 {
                    continue;
                }
                assert_eq!(
                    matches(pattern, sample),
                    rule(sample),
                    "{name}: {sample:?} (pattern {pattern})"
                );
            }
        }
    }

    /// The bodies that name things carry the same patterns (utoipa's attributes take only
    /// literals, so they are written there again; this holds them to the rules above).
    #[test]
    fn the_bodies_that_name_things_carry_the_same_patterns() {
        let doc = serde_json::to_value(crate::http::openapi()).expect("serialises");
        let schemas = &doc["components"]["schemas"];
        for (schema, property, pattern) in [
            ("CreateRepository", "name", REPO),
            ("CreateUser", "name", REPO),
            ("CreateServiceAccount", "name", REPO),
            ("CreateGroup", "name", REPO),
            ("CreateTenant", "name", TENANT),
            ("CreateWebhook", "repository", REPO),
            ("CreateUpload", "package", NEW_PACKAGE),
            ("CreateUpload", "version", NEW_VERSION),
            ("CreateUpload", "filename", NEW_FILENAME),
        ] {
            assert_eq!(
                schemas[schema]["properties"][property]["pattern"], pattern,
                "{schema}.{property}"
            );
        }
    }

    #[test]
    fn the_document_gives_each_named_path_parameter_its_pattern() {
        let doc = serde_json::to_value(crate::http::openapi()).expect("serialises");
        let mut seen = 0;
        let mut by_prefix = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for op in item.as_object().expect("item").values() {
                for param in op["parameters"].as_array().into_iter().flatten() {
                    let prefixed = BY_PREFIX
                        .iter()
                        .find(|(prefix, name, _)| {
                            path.starts_with(prefix) && param["name"] == *name
                        })
                        .map(|(_, _, pattern)| pattern);
                    by_prefix += usize::from(prefixed.is_some());
                    let named = || {
                        BY_NAME
                            .iter()
                            .find(|(name, _)| param["name"] == *name)
                            .map(|(_, pattern)| pattern)
                    };
                    let Some(pattern) = prefixed.or_else(named) else {
                        continue;
                    };
                    if param["in"] == "path" {
                        assert_eq!(param["schema"]["pattern"], *pattern, "{param}");
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen > 50, "{seen} parameters");
        // The Python index's project routes and npm's two dist-tag routes.
        assert!(by_prefix >= 4, "{by_prefix} parameters by a format's rule");
    }
}
