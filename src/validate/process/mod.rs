//! Checking `[process]`: capability names, ids, the working directory, the environment, the
//! hostname, the umask and the console.
//!
//! Takes each file's raw `[process]` table ([`read`], includes first: a key a later file gives
//! replaces the earlier one; `env.set` and `env.unset` merge by name) and then the plan-wide
//! facts ([`finish`]: the namespaces and the steps); returns the [`Process`] the command runs
//! with, pushing a diagnostic at the value for every problem.
//!
//! The files: this one holds [`Parts`] and [`read`] (ids, hostname, umask, the environment);
//! `caps.rs` reads `capabilities`; `console.rs` reads `console` and checks the mounts it
//! needs; `finish.rs` is [`finish`], the plan-wide rules (`hostname` needs a UTS namespace; a
//! pivot that can end in a plain `chroot` takes `CAP_SYS_CHROOT` away from the default set,
//! and asking for it with such a pivot is an error, since a process with `CAP_SYS_CHROOT`
//! leaves a plain chroot).

mod caps;
mod console;
mod finish;

use std::collections::BTreeMap;

use super::values::Ctx;
use crate::diag::Diag;
use crate::model::{CapSet, CapsAsked, Mode, RootPath};
use crate::raw::{self, Sp};
use crate::source::Loc;

pub(in crate::validate) use self::finish::finish;

/// The keys of `[process]` given so far, each with where it is written.
#[derive(Debug, Default)]
pub(in crate::validate) struct Parts {
    caps: Option<Caps>,
    no_new_privs: Option<bool>,
    cwd: Option<(RootPath, Loc)>,
    clear: Option<bool>,
    set: BTreeMap<String, (String, Loc)>,
    unset: BTreeMap<String, Loc>,
    hostname: Option<(String, Loc)>,
    uid: Option<(u32, Loc)>,
    gid: Option<(u32, Loc)>,
    groups: Option<(Vec<u32>, Loc)>,
    umask: Option<Mode>,
    console: Option<console::Asked>,
}

#[derive(Debug)]
struct Caps {
    asked: CapsAsked,
    set: CapSet,
    /// The value.
    loc: Loc,
    /// Where `CAP_SYS_CHROOT` is named (or `"all"` written), when it is.
    chroot: Option<Loc>,
}

/// Reads one file's `[process]` into `parts`.
pub(in crate::validate) fn read(cx: &mut Ctx, p: &Sp<raw::Process>, parts: &mut Parts) {
    let p = &p.value;
    if let Some(c) = &p.capabilities {
        if let Some(caps) = caps::capabilities(cx, c) {
            parts.caps = Some(caps);
        }
    }
    if let Some(b) = &p.no_new_privileges {
        parts.no_new_privs = Some(b.value);
    }
    if let Some(c) = &p.cwd {
        if let Some(path) = cx.root_path(c) {
            parts.cwd = Some((path, cx.loc(c)));
        }
    }
    if let Some(e) = &p.env {
        env(cx, &e.value, parts);
    }
    if let Some(h) = &p.hostname {
        if let Some(name) = cx.sub(h) {
            if hostname_ok(&name) {
                parts.hostname = Some((name, cx.loc(h)));
            } else {
                let d = Diag::error(
                    "mountplan::process::hostname",
                    format!("`{}` is not a hostname", name.escape_debug()),
                    cx.loc(h),
                )
                .label("not a hostname")
                .help("use 1 to 64 letters, digits, `-`, `.` and `_`");
                cx.err(d);
            }
        }
    }
    for (v, what, slot) in [
        (&p.uid, "uid", &mut parts.uid),
        (&p.gid, "gid", &mut parts.gid),
    ] {
        if let Some(v) = v {
            if let Some(n) = cx.id_num(v, what) {
                *slot = Some((n, cx.loc(v)));
            }
        }
    }
    if let Some(g) = &p.groups {
        let ids: Vec<Option<u32>> = g.iter().map(|x| cx.id_num(x, "group")).collect();
        if let Some(mut ids) = ids.into_iter().collect::<Option<Vec<u32>>>() {
            ids.sort_unstable();
            ids.dedup();
            let loc = match (g.first(), g.last()) {
                (Some(a), Some(b)) => Loc::new(cx.src, a.span.start..b.span.end),
                _ => Loc::new(cx.src, 0..0),
            };
            parts.groups = Some((ids, loc));
        }
    }
    if let Some(c) = &p.console {
        if let Some(a) = console::read(cx, c) {
            parts.console = Some(a);
        }
    }
    if let Some(u) = &p.umask {
        if let Some(m) = cx.mode(u) {
            if m.bits() > 0o777 {
                let d = Diag::error(
                    "mountplan::process::umask",
                    format!("`{m}` is not a umask"),
                    cx.loc(u),
                )
                .label("a umask has permission bits only, at most 0777")
                .help("write the bits to clear from new files' modes, such as \"0022\"");
                cx.err(d);
            } else {
                parts.umask = Some(m);
            }
        }
    }
}

/// Letters, digits, `-`, `.` and `_`, 1 to 64 bytes (HOST_NAME_MAX).
fn hostname_ok(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// A variable name the environment can hold: not empty, no `=`, no NUL.
fn env_name(cx: &mut Ctx, name: &str, loc: Loc) -> bool {
    let why = if name.is_empty() {
        Some("the name is empty")
    } else if name.contains('=') {
        Some("`=` ends a name in the environment")
    } else if name.contains('\0') {
        Some("the name contains a NUL byte")
    } else {
        None
    };
    if let Some(why) = why {
        cx.err(
            Diag::error(
                "mountplan::process::env",
                format!("`{}` is not a variable name", name.escape_debug()),
                loc,
            )
            .label(why)
            .help("name variables with letters, digits and `_`"),
        );
    }
    why.is_none()
}

fn env(cx: &mut Ctx, e: &raw::ProcessEnv, parts: &mut Parts) {
    if let Some(c) = &e.clear {
        parts.clear = Some(c.value);
    }
    for (k, v) in e.set.iter().flatten() {
        let kloc = cx.loc(k);
        if !env_name(cx, &k.value, kloc) {
            continue;
        }
        let Some(value) = cx.sub(v) else {
            continue;
        };
        if value.contains('\0') {
            let d = Diag::error(
                "mountplan::process::env",
                format!("the value of `{}` contains a NUL byte", k.value),
                cx.loc(v),
            )
            .label("a NUL byte ends a string in the environment")
            .help("remove the NUL byte");
            cx.err(d);
            continue;
        }
        parts.set.insert(k.value.clone(), (value, kloc));
    }
    for u in e.unset.iter().flatten() {
        let loc = cx.loc(u);
        if env_name(cx, &u.value, loc) {
            parts.unset.insert(u.value.clone(), loc);
        }
    }
}

#[cfg(test)]
mod tests;
