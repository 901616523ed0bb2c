//! The `newsdesk` binary: parse the command line, start logging, run.

use clap::Parser;
use newsdesk::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _log = newsdesk::telemetry::init(cli.log_format);
    match cli.command() {
        Command::Serve(args) => newsdesk::server::run(*args).await,
        Command::Keys(args) => newsdesk::keys::run(args).await,
    }
}
