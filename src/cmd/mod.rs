//! One module per subcommand; each returns the exit status.

mod apply;
mod capture;
mod check;
mod diff;
mod doctor;
mod export;
mod import;
pub(crate) mod input;
mod plan;

use std::path::Path;

use crate::cli::Command;

/// Checks the plan file at `path` (never standard input: `apply -` reads a file named `-`),
/// its files named as typed, with `--set` and `--api`; also says whether a file could not be
/// read.
pub(crate) fn check_plan_api(path: &Path, v: &crate::cli::VarArgs) -> (mountplan::Checked, bool) {
    input::Input::file(path).check_api(&v.set, v.api.map(crate::cli::ApiArg::api))
}

/// Whether to colour a stream: `--color always|never`, or with `auto` when the stream is a
/// terminal and `NO_COLOR` is not set to a non-empty value (no-color.org: an empty value does
/// not count).
pub(crate) fn color_on(c: crate::cli::Color, terminal: bool) -> bool {
    color_with(c, terminal, std::env::var_os("NO_COLOR").as_deref())
}

fn color_with(c: crate::cli::Color, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    match c {
        crate::cli::Color::Always => true,
        crate::cli::Color::Never => false,
        crate::cli::Color::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

/// Runs a subcommand and returns its exit status.
pub fn run(c: Command) -> u8 {
    match c {
        Command::Check(a) => check::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Apply(a) => apply::apply(a),
        Command::Recover(a) => apply::recover(a),
        Command::Release(a) => apply::release(a),
        Command::Capture(a) => capture::run(a),
        Command::Doctor(a) => doctor::run(a),
        Command::Schema(a) => check::schema(a),
        Command::Completions(a) => check::completions(a),
        Command::Man(a) => check::man(a),
        Command::Import(a) => import::run(a),
        Command::Export(a) => export::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::color_with;
    use crate::cli::Color;
    use std::ffi::OsStr;

    #[test]
    fn no_color_counts_only_when_not_empty() {
        assert!(color_with(Color::Auto, true, None));
        assert!(color_with(Color::Auto, true, Some(OsStr::new(""))));
        assert!(!color_with(Color::Auto, true, Some(OsStr::new("1"))));
        assert!(!color_with(Color::Auto, false, None));
        assert!(color_with(Color::Always, false, Some(OsStr::new("1"))));
        assert!(!color_with(Color::Never, true, None));
    }
}
