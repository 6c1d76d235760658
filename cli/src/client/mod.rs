//! The client commands: `login`, `push`, `pull`, `ls`, `search`, `status`, `token`, each speaking the
//! server's HTTP API like any other client would.

mod api;
mod config;
mod hashing;
mod login;
mod ls;
mod output;
mod parts;
mod private_file;
mod problem;
mod progress;
mod pull;
mod push;
mod retry;
mod search;
mod status;
mod storage;
mod token;
mod upload_state;
mod wire;

use std::process::ExitCode;

use output::OutputArgs;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Check an API key (read from standard input, or --key-file) against a server and store
    /// both for the other commands. TROVE_URL and TROVE_TOKEN override what is stored.
    Login(login::Args),
    /// Upload a file and wait for the pipeline to publish or reject it. Run again after an
    /// interruption, it sends only what the server lacks.
    Push(push::Args),
    /// Download a file, verified against its SHA-256; continues an interrupted download.
    Pull(pull::Args),
    /// List repositories, packages, versions or files.
    Ls(ls::Args),
    /// Search the catalogue: `trove search name:acme-* version:>=2`, `trove search
    /// sha256:3f2a9c41d0be`, `trove search 'by:sa_… published:<7d'` (the README has the
    /// query language).
    Search(search::Args),
    /// Show an upload's state.
    Status(status::Args),
    /// Print a short-lived access token made with the stored API key.
    Token(token::Args),
}

/// Exit code of a push the pipeline rejected (1 is any other failure, 2 a usage error).
const EXIT_REJECTED: u8 = 3;
/// Exit code after Ctrl-C, as shells report it.
const EXIT_INTERRUPTED: u8 = 130;

pub async fn run(command: Command) -> ExitCode {
    let out = match &command {
        Command::Login(a) => a.out,
        Command::Push(a) => a.out,
        Command::Pull(a) => a.out,
        Command::Ls(a) => a.out,
        Command::Search(a) => a.out,
        Command::Status(a) => a.out,
        Command::Token(a) => a.out,
    };
    let interruptible = matches!(command, Command::Push(_) | Command::Pull(_));
    let work = async {
        match command {
            Command::Login(args) => login::run(args).await,
            Command::Push(args) => push::run(args).await,
            Command::Pull(args) => pull::run(args).await,
            Command::Ls(args) => ls::run(args).await,
            Command::Search(args) => search::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Token(args) => token::run(args).await,
        }
    };
    let result = tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            if interruptible {
                eprintln!("\ninterrupted: run the same command again to continue where it stopped");
            }
            return ExitCode::from(EXIT_INTERRUPTED);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error, out),
    }
}

/// Prints a failure on stderr (and as JSON on stdout with `--json`); picks the exit code.
fn report(error: &anyhow::Error, out: OutputArgs) -> ExitCode {
    eprintln!("error: {error:#}");
    let rejected = error.is::<push::Rejected>();
    // A rejected push already printed its outcome document.
    if out.json && !rejected {
        let doc = serde_json::json!({ "error": format!("{error:#}") });
        println!("{doc}");
    }
    if rejected {
        ExitCode::from(EXIT_REJECTED)
    } else {
        ExitCode::FAILURE
    }
}
