//! `mountplan capture [--pid PID] [--root PATH]`: a plan that rebuilds a live mount tree.
//!
//! Takes the parsed arguments; reads the namespace ([`mountplan::sys::linux::snapshot`]),
//! writes the plan ([`mountplan::capture`]) on stdout, then checks it as `plan` would and
//! compares its predicted tree with the captured one ([`mountplan::capture::compare`]).
//! Returns 0 when the plan rebuilds the tree exactly, 1 when it printed a plan that does not
//! (each difference on stderr), 2 when the namespace cannot be read or nothing is mounted at
//! the root asked for.

use std::path::Path;

use mountplan::capture::{self, Request};
use mountplan::diag::Diag;
use mountplan::model::RootPath;
use mountplan::source::Sources;

use crate::cli::{CaptureArgs, Color};

fn fail(message: String, help: &str) -> u8 {
    let d = Diag::error_nowhere("mountplan::capture", message).help(help);
    super::check::print_diags(&Sources::new(), &[d], Color::Auto);
    2
}

/// Runs `mountplan capture`.
pub fn run(a: CaptureArgs) -> u8 {
    let root = match &a.root {
        None => None,
        Some(p) => match p.to_str().map(RootPath::new) {
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => {
                return fail(
                    format!("--root `{}` is not a plan path: {e}", p.display()),
                    "give an absolute path as the process sees it, such as /srv/root",
                );
            }
            None => {
                return fail(
                    format!("--root `{}` is not UTF-8", p.display()),
                    "give a path a plan can name",
                );
            }
        },
    };
    let (snap, look) = match mountplan::sys::linux::snapshot::read(a.pid) {
        Ok(x) => x,
        Err(e) => {
            return fail(
                format!("cannot read the mount namespace: {e}"),
                "give the pid of a running process you may inspect (root may read any)",
            );
        }
    };
    let mut command = String::from("mountplan capture");
    if let Some(p) = a.pid {
        command.push_str(&format!(" --pid {p}"));
    }
    if let Some(r) = &root {
        command.push_str(&format!(" --root {r}"));
    }
    let req = Request { root, command };
    let captured = match capture::capture(&snap, &req, &look) {
        Ok(c) => c,
        Err(e) => return fail(e.message, &e.help),
    };
    super::plan::print_out(&captured.text);

    // The plan, checked as `mountplan plan` checks it, and its prediction held against the
    // captured tree.
    let name = Path::new("<captured>");
    let text = captured.text.clone();
    let checked = mountplan::check(name, &[], &mut |_| Ok(text.clone()));
    let mut exact = captured.inexact.is_empty();
    for n in &captured.notes {
        eprintln!("mountplan: note: {n}");
    }
    for n in &captured.inexact {
        eprintln!("mountplan: not rebuilt exactly: {n}");
    }
    match &checked.dag {
        Some(dag) if !checked.has_errors() => {
            let diffs = capture::compare::differences(&dag.tree, &captured.expected);
            for d in &diffs {
                eprintln!("mountplan: the plan's dry run differs from the namespace: {d}");
            }
            // What the writer already named is not counted twice, but a difference it did not
            // foresee makes the result inexact.
            if !diffs.is_empty() && captured.inexact.is_empty() {
                exact = false;
            }
        }
        _ => {
            let errors: Vec<Diag> = checked.diags.into_iter().filter(Diag::is_error).collect();
            super::check::print_diags(&checked.sources, &errors, Color::Auto);
            eprintln!("mountplan: the captured plan does not check: this is a bug in capture");
            return 1;
        }
    }
    eprintln!(
        "mountplan: captured {} mounts{}",
        captured.mounts,
        if exact {
            ": the plan's dry run predicts the captured tree"
        } else {
            ", not exactly (see above)"
        }
    );
    u8::from(!exact)
}
