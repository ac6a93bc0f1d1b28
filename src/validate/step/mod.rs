//! One `[[step]]` -> a [`model::Action`](crate::model::Action): the fields its kind allows,
//! the fields it requires, and the values checked and typed.
//!
//! The files, by job: this one holds the fields each kind allows and requires and the
//! dispatch by kind; `mount.rs` checks a mount step (its type's typed fields), `mknod.rs` a
//! device node, `pivot.rs` the pivot's strategy, fallback and `put_old`.

mod mknod;
mod mount;
mod pivot;

use self::mknod::mknod;
use self::mount::mount;
use self::pivot::pivot;

use crate::diag::Diag;
use crate::model::*;
use crate::raw::{self, Spanned, StepKind};
use crate::source::Loc;

use super::values::{Ctx, flags};

/// The fields each kind takes (besides kind, id, after, note): [`StepKind::keys`], which the
/// schema lists too.
pub fn allowed(kind: StepKind) -> &'static [&'static str] {
    kind.keys()
}

/// Reports that step `s` lacks `field` (or each of "`a` and `b`"), unless parse already
/// reported a key taken for it (`typ` for `type`) or a value of it of the wrong type.
pub(super) fn missing(
    cx: &mut Ctx,
    s: &raw::Step,
    at: Loc,
    kind: StepKind,
    field: &str,
    example: &str,
) {
    if field
        .split("` and `")
        .any(|f| s.reported.iter().any(|r| r == f))
    {
        return;
    }
    let d = Diag::error(
        "mountplan::step::missing",
        format!("a `{}` step needs `{field}`", kind.as_str()),
        at,
    )
    .label(format!("this step has no `{field}`"))
    .help(format!("add `{field} = {example}`"));
    cx.err(d);
}

pub(super) fn req<'s>(
    cx: &mut Ctx,
    s: &raw::Step,
    at: Loc,
    kind: StepKind,
    f: &'s Option<Spanned<String>>,
    name: &str,
    ex: &str,
) -> Option<&'s Spanned<String>> {
    if f.is_none() {
        missing(cx, s, at, kind, name, ex);
    }
    f.as_ref()
}

pub(super) fn opt_mode(cx: &mut Ctx, m: &Option<Spanned<String>>) -> Option<Mode> {
    m.as_ref().and_then(|m| cx.mode(m))
}

pub(super) fn opt_id(cx: &mut Ctx, v: &Option<Spanned<i64>>, what: &str) -> Option<u32> {
    v.as_ref().and_then(|v| cx.id_num(v, what))
}

