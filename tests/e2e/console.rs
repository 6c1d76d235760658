//! The web console in a real browser: `tests/console/console_e2e.py` (Playwright for Python,
//! driving Debian's Chromium at /usr/bin/chromium, headless) signs in, creates a repository,
//! uploads and downloads through the pages, sees the scanner refuse EICAR, makes and revokes
//! keys, and checks what a reader, a phone-sized screen and a keyboard-only user get. The
//! browser, Playwright and `$TROVE_CONSOLE_PYTHON` come from scripts/test.sh; without them
//! this test fails, it never passes silently. Screenshots of every step (and `failure.png`)
//! stay in `<target>/tmp/console-screenshots`, with the script's output.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::harness::TestServer;

const CHROMIUM: &str = "/usr/bin/chromium";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `$TROVE_CONSOLE_PYTHON`, else the workspace's `.venv/bin/python`; it must import
/// Playwright.
fn python_with_playwright() -> PathBuf {
    let root = workspace_root();
    let (python, from) = match std::env::var_os("TROVE_CONSOLE_PYTHON") {
        Some(value) if !value.is_empty() => {
            let path = PathBuf::from(value);
            // A relative path with a folder in it is the workspace's; a bare name is PATH's.
            let path = if path.is_relative() && path.components().count() > 1 {
                root.join(path)
            } else {
                path
            };
            (path, "TROVE_CONSOLE_PYTHON")
        }
        _ => (
            root.join(".venv/bin/python"),
            "the default ./.venv/bin/python",
        ),
    };
    let check = Command::new(&python)
        .args(["-c", "import playwright.sync_api"])
        .stdin(Stdio::null())
        .output();
    match check {
        Ok(out) if out.status.success() => python,
        Ok(out) => panic!(
            "{} ({from}) cannot import playwright: run scripts/test.sh, which installs \
             Playwright into ./.venv and exports TROVE_CONSOLE_PYTHON\n{}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "cannot run {} ({from}): {e}; run scripts/test.sh, which installs Playwright \
             into ./.venv and exports TROVE_CONSOLE_PYTHON",
            python.display()
        ),
    }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_works_in_a_real_browser() {
    let python = python_with_playwright();
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/test.sh, which installs Debian's chromium"
    );

    let server = TestServer::start().await;
    let shots = trove_testkit::target_tmp().join("console-screenshots");
    // Only this run's screenshots: none of an earlier run may pass for this one's.
    if shots.exists() {
        std::fs::remove_dir_all(&shots)
            .unwrap_or_else(|e| panic!("remove {}: {e}", shots.display()));
    }
    std::fs::create_dir_all(&shots).unwrap_or_else(|e| panic!("create {}: {e}", shots.display()));
    let stdout_path = shots.join("stdout.txt");
    let stderr_path = shots.join("stderr.txt");
    let stdout = File::create(&stdout_path).expect("create the script's stdout file");
    let stderr = File::create(&stderr_path).expect("create the script's stderr file");

    let root = workspace_root();
    let mut command = Command::new(&python);
    // The developer's Python settings must not change what the script imports.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("PYTHON") || key == "VIRTUAL_ENV" {
            command.env_remove(key);
        }
    }
    command
        .current_dir(&root)
        .arg(root.join("tests/console/console_e2e.py"))
        .arg("--url")
        .arg(&server.base)
        .arg("--admin-key")
        .arg(&server.token)
        .arg("--shots")
        .arg(&shots)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));

    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status: Option<ExitStatus> = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(e) => panic!("waiting for the console script: {e}"),
        }
        if Instant::now() > deadline {
            // SIGKILL to the script's PID; Playwright's driver then closes the browser.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let said = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}\n--- screenshots in {} ---",
        read_lossy(&stdout_path),
        read_lossy(&stderr_path),
        shots.display()
    );
    let Some(status) = status else {
        panic!("the console script did not finish within {SCRIPT_TIMEOUT:?}; killed it\n{said}");
    };
    assert!(
        status.success(),
        "the console script failed ({status})\n{said}\n--- server log (tail) ---\n{}",
        log_tail(&server.log())
    );
    print!("{said}");
}

fn log_tail(log: &str) -> &str {
    let start = log.len().saturating_sub(6000);
    let start = (start..log.len())
        .find(|i| log.is_char_boundary(*i))
        .unwrap_or(log.len());
    &log[start..]
}
