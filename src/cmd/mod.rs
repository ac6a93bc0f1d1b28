//! One module per subcommand; each returns the exit status.

mod apply;
mod check;
mod diff;
mod plan;

use crate::cli::Command;

/// Runs a subcommand and returns its exit status.
pub fn run(c: Command) -> u8 {
    match c {
        Command::Check(a) => check::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Apply(a) => apply::apply(a),
        Command::Recover(a) => apply::recover(a),
        Command::Release(a) => apply::release(a),
        Command::Schema(a) => check::schema(a),
        Command::Completions(a) => check::completions(a),
        Command::Man => check::man(),
    }
}
