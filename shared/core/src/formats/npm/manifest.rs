//! A tarball's `package/package.json`: checked against the upload, and turned into the
//! version document the registry serves (what `npm view widget@1.0.0` shows).

use serde_json::{Map, Value};

use crate::domain::echo::{echo, sanitize};
use crate::domain::model::Manifest;
use crate::formats::{ArtifactName, FileAttributes};

use super::{MANIFEST, versions};

/// Where npm keeps a package's manifest inside its tarball.
pub const PATH: [&str; 2] = ["package", "package.json"];

/// The package.json fields a version document keeps. Whatever a client must not take from
/// the tarball (`dist`, `deprecated`, `_attachments`, the readme) is left out: the
/// registry sets those itself.
const VERSION_FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "keywords",
    "homepage",
    "bugs",
    "license",
    "author",
    "contributors",
    "repository",
    "funding",
    "main",
    "module",
    "browser",
    "types",
    "typings",
    "exports",
    "imports",
    "type",
    "bin",
    "man",
    "directories",
    "dependencies",
    "devDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "optionalDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "engines",
    "os",
    "cpu",
    "scripts",
    "gypfile",
    "_hasShrinkwrap",
];

/// What npm's abbreviated metadata (`application/vnd.npm.install-v1+json`) keeps of a
/// version: what an installer needs to resolve it.
const ABBREVIATED_FIELDS: &[&str] = &[
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bin",
    "directories",
    "engines",
    "cpu",
    "os",
    "_hasShrinkwrap",
    "hasInstallScript",
    "deprecated",
    "dist",
    "funding",
    "license",
];

const DEPENDENCY_MAPS: [&str; 4] = [
    "dependencies",
    "devDependencies",
    "peerDependencies",
    "optionalDependencies",
];

/// Scripts npm runs on install: a package with one is flagged, so installers can warn.
const INSTALL_SCRIPTS: [&str; 3] = ["preinstall", "install", "postinstall"];

/// Checks the manifest against the package and version uploaded; returns the version
/// document, as compact JSON, under [`MANIFEST`].
pub fn check(
    filename: &str,
    expected: &ArtifactName,
    manifest: Option<&Manifest>,
) -> Result<FileAttributes, String> {
    let what = PATH.join("/");
    let Some(manifest) = manifest else {
        return Err(format!("invalid package: {filename} has no {what}"));
    };
    if !manifest.complete {
        return Err(format!(
            "invalid package: {filename}: {what} is larger than {} KiB",
            crate::formats::MANIFEST_MAX / 1024
        ));
    }
    if manifest.others > 0 {
        return Err(format!(
            "invalid package: {filename} has more than one {what}"
        ));
    }
    let invalid = |why: String| format!("invalid {what} in {filename}: {why}");
    let package: Map<String, Value> = serde_json::from_str(&manifest.text).map_err(|e| {
        invalid(format!(
            "not a JSON object ({})",
            sanitize(&e.to_string(), 120)
        ))
    })?;
    let name = package
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("it has no name".into()))?;
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
        .ok_or_else(|| invalid("it has no version".into()))?;
    if versions::parse(version).is_err() || versions::compare(version, &expected.version).is_ne() {
        return Err(format!(
            "version mismatch: {what} says version {}, the upload is for {}",
            echo(version),
            expected.version
        ));
    }
    check_shapes(&package).map_err(invalid)?;
    let document = version_document(package, expected);
    let json = Value::Object(document).to_string();
    Ok(FileAttributes::from([(MANIFEST.to_owned(), json)]))
}

/// package.json's `description`, made one line for search
/// ([`crate::formats::summary_line`]). `None` when it is missing or no string, or when the
/// manifest is no JSON object (a cut one never is).
pub fn summary(manifest: &Manifest) -> Option<String> {
    let package: Map<String, Value> = serde_json::from_str(&manifest.text).ok()?;
    crate::formats::summary_line(package.get("description")?.as_str()?)
}

/// The fields installers read as maps must be maps: a registry that served
/// `"dependencies": "x"` would break every client resolving the package.
fn check_shapes(package: &Map<String, Value>) -> Result<(), String> {
    let strings = |v: &Value| {
        v.as_object()
            .is_some_and(|m| m.values().all(Value::is_string))
    };
    for field in DEPENDENCY_MAPS {
        if package.get(field).is_some_and(|v| !strings(v)) {
            return Err(format!("{field} must be an object of version strings"));
        }
    }
    if package
        .get("bin")
        .is_some_and(|v| !v.is_string() && !strings(v))
    {
        return Err("bin must be a path or an object of paths".into());
    }
    if package.get("engines").is_some_and(|v| !v.is_object()) {
        return Err("engines must be an object".into());
    }
    Ok(())
}

