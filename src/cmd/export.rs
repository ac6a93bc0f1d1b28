//! `export bwrap`: checks the plan as `check` does, then prints bwrap's arguments on stdout
//! (one shell-quoted line starting with `bwrap`, or NUL-terminated arguments with `--null`)
//! and each note on stderr.

use std::io::Write;

use super::check::print_diags;
use super::input::{Input, Naming};
use crate::cli::{Color, ExportCommand};
use mountplan::quote::shell_word;

/// Runs `export`: 0 printed, 1 the plan has errors, 2 it cannot be read.
pub fn run(c: ExportCommand) -> u8 {
    let ExportCommand::Bwrap(a) = c;
    let input = Input::new(&a.plan, Naming::AsTyped);
    let (checked, unreadable) =
        input.check_api(&a.vars.set, a.vars.api.map(crate::cli::ApiArg::api));
    let Some(dag) = checked.dag.as_ref().filter(|_| !checked.has_errors()) else {
        print_diags(&checked.sources, &checked.diags, Color::Auto);
        return if unreadable { 2 } else { 1 };
    };
    let e = mountplan::export::bwrap::export(&dag.plan);
    for n in &e.notes {
        eprintln!("mountplan export bwrap: {n}");
    }
    let mut out = std::io::stdout().lock();
    let r = if a.null {
        e.args.iter().try_for_each(|x| {
            out.write_all(x.as_bytes())
                .and_then(|_| out.write_all(b"\0"))
        })
    } else {
        let words: Vec<String> = e.args.iter().map(|x| shell_word(x)).collect();
        writeln!(out, "bwrap {}", words.join(" "))
    };
    if r.is_err() {
        return 2;
    }
    0
}
