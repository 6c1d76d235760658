//! Cargo registries with the real client, unchanged: cargo publishes crates to a sparse,
//! authenticated registry, builds a crate that depends on one of them and on a second one
//! renamed and with a feature, yanks and unyanks, lists, adds and removes owners, and
//! searches. An EICAR crate is refused with the reason cargo prints, and another tenant
//! sees nothing. cargo is the machine's, with a home and target of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use reqwest::{Method, StatusCode};
use serde_json::json;
use trove_testkit::archives::fixtures::eicar;

use crate::harness::{TestServer, expect_json};

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A `CARGO_HOME` whose config names the registry `trove`, with the key as its token.
struct Cargo {
    home: tempfile::TempDir,
    token: String,
}

impl Cargo {
    fn new(server: &TestServer, tenant: &str, token: &str) -> Self {
        let home = tempfile::Builder::new()
            .prefix("trove-e2e-cargo-")
            .tempdir()
            .expect("tempdir");
        let config = format!(
            "[registries.trove]\nindex = \"sparse+{}/cargo/{tenant}/crates/index/\"\n\n\
             [registry]\nglobal-credential-providers = [\"cargo:token\"]\n\n\
             [net]\nretry = 0\n",
            server.base
        );
        std::fs::write(home.path().join("config.toml"), config).expect("config.toml");
        Self {
            home,
            token: token.to_owned(),
        }
    }

    fn dir(&self) -> &Path {
        self.home.path()
    }

    fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new("cargo");
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("CARGO_") || key.starts_with("RUST") {
                cmd.env_remove(key);
            }
        }
        // The toolchain stays the machine's; everything else is this home's.
        if let Some(rustup) = std::env::var_os("RUSTUP_HOME") {
            cmd.env("RUSTUP_HOME", rustup);
        }
        cmd.current_dir(cwd)
            .env("CARGO_HOME", self.dir())
            .env("CARGO_TARGET_DIR", self.dir().join("target"))
            .env("CARGO_REGISTRIES_TROVE_TOKEN", &self.token)
            .env("CARGO_TERM_COLOR", "never")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run cargo {args:?}: {e}"))
    }

    fn ok(&self, cwd: &Path, args: &[&str]) -> String {
        let out = self.run(cwd, args);
        assert!(out.status.success(), "cargo {args:?}: {}", said(&out));
        said(&out)
    }

    /// A library crate with `lib` as its src/lib.rs and `extra` after `[package]`.
    fn krate(&self, name: &str, version: &str, extra: &str, lib: &str) -> PathBuf {
        let dir = self.dir().join("src").join(format!("{name}-{version}"));
        std::fs::create_dir_all(dir.join("src")).expect("crate dir");
        let manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
             description = \"{name} for the tests\"\nlicense = \"MIT\"\npublish = [\"trove\"]\n\n{extra}"
        );
        std::fs::write(dir.join("Cargo.toml"), manifest).expect("Cargo.toml");
        std::fs::write(dir.join("src/lib.rs"), lib).expect("lib.rs");
        dir
    }

    fn publish(&self, dir: &Path) -> Output {
        self.run(
            dir,
            &[
                "publish",
                "--registry",
                "trove",
                "--no-verify",
                "--allow-dirty",
            ],
        )
    }
}

async fn cargo_repo(server: &TestServer) {
    let resp = server
        .api(Method::POST, "/v1/repositories")
        .json(&json!({"name": "crates", "format": "cargo"}))
        .send()
        .await
        .expect("POST /v1/repositories");
    let repo = expect_json(resp, StatusCode::CREATED, "create the cargo registry").await;
    assert_eq!(repo["format"], "cargo");
}