/// The allowed fields of package.json, with what the registry adds.
fn version_document(
    mut package: Map<String, Value>,
    expected: &ArtifactName,
) -> Map<String, Value> {
    let install_script = package
        .get("scripts")
        .and_then(Value::as_object)
        .is_some_and(|s| INSTALL_SCRIPTS.iter().any(|k| s.contains_key(*k)))
        || package.get("gypfile") == Some(&Value::Bool(true));
    package.retain(|field, _| VERSION_FIELDS.contains(&field.as_str()));
    if install_script {
        package.insert("hasInstallScript".into(), Value::Bool(true));
    }
    package.insert("name".into(), expected.package.clone().into());
    package.insert("version".into(), expected.version.clone().into());
    package.insert(
        "_id".into(),
        format!("{}@{}", expected.package, expected.version).into(),
    );
    package
}

/// The fields of a version document that npm's abbreviated metadata keeps.
pub fn abbreviated(version_doc: &Map<String, Value>) -> Map<String, Value> {
    ABBREVIATED_FIELDS
        .iter()
        .filter_map(|field| {
            version_doc
                .get(*field)
                .map(|value| ((*field).to_owned(), value.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn manifest(value: &Value) -> Manifest {
        Manifest {
            path: "package/package.json".into(),
            text: value.to_string(),
            complete: true,
            others: 0,
        }
    }

    fn expected(package: &str, version: &str) -> ArtifactName {
        ArtifactName {
            package: package.into(),
            version: version.into(),
        }
    }

    const FILE: &str = "widget-1.0.0.tgz";

    fn document(package: &Value) -> Result<Map<String, Value>, String> {
        let attributes = check(
            FILE,
            &expected("@acme/widget", "1.0.0"),
            Some(&manifest(package)),
        )?;
        let text = attributes.get(MANIFEST).expect("the version document");
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_version_document_keeps_allowed_fields_only() {
        let doc = document(&json!({
            "name": "@acme/widget",
            "version": "1.0.0",
            "description": "A widget",
            "main": "index.js",
            "dependencies": {"left-pad": "^1.3.0"},
            "bin": {"widget": "cli.js"},
            "engines": {"node": ">=18"},
            "scripts": {"test": "node test.js"},
            "deprecated": "do not use",
            "dist": {"tarball": "http://evil.example/x.tgz"},
            "_attachments": {},
            "readme": "# Widget",
            "hasInstallScript": true,
            "_id": "other@9.9.9",
        }))
        .expect("valid");
        assert_eq!(doc["_id"], "@acme/widget@1.0.0");
        assert_eq!(doc["description"], "A widget");
        assert_eq!(doc["dependencies"], json!({"left-pad": "^1.3.0"}));
        assert_eq!(doc["bin"], json!({"widget": "cli.js"}));
        for gone in [
            "deprecated",
            "dist",
            "_attachments",
            "readme",
            "hasInstallScript",
        ] {
            assert!(!doc.contains_key(gone), "{gone} kept: {doc:?}");
        }
    }

    #[test]
    fn install_scripts_are_flagged() {
        for package in [
            json!({"name": "@acme/widget", "version": "1.0.0", "scripts": {"postinstall": "x"}}),
            json!({"name": "@acme/widget", "version": "1.0.0", "scripts": {"preinstall": "x"}}),
            json!({"name": "@acme/widget", "version": "1.0.0", "gypfile": true}),
        ] {
            let doc = document(&package).expect("valid");
            assert_eq!(doc.get("hasInstallScript"), Some(&json!(true)), "{package}");
        }
    }

    #[test]
    fn the_manifest_must_be_there_whole_and_once() {
        let ok = manifest(&json!({"name": "widget", "version": "1.0.0"}));
        let want = expected("widget", "1.0.0");
        let err = check(FILE, &want, None).expect_err("none");
        assert_eq!(
            err,
            "invalid package: widget-1.0.0.tgz has no package/package.json"
        );
        let cut = Manifest {
            complete: false,
            ..ok.clone()
        };
        let err = check(FILE, &want, Some(&cut)).expect_err("cut");
        assert!(err.contains("package.json is larger than 32 KiB"), "{err}");
        let twice = Manifest {
            others: 1,
            ..ok.clone()
        };
        let err = check(FILE, &want, Some(&twice)).expect_err("twice");
        assert!(err.contains("more than one package/package.json"), "{err}");
        let not_json = Manifest {
            text: "{\"name\": ".into(),
            ..ok.clone()
        };
        let err = check(FILE, &want, Some(&not_json)).expect_err("not JSON");
        assert!(err.contains("not a JSON object"), "{err}");
        let array = manifest(&json!(["widget"]));
        let err = check(FILE, &want, Some(&array)).expect_err("an array");
        assert!(err.contains("not a JSON object"), "{err}");
        assert!(check(FILE, &want, Some(&ok)).is_ok());
    }

    #[test]
    fn the_manifest_must_name_the_upload() {
        let want = expected("@acme/widget", "1.0.0");
        let other_name = manifest(&json!({"name": "@evil/widget", "version": "1.0.0"}));
        let err = check(FILE, &want, Some(&other_name)).expect_err("name");
        assert_eq!(
            err,
            "name mismatch: package/package.json says name \"@evil/widget\", the upload is \
             for @acme/widget"
        );
        for version in ["1.0.1", "v1.0.0", "1.0", "1.0.0+build"] {
            let other = manifest(&json!({"name": "@acme/widget", "version": version}));
            let err = check(FILE, &want, Some(&other)).expect_err(version);
            assert!(err.starts_with("version mismatch"), "{version}: {err}");
        }
        let nameless = manifest(&json!({"version": "1.0.0"}));
        let err = check(FILE, &want, Some(&nameless)).expect_err("no name");
        assert!(err.contains("it has no name"), "{err}");
        let versionless = manifest(&json!({"name": "@acme/widget"}));
        let err = check(FILE, &want, Some(&versionless)).expect_err("no version");
        assert!(err.contains("it has no version"), "{err}");
    }

    #[test]
    fn maps_installers_read_must_be_maps() {
        for (field, value) in [
            ("dependencies", json!("left-pad")),
            ("dependencies", json!({"left-pad": 1})),
            ("devDependencies", json!(["x"])),
            ("peerDependencies", json!({"react": null})),
            ("optionalDependencies", json!(true)),
            ("bin", json!(["cli.js"])),
            ("bin", json!({"widget": 1})),
            ("engines", json!(">=18")),
        ] {
            let mut package = json!({"name": "@acme/widget", "version": "1.0.0"});
            package[field] = value.clone();
            let err = document(&package).expect_err(field);
            assert!(err.contains(field), "{field} = {value}: {err}");
        }
        let bin_path = json!({"name": "@acme/widget", "version": "1.0.0", "bin": "cli.js"});
        assert_eq!(document(&bin_path).expect("valid")["bin"], "cli.js");
    }

    fn description(package: &Value) -> Option<String> {
        summary(&manifest(package))
    }

    #[test]
    fn the_summary_is_the_description() {
        let package = json!({"name": "widget", "version": "1.0.0", "description": "A widget"});
        assert_eq!(description(&package).as_deref(), Some("A widget"));
        assert_eq!(
            description(&json!({"name": "widget", "version": "1.0.0"})),
            None
        );
        for not_text in [json!(null), json!(42), json!(["A widget"]), json!(" \n ")] {
            let package = json!({"name": "widget", "description": not_text});
            assert_eq!(description(&package), None, "{not_text}");
        }
    }

    #[test]
    fn a_multi_line_description_is_one_line() {
        let package = json!({"description": "\n  A widget,\r\n\tfor   widgets.\n\n"});
        assert_eq!(
            description(&package).as_deref(),
            Some("A widget, for widgets.")
        );
    }

    #[test]
    fn a_long_description_is_cut_at_a_char_boundary() {
        use crate::formats::SUMMARY_MAX;
        // '🧩' is four bytes: with one ASCII byte first, byte SUMMARY_MAX falls inside one.
        let long = format!("a{}", "🧩".repeat(SUMMARY_MAX));
        let cut = description(&json!({"description": long})).expect("a summary");
        assert_eq!(cut.len(), 253);
        assert!(long.starts_with(&cut));
    }

    #[test]
    fn a_manifest_that_is_no_json_object_has_no_summary() {
        for text in [
            "{\"description\": \"A widget\"",
            "[\"description\", \"A widget\"]",
            "\"A widget\"",
            "",
        ] {
            let m = Manifest {
                text: text.into(),
                ..manifest(&json!({}))
            };
            assert_eq!(summary(&m), None, "{text}");
        }
    }

    #[test]
    fn abbreviated_metadata_keeps_what_installers_need() {
        let doc = json!({
            "name": "widget",
            "version": "1.0.0",
            "description": "left out",
            "scripts": {"test": "left out"},
            "dependencies": {"a": "1"},
            "hasInstallScript": true,
            "deprecated": "use gadget",
            "dist": {"tarball": "t", "integrity": "i"},
            "license": "MIT",
            "engines": {"node": ">=18"},
            "_id": "widget@1.0.0",
        });
        let Value::Object(doc) = doc else {
            unreachable!("an object literal")
        };
        let short = abbreviated(&doc);
        let fields: Vec<&str> = short.keys().map(String::as_str).collect();
        let mut want = vec![
            "name",
            "version",
            "dependencies",
            "hasInstallScript",
            "deprecated",
            "dist",
            "license",
            "engines",
        ];
        want.sort_unstable();
        let mut got = fields.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(short["dist"], doc["dist"]);
    }
}
