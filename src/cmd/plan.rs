//! `mountplan plan PLAN`: check the plan, then print its dry run in the chosen format, or with
//! `--check FILE` compare it with a checked-in dry run.
//!
//! Takes the parsed arguments; prints the dry run on stdout (with `--check`, the unified diff
//! from FILE to the dry run when they differ), the diagnostics on stderr; returns 0, 1 when the
//! plan has errors or FILE is stale, 2 when a file cannot be read (clap also exits 2 on usage
//! errors). Files are named as [`Naming::Review`] says, so the bytes do not depend on the
//! current directory or on how PLAN was typed.

use std::io::{IsTerminal, Write};
use std::path::Path;

use mountplan::render::{self, TextOptions};

use super::input::{Input, Naming};
use crate::cli::{Color, PlanArgs, PlanFormat};

/// Colour for stdout: `always`, `never`, or on a terminal with `NO_COLOR` unset.
pub(crate) fn use_color(c: Color) -> bool {
    super::color_on(c, std::io::stdout().is_terminal())
}

/// Prints every diagnostic of a checked plan on stderr, as `check` does.
pub(crate) fn print_diags(checked: &mountplan::Checked, color: Color) {
    super::check::print_diags(&checked.sources, &checked.diags, color);
}

/// Writes `out` on stdout; a closed pipe (`| head`) is not an error worth a message.
pub(crate) fn print_out(out: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

/// The `--format` value as typed on a command line.
fn format_word(f: PlanFormat) -> &'static str {
    match f {
        PlanFormat::Text => "text",
        PlanFormat::Json => "json",
        PlanFormat::Markdown => "markdown",
        PlanFormat::Mermaid => "mermaid",
        PlanFormat::Dot => "dot",
    }
}

/// Runs `mountplan plan`.
pub fn run(a: PlanArgs) -> u8 {
    let input = Input::new(&a.plan, Naming::Review);
    let (checked, unreadable) =
        input.check_api(&a.vars.set, a.vars.api.map(crate::cli::ApiArg::api));
    let dag = match (&checked.dag, checked.has_errors()) {
        (Some(dag), false) => dag,
        _ => {
            print_diags(&checked, a.color);
            return if unreadable { 2 } else { 1 };
        }
    };
    let (s, d) = (&checked.sources, &checked.diags);
    let out = match a.format {
        PlanFormat::Text => render::text(
            s,
            dag,
            d,
            &TextOptions {
                // A checked-in dry run has no colour.
                color: a.check.is_none() && use_color(a.color),
            },
        ),
        PlanFormat::Json => render::json(s, dag, d),
        PlanFormat::Markdown => render::markdown(s, dag, d),
        PlanFormat::Mermaid => render::mermaid(dag),
        PlanFormat::Dot => render::dot(dag),
    };
    match &a.check {
        None => {
            print_out(&out);
            0
        }
        Some(file) => check_file(file, &out, &a),
    }
}

/// `--check FILE`: 0 when FILE holds exactly `now`; else the unified diff on stdout, what to
/// do on stderr, and 1 (2 when FILE cannot be read for another reason than being missing).
fn check_file(file: &Path, now: &str, a: &PlanArgs) -> u8 {
    let (have, missing) = match std::fs::read(file) {
        Ok(b) => (String::from_utf8_lossy(&b).into_owned(), false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), true),
        Err(e) => {
            eprintln!(
                "mountplan: cannot read the checked-in dry run `{}`: {e}",
                file.display()
            );
            return 2;
        }
    };
    let Some(diff) = mountplan::diff::unified(
        &have,
        now,
        &format!("{} (checked in)", file.display()),
        &format!(
            "{} (the dry run of {} now)",
            file.display(),
            a.plan.display()
        ),
    ) else {
        return 0;
    };
    print_out(&diff);
    let format = match a.format {
        PlanFormat::Text => String::new(),
        f => format!(" --format {}", format_word(f)),
    };
    let sets: String = a
        .vars
        .set
        .iter()
        .map(|(k, v)| format!(" --set {k}={v}"))
        .collect();
    eprintln!(
        "mountplan: `{}` is {}: the dry run of `{}` differs (the diff is on stdout)\n  help: \
         review the diff, then refresh it with `mountplan plan{format}{sets} {} > {}` and \
         commit it with the plan",
        file.display(),
        if missing { "missing" } else { "stale" },
        a.plan.display(),
        a.plan.display(),
        file.display()
    );
    1
}
