//! npm registries with the real clients, unchanged: npm publishes plain and scoped packages,
//! installs one with its dependency from the same registry into a fresh project with a fresh
//! cache, and runs view, dist-tag, deprecate, unpublish, ping and whoami; pnpm installs too.
//! An EICAR package is refused with the reason npm prints, and another tenant sees nothing.
//! npm is the machine's; pnpm comes from `./.tools/pnpm`, where scripts/test.sh installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use trove_testkit::archives::fixtures::eicar;

use crate::harness::{TestServer, expect_json};

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A home, a cache and an `.npmrc` of their own: nothing of the developer's npm setup.
struct Npm {
    home: tempfile::TempDir,
    registry: String,
}

impl Npm {
    fn new(server: &TestServer, tenant: &str, key: &str) -> Self {
        let home = tempfile::Builder::new()
            .prefix("trove-e2e-npm-")
            .tempdir()
            .expect("tempdir");
        let host = server.base.trim_start_matches("http://");
        let registry = format!("http://{host}/npm/{tenant}/js/");
        let npmrc = format!(
            "registry={registry}\n//{host}/npm/{tenant}/js/:_authToken={key}\n\
             update-notifier=false\nfund=false\naudit=true\nloglevel=warn\n"
        );
        std::fs::write(home.path().join(".npmrc"), npmrc).expect("npmrc");
        Self { home, registry }
    }

    fn dir(&self) -> &Path {
        self.home.path()
    }

    fn command(&self, program: &Path, cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.to_ascii_lowercase().starts_with("npm_config_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(cwd)
            .env("HOME", self.dir())
            .env("NPM_CONFIG_USERCONFIG", self.dir().join(".npmrc"))
            .env("NPM_CONFIG_CACHE", self.dir().join("npm-cache"))
            .env("XDG_CACHE_HOME", self.dir().join("xdg-cache"))
            .env("XDG_DATA_HOME", self.dir().join("xdg-data"))
            .env("NO_UPDATE_NOTIFIER", "1");
        cmd
    }

    fn npm(&self, cwd: &Path, args: &[&str]) -> Output {
        self.command(Path::new("npm"), cwd)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run npm {args:?}: {e}"))
    }

    fn ok(&self, cwd: &Path, args: &[&str]) -> String {
        let out = self.npm(cwd, args);
        assert!(out.status.success(), "npm {args:?}: {}", said(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A package directory with its package.json and an index.js.
    fn package(&self, name: &str, version: &str, deps: Value, index: &str) -> PathBuf {
        let dir = self
            .dir()
            .join("src")
            .join(format!("{}-{version}", name.replace('/', "_")));
        std::fs::create_dir_all(&dir).expect("package dir");
        let manifest = json!({
            "name": name, "version": version, "description": format!("{name} for the tests"),
            "main": "index.js", "license": "MIT", "dependencies": deps,
        });
        std::fs::write(dir.join("package.json"), manifest.to_string()).expect("package.json");
        std::fs::write(dir.join("index.js"), index).expect("index.js");
        dir
    }

    fn project(&self, name: &str) -> PathBuf {
        let dir = self.dir().join(name);
        std::fs::create_dir_all(&dir).expect("project dir");
        std::fs::write(
            dir.join("package.json"),
            json!({"name": name, "version": "0.0.0", "private": true}).to_string(),
        )
        .expect("package.json");
        dir
    }
}

/// pnpm as scripts/test.sh installs it.
fn pnpm() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/pnpm/node_modules/.bin/pnpm");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which installs pnpm into ./.tools/pnpm",
        bin.display()
    );
    bin
}

async fn npm_repo(server: &TestServer) {
    let resp = server
        .api(Method::POST, "/v1/repositories")
        .json(&json!({"name": "js", "format": "npm"}))
        .send()
        .await
        .expect("POST /v1/repositories");
    let repo = expect_json(resp, StatusCode::CREATED, "create the npm repository").await;
    assert_eq!(repo["format"], "npm");
}

#[tokio::test(flavor = "multi_thread")]
async fn npm_and_pnpm_work_against_trove_unchanged() {
    let server = TestServer::start().await;
    npm_repo(&server).await;
    let npm = Npm::new(&server, "default", &server.token);
    let root = npm.dir().to_owned();

    // A plain package, and a scoped one that depends on it.
    let helper = npm.package("helper", "1.0.0", json!({}), "module.exports = 42;\n");
    let widget = npm.package(
        "@acme/widget",
        "1.0.0",
        json!({"helper": "^1.0.0"}),
        "module.exports = require('helper') * 2;\n",
    );
    npm.ok(&helper, &["publish"]);
    npm.ok(&widget, &["publish", "--access", "public"]);
    assert_eq!(npm.ok(&root, &["view", "@acme/widget", "version"]), "1.0.0");
    assert_eq!(
        npm.ok(&root, &["view", "helper", "description"]),
        "helper for the tests"
    );

    // Install into a fresh project with a fresh cache: the dependency comes from Trove too.
    let app = npm.project("app");
    npm.ok(
        &app,
        &[
            "install",
            "@acme/widget",
            "--cache",
            &root.join("fresh-cache").to_string_lossy(),
        ],
    );
    let out = Command::new("node")
        .current_dir(&app)
        .args(["-e", "console.log(require('@acme/widget'))"])
        .output()
        .expect("node");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "84",
        "{}",
        said(&out)
    );
    let lock = std::fs::read_to_string(app.join("package-lock.json")).expect("lockfile");
    assert!(
        lock.contains(&format!("{}@acme/widget/-/widget-1.0.0.tgz", npm.registry)),
        "the tarball URL is under the registry prefix: {lock}"
    );

    // The tarball link: a redirect to the blob endpoint, which needs no token and ignores
    // one (npm sends it along, the host being the same) — a wrong one changes nothing.
    let doc: Value = server
        .client
        .get(server.url("/npm/default/js/@acme%2fwidget"))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("GET packument")
        .json()
        .await
        .expect("packument JSON");
    let dist = &doc["versions"]["1.0.0"]["dist"];
    let tarball = dist["tarball"].as_str().expect("dist.tarball");
    let redirect = server
        .client
        .get(tarball)
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("GET tarball");
    assert_eq!(redirect.status(), StatusCode::FOUND);
    let location = redirect
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned();
    let location = server.resolve(&location);
    for auth in [None, Some("Bearer trove_not_a_key"), Some("Bearer garbage")] {
        let mut req = server.client.get(location.clone());
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let resp = req.send().await.expect("GET presigned");
        assert_eq!(resp.status(), StatusCode::OK, "with {auth:?}");
        let bytes = resp.bytes().await.expect("tarball bytes");
        let integrity = format!(
            "sha512-{}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                <sha2::Sha512 as sha2::Digest>::digest(&bytes)
            )
        );
        assert_eq!(dist["integrity"], integrity.as_str(), "with {auth:?}");
    }

