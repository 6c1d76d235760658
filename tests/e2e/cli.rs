//! The `trove` client commands against a real `trove serve`: each test drives the built
//! binary as a subprocess with its own HOME and XDG_CONFIG_HOME, like a person at a shell.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::harness::{POLL_TIMEOUT, TestServer, pseudo_random_bytes, sha256_hex};

const MIB: usize = 1024 * 1024;
const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A user's machine: a home and config dir of its own, and a folder for files.
struct User {
    home: TempDir,
    server: String,
}

impl User {
    fn new(server: &TestServer) -> Self {
        Self {
            home: tempfile::Builder::new()
                .prefix("trove-e2e-cli-")
                .tempdir()
                .expect("create home tempdir"),
            server: server.base.clone(),
        }
    }

    fn config_dir(&self) -> PathBuf {
        self.home.path().join("config").join("trove")
    }

    fn uploads_dir(&self) -> PathBuf {
        self.config_dir().join("uploads")
    }

    /// A path in the user's folder of files.
    fn file(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// Writes `bytes` as `name` in the user's folder: its path, and the path as text.
    fn write(&self, name: &str, bytes: &[u8]) -> (PathBuf, String) {
        let path = self.file(name);
        write_file(&path, bytes);
        let text = path.to_str().expect("utf-8 path").to_owned();
        (path, text)
    }

    /// A user of `server` logged in with its admin key, with repository `repo` created.
    async fn with_repo(server: &TestServer, repo: &str) -> Self {
        server.create_repo(repo).await;
        let user = User::new(server);
        user.login(server);
        user
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_trove"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TROVE_") {
                command.env_remove(&key);
            }
        }
        command
            .args(args)
            .current_dir(self.home.path())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run trove"))
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        use std::io::Write as _;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn trove");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        Run::from(child.wait_with_output().expect("wait for trove"))
    }

    /// Logs in with the server's admin key; must succeed.
    fn login(&self, server: &TestServer) {
        let run = self.run_with_stdin(&["login", "--url", &self.server], &server.token);
        run.ok("login");
    }

    /// Runs with `--json` and must succeed; returns the document.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let run = self.run(&all);
        run.ok(&args.join(" "));
        run.document()
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    fn ok(&self, what: &str) {
        assert_eq!(
            self.code,
            Some(0),
            "trove {what} failed\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
    }

    fn failed(&self, what: &str) {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "trove {what} should fail ({:?})\nstdout: {}\nstderr: {}",
            self.code,
            self.stdout,
            self.stderr
        );
    }

    fn document(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }
}

fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The one upload state a push left, once it exists.
fn wait_for_state(user: &User, child: &mut Child) -> Value {
    let deadline = Instant::now() + POLL_TIMEOUT;
    loop {
        if let Ok(entries) = std::fs::read_dir(user.uploads_dir()) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "json")
                    && let Ok(text) = std::fs::read(&path)
                    && let Ok(state) = serde_json::from_slice::<Value>(&text)
                {
                    return state;
                }
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the push ended ({status}) before it left an upload state");
        }
        assert!(
            Instant::now() < deadline,
            "no upload state after {POLL_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

async fn upload_view(server: &TestServer, repo: &str, upload_id: &str) -> Value {
    server
        .get_ok(&format!("/v1/repositories/{repo}/uploads/{upload_id}"))
        .await
}

fn stored_parts(view: &Value) -> usize {
    view["multipart"]["parts"].as_array().map_or(0, Vec::len)
}

fn kill(child: &mut Child) {
    // SIGKILL to this child's PID: no chance to clean up, like a killed terminal.
    child.kill().expect("kill the push");
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_login_refuses_a_wrong_key_and_keeps_a_good_one_for_the_owner_only() {
    let server = TestServer::start().await;
    let user = User::new(&server);

    let wrong = user.run_with_stdin(&["login", "--url", &server.base], "trove_not-a-key\n");
    wrong.failed("login with a wrong key");
    assert!(wrong.stderr.contains("401"), "{}", wrong.stderr);
    assert!(!user.config_dir().join("credentials.json").exists());

    let unreachable = user.run_with_stdin(&["login", "--url", "http://127.0.0.1:9"], &server.token);
    unreachable.failed("login to a closed port");
    assert!(
        unreachable.stderr.contains("http://127.0.0.1:9"),
        "names the URL: {}",
        unreachable.stderr
    );

    let key_file = user.file("key.txt");
    write_file(&key_file, format!("{}\n", server.token).as_bytes());
    let key_path = key_file.to_str().expect("utf-8 path");
    let done = user.json(&["login", "--url", &server.base, "--key-file", key_path]);
    assert_eq!(done["tenant"], "default", "{done}");
    let stored = user.config_dir().join("credentials.json");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&stored)
        .expect("stored")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "credentials mode");

    // The environment overrides the stored key.
    let run = Run::from(
        user.command(&["ls"])
            .env("TROVE_TOKEN", "trove_wrong")
            .output()
            .expect("run"),
    );
    run.failed("ls with a wrong TROVE_TOKEN");
    assert!(run.stderr.contains("trove login"), "{}", run.stderr);

    // A token made by `trove token` is a credential of the same caller.
    let token = user.json(&["token"]);
    let access = token["access_token"].as_str().expect("access_token");
    let me = server
        .client
        .get(server.url("/v1/me"))
        .bearer_auth(access)
        .send()
        .await
        .expect("GET /v1/me");
    assert_eq!(me.status(), reqwest::StatusCode::OK);
    let plain = user.run(&["token"]);
    plain.ok("token");
    assert!(
        !plain.stdout.trim().contains(' '),
        "only the token: {}",
        plain.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_push_and_pull_of_300_mb_through_multipart_give_back_the_same_bytes() {
    let server = TestServer::start().await;
    let user = User::with_repo(&server, "big").await;

    let bytes = pseudo_random_bytes(7, 300_000_000);
    let sha = sha256_hex(&bytes);
    let (_, file) = user.write("data.bin", &bytes);
    let file = file.as_str();

    let pushed = user.json(&[
        "push",
        "big",
        file,
        "--package",
        "data",
        "--version",
        "1.0.0",
        "--parallel",
        "4",
    ]);
    assert_eq!(pushed["status"], "published", "{pushed}");
    assert_eq!(pushed["multipart"], true);
    assert_eq!(pushed["part_size"], 16 * MIB, "the default part size");
    assert_eq!(pushed["parts_total"], 18);
    assert_eq!(pushed["parts_uploaded"], 18);
    assert_eq!(pushed["sha256"], sha.as_str());
    assert!(
        std::fs::read_dir(user.uploads_dir()).map_or(true, |mut d| d.next().is_none()),
        "the upload state is removed once published"
    );

    let status = user.json(&[
        "status",
        "big",
        pushed["upload_id"].as_str().expect("upload_id"),
    ]);
    assert_eq!(status["status"], "published");
    assert_eq!(status["multipart"]["part_count"], 18);

    let out = user.file("copy.bin");
    let out_path = out.to_str().expect("utf-8 path");
    // The only file of the version: no need to name it.
    let pulled = user.json(&["pull", "big", "data", "1.0.0", "-o", out_path]);
    assert_eq!(pulled["sha256"], sha.as_str());
    assert_eq!(pulled["resumed_from"], 0);
    let copy = std::fs::read(&out).expect("read the pulled file");
    assert!(copy == bytes, "pulled bytes differ from the pushed ones");
    assert!(!user.file("copy.bin.part").exists());

    let files = user.json(&["ls", "big/data/1.0.0"]);
    assert_eq!(files[0]["filename"], "data.bin", "{files}");
    assert_eq!(files[0]["size"], 300_000_000);
    let repos = user.json(&["ls"]);
    assert!(
        repos
            .as_array()
            .expect("array")
            .iter()
            .any(|r| r["name"] == "big"),
        "{repos}"
    );
    let versions = user.json(&["ls", "big/data"]);
    assert_eq!(versions[0]["version"], "1.0.0", "{versions}");
    let human = user.run(&["ls", "big"]);
    human.ok("ls big");
    assert!(human.stdout.contains("data"), "{}", human.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_push_killed_midway_sends_only_the_missing_parts_when_run_again() {
    let server = TestServer::start().await;
    let user = User::with_repo(&server, "resume").await;

    let bytes = pseudo_random_bytes(11, 200 * MIB);
    let (_, file) = user.write("big.bin", &bytes);
    let file = file.as_str();
    let args = [
        "push",
        "resume",
        file,
        "--package",
        "big",
        "--version",
        "2.0.0",
        "--part-size",
        "5MiB",
        "--parallel",
        "1",
        "--quiet",
    ];

    let mut child = user.command(&args).spawn().expect("spawn the push");
    let state = wait_for_state(&user, &mut child);
    let upload_id = state["upload_id"]
        .as_str()
        .expect("upload_id in the state")
        .to_owned();
    assert_eq!(state["part_size"], 5 * MIB);
    assert_eq!(state["repository"], "resume");
    let deadline = Instant::now() + POLL_TIMEOUT;
    loop {
        let view = upload_view(&server, "resume", &upload_id).await;
        if stored_parts(&view) >= 3 {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the push ended ({status}) before it could be interrupted");
        }
        assert!(Instant::now() < deadline, "no parts stored: {view}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill(&mut child);
    // A part whose request was cut off is not stored; one already whole is.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let view = upload_view(&server, "resume", &upload_id).await;
    assert_eq!(view["status"], "pending", "{view}");
    let landed = stored_parts(&view);
    assert!(
        (3..40).contains(&landed),
        "{landed} of 40 parts stored: {view}"
    );

    let mut again = args.to_vec();
    again.push("--json");
    let run = user.run(&again);
    run.ok("push run again");
    let done = run.document();
    assert_eq!(done["status"], "published", "{done}");
    assert_eq!(
        done["upload_id"],
        upload_id.as_str(),
        "the same upload is finished"
    );
    assert_eq!(done["resumed"], true);
    assert_eq!(done["parts_total"], 40);
    assert_eq!(done["parts_already_stored"], landed);
    assert_eq!(
        done["parts_uploaded"],
        40 - landed as u64,
        "only the missing parts are sent"
    );
    assert!(
        !user
            .uploads_dir()
            .join(format!("{}.json", sha256_hex(&bytes)))
            .exists()
    );

    let copy = user.file("copy.bin");
    let copy_path = copy.to_str().expect("utf-8 path");
    user.json(&["pull", "resume", "big", "2.0.0", "big.bin", "-o", copy_path]);
    assert!(
        std::fs::read(&copy).expect("read copy") == bytes,
        "published bytes differ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_push_rides_out_a_server_restart_midway() {
    let mut server = TestServer::start().await;
    let user = User::with_repo(&server, "bumpy").await;
    let bytes = pseudo_random_bytes(23, 150 * MIB);
    let (_, file) = user.write("b.bin", &bytes);
    let file = file.as_str();
    let args = [
        "push",
        "bumpy",
        file,
        "--package",
        "b",
        "--version",
        "1.0.0",
        "--part-size",
        "5MiB",
        "--parallel",
        "2",
        "--json",
    ];
    let mut child = user.command(&args).spawn().expect("spawn the push");
    let state = wait_for_state(&user, &mut child);
    let upload_id = state["upload_id"].as_str().expect("upload_id").to_owned();
    let deadline = Instant::now() + POLL_TIMEOUT;
    while stored_parts(&upload_view(&server, "bumpy", &upload_id).await) < 2 {
        assert!(Instant::now() < deadline, "no parts stored");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Killed mid-part and started again on the same port and data dir: the push retries.
    server.restart().await;
    let run = Run::from(child.wait_with_output().expect("wait for the push"));
    run.ok("push across a server restart");
    let done = run.document();
    assert_eq!(done["status"], "published", "{done}");
    assert_eq!(
        done["upload_id"],
        upload_id.as_str(),
        "the same upload went on"
    );
    assert_eq!(done["restarted"], false);
    let copy = user.file("b-copy.bin");
    user.json(&[
        "pull",
        "bumpy",
        "b",
        "1.0.0",
        "-o",
        copy.to_str().expect("utf-8 path"),
    ]);
    assert!(
        std::fs::read(&copy).expect("read copy") == bytes,
        "published bytes differ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_push_of_an_upload_that_expired_meanwhile_starts_over_once() {
    // The shortest lifetime an upload in parts may have.
    let server = TestServer::start_with_env(&[("TROVE_MULTIPART_UPLOAD_TTL_SECS", "60")]).await;
    let user = User::with_repo(&server, "late").await;
    let bytes = pseudo_random_bytes(29, 30 * MIB);
    let (_, file) = user.write("l.bin", &bytes);
    let file = file.as_str();
    let args = [
        "push",
        "late",
        file,
        "--package",
        "l",
        "--version",
        "1.0.0",
        "--part-size",
        "5MiB",
        "--parallel",
        "1",
        "--quiet",
    ];
    let mut child = user.command(&args).spawn().expect("spawn the push");
    let state = wait_for_state(&user, &mut child);
    kill(&mut child);
    let old = state["upload_id"].as_str().expect("upload_id").to_owned();
    let view = upload_view(&server, "late", &old).await;
    let expires_at = time::OffsetDateTime::parse(
        view["expires_at"].as_str().expect("expires_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339 expires_at");
    let wait = expires_at - time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;

    let mut again = args.to_vec();
    again.push("--json");
    let run = user.run(&again);
    run.ok("push after the upload expired");
    let done = run.document();
    assert_eq!(done["status"], "published", "{done}");
    assert_eq!(done["restarted"], true, "{done}");
    assert_ne!(done["upload_id"], old.as_str(), "a new upload");
    assert_eq!(done["parts_uploaded"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_push_of_a_file_changed_since_an_interrupted_push_is_refused() {
    let server = TestServer::start().await;
    let user = User::with_repo(&server, "changing").await;

    let mut bytes = pseudo_random_bytes(13, 60 * MIB);
    let (path, file) = user.write("c.bin", &bytes);
    let file = file.as_str();
    let args = [
        "push",
        "changing",
        file,
        "--package",
        "c",
        "--version",
        "1.0.0",
        "--part-size",
        "5MiB",
        "--parallel",
        "1",
        "--quiet",
    ];
    let mut child = user.command(&args).spawn().expect("spawn the push");
    let state = wait_for_state(&user, &mut child);
    kill(&mut child);

    bytes[12345] ^= 0xff;
    write_file(&path, &bytes);
    let run = user.run(&args);
    run.failed("push of a changed file");
    assert!(
        run.stderr.contains("changed since an interrupted push"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--restart"),
        "says how to go on: {}",
        run.stderr
    );

    let mut restart = args.to_vec();
    restart.extend(["--restart", "--json"]);
    let run = user.run(&restart);
    run.ok("push --restart");
    let done = run.document();
    assert_eq!(done["status"], "published", "{done}");
    assert_eq!(done["sha256"], sha256_hex(&bytes).as_str());
    let old = state["upload_id"].as_str().expect("upload_id");
    let view = upload_view(&server, "changing", old).await;
    assert_eq!(
        view["status"], "cancelled",
        "the old upload is called off: {view}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_push_of_eicar_exits_non_zero_with_the_reason() {
    let server = TestServer::start().await;
    let user = User::with_repo(&server, "scanned").await;
    let (_, file) = user.write("eicar.com", EICAR.as_bytes());
    let file = file.as_str();

    let run = user.run(&[
        "push",
        "scanned",
        file,
        "--package",
        "evil",
        "--version",
        "1.0.0",
    ]);
    assert_eq!(run.code, Some(3), "a rejection exits 3: {}", run.stderr);
    assert!(run.stderr.contains("rejected"), "{}", run.stderr);
    assert!(
        run.stderr.to_lowercase().contains("eicar"),
        "names the finding: {}",
        run.stderr
    );

    let run = user.run(&[
        "push",
        "scanned",
        file,
        "--package",
        "evil",
        "--version",
        "1.0.1",
        "--json",
    ]);
    assert_eq!(run.code, Some(3));
    let outcome = run.document();
    assert_eq!(outcome["status"], "rejected");
    assert!(
        outcome["reason"]
            .as_str()
            .is_some_and(|r| r.contains("EICAR")),
        "{outcome}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_pull_of_a_corrupted_blob_fails_its_checksum() {
    let server = TestServer::start().await;
    let user = User::with_repo(&server, "rot").await;
    let bytes = pseudo_random_bytes(17, 2 * MIB);
    let sha = sha256_hex(&bytes);
    let (_, file) = user.write("r.bin", &bytes);
    let file = file.as_str();
    user.json(&["push", "rot", file, "--package", "r", "--version", "1.0.0"]);

    let blob =
        find_file_named(server.data_dir(), &sha).expect("the stored blob under the data dir");
    let mut stored = std::fs::read(&blob).expect("read blob");
    stored[1000] ^= 0x01;
    write_file(&blob, &stored);

    let out = user.file("r-copy.bin");
    let run = user.run(&[
        "pull",
        "rot",
        "r",
        "1.0.0",
        "-o",
        out.to_str().expect("utf-8 path"),
    ]);
    run.failed("pull of a damaged blob");
    assert!(run.stderr.contains("checksum mismatch"), "{}", run.stderr);
    assert!(!out.exists(), "nothing is left under the destination name");
    assert!(
        !user.file("r-copy.bin.part").exists(),
        "the damaged download is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_pull_continues_a_partial_download() {
    let server = TestServer::start().await;
    let user = User::with_repo(&server, "partial").await;
    let bytes = pseudo_random_bytes(19, 12 * MIB + 5);
    let (_, file) = user.write("p.bin", &bytes);
    let file = file.as_str();
    user.json(&[
        "push",
        "partial",
        file,
        "--package",
        "p",
        "--version",
        "1.0.0",
    ]);

    let out = user.file("p-copy.bin");
    let kept = 7 * MIB;
    write_file(&user.file("p-copy.bin.part"), &bytes[..kept]);
    let pulled = user.json(&[
        "pull",
        "partial",
        "p",
        "1.0.0",
        "p.bin",
        "-o",
        out.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        pulled["resumed_from"], kept,
        "the partial file is continued: {pulled}"
    );
    assert!(
        std::fs::read(&out).expect("read") == bytes,
        "continued download differs"
    );

    // A `.part` of other bytes than the file's is caught by the checksum, not kept.
    let mut wrong = bytes[..kept].to_vec();
    wrong[10] ^= 0xff;
    let out2 = user.file("p-copy2.bin");
    write_file(&user.file("p-copy2.bin.part"), &wrong);
    let run = user.run(&[
        "pull",
        "partial",
        "p",
        "1.0.0",
        "-o",
        out2.to_str().expect("utf-8 path"),
    ]);
    run.failed("pull continuing a wrong partial file");
    assert!(run.stderr.contains("checksum mismatch"), "{}", run.stderr);
    // Run again, it starts from nothing and succeeds.
    let again = user.json(&[
        "pull",
        "partial",
        "p",
        "1.0.0",
        "-o",
        out2.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(again["resumed_from"], 0);
    assert!(std::fs::read(&out2).expect("read") == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_errors_are_json_with_json_and_name_what_is_missing() {
    let server = TestServer::start().await;
    let user = User::new(&server);
    let run = user.run(&["ls"]);
    run.failed("ls before login");
    assert!(run.stderr.contains("trove login"), "{}", run.stderr);

    user.login(&server);
    let run = user.run(&["ls", "nope", "--json"]);
    run.failed("ls of a missing repository");
    let doc = run.document();
    assert!(
        doc["error"].as_str().is_some_and(|e| e.contains("404")),
        "{doc}"
    );
    let run = user.run(&["status", "nope", "01aaaaaaaaaaaaaaaaaaaaaaaa"]);
    run.failed("status of a missing upload");
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
}

/// The first file under `dir` (recursively) called `name`.
fn find_file_named(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file_named(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

/// Search over a real `trove serve`: generic, PyPI and npm repositories published through
/// the pipeline, each field over HTTP and through `trove search`, a reader of one
/// repository, another tenant, and the same bytes found under two names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_each_field_and_only_what_the_caller_may_read() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    use trove_testkit::archives::fixtures::{PythonProject, TarEntry, tar_gz};

    use crate::harness::{assert_problem, encode_query, expect_json};

    let server = TestServer::start().await;
    server.create_repo("libs").await;
    for (name, format) in [("py", "pypi"), ("js", "npm")] {
        server.create_repo_of(name, format).await;
    }
    let shared = b"the same bytes under two names".to_vec();
    server
        .publish("libs", "acme-core", "1.0.0", "core.bin", &shared)
        .await;
    server
        .publish("libs", "acme-core", "1.2.0", "core.bin", b"core 1.2")
        .await;
    server
        .publish("libs", "mirror", "1.0.0", "core.bin", &shared)
        .await;
    let wheel = PythonProject {
        dist: "fast_widgets",
        name: "fast-widgets",
        version: "2.0.1",
        extra_metadata: "Summary: Widgets that render quickly\n",
        files: &[("fast_widgets/__init__.py", b"X = 1\n")],
    };
    server
        .publish(
            "py",
            "fast-widgets",
            "2.0.1",
            &wheel.wheel_name(),
            &wheel.wheel(),
        )
        .await;
    let manifest =
        br#"{"name":"left-pad","version":"1.3.0","description":"Pads strings on the left"}"#;
    let tarball = tar_gz(&[TarEntry::File("package/package.json", manifest)]);
    server
        .publish("js", "left-pad", "1.3.0", "left-pad-1.3.0.tgz", &tarball)
        .await;

    let search = |key: String, q: &str| {
        let url = format!("/v1/search?q={}", encode_query(q));
        let request = server.anon(Method::GET, &url).bearer_auth(key);
        async move {
            let resp = request.send().await.expect("GET /v1/search");
            expect_json(resp, StatusCode::OK, "search").await
        }
    };
    let names = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|h| {
                format!(
                    "{}/{}/{}",
                    h["repository"].as_str().unwrap_or(""),
                    h["package"].as_str().unwrap_or(""),
                    h["version"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    let admin = server.token.clone();
    assert_eq!(
        names(&search(admin.clone(), "format:pypi").await),
        ["py/fast-widgets/2.0.1"]
    );
    // Free words reach the descriptions the formats' manifests carry.
    let body = search(admin.clone(), "render").await;
    assert_eq!(names(&body), ["py/fast-widgets/2.0.1"]);
    assert_eq!(
        body["items"][0]["description"],
        "Widgets that render quickly"
    );
    assert_eq!(
        names(&search(admin.clone(), "pads").await),
        ["js/left-pad/1.3.0"]
    );
    assert_eq!(
        names(&search(admin.clone(), "name:acme-core version:>=1.1").await),
        ["libs/acme-core/1.2.0"]
    );
    assert_eq!(
        names(&search(admin.clone(), "format:npm OR format:pypi").await),
        ["js/left-pad/1.3.0", "py/fast-widgets/2.0.1"]
    );
    let body = search(
        admin.clone(),
        &format!("sha256:{}", &sha256_hex(&shared)[..14]),
    )
    .await;
    assert_eq!(body["results"], "files");
    assert_eq!(names(&body), ["libs/acme-core/1.0.0", "libs/mirror/1.0.0"]);
    let resp = server
        .api(
            Method::GET,
            &format!("/v1/search?q={}", encode_query("name:x colour:red")),
        )
        .send()
        .await
        .expect("GET /v1/search");
    let problem = assert_problem(resp, &[400], "a bad query").await;
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains("at character 8") && detail.contains("fields are name"),
        "{detail}"
    );

    // A reader of py alone.
    let post = |path: &'static str, body: Value| {
        let request = server.api(Method::POST, path).json(&body);
        async move {
            let resp = request.send().await.expect("POST");
            expect_json(resp, StatusCode::CREATED, path).await
        }
    };
    let sa = post("/v1/service-accounts", json!({"name": "py-reader"})).await;
    let id = sa["id"].as_str().expect("id");
    post(
        "/v1/grants",
        json!({"principal": id, "role": "reader", "scope": {"repository": "py"}}),
    )
    .await;
    let key = post("/v1/api-keys", json!({"owner": id, "name": "py"})).await;
    let reader = key["key"].as_str().expect("key").to_owned();
    assert_eq!(
        names(&search(reader.clone(), "published:<1d").await),
        ["py/fast-widgets/2.0.1"]
    );
    assert!(
        names(&search(reader.clone(), &format!("sha256:{}", sha256_hex(&shared))).await).is_empty()
    );

    // Another tenant finds nothing.
    let other = post("/v1/tenants", json!({"name": "other"})).await;
    let stranger = other["admin_api_key"].as_str().expect("key").to_owned();
    for q in ["format:pypi", "render", "name:acme-*", "published:<1d"] {
        assert!(names(&search(stranger.clone(), q).await).is_empty(), "{q}");
    }

    // The CLI: a table for people, the hits for scripts, a clear failure for a bad query.
    let user = User::new(&server);
    user.login(&server);
    let run = user.run(&["search", "name:acme-*"]);
    run.ok("search");
    assert!(
        run.stdout.contains("REPOSITORY") && run.stdout.contains("acme-core"),
        "{}",
        run.stdout
    );
    let doc = user.json(&["search", "--limit", "1", "name:acme-core"]);
    let hits = doc.as_array().expect("the hits");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["version"], "1.2.0", "newest first");
    let run = user.run(&["search", "version:>>1"]);
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("at character"), "{}", run.stderr);
}
