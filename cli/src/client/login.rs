//! `trove login`: checks an API key against the server, then stores both.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::client::api::{self, Api};
use crate::client::config::{self, Resolved, Stored};
use crate::client::output::OutputArgs;
use crate::client::wire::Caller;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The server's base URL, e.g. https://trove.example.com.
    #[arg(long)]
    url: String,
    /// Read the API key from this file instead of standard input.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Serialize)]
struct LoggedIn {
    url: String,
    tenant: String,
    principal: String,
    stored_in: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let key = match &args.key_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the key from {}", path.display()))?,
        None => read_stdin()?,
    };
    let key = key.trim().to_owned();
    if key.is_empty() || key.contains(char::is_whitespace) {
        bail!(
            "expected one API key (a single word), got {} characters of something else",
            key.len()
        );
    }
    let url = args.url.trim().trim_end_matches('/').to_owned();
    let config = Resolved {
        url: url.clone(),
        key: key.clone(),
    };
    let api = Api::new(&config, api::BRIEF)?;
    let caller: Caller = api
        .get(api.endpoint(&["v1", "me"]))
        .await
        .map_err(|e| match e.status() {
            Some(401) => anyhow::anyhow!(
                "{url} refused this API key (401): nothing was stored; check the key, its tenant and that it has not expired"
            ),
            _ => anyhow::Error::new(e),
        })?;
    let stored_in = config::save(&Stored {
        url: url.clone(),
        key,
    })?;
    let done = LoggedIn {
        url,
        tenant: caller.tenant,
        principal: caller.principal,
        stored_in,
    };
    args.out.emit(&done, |d| {
        format!(
            "Logged in to {} as {} (tenant {}); the key is in {}",
            d.url,
            d.principal,
            d.tenant,
            d.stored_in.display()
        )
    })
}

fn read_stdin() -> anyhow::Result<String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("API key (then Enter):");
        let mut line = String::new();
        stdin.read_line(&mut line)?;
        return Ok(line);
    }
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .context("cannot read the API key from standard input")?;
    Ok(text)
}