    // dist-tags
    npm.ok(&root, &["dist-tag", "add", "@acme/widget@1.0.0", "stable"]);
    let tags = npm.ok(&root, &["dist-tag", "ls", "@acme/widget"]);
    assert!(
        tags.contains("stable: 1.0.0") && tags.contains("latest: 1.0.0"),
        "{tags}"
    );
    npm.ok(&root, &["dist-tag", "rm", "@acme/widget", "stable"]);
    assert!(
        !npm.ok(&root, &["dist-tag", "ls", "@acme/widget"])
            .contains("stable")
    );

    // A newer release moves latest; a pre-release under its own tag does not.
    let widget11 = npm.package(
        "@acme/widget",
        "1.1.0",
        json!({"helper": "^1.0.0"}),
        "module.exports = 1;\n",
    );
    npm.ok(&widget11, &["publish"]);
    let beta = npm.package(
        "@acme/widget",
        "2.0.0-beta.1",
        json!({}),
        "module.exports = 2;\n",
    );
    npm.ok(&beta, &["publish", "--tag", "beta"]);
    let tags = npm.ok(&root, &["dist-tag", "ls", "@acme/widget"]);
    assert!(
        tags.contains("latest: 1.1.0") && tags.contains("beta: 2.0.0-beta.1"),
        "{tags}"
    );

    // deprecate, then unpublish one version.
    npm.ok(&root, &["deprecate", "@acme/widget@1.0.0", "use 1.1"]);
    assert_eq!(
        npm.ok(&root, &["view", "@acme/widget@1.0.0", "deprecated"]),
        "use 1.1"
    );
    npm.ok(&root, &["unpublish", "@acme/widget@1.0.0"]);
    let versions: Value =
        serde_json::from_str(&npm.ok(&root, &["view", "@acme/widget", "versions", "--json"]))
            .expect("versions JSON");
    assert_eq!(versions, json!(["1.1.0", "2.0.0-beta.1"]));
    // The number stays taken.
    let out = npm.npm(&widget, &["publish"]);
    assert!(!out.status.success(), "republished 1.0.0: {}", said(&out));

    // ping and whoami.
    npm.ok(&root, &["ping"]);
    assert!(!npm.ok(&root, &["whoami"]).is_empty());

    // EICAR inside: refused, with the reason npm prints.
    let infected = npm.package("infected", "1.0.0", json!({}), "module.exports = 0;\n");
    std::fs::write(infected.join("eicar.com"), eicar()).expect("eicar");
    let out = npm.npm(&infected, &["publish"]);
    assert!(!out.status.success(), "EICAR accepted: {}", said(&out));
    assert!(said(&out).contains("EICAR"), "{}", said(&out));

    // pnpm installs the scoped package and its dependency.
    let with_pnpm = npm.project("pnpm-app");
    let out = npm
        .command(&pnpm(), &with_pnpm)
        .args(["add", "@acme/widget@1.1.0", "--store-dir"])
        .arg(root.join("pnpm-store"))
        .output()
        .expect("pnpm");
    assert!(out.status.success(), "pnpm add: {}", said(&out));
    assert!(
        with_pnpm
            .join("node_modules/@acme/widget/index.js")
            .exists()
    );

    // Another tenant's key finds nothing here.
    let other_key = server.create_tenant("other").await;
    let stranger = Npm::new(&server, "default", &other_key);
    let out = stranger.npm(stranger.dir(), &["view", "@acme/widget"]);
    assert!(
        !out.status.success(),
        "another tenant read it: {}",
        said(&out)
    );
    assert!(said(&out).contains("404"), "{}", said(&out));
}