/// Checks one step and builds its action (`None` when it has errors).
pub fn action(cx: &mut Ctx, s: &raw::Step) -> Option<Action> {
    let kind = s.kind.value;
    let at = cx.loc(&s.kind);
    let before = cx.diags.len();
    // Fields that do not belong to this kind.
    let allowed = allowed(kind);
    let fields = s.set_fields();
    for (name, span) in &fields {
        let (name, span) = (*name, span.clone());
        if !allowed.contains(&name) {
            let takers: Vec<&str> = StepKind::ALL
                .iter()
                .filter(|k| allowed_for(**k, name))
                .map(|k| k.as_str())
                .collect();
            let d = Diag::error(
                "mountplan::step::foreign_key",
                format!("`{name}` does not belong to a `{}` step", kind.as_str()),
                Loc::new(cx.src, span),
            )
            .label(format!("not a key of `{}`", kind.as_str()))
            .also(at, "the step's kind")
            .help(format!(
                "`{name}` belongs to {} steps; remove it here",
                takers.join(", ")
            ));
            cx.err(d);
        }
    }
    let a = match kind {
        StepKind::Mount => mount(cx, s, at, &fields),
        StepKind::Remount => {
            let t = req(cx, s, at, kind, &s.target, "target", "\"/\"")?;
            let target = cx.root_path(t);
            let (mut fl, mut rec) = flags(cx, &s.options, true);
            // Only recursive spellings (`rro`, `rnosuid`): one recursive remount, no plain
            // one (which would clear every flag not named).
            let plain = s.options.iter().flatten().any(|o| {
                let w = o.value.as_str();
                crate::model::rec_base(w).is_none()
            });
            if !plain && !rec.is_empty() {
                fl |= MsFlags::MS_REC | rec.set;
                rec.set = MsFlags::empty();
            }
            if s.options.as_ref().is_none_or(|o| o.is_empty()) {
                missing(cx, s, at, kind, "options", "[\"ro\"]");
            }
            Some(Action::Remount(Remount {
                target: target?,
                target_loc: cx.loc(t),
                flags: fl,
                rec,
            }))
        }
        StepKind::Propagation => {
            let t = req(cx, s, at, kind, &s.target, "target", "\"/\"")?;
            let target = cx.root_path(t);
            let p = req(
                cx,
                s,
                at,
                kind,
                &s.propagation,
                "propagation",
                "\"private\"",
            )?;
            let pv = cx.sub_ref(p)?;
            let pk = match pv.as_ref() {
                "private" => Some(PropagationKind::Private),
                "slave" => Some(PropagationKind::Slave),
                "shared" => Some(PropagationKind::Shared),
                "unbindable" => Some(PropagationKind::Unbindable),
                other => {
                    let mut d = Diag::error(
                        "mountplan::propagation",
                        format!("unknown propagation `{}`", other.escape_debug()),
                        cx.loc(p),
                    );
                    let names = crate::raw::words("propagation").unwrap_or_default();
                    d = match crate::parse::did_you_mean(other, names.iter().copied()) {
                        Some(n) => d.help(format!("did you mean `{n}`?")),
                        None => d.help("use `private`, `slave`, `shared` or `unbindable`"),
                    };
                    cx.err(d);
                    None
                }
            };
            Some(Action::Propagation(Propagation {
                target: target?,
                target_loc: cx.loc(t),
                kind: pk?,
                recursive: s.recursive.as_ref().is_some_and(|r| r.value),
            }))
        }
        StepKind::Umount => {
            let t = req(cx, s, at, kind, &s.target, "target", "\"/mnt\"")?;
            let target = cx.root_path(t)?;
            if target.is_root() {
                cx.err(
                    Diag::error(
                        "mountplan::umount::root",
                        "cannot unmount the new root",
                        cx.loc(t),
                    )
                    .help("unmount a mount inside the root"),
                );
                return None;
            }
            Some(Action::Umount(Umount {
                target,
                target_loc: cx.loc(t),
            }))
        }
        StepKind::Mkdir => {
            let p = req(cx, s, at, kind, &s.path, "path", "\"/dir\"")?;
            let path = cx.root_path(p);
            let mode = opt_mode(cx, &s.mode).unwrap_or(Mode::from_bits(0o755));
            Some(Action::Mkdir(Mkdir {
                path: path?,
                path_loc: cx.loc(p),
                mode,
                parents: s.parents.as_ref().is_some_and(|x| x.value),
            }))
        }
        StepKind::Mknod => mknod(cx, s, at),
        StepKind::Symlink => {
            let p = req(cx, s, at, kind, &s.path, "path", "\"/dev/fd\"");
            let t = req(cx, s, at, kind, &s.to, "to", "\"/proc/self/fd\"");
            let (p, t) = (p?, t?);
            let path = cx.root_path(p);
            let to = cx.sub(t)?;
            if to.is_empty() || to.contains('\0') || to.len() > MAX_PATH {
                cx.err(
                    Diag::error("mountplan::symlink::to", "bad symlink target", cx.loc(t))
                        .label("empty, too long, or contains a NUL byte"),
                );
                return None;
            }
            Some(Action::Symlink(Symlink {
                path: path?,
                path_loc: cx.loc(p),
                to,
            }))
        }
        StepKind::Chmod => {
            let p = req(cx, s, at, kind, &s.path, "path", "\"/tmp\"")?;
            let path = cx.root_path(p);
            let m = req(cx, s, at, kind, &s.mode, "mode", "\"0755\"")?;
            let mode = cx.mode(m);
            let uid = opt_id(cx, &s.uid, "uid");
            let gid = opt_id(cx, &s.gid, "gid");
            Some(Action::Chmod(Chmod {
                path: path?,
                path_loc: cx.loc(p),
                mode: mode?,
                uid,
                gid,
            }))
        }
        StepKind::Mask | StepKind::Readonly => {
            let p = req(cx, s, at, kind, &s.path, "path", "\"/proc/kcore\"")?;
            let path = cx.root_path(p)?;
            if path.is_root() {
                cx.err(Diag::error(
                    "mountplan::path::root",
                    format!("a `{}` step cannot work on the root itself", kind.as_str()),
                    cx.loc(p),
                ));
                return None;
            }
            let path_loc = cx.loc(p);
            Some(if kind == StepKind::Mask {
                Action::Mask(Mask { path, path_loc })
            } else {
                Action::Readonly(Readonly { path, path_loc })
            })
        }
        StepKind::Pivot => pivot(cx, s),
    };
    if cx.diags.len() > before { None } else { a }
}

pub(super) fn allowed_for(kind: StepKind, field: &str) -> bool {
    allowed(kind).contains(&field)
}
