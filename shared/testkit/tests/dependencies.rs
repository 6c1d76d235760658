//! The crate graph's rules (ARCHITECTURE.md, "What may depend on what"), checked on the
//! graph cargo resolves: a normal dependency that breaks one fails this test, however deep
//! it hides. Dev-dependencies are free: tests may compose anything.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// What each package must never link, directly or through any normal dependency.
const RULES: &[(&str, &[&str])] = &[
    (
        "trove-core",
        &[
            "trove-aws",
            "trove-embedded",
            "trove-scan",
            "aws-config",
            "aws-sdk-dynamodb",
            "aws-sdk-s3",
            "rusqlite",
            "yara",
        ],
    ),
    (
        "trove-aws",
        &["trove-embedded", "trove-scan", "rusqlite", "yara"],
    ),
    (
        "trove-embedded",
        &[
            "trove-aws",
            "trove-scan",
            "aws-config",
            "aws-sdk-s3",
            "yara",
        ],
    ),
    (
        "trove-scan",
        &["trove-aws", "trove-embedded", "aws-config", "rusqlite"],
    ),
    // Every Lambda binary but scan-step: no SQLite, no ASL interpreter, no scanner.
    (
        "trove-functions",
        &[
            "trove-embedded",
            "trove-scan",
            "rusqlite",
            "libsqlite3-sys",
            "yara",
            "yara-sys",
        ],
    ),
    (
        "trove-functions-scan",
        &["trove-embedded", "rusqlite", "libsqlite3-sys"],
    ),
    // `trove serve`: one machine, no AWS account.
    (
        "trove-cli",
        &[
            "trove-aws",
            "aws-config",
            "aws-sdk-dynamodb",
            "aws-sdk-s3",
            "aws-sdk-sfn",
            "aws-sdk-sqs",
            "aws-sdk-secretsmanager",
        ],
    ),
];

/// What each package must link: the compositions are where they are said to be.
const REQUIRED: &[(&str, &[&str])] = &[
    ("trove-cli", &["trove-core", "trove-embedded", "trove-scan"]),
    ("trove-functions", &["trove-core", "trove-aws"]),
    ("trove-functions-scan", &["trove-aws", "trove-scan"]),
];

/// Package name → the names of its normal dependencies (build and dev edges left out).
type Graph = BTreeMap<String, BTreeSet<String>>;

fn graph(metadata: &Value) -> Graph {
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let mut graph = Graph::new();
    for node in metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
    {
        let Some(name) = node["id"].as_str().and_then(|id| names.get(id)) else {
            continue;
        };
        let deps = graph.entry((*name).to_owned()).or_default();
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            if let (true, Some(dep_name)) =
                (normal, dep["pkg"].as_str().and_then(|id| names.get(id)))
            {
                deps.insert((*dep_name).to_owned());
            }
        }
    }
    graph
}

/// Everything `root` links, and for each the path that brings it in.
fn closure(graph: &Graph, root: &str) -> BTreeMap<String, Vec<String>> {
    let mut seen = BTreeMap::new();
    let mut stack = vec![vec![root.to_owned()]];
    while let Some(path) = stack.pop() {
        let last = path.last().expect("non-empty path").clone();
        for dep in graph.get(&last).into_iter().flatten() {
            if !seen.contains_key(dep) {
                let mut next = path.clone();
                next.push(dep.clone());
                seen.insert(dep.clone(), next.clone());
                stack.push(next);
            }
        }
    }
    seen
}

fn violations(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (package, forbidden) in RULES {
        assert!(
            graph.contains_key(*package),
            "{package} is not in the workspace"
        );
        let links = closure(graph, package);
        for name in *forbidden {
            if let Some(path) = links.get(*name) {
                found.push(format!("{package} links {name}: {}", path.join(" → ")));
            }
        }
    }
    for (package, required) in REQUIRED {
        let links = closure(graph, package);
        for name in *required {
            if !links.contains_key(*name) {
                found.push(format!("{package} does not link {name}"));
            }
        }
    }
    found
}

fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names its host")
        .to_owned()
}

#[test]
fn the_workspace_keeps_its_dependency_rules() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The graph of the platform we build on: other platforms' crates are not downloaded.
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(host_triple())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let found = violations(&graph(&metadata));
    assert!(
        found.is_empty(),
        "dependency rules broken:\n{}",
        found.join("\n")
    );
}

/// The check itself: an edge added deep in the graph is caught, with the path that brings
/// it in; a dev-dependency is not an edge.
#[test]
fn a_forbidden_edge_anywhere_is_reported_with_its_path() {
    let metadata = serde_json::json!({
        "packages": [
            {"id": "c", "name": "trove-core"}, {"id": "a", "name": "trove-aws"},
            {"id": "e", "name": "trove-embedded"}, {"id": "s", "name": "trove-scan"},
            {"id": "f", "name": "trove-functions"}, {"id": "fs", "name": "trove-functions-scan"},
            {"id": "cli", "name": "trove-cli"}, {"id": "q", "name": "rusqlite"},
            {"id": "x", "name": "some-helper"}
        ],
        "resolve": {"nodes": [
            {"id": "c", "deps": []},
            {"id": "a", "deps": [{"pkg": "c", "dep_kinds": [{"kind": null}]}]},
            {"id": "e", "deps": [{"pkg": "q", "dep_kinds": [{"kind": null}]}]},
            {"id": "s", "deps": [{"pkg": "c", "dep_kinds": [{"kind": null}]}]},
            {"id": "x", "deps": [{"pkg": "q", "dep_kinds": [{"kind": null}]}]},
            {"id": "f", "deps": [
                {"pkg": "a", "dep_kinds": [{"kind": null}]},
                {"pkg": "c", "dep_kinds": [{"kind": null}]},
                {"pkg": "x", "dep_kinds": [{"kind": null}]},
                {"pkg": "e", "dep_kinds": [{"kind": "dev"}]}
            ]},
            {"id": "fs", "deps": [
                {"pkg": "a", "dep_kinds": [{"kind": null}]},
                {"pkg": "s", "dep_kinds": [{"kind": null}]}
            ]},
            {"id": "cli", "deps": [
                {"pkg": "c", "dep_kinds": [{"kind": null}]},
                {"pkg": "e", "dep_kinds": [{"kind": null}]},
                {"pkg": "s", "dep_kinds": [{"kind": null}]}
            ]}
        ]}
    });
    let found = violations(&graph(&metadata));
    assert_eq!(
        found,
        vec!["trove-functions links rusqlite: trove-functions → some-helper → rusqlite".to_owned()]
    );
}
