//! A crate's `Cargo.toml`, as `cargo package` normalises it: checked against the upload,
//! and turned into the crate version's entry in the sparse index.

use toml::{Table, Value};

use crate::domain::echo::{echo, sanitize};
use crate::domain::model::Manifest;
use crate::formats::{ArtifactName, FileAttributes, MANIFEST_MAX, semver_order};

use super::INDEX_ENTRY;
use super::index::{Dependency, DependencyKind, Entry, Features};
use super::names::check_shape;

/// The manifest's name inside the crate's top directory (`{name}-{version}/`).
pub const FILE: &str = "Cargo.toml";

/// crates.io's index, as cargo names it in an index line: a normalised Cargo.toml means
/// crates.io by a dependency without `registry-index`, where the index means "this
/// registry" by one without `registry`.
pub const CRATES_IO_INDEX: &str = "https://github.com/rust-lang/crates.io-index";

/// The longest index entry kept: a Cargo.toml of [`MANIFEST_MAX`] bytes of one-line
/// dependencies spells out to twenty times as much JSON, and the entry is stored on the
/// file's record, whose item must stay well below DynamoDB's 400 KB.
pub const MAX_ENTRY: usize = 128 * 1024;

/// The dependency tables, in a package's top level and under `[target.'…']`. The `_`
/// spellings are what older editions also accept.
const DEPENDENCY_TABLES: [(&str, DependencyKind); 5] = [
    ("dependencies", DependencyKind::Normal),
    ("dev-dependencies", DependencyKind::Dev),
    ("dev_dependencies", DependencyKind::Dev),
    ("build-dependencies", DependencyKind::Build),
    ("build_dependencies", DependencyKind::Build),
];

/// Checks the manifest against the crate and version uploaded; returns the version's index
/// entry, as compact JSON, under [`INDEX_ENTRY`].
pub fn check(
    filename: &str,
    expected: &ArtifactName,
    manifest: Option<&Manifest>,
) -> Result<FileAttributes, String> {
    let what = format!("{}-{}/{FILE}", expected.package, expected.version);
    let Some(manifest) = manifest else {
        return Err(format!("invalid crate: {filename} has no {what}"));
    };
    if !manifest.complete {
        return Err(format!(
            "invalid crate: {filename}: {what} is larger than {} KiB",
            MANIFEST_MAX / 1024
        ));
    }
    if manifest.others > 0 {
        return Err(format!(
            "invalid crate: {filename} has more than one {what}"
        ));
    }
    let invalid = |why: String| format!("invalid {what} in {filename}: {why}");
    let toml: Table = manifest.text.parse().map_err(|e: toml::de::Error| {
        invalid(format!("not TOML ({})", sanitize(e.message(), 120)))
    })?;
    let package = toml
        .get("package")
        .and_then(Value::as_table)
        .ok_or_else(|| invalid("it has no [package]".into()))?;
    let name = package
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("[package] has no name".into()))?;
    if name != expected.package {
        return Err(format!(
            "name mismatch: {what} says name {}, the upload is for {}",
            echo(name),
            expected.package
        ));
    }
    let version = package
        .get("version")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("[package] has no version".into()))?;
    if semver_order::parse(version, "Cargo").is_err()
        || semver_order::compare(version, &expected.version).is_ne()
    {
        return Err(format!(
            "version mismatch: {what} says version {}, the upload is for {}",
            echo(version),
            expected.version
        ));
    }
    let entry = index_entry(&toml, package, expected).map_err(invalid)?;
    let json = serde_json::to_string(&entry).map_err(|e| invalid(e.to_string()))?;
    if json.len() > MAX_ENTRY {
        return Err(invalid(format!(
            "its {} dependencies and {} features make an index entry larger than {} KiB",
            entry.deps.len(),
            entry.features.len() + entry.features2.len(),
            MAX_ENTRY / 1024
        )));
    }
    Ok(FileAttributes::from([(INDEX_ENTRY.to_owned(), json)]))
}

/// `[package] description`, made one line for search ([`crate::formats::summary_line`]).
/// `None` when it is missing or no string (`description.workspace = true`, which
/// `cargo package` would have resolved, is a table), or when the manifest is no TOML.
pub fn summary(manifest: &Manifest) -> Option<String> {
    let toml: Table = manifest.text.parse().ok()?;
    let description = toml.get("package")?.get("description")?.as_str()?;
    crate::formats::summary_line(description)
}

fn index_entry(toml: &Table, package: &Table, expected: &ArtifactName) -> Result<Entry, String> {
    let mut deps = Vec::new();
    dependencies(toml, None, &mut deps)?;
    if let Some(targets) = toml.get("target") {
        let targets = targets.as_table().ok_or("[target] must be a table")?;
        for (target, tables) in targets {
            let tables = tables
                .as_table()
                .ok_or_else(|| format!("[target.{}] must be a table", echo(target)))?;
            dependencies(tables, Some(target), &mut deps)?;
        }
    }
    let (features, features2) = features(toml)?;
    let v = (!features2.is_empty()).then_some(2);
    Ok(Entry {
        name: expected.package.clone(),
        vers: expected.version.clone(),
        deps,
        features,
        features2,
        links: optional_string(package, "links")?,
        rust_version: optional_string(package, "rust-version")?,
        v,
    })
}

