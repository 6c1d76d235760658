//! Which server the client talks to and with what key: `trove login` stores them in the
//! user's config dir; `TROVE_URL` and `TROVE_TOKEN` override what is stored.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use serde::{Deserialize, Serialize};

use crate::client::private_file;

pub const URL_VAR: &str = "TROVE_URL";
pub const TOKEN_VAR: &str = "TROVE_TOKEN";

/// What `trove login` keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub url: String,
    pub key: String,
}

/// The server and credential a command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub url: String,
    pub key: String,
}

/// `…/trove` in the user's config dir (`$XDG_CONFIG_HOME/trove` on Linux).
pub fn root() -> anyhow::Result<PathBuf> {
    dirs::config_dir()
        .map(|dir| dir.join("trove"))
        .ok_or_else(|| anyhow!("no config directory: set HOME or XDG_CONFIG_HOME"))
}

fn credentials_path() -> anyhow::Result<PathBuf> {
    Ok(root()?.join("credentials.json"))
}

pub fn load_stored() -> anyhow::Result<Option<Stored>> {
    let path = credentials_path()?;
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let stored = serde_json::from_slice(&text)
        .with_context(|| format!("{} is damaged; run `trove login` again", path.display()))?;
    Ok(Some(stored))
}

/// Stores the login (mode 0600); returns where.
pub fn save(stored: &Stored) -> anyhow::Result<PathBuf> {
    let path = credentials_path()?;
    let json = serde_json::to_vec_pretty(stored)?;
    private_file::write(&path, &json)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The environment first, then the stored login.
pub fn resolve(
    env_url: Option<String>,
    env_token: Option<String>,
    stored: Option<Stored>,
) -> anyhow::Result<Resolved> {
    let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let (stored_url, stored_key) = match stored {
        Some(s) => (Some(s.url), Some(s.key)),
        None => (None, None),
    };
    let url = non_empty(env_url).or(stored_url).ok_or_else(|| {
        anyhow!("no server configured: run `trove login --url URL`, or set {URL_VAR}")
    })?;
    let key = non_empty(env_token).or(stored_key).ok_or_else(|| {
        anyhow!("no credential configured: run `trove login --url {url}`, or set {TOKEN_VAR}")
    })?;
    Ok(Resolved {
        url: url.trim().trim_end_matches('/').to_owned(),
        key: key.trim().to_owned(),
    })
}

/// What this process's environment and the stored login say.
pub fn current() -> anyhow::Result<Resolved> {
    resolve(
        std::env::var(URL_VAR).ok(),
        std::env::var(TOKEN_VAR).ok(),
        load_stored()?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> Option<Stored> {
        Some(Stored {
            url: "https://stored.example/".into(),
            key: "stored-key".into(),
        })
    }

    #[test]
    fn the_environment_overrides_the_stored_login() {
        let r = resolve(
            Some("http://env.example".into()),
            Some("env-token".into()),
            stored(),
        )
        .expect("resolves");
        assert_eq!(r.url, "http://env.example");
        assert_eq!(r.key, "env-token");
    }

    #[test]
    fn each_value_falls_back_to_the_stored_one_on_its_own() {
        let r = resolve(None, Some("env-token".into()), stored()).expect("resolves");
        assert_eq!(r.url, "https://stored.example", "trailing slash trimmed");
        assert_eq!(r.key, "env-token");
        let r = resolve(
            Some("http://env.example".into()),
            Some(" ".into()),
            stored(),
        )
        .expect("resolves");
        assert_eq!(r.key, "stored-key", "an empty variable counts as unset");
    }

    #[test]
    fn nothing_configured_says_how_to_log_in() {
        let e = resolve(None, None, None).expect_err("refused");
        assert!(e.to_string().contains("trove login"), "{e}");
        let e = resolve(Some("http://x".into()), None, None).expect_err("refused");
        assert!(e.to_string().contains("TROVE_TOKEN"), "{e}");
    }
}
