//! PyPI repositories with the real clients, unchanged: twine uploads wheels and sdists,
//! pip and uv install from the index into fresh environments (a dependency from the same
//! index included), `--skip-existing`, a refused upload reported by twine with its reason,
//! and another tenant that sees nothing. The clients come from `./.venv`, where
//! scripts/test.sh installs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use trove_testkit::archives::fixtures::{PythonProject, eicar};

use crate::harness::{TestServer, expect_json};

/// The workspace's `.venv/bin`, holding python, pip, twine and uv.
fn tools() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin");
    for tool in ["python", "pip", "twine", "uv"] {
        assert!(
            bin.join(tool).exists(),
            "{} is missing: run scripts/test.sh, which installs pip, twine and uv into ./.venv",
            bin.join(tool).display()
        );
    }
    bin
}

/// A command that sees none of the developer's Python, pip or uv settings.
fn clean(program: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if ["PIP_", "UV_", "TWINE_", "PYTHON", "VIRTUAL_ENV"]
            .iter()
            .any(|p| key.starts_with(p))
        {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", home)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_CACHE_DIR", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("UV_CACHE_DIR", home.join("uv-cache"))
        .env("UV_NO_CONFIG", "1")
        .env("UV_PYTHON_DOWNLOADS", "never")
        // twine would ask a keyring for the password; the tests pass it.
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Py {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Py {
    fn new() -> Self {
        Self {
            bin: tools(),
            home: tempfile::Builder::new()
                .prefix("trove-e2e-py-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    fn dir(&self) -> &Path {
        self.home.path()
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir().join("dist").join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dist dir");
        std::fs::write(&path, bytes).expect("write dist");
        path
    }

    fn twine(&self, server: &TestServer, key: &str, files: &[&Path], extra: &[&str]) -> Output {
        let mut cmd = clean(&self.bin.join("twine"), self.dir());
        cmd.arg("upload")
            .arg("--non-interactive")
            .arg("--disable-progress-bar")
            .args(["--repository-url", &server.url("/pypi/default/py/legacy/")])
            .args(["-u", "__token__", "-p", key])
            .args(extra)
            .args(files);
        run(&mut cmd)
    }

    fn index(server: &TestServer, key: &str) -> String {
        let host = server.base.trim_start_matches("http://");
        format!("http://__token__:{key}@{host}/pypi/default/py/simple/")
    }

    /// A fresh environment, without pip of its own (the tools' pip installs into it).
    fn venv(&self, name: &str) -> PathBuf {
        let env = self.dir().join(name);
        let out = run(clean(&self.bin.join("python"), self.dir())
            .args(["-m", "venv", "--without-pip"])
            .arg(&env));
        assert!(out.status.success(), "venv: {}", said(&out));
        env
    }

    fn pip_install(&self, server: &TestServer, key: &str, env: &Path, what: &str) -> Output {
        run(clean(&self.bin.join("pip"), self.dir())
            .arg("--python")
            .arg(env.join("bin/python"))
            .args(["install", "--index-url", &Self::index(server, key), what]))
    }

    fn uv_install(&self, server: &TestServer, key: &str, env: &Path, what: &str) -> Output {
        run(clean(&self.bin.join("uv"), self.dir())
            .args(["pip", "install", "--python"])
            .arg(env.join("bin/python"))
            .args(["--index-url", &Self::index(server, key), what]))
    }

    fn python(&self, env: &Path, code: &str) -> Output {
        run(clean(&env.join("bin/python"), self.dir()).args(["-c", code]))
    }
}

const FOO: &[(&str, &[u8])] = &[("foo_bar/__init__.py", b"ANSWER = 42\n")];
const APP: &[(&str, &[u8])] = &[(
    "app_dep/__init__.py",
    b"from foo_bar import ANSWER\nDOUBLE = ANSWER * 2\n",
)];

fn foo(version: &str) -> PythonProject<'_> {
    PythonProject {
        dist: "foo_bar",
        name: "Foo.Bar",
        version,
        extra_metadata: "Requires-Python: >=3.8\n",
        files: FOO,
    }
}

async fn pypi_repo(server: &TestServer) {
    let resp = server
        .api(Method::POST, "/v1/repositories")
        .json(&json!({"name": "py", "format": "pypi"}))
        .send()
        .await
        .expect("POST /v1/repositories");
    let repo = expect_json(resp, StatusCode::CREATED, "create the pypi repository").await;
    assert_eq!(repo["format"], "pypi");
}

#[tokio::test(flavor = "multi_thread")]
async fn twine_pip_and_uv_work_against_trove_unchanged() {
    let server = TestServer::start().await;
    pypi_repo(&server).await;
    let py = Py::new();
    let key = server.token.clone();

    let foo1 = foo("1.0");
    let wheel = py.write(&foo1.wheel_name(), &foo1.wheel());
    let sdist = py.write(&foo1.sdist_name(), &foo1.sdist());
    let app = PythonProject {
        dist: "app_dep",
        name: "app-dep",
        version: "0.1",
        extra_metadata: "Requires-Dist: foo-bar>=1.0\n",
        files: APP,
    };
    let app_wheel = py.write(&app.wheel_name(), &app.wheel());

    let out = py.twine(&server, &key, &[&wheel, &sdist, &app_wheel], &[]);
    assert!(out.status.success(), "twine upload: {}", said(&out));

    // The same files again: refused without --skip-existing, skipped with it.
    let out = py.twine(&server, &key, &[&wheel], &[]);
    assert!(
        !out.status.success(),
        "a second upload must fail: {}",
        said(&out)
    );
    assert!(said(&out).contains("409"), "{}", said(&out));
    let out = py.twine(&server, &key, &[&wheel, &sdist], &["--skip-existing"]);
    assert!(out.status.success(), "--skip-existing: {}", said(&out));
    assert!(said(&out).contains("Skipping"), "{}", said(&out));

    // An EICAR wheel: twine reports the refusal with the pipeline's reason.
    let eicar_bytes = eicar();
    let infected_files: &[(&str, &[u8])] = &[("foo_bar/eicar.com", &eicar_bytes)];
    let infected = PythonProject {
        files: infected_files,
        ..foo("2.0")
    };
    let bad = py.write(&infected.wheel_name(), &infected.wheel());
    let out = py.twine(&server, &key, &[&bad], &[]);
    assert!(!out.status.success(), "EICAR accepted: {}", said(&out));
    assert!(said(&out).contains("EICAR_Test_File"), "{}", said(&out));

    // pip installs a package and its dependency from the index into a fresh environment.
    let env = py.venv("pip-env");
    let out = py.pip_install(&server, &key, &env, "app-dep");
    assert!(out.status.success(), "pip install: {}", said(&out));
    let out = py.python(
        &env,
        "import app_dep, foo_bar; print(app_dep.DOUBLE, foo_bar.ANSWER)",
    );
    assert!(out.status.success(), "import: {}", said(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "84 42");

    // uv too, with its own cache in a temporary directory.
    let env = py.venv("uv-env");
    let out = py.uv_install(&server, &key, &env, "Foo_Bar==1.0");
    assert!(out.status.success(), "uv pip install: {}", said(&out));
    let out = py.python(&env, "import foo_bar; print(foo_bar.ANSWER)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "42",
        "{}",
        said(&out)
    );

    // Both index forms, as a client without the tools reads them.
    let page = server
        .client
        .get(server.url("/pypi/default/py/simple/foo-bar/"))
        .basic_auth("__token__", Some(&key))
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .expect("GET project page");
    assert_eq!(page.status(), StatusCode::OK);
    let ctype = page.headers().get("content-type").cloned();
    assert_eq!(
        ctype.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/vnd.pypi.simple.v1+json")
    );
    let page: Value = page.json().await.expect("PEP 691 JSON");
    let names: Vec<&str> = page["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["filename"].as_str())
        .collect();
    assert_eq!(names, [foo1.wheel_name(), foo1.sdist_name()], "{page}");
    assert_eq!(
        page["versions"],
        json!(["1.0"]),
        "the refused 2.0 is not listed"
    );
    let html = server
        .client
        .get(server.url("/pypi/default/py/simple/foo-bar/"))
        .basic_auth("__token__", Some(&key))
        .send()
        .await
        .expect("GET project page");
    assert_eq!(html.status(), StatusCode::OK);
    let html = html.text().await.expect("html");
    assert!(html.contains("data-requires-python=\"&gt;=3.8\""), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_tenant_sees_nothing_and_no_credential_is_asked_for_one() {
    let server = TestServer::start().await;
    pypi_repo(&server).await;
    let py = Py::new();
    let foo1 = foo("1.0");
    let wheel = py.write(&foo1.wheel_name(), &foo1.wheel());
    let out = py.twine(&server, &server.token, &[&wheel], &[]);
    assert!(out.status.success(), "twine upload: {}", said(&out));

    let other_key = server.create_tenant("other").await;

    let listing = server
        .client
        .get(server.url("/pypi/default/py/simple/"))
        .basic_auth("__token__", Some(&other_key))
        .send()
        .await
        .expect("GET index");
    assert_eq!(listing.status(), StatusCode::NOT_FOUND);
    let env = py.venv("other-env");
    let out = py.pip_install(&server, &other_key, &env, "foo-bar");
    assert!(
        !out.status.success(),
        "another tenant installed: {}",
        said(&out)
    );
    let out = py.twine(&server, &other_key, &[&wheel], &[]);
    assert!(
        !out.status.success(),
        "another tenant uploaded: {}",
        said(&out)
    );

    let anonymous = server
        .anon(Method::GET, "/pypi/default/py/simple/foo-bar/")
        .send()
        .await
        .expect("GET without credentials");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let challenge = anonymous
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(challenge.contains("Basic"), "{challenge}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pip_and_uv_skip_a_yanked_release_unless_pinned_and_resolve_from_core_metadata() {
    // Request spans at debug: the log then shows every path the clients fetched.
    let server = TestServer::start_with_env(&[("TROVE_LOG", "info,tower_http=debug")]).await;
    pypi_repo(&server).await;
    let py = Py::new();
    let key = server.token.clone();
    let (old, new) = (foo("1.0"), foo("1.1"));
    let wheels = [
        py.write(&old.wheel_name(), &old.wheel()),
        py.write(&new.wheel_name(), &new.wheel()),
    ];
    let out = py.twine(&server, &key, &[&wheels[0], &wheels[1]], &[]);
    assert!(out.status.success(), "twine upload: {}", said(&out));

    // A dry run resolves from the wheels' core metadata alone (PEP 658): no wheel is fetched.
    let report = py.dir().join("report.json");
    let out = run(clean(&py.bin.join("pip"), py.dir())
        .args(["install", "--dry-run", "--ignore-installed", "--report"])
        .arg(&report)
        .args(["--index-url", &Py::index(&server, &key), "foo-bar"]));
    assert!(out.status.success(), "pip --dry-run: {}", said(&out));
    let report: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("pip's report");
    assert_eq!(
        report["install"][0]["metadata"]["version"], "1.1",
        "{report}"
    );
    let log = without_colours(&server.log());
    let fetched = |path: &str| log.matches(&format!("path={path}")).count();
    let files = "/pypi/default/py/files/foo-bar/1.1";
    assert!(
        fetched(&format!("{files}/{}.metadata", new.wheel_name())) > 0,
        "pip did not read the core metadata:\n{log}"
    );
    assert_eq!(
        fetched(&format!("{files}/{} ", new.wheel_name())),
        0,
        "pip fetched the wheel for a dry run"
    );

    // 1.1 yanked: installers take 1.0, unless asked for exactly 1.1.
    let resp = server
        .api(
            Method::PUT,
            "/v1/repositories/py/packages/foo-bar/versions/1.1/yank",
        )
        .json(&json!({"reason": "breaks the answer"}))
        .send()
        .await
        .expect("PUT yank");
    let yanked = expect_json(resp, StatusCode::OK, "yank 1.1").await;
    assert_eq!(yanked["yanked"]["reason"], "breaks the answer");
    let version_of = |env: &Path| {
        let out = py.python(
            env,
            "import importlib.metadata as m; print(m.version('foo-bar'))",
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let env = py.venv("pip-unpinned");
    let out = py.pip_install(&server, &key, &env, "foo-bar");
    assert!(out.status.success(), "pip install: {}", said(&out));
    assert_eq!(version_of(&env), "1.0", "{}", said(&out));
    let env = py.venv("uv-unpinned");
    let out = py.uv_install(&server, &key, &env, "foo-bar");
    assert!(out.status.success(), "uv pip install: {}", said(&out));
    assert_eq!(version_of(&env), "1.0", "{}", said(&out));
    let env = py.venv("pip-pinned");
    let out = py.pip_install(&server, &key, &env, "foo-bar==1.1");
    assert!(out.status.success(), "pip install ==1.1: {}", said(&out));
    assert_eq!(version_of(&env), "1.1");
    assert!(
        said(&out).contains("breaks the answer"),
        "pip shows the reason: {}",
        said(&out)
    );

    // Unyanked: the newest is the default again.
    let resp = server
        .api(
            Method::DELETE,
            "/v1/repositories/py/packages/foo-bar/versions/1.1/yank",
        )
        .send()
        .await
        .expect("DELETE yank");
    expect_json(resp, StatusCode::OK, "unyank 1.1").await;
    let env = py.venv("pip-after");
    let out = py.pip_install(&server, &key, &env, "foo-bar");
    assert!(out.status.success(), "pip install: {}", said(&out));
    assert_eq!(version_of(&env), "1.1");
}

/// The server's log as text: terminal colour codes taken out.
fn without_colours(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // An escape sequence ends with its first letter (`\x1b[2m`).
            chars.by_ref().find(char::is_ascii_alphabetic);
        } else {
            out.push(c);
        }
    }
    out
}
