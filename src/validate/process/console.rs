//! Checking `console` of `[process]`: the pty mountplan opens for the command, and the mounts
//! it is made on.
//!
//! Takes the raw value ([`read`]: `"pty"`, the one kind there is) and, once every file is read,
//! the validated steps ([`check`]); returns the [`Console`] (the plan's devpts below `/dev`,
//! whose `ptmx` gives the pty, and `/dev/console`, where its slave is bound), pushing an error
//! at the `console` value when the plan lacks what the console needs: a devpts mount below
//! `/dev` (the pty must come from the new root's own devpts, never from the host's, whose
//! ptys the command must not reach), a tmpfs on `/dev` (where `/dev/console` is created:
//! never in the root's image, which the apply does not journal for this) and a pivot (the
//! pty is opened in the new root, after it).

use super::super::values::Ctx;
use crate::diag::Diag;
use crate::model::{Action, Console, FsKind, Mount, RootPath, Step};
use crate::raw::Sp;
use crate::source::Loc;

/// The console's value as read: where it is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Asked {
    pub(super) loc: Loc,
}

/// Reads `console`: `"pty"`, or an error at the value.
pub(super) fn read(cx: &mut Ctx, c: &Sp<String>) -> Option<Asked> {
    let loc = cx.loc(c);
    let v = cx.sub(c)?;
    if v == "pty" {
        return Some(Asked { loc });
    }
    cx.err(
        Diag::error(
            "mountplan::process::console",
            format!("`{}` is not a console", v.escape_debug()),
            loc,
        )
        .label("not `\"pty\"`")
        .help(
            "write `console = \"pty\"`: mountplan then opens a pty in the plan's devpts and \
             binds it onto /dev/console",
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
    if devpts.is_none() {
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
                "`console = \"pty\"` needs a tmpfs mounted on `/dev`, and the plan mounts none",
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
                "`console = \"pty\"` needs a pivot step: the pty is opened in the new root, and \
                 without a pivot the command runs in the host's",
                asked.loc,
            )
            .label("no pivot into the new root")
            .help("add a last step `kind = \"pivot\"`"),
        );
    }
    let (s, m) = devpts?;
    ok.then(|| Console {
        devpts: m.target.clone(),
        devpts_step: s.id.as_str().to_string(),
        target: dev.join("console"),
        loc: asked.loc,
    })
}
