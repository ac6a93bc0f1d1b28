//! The `mountplan` binary: parses the command line, runs one subcommand, prints, and exits
//! with the documented status. The only place that prints (but for `MOUNTPLAN_TIMING`).

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    mountplan::timing::start();
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let command = match cli::quick_apply(&args) {
        Some(a) => cli::Command::Apply(a),
        None => cli::Cli::parse().command,
    };
    mountplan::timing::mark("args");
    ExitCode::from(cmd::run(command))
}
