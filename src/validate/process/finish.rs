//! The plan-wide rules of `[process]`, once every file is read.
//!
//! Takes the [`Parts`] of every file, the namespaces and the validated steps; returns the
//! [`Process`] the command runs with, pushing a diagnostic for each rule broken: `hostname`
//! needs a UTS namespace; a pivot that can end in a plain `chroot` takes `CAP_SYS_CHROOT` from
//! the default set (asking for it then is an error); a name both set and unset; and a console
//! ([`super::console`]) needs the mounts it is made on.

use super::{Parts, console};
use crate::diag::Diag;
use crate::model::{
    self, Action, Cap, CapSet, CapsAsked, Env, Namespaces, PivotStrategy, Process, ProcessLocs,
    RootPath,
};

/// The command's process, from every file's parts and the plan's namespaces and steps.
pub(in crate::validate) fn finish(
    parts: Parts,
    ns: &Namespaces,
    steps: &[model::Step],
    diags: &mut Vec<Diag>,
) -> Process {
    let uid = parts.uid.as_ref().map_or(0, |u| u.0);
    let chroot_pivot = steps.iter().find_map(|s| match &s.action {
        Action::Pivot(p)
            if p.strategy == PivotStrategy::Chroot || p.fallback == Some(PivotStrategy::Chroot) =>
        {
            Some(s.loc)
        }
        _ => None,
    });
    let (asked, mut caps) = match &parts.caps {
        Some(c) => (c.asked.clone(), c.set),
        None if uid == 0 => (CapsAsked::Default, CapSet::docker_default()),
        None => (CapsAsked::Default, CapSet::EMPTY),
    };
    let mut chroot_drop = false;
    if let Some(pivot) = chroot_pivot {
        match parts.caps.as_ref().and_then(|c| c.chroot.map(|l| (c, l))) {
            Some((c, at)) => {
                let what = if c.asked == CapsAsked::All {
                    "`\"all\"` gives the command CAP_SYS_CHROOT"
                } else {
                    "the command asks for CAP_SYS_CHROOT"
                };
                diags.push(
                    Diag::error(
                        "mountplan::process::chroot",
                        format!(
                            "{what}, and the pivot can end in a plain `chroot`, which a \
                             process with CAP_SYS_CHROOT can leave (chroot into a \
                             subdirectory, then walk `..`)"
                        ),
                        at,
                    )
                    .label("CAP_SYS_CHROOT asked for here")
                    .also(pivot, "this pivot can end in a plain chroot")
                    .help(
                        "enter the root with `strategy = \"pivot-root\"` or `\"move\"` and no \
                         `fallback = \"chroot\"`, or leave CAP_SYS_CHROOT out of `capabilities`",
                    ),
                );
            }
            None if caps.contains(Cap::SYS_CHROOT) => {
                caps.remove(Cap::SYS_CHROOT);
                chroot_drop = true;
            }
            None => {}
        }
    }
    if let Some((_, at)) = &parts.hostname {
        if !ns.uts {
            diags.push(
                Diag::error(
                    "mountplan::process::needs-uts",
                    "`hostname` needs a UTS namespace, and the plan makes none",
                    *at,
                )
                .label("the host's name would change")
                .help("set `uts = true` in [namespaces]"),
            );
        }
    }
    for (name, at) in &parts.unset {
        if let Some((_, set_at)) = parts.set.get(name) {
            diags.push(
                Diag::error(
                    "mountplan::process::env",
                    format!("`{name}` is both unset and set"),
                    *at,
                )
                .label("unset here")
                .also(*set_at, "set here")
                .help("keep one of them (`set` alone replaces the caller's value)"),
            );
        }
    }
    Process {
        asked,
        caps,
        chroot_drop,
        no_new_privs: parts.no_new_privs.unwrap_or(true),
        cwd: parts
            .cwd
            .as_ref()
            .map_or_else(RootPath::root, |c| c.0.clone()),
        env: Env {
            clear: parts.clear.unwrap_or(false),
            unset: parts.unset.keys().cloned().collect(),
            set: parts
                .set
                .iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect(),
        },
        hostname: parts.hostname.as_ref().map(|h| h.0.clone()),
        uid,
        gid: parts.gid.as_ref().map_or(0, |g| g.0),
        groups: parts
            .groups
            .as_ref()
            .map(|g| g.0.clone())
            .unwrap_or_default(),
        umask: parts.umask,
        console: parts.console.and_then(|a| console::check(a, steps, diags)),
        locs: ProcessLocs {
            caps: parts.caps.as_ref().map(|c| c.loc),
            uid: parts.uid.map(|u| u.1),
            gid: parts.gid.map(|g| g.1),
            groups: parts.groups.map(|g| g.1),
            cwd: parts.cwd.map(|c| c.1),
        },
    }
}
