//! `trove`: the all-in-one server and the command-line client.

mod admin;
mod client;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Many small JSON allocations per request from every worker thread: glibc malloc's arena
/// locks showed up as the top cost of list routes under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