#[tokio::test(flavor = "multi_thread")]
async fn cargo_publishes_builds_yanks_owns_and_searches_against_trove_unchanged() {
    let server = TestServer::start().await;
    cargo_repo(&server).await;
    let cargo = Cargo::new(&server, "default", &server.token);

    let helper = cargo.krate(
        "helper",
        "1.0.0",
        "[features]\nextra = []\n",
        "pub fn answer() -> u32 { if cfg!(feature = \"extra\") { 42 } else { 0 } }\n",
    );
    let out = cargo.publish(&helper);
    assert!(out.status.success(), "publish helper: {}", said(&out));
    let other = cargo.krate(
        "other_helper",
        "0.1.0",
        "",
        "pub fn twice(x: u32) -> u32 { x * 2 }\n",
    );
    let out = cargo.publish(&other);
    assert!(out.status.success(), "publish other_helper: {}", said(&out));

    // A crate that depends on both, one renamed, one with a feature: built from Trove.
    let app = cargo.krate(
        "app",
        "0.1.0",
        "[dependencies]\nhelper = { version = \"1\", registry = \"trove\", features = [\"extra\"] }\n\
         h2 = { package = \"other_helper\", version = \"0.1\", registry = \"trove\" }\n",
        "pub fn value() -> u32 { h2::twice(helper::answer()) }\n\
         #[cfg(test)] mod t { #[test] fn v() { assert_eq!(super::value(), 84); } }\n",
    );
    let out = cargo.run(&app, &["test"]);
    assert!(out.status.success(), "cargo test of app: {}", said(&out));
    assert!(
        said(&out).contains("Downloaded helper v1.0.0"),
        "{}",
        said(&out)
    );
    assert!(said(&out).contains("1 passed"), "{}", said(&out));
    // And app itself publishes, with its dependencies as the index says.
    let out = cargo.publish(&app);
    assert!(out.status.success(), "publish app: {}", said(&out));
    let index = server
        .client
        .get(server.url("/cargo/default/crates/index/3/a/app"))
        .header("authorization", &server.token)
        .send()
        .await
        .expect("GET index file")
        .text()
        .await
        .expect("index text");
    let line: serde_json::Value = serde_json::from_str(index.trim()).expect("one line");
    let deps = line["deps"].as_array().expect("deps");
    let renamed = deps.iter().find(|d| d["name"] == "h2").expect("h2");
    assert_eq!(renamed["package"], "other_helper", "{line}");
    assert!(renamed["registry"].is_null(), "same registry: {line}");
    let helper_dep = deps.iter().find(|d| d["name"] == "helper").expect("helper");
    assert_eq!(helper_dep["features"], json!(["extra"]));

    // yank and undo
    let root = cargo.dir().to_owned();
    cargo.ok(&root, &["yank", "--registry", "trove", "helper@1.0.0"]);
    let index = cargo_index(&server, "/cargo/default/crates/index/he/lp/helper").await;
    assert!(index.contains("\"yanked\":true"), "{index}");
    // Yanked: an existing lockfile still builds with it, a new resolution does not take it.
    cargo.ok(&app, &["build"]);
    let fresh = cargo.krate(
        "fresh",
        "0.1.0",
        "[dependencies]\nhelper = { version = \"1\", registry = \"trove\" }\n",
        "pub fn f() -> u32 { helper::answer() }\n",
    );
    let out = cargo.run(&fresh, &["generate-lockfile"]);
    assert!(
        !out.status.success(),
        "a yanked version was chosen: {}",
        said(&out)
    );
    assert!(said(&out).contains("yanked"), "{}", said(&out));
    let out = cargo.run(&root, &["yank", "--registry", "trove", "helper@9.9.9"]);
    assert!(
        !out.status.success(),
        "yanked a version that does not exist: {}",
        said(&out)
    );
    cargo.ok(
        &root,
        &["yank", "--registry", "trove", "--undo", "helper@1.0.0"],
    );
    let index = cargo_index(&server, "/cargo/default/crates/index/he/lp/helper").await;
    assert!(index.contains("\"yanked\":false"), "{index}");

    // owners: a service account added, listed, removed.
    let resp = server
        .api(Method::POST, "/v1/service-accounts")
        .json(&json!({"name": "release-bot"}))
        .send()
        .await
        .expect("POST /v1/service-accounts");
    let bot = expect_json(resp, StatusCode::CREATED, "service account").await;
    let bot = bot["id"].as_str().expect("id").to_owned();
    cargo.ok(
        &root,
        &["owner", "--registry", "trove", "--add", &bot, "helper"],
    );
    let listed = cargo.ok(&root, &["owner", "--registry", "trove", "--list", "helper"]);
    assert!(listed.contains(&bot), "{listed}");
    cargo.ok(
        &root,
        &["owner", "--registry", "trove", "--remove", &bot, "helper"],
    );
    let listed = cargo.ok(&root, &["owner", "--registry", "trove", "--list", "helper"]);
    assert!(!listed.contains(&bot), "{listed}");

    // search
    let found = cargo.ok(&root, &["search", "--registry", "trove", "helper"]);
    assert!(found.contains("helper = \"1.0.0\""), "{found}");
    assert!(found.contains("other_helper = \"0.1.0\""), "{found}");

    // EICAR inside: refused, with the reason cargo prints.
    let infected = cargo.krate("infected", "0.1.0", "", "pub fn x() {}\n");
    std::fs::write(infected.join("src/eicar.com"), eicar()).expect("eicar");
    let out = cargo.publish(&infected);
    assert!(!out.status.success(), "EICAR accepted: {}", said(&out));
    assert!(said(&out).contains("EICAR"), "{}", said(&out));

    // Another tenant's key finds nothing.
    let other_key = server.create_tenant("other").await;
    let stranger = Cargo::new(&server, "default", &other_key);
    let out = stranger.run(stranger.dir(), &["search", "--registry", "trove", "helper"]);
    assert!(
        !out.status.success(),
        "another tenant searched: {}",
        said(&out)
    );
}

async fn cargo_index(server: &TestServer, path: &str) -> String {
    server
        .client
        .get(server.url(path))
        .header("authorization", &server.token)
        .send()
        .await
        .expect("GET index file")
        .text()
        .await
        .expect("index text")
}
