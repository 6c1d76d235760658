//! `trove`: the all-in-one server and the command-line client.

mod admin;
mod client;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The system allocator, on purpose: mimalloc served small list pages ~10% faster (30.6k
// against 27.4k req/s, bench/pypi.sh) but kept ~60 MB more resident while big files moved
// (server peak 104 MB against 45 MB with four 16 MiB parts in flight, bench/cli.sh), and
// memory that stays flat whatever the file size is the promise that matters more.

#[derive(Parser)]
#[command(name = "trove", version, about = "Trove artifact repository")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API, storage, pipeline and jobs in one process on embedded storage.
    Serve(serve::Args),
    /// Operator commands against a data dir.
    #[command(subcommand)]
    Admin(admin::Command),
    #[command(flatten)]
    Client(client::Command),
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve::run(args))?,
        Command::Admin(command) => runtime.block_on(admin::run(command))?,
        Command::Client(command) => return Ok(runtime.block_on(client::run(command))),
    }
    Ok(ExitCode::SUCCESS)
}
