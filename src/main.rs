//! The `mountplan` binary: parses the command line, runs one subcommand, prints, and exits
//! with the documented status. The only place that prints.

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    ExitCode::from(cmd::run(cli.command))
}
