//! Checking `console` of `[process]`: the terminal the command gets, and the mounts it is made
//! on.
//!
//! Takes the raw value ([`read`]: `"pty"`, or the absolute path of a host terminal, usually
//! `"${CONSOLE}"` given with `--set`) and, once every file is read, the validated steps
//! ([`check`]); returns the [`Console`] (for a pty, the plan's devpts below `/dev`, whose
//! `ptmx` gives it; and `/dev/console`, where the terminal is bound), pushing an error at the
//! `console` value when the plan lacks what the console needs: for a pty a devpts mount below
//! `/dev` (the pty must come from the new root's own devpts, never from the host's, whose ptys
//! the command must not reach); a tmpfs on `/dev` (where `/dev/console` is created: never in
//! the root's image, which the apply does not journal for this); and a pivot (the console is
//! bound in the new root, after it).

use super::super::values::Ctx;
use crate::diag::Diag;
use crate::model::{Action, Console, ConsoleSource, FsKind, HostPath, Mount, RootPath, Step};
use crate::raw::Sp;
use crate::source::Loc;

/// The console's value as read, and where it is written.
#[derive(Debug, Clone)]
pub(super) struct Asked {
    /// `None` for `"pty"`, else the host terminal's path.
    host: Option<HostPath>,
    loc: Loc,
}

/// Reads `console`: `"pty"` or an absolute path, or an error at the value.
pub(super) fn read(cx: &mut Ctx, c: &Sp<String>) -> Option<Asked> {
    let loc = cx.loc(c);
    let v = cx.sub(c)?;
    if v == "pty" {
        return Some(Asked { host: None, loc });
    }
    if v.starts_with('/') {
        let host = cx.host_path(c)?;
        return Some(Asked {
            host: Some(host),
            loc,
        });
    }
    cx.err(
        Diag::error(
            "mountplan::process::console",
            format!("`{}` is not a console", v.escape_debug()),
            loc,
        )
        .label("not `\"pty\"` nor an absolute path")
        .help(
            "write `console = \"pty\"` (mountplan then opens a pty in the plan's devpts and \
             binds it onto /dev/console), or the path of a terminal of the host's, such as \
             `\"${CONSOLE}\"` with `--set CONSOLE=/dev/pts/N`",
        ),
    );
    None
}

fn mount(s: &Step) -> Option<&Mount> {
    match &s.action {
        Action::Mount(m) => Some(m),
        _ => None,
    }
}

/// The console of the plan, or errors at the `console` value for what is missing.
pub(super) fn check(asked: Asked, steps: &[Step], diags: &mut Vec<Diag>) -> Option<Console> {
    let dev = RootPath::new("/dev").expect("an absolute path");
    let devpts = steps.iter().rev().find_map(|s| {
        let m = mount(s)?;
        (matches!(m.fs, FsKind::Devpts(_)) && m.target.starts_with(&dev) && m.target != dev)
            .then_some((s, m))
    });
    let tmpfs_dev = steps
        .iter()
        .find(|s| mount(s).is_some_and(|m| m.target == dev && matches!(m.fs, FsKind::Tmpfs(_))));
    let pivot = steps.iter().any(|s| matches!(s.action, Action::Pivot(_)));
    let mut ok = true;
    let what = if asked.host.is_some() {
        "a console"
    } else {
        "`console = \"pty\"`"
    };
    if devpts.is_none() && asked.host.is_none() {
        ok = false;
        diags.push(
            Diag::error(
                "mountplan::process::console-devpts",
                "`console = \"pty\"` needs a devpts mount below `/dev`, and the plan has none",
                asked.loc,
            )
            .label("the pty would have no devpts of the new root to come from")
            .help(
                "add a step `kind = \"mount\"`, `type = \"devpts\"`, `target = \"/dev/pts\"` \
                 (a new instance: the command then sees only its own ptys, not the host's)",
            ),
        );
    }
    if tmpfs_dev.is_none() {
        ok = false;
        diags.push(
            Diag::error(
                "mountplan::process::console-dev",
                format!("{what} needs a tmpfs mounted on `/dev`, and the plan mounts none"),
                asked.loc,
            )
            .label("no /dev of the plan's to create /dev/console on")
            .help(
                "add a step `kind = \"mount\"`, `type = \"tmpfs\"`, `target = \"/dev\"` before \
                 the devpts mount (as runc does): /dev/console is created there, never in the \
                 root's image",
            ),
        );
    }
    if !pivot {
        ok = false;
        diags.push(
            Diag::error(
                "mountplan::process::console-pivot",
                format!(
                    "{what} needs a pivot step: it is bound onto /dev/console in the new root, \
                     and without a pivot the command runs in the host's"
                ),
                asked.loc,
            )
            .label("no pivot into the new root")
            .help("add a last step `kind = \"pivot\"`"),
        );
    }
    if !ok {
        return None;
    }
    let source = match asked.host {
        Some(h) => ConsoleSource::Host(h),
        None => {
            let (s, m) = devpts?;
            ConsoleSource::Pty {
                devpts: m.target.clone(),
                step: s.id.as_str().to_string(),
            }
        }
    };
    Some(Console {
        source,
        target: dev.join("console"),
        loc: asked.loc,
    })
}
