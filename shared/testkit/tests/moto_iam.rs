//! The harness's IAM enforcement (`moto_iam.py`, loaded by `moto_server.py`) decides as IAM
//! decides: its self-test (`moto_iam_test.py`) drives a moto through boto3 with narrowed
//! users — `dynamodb:LeadingKeys`, each item of a transaction, `s3:prefix`, the signer of a
//! presigned URL, a missing object's 403 without `s3:ListBucket`, explicit denies, condition
//! operators it does not know (refused, never allowed) — and fails on the first wrong answer.

use std::path::PathBuf;
use std::process::Command;

/// The Python beside `moto_server` (the virtualenv scripts/test.sh makes), as the launcher
/// itself runs.
fn python() -> PathBuf {
    let moto_server = std::env::var_os("TROVE_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server")
        });
    let python = moto_server.with_file_name("python");
    assert!(
        python.is_file(),
        "{} not found (run scripts/test.sh, which installs moto[server] into .venv, or set \
         TROVE_MOTO_SERVER)",
        python.display()
    );
    python
}

#[test]
fn moto_refuses_and_allows_what_iam_would() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto_iam_test.py");
    let out = Command::new(python())
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.lines().any(|l| l == "all ok"), "{stdout}");
    // The checks that matter most to the functions, by name: if the script stops making
    // them, this test says so.
    for check in [
        "ok dynamodb PutItem refused outside LeadingKeys (400 AccessDeniedException)",
        "ok dynamodb TransactWriteItems with one forbidden item refused",
        "ok s3 GetObject of a missing key without s3:ListBucket: 403",
        "ok s3 HeadObject of a missing key with s3:ListBucket: 404",
        "ok s3 presigned PUT refused elsewhere",
        "ok an unsupported condition operator denies",
    ] {
        assert!(
            stdout.lines().any(|l| l == check),
            "missing `{check}`:\n{stdout}"
        );
    }
}
