//! `mountplan diff OLD NEW`: check both plans, then print their semantic diff.
//!
//! Takes the parsed arguments; prints the diff on stdout, or the diagnostics of an invalid
//! plan on stderr; returns 0 when the plans do the same thing, 1 when they differ, 2 when
//! either cannot be read or is invalid (as diff(1)).

use std::io::Write;

use mountplan::diff;

use super::check_plan as check;
use super::plan::{print_diags, use_color};
use crate::cli::{DiffArgs, DiffFormat};

/// Runs `mountplan diff`.
pub fn run(a: DiffArgs) -> u8 {
    let (old, _) = check(&a.old, &a.vars.set);
    let (new, _) = check(&a.new, &a.vars.set);
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
    let (of, nf) = (a.old.display().to_string(), a.new.display().to_string());
    let d = diff::diff(od, nd);
    let out = match a.format {
        DiffFormat::Text => diff::text(&d, &of, &nf, use_color(a.color)),
        DiffFormat::Json => diff::json(&d, &of, &nf),
        DiffFormat::Markdown => diff::markdown(&d, &of, &nf),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    if d.is_same() { 0 } else { 1 }
}
