//! The API keeps the contract its OpenAPI document states: Schemathesis generates requests
//! from `/openapi.json` of a running `trove serve` (valid ones, invalid ones, and sequences
//! that follow the document's links) and checks every answer against the document: status
//! codes, content types, headers and bodies documented, schema-valid requests accepted,
//! schema-violating ones refused, no 5xx. The exceptions the document cannot express live,
//! each with its reason, in `tests/schemathesis.toml`.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestServer;

/// The workspace's `.venv/bin/schemathesis`, which scripts/test.sh installs.
fn schemathesis() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/schemathesis");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which installs Schemathesis into ./.venv",
        bin.display()
    );
    bin
}

/// The summary's "Test cases:" figure: a line "9443 generated, 9440 passed, ..." → 9443.
fn generated_cases(output: &str) -> Option<u64> {
    output.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let count = words.next()?.parse().ok()?;
        words
            .next()
            .is_some_and(|w| w.starts_with("generated"))
            .then_some(count)
    })
}

/// The summary's "Selected: 87/88" → (87, 88).
fn selected_operations(output: &str) -> Option<(usize, usize)> {
    let line = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Selected:"))?;
    let (selected, total) = line.trim().split_once('/')?;
    Some((selected.parse().ok()?, total.parse().ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_keeps_the_documented_contract_under_generated_requests() {
    // Thousands of deliberately bad requests: the per-client failure brake would otherwise
    // answer most of them with 429, and the run would test the brake, not the routes.
    let server = TestServer::start_with_env(&[
        ("TROVE_AUTH_FAILURES_PER_MINUTE", "1000000"),
        ("TROVE_AUTH_FAILURE_BURST", "1000000"),
    ])
    .await;
    let unlimited = json!({"per_second": 1_000_000, "burst": 1_000_000});
    let resp = server
        .api(Method::PUT, "/v1/policy")
        .json(&json!({"rate_limits": {
            "anonymous": unlimited, "user": unlimited,
            "service_account": unlimited, "admin": unlimited,
        }}))
        .send()
        .await
        .expect("PUT /v1/policy");
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "policy: {:?}",
        resp.text().await
    );
    // The package managers' routes are pointed at these (tests/schemathesis.toml).
    for (name, format) in [("py", "pypi"), ("js", "npm"), ("rs", "cargo")] {
        server.create_repo_of(name, format).await;
    }
    // `PUT /v1/policy` runs as the admin of another tenant (tests/schemathesis.toml).
    let policy_key = server.create_tenant("policies").await;
    let doc = server.get_ok("/openapi.json").await;
    let operations: usize = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |ops| ops.len()))
        .sum();

    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/schemathesis.toml");
    // Schemathesis keeps its example database in the working directory.
    let work = tempfile::tempdir().expect("tempdir");
    let seconds = std::env::var("TROVE_CONTRACT_SECONDS").unwrap_or_else(|_| "150".into());
    let schema = server.url("/openapi.json");
    let key = server.token.clone();
    let st = schemathesis();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .current_dir(work.path())
            .env("HOME", work.path())
            .env("NO_COLOR", "1")
            .env("TROVE_CONTRACT_KEY", key)
            .env("TROVE_CONTRACT_POLICY_KEY", policy_key)
            .args(["--config-file".as_ref(), config.as_os_str()])
            .args(["run", &schema])
            .args(["--max-examples", "5", "--workers", "1", "--no-color"])
            .args(["--max-time", &seconds, "--seed", "1"])
            .output()
            .expect("run schemathesis")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = format!(
        "{stdout}\n--- stderr ---\n{}\n--- server log (tail) ---\n{}",
        String::from_utf8_lossy(&output.stderr),
        tail(&server.log(), 4000)
    );
    assert!(
        output.status.success(),
        "Schemathesis found contract violations:\n{report}"
    );
    let cases = generated_cases(&stdout).unwrap_or(0);
    assert!(cases >= 5000, "only {cases} test cases ran:\n{report}");
    // Every operation Schemathesis read from the document was tested.
    let (selected, total) = selected_operations(&stdout)
        .unwrap_or_else(|| panic!("no \"Selected: N/M\" in the summary:\n{report}"));
    assert_eq!(selected, total, "operations left out:\n{report}");
    assert!(
        stdout.contains(&format!("Tested: {selected}")),
        "some selected operations were not tested:\n{report}"
    );
    // All but `GET /openapi.json`, the document itself, which Schemathesis leaves out.
    assert_eq!(
        total + 1,
        operations,
        "Schemathesis read {total} of the document's {operations} operations:\n{report}"
    );
    eprintln!("schemathesis: {cases} test cases, {selected} operations");
}

fn tail(text: &str, bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[test]
fn the_case_count_is_read_from_the_summary() {
    let summary = "Schema validation mismatch: 8 operations mostly rejected generated data\n\
                   Test cases:\n  9443 generated, 9440 passed, 3 failed\n";
    assert_eq!(generated_cases(summary), Some(9443));
    assert_eq!(generated_cases("no summary"), None);
    let summary = "API Operations:\n  Selected: 87/88\n  Tested: 87\n";
    assert_eq!(selected_operations(summary), Some((87, 88)));
}