/// The dependencies of `tables` (the top level, or one `[target.'…']`).
fn dependencies(
    tables: &Table,
    target: Option<&str>,
    out: &mut Vec<Dependency>,
) -> Result<(), String> {
    for (table, kind) in DEPENDENCY_TABLES {
        let Some(deps) = tables.get(table) else {
            continue;
        };
        let deps = deps
            .as_table()
            .ok_or_else(|| format!("[{table}] must be a table"))?;
        for (name, spec) in deps {
            out.push(dependency(name, spec, kind, target)?);
        }
    }
    Ok(())
}

/// One dependency as the index has it. A renamed one (`foo = { package = "bar" }`) is
/// `name: foo, package: bar` there.
fn dependency(
    name: &str,
    spec: &Value,
    kind: DependencyKind,
    target: Option<&str>,
) -> Result<Dependency, String> {
    let shown = echo(name);
    check_shape(name).map_err(|why| format!("invalid dependency name {shown}: {why}"))?;
    let empty = Table::new();
    let (version, fields) = match spec {
        Value::String(version) => (Some(version.as_str()), &empty),
        Value::Table(fields) => (field(fields, "version", Value::as_str, &shown)?, fields),
        _ => return Err(format!("dependency {shown} must be a version or a table")),
    };
    let version =
        version.ok_or_else(|| format!("dependency {shown} has no version: publish it first"))?;
    let req = semver::VersionReq::parse(version).map_err(|why| {
        format!(
            "dependency {shown} has an invalid version requirement {}: {why}",
            echo(version)
        )
    })?;
    let package = field(fields, "package", Value::as_str, &shown)?;
    if let Some(package) = package {
        check_shape(package).map_err(|why| {
            format!(
                "dependency {shown}: invalid package {}: {why}",
                echo(package)
            )
        })?;
    }
    let default_features = match field(fields, "default-features", Value::as_bool, &shown)? {
        Some(set) => Some(set),
        None => field(fields, "default_features", Value::as_bool, &shown)?,
    };
    Ok(Dependency {
        name: name.to_owned(),
        req: req.to_string(),
        features: match fields.get("features") {
            None => Vec::new(),
            Some(list) => strings(list)
                .ok_or_else(|| format!("dependency {shown}: features must be a list of strings"))?,
        },
        optional: field(fields, "optional", Value::as_bool, &shown)?.unwrap_or(false),
        default_features: default_features.unwrap_or(true),
        target: target.map(str::to_owned),
        kind,
        registry: Some(registry(fields, &shown)?),
        package: package.map(str::to_owned),
    })
}

/// The index of the registry a dependency comes from. `cargo package` writes a named
/// registry's index URL as `registry-index`; one without is from crates.io.
fn registry(fields: &Table, shown: &impl std::fmt::Display) -> Result<String, String> {
    if let Some(index) = field(fields, "registry-index", Value::as_str, shown)? {
        return Ok(index.to_owned());
    }
    if fields.contains_key("registry") {
        return Err(format!(
            "dependency {shown} names its registry but not its index: package the crate with \
             cargo, which writes the registry's index URL"
        ));
    }
    Ok(CRATES_IO_INDEX.to_owned())
}

/// `[features]`, split as crates.io splits it: those using `dep:` or `?/` apart.
fn features(toml: &Table) -> Result<(Features, Features), String> {
    let mut plain = Features::new();
    let mut extended = Features::new();
    let Some(table) = toml.get("features") else {
        return Ok((plain, extended));
    };
    let table = table.as_table().ok_or("[features] must be a table")?;
    for (feature, enables) in table {
        let enables = strings(enables)
            .ok_or_else(|| format!("feature {} must be a list of strings", echo(feature)))?;
        let new_syntax = enables
            .iter()
            .any(|e| e.starts_with("dep:") || e.contains("?/"));
        let into = if new_syntax {
            &mut extended
        } else {
            &mut plain
        };
        into.insert(feature.clone(), enables);
    }
    Ok((plain, extended))
}

/// A field of a dependency's table, when present and of the type `read` takes.
fn field<'t, T>(
    fields: &'t Table,
    key: &str,
    read: fn(&'t Value) -> Option<T>,
    shown: &impl std::fmt::Display,
) -> Result<Option<T>, String> {
    fields
        .get(key)
        .map(|value| {
            read(value).ok_or_else(|| format!("dependency {shown}: {key} has the wrong type"))
        })
        .transpose()
}

fn optional_string(package: &Table, key: &str) -> Result<Option<String>, String> {
    match package.get(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(format!("[package] {key} must be a string")),
    }
}

fn strings(list: &Value) -> Option<Vec<String>> {
    list.as_array()?
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect()
}
