//! `mountplan diff OLD NEW`: check both plans, then print their semantic diff and the warnings
//! NEW introduces; with `--rev REV`, OLD (and what it includes) as it is at a git revision.
//!
//! Takes the parsed arguments; prints the diff on stdout, or the diagnostics of an invalid
//! plan on stderr; returns 0 when the plans do the same thing, 1 when they differ, 2 when
//! either cannot be read or is invalid (as diff(1)). Files are named as `plan` names them
//! ([`Naming::Review`]); the old plan at a revision is labelled `REV:path`.

use mountplan::diag::Diag;
use mountplan::diff;
use mountplan::source::Sources;

use super::input::{Input, InputError, Naming};
use super::plan::{print_diags, print_out, use_color};
use crate::cli::{DiffArgs, DiffFormat};

fn usage(e: InputError, color: crate::cli::Color) -> u8 {
    let d = Diag::error_nowhere("mountplan::input", e.message).help(e.help);
    super::check::print_diags(&Sources::new(), &[d], color);
    2
}

/// Runs `mountplan diff`.
pub fn run(a: DiffArgs) -> u8 {
    let old_in = match &a.rev {
        Some(rev) => match Input::at_revision(&a.old, rev) {
            Ok(i) => i,
            Err(e) => return usage(e, a.color),
        },
        None => Input::new(&a.old, Naming::Review),
    };
    let new_in = Input::new(a.new.as_ref().unwrap_or(&a.old), Naming::Review);
    if old_in.is_stdin() && new_in.is_stdin() {
        return usage(
            InputError {
                message: "OLD and NEW cannot both be `-`: standard input holds one plan".into(),
                help: "give one of them as a file (or compare with --rev REV)".into(),
            },
            a.color,
        );
    }
    let (old, _) = old_in.check_api(&a.vars.set, a.vars.api.map(crate::cli::ApiArg::api));
    let (new, _) = new_in.check_api(&a.vars.set, a.vars.api.map(crate::cli::ApiArg::api));
    let mut failed = false;
    for c in [&old, &new] {
        if c.dag.is_none() || c.has_errors() {
            print_diags(c, a.color);
            failed = true;
        }
    }
    let (Some(od), Some(nd)) = (&old.dag, &new.dag) else {
        return 2;
    };
    if failed {
        return 2;
    }
    let of = match &a.rev {
        Some(rev) => format!("{rev}:{}", old_in.name.display()),
        None => old_in.name.display().to_string(),
    };
    let nf = new_in.name.display().to_string();
    let d = diff::diff(od, nd).with_warnings(&old.diags, &new.diags, &new.sources);
    let out = match a.format {
        DiffFormat::Text => diff::text(&d, &of, &nf, use_color(a.color)),
        DiffFormat::Json => diff::json(&d, &of, &nf),
        DiffFormat::Markdown => diff::markdown(&d, &of, &nf),
    };
    print_out(&out);
    if d.is_same() { 0 } else { 1 }
}
