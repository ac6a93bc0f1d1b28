//! What rollback does to undo a step: its calls -> lines of plain words.
//!
//! Takes the calls of one step (as the DAG keeps them, never re-derived) and returns what a
//! rollback does for them, last call first: each line is a call the executor may make. Mounts
//! are detached; files made on a persistent filesystem (the calls' `host` place) are removed
//! only when they are still the same inode in the same directory; modes and owners are put
//! back. Everything else lives only in the new mount namespace and is discarded with it, and
//! the lines say so.

use crate::lowering::{AttrOn, Call, HostPlace, Target};
use crate::model::{FsKind, HostPath};
use crate::quote::{in_root, quote};

/// Where a change is undone, in words: on the host (journaled), or in this namespace only.
fn where_(host: &Option<HostPlace>) -> String {
    match host {
        Some(h) => format!(
            " (on the host: {}){}",
            h.on_host(),
            if h.overlay.is_some() {
                "; on an overlay, this and the directories (or the file) the kernel copied up \
                 into the upper layer for it are undone there, after the overlay is unmounted"
            } else {
                ""
            }
        ),
        None => " (on a filesystem of this mount namespace only)".to_string(),
    }
}

fn removal(verb: &str, at: &crate::lowering::At, host: &Option<HostPlace>, what: &str) -> String {
    format!(
        "{verb}({at}) if this step made it and it is still the same inode in the same \
         directory{}; {what}",
        where_(host)
    )
}

enum Undo {
    /// Rollback does this.
    Do(String),
    /// Only in the new namespace: discarded with it.
    Discarded,
    /// Nothing to undo (a chdir, a detached mount that goes with its descriptor).
    Nothing,
}

/// The work directory of the overlay that `calls` makes as `mount`, if any.
fn overlay_work(calls: &[Call], mount: crate::lowering::MountId) -> Option<Option<&HostPath>> {
    calls.iter().find_map(|c| match c {
        Call::NewFs {
            fs: FsKind::Overlay(o),
            mount: m,
            ..
        } if *m == mount => Some(o.work.as_ref()),
        _ => None,
    })
}

fn one(c: &Call, all: &[Call]) -> Undo {
    match c {
        Call::Attach {
            mount,
            to: to @ Target::InRoot(_),
        } => Undo::Do(match overlay_work(all, *mount) {
            Some(Some(w)) => format!(
                "umount2({mount} {to}, MNT_DETACH); then rmdir({}) (and `index`) if the mount \
                 made it and it is still the same inode",
                quote(&format!("{w}/work"))
            ),
            _ => format!("umount2({mount} {to}, MNT_DETACH)"),
        }),
        Call::MountFs {
            mount,
            to: to @ Target::InRoot(_),
            fs,
            ..
        } => Undo::Do(match fs {
            FsKind::Overlay(o) if o.work.is_some() => format!(
                "umount2({mount} {to}, MNT_DETACH); then rmdir({}) (and `index`) if the mount \
                 made it and it is still the same inode",
                quote(&format!(
                    "{}/work",
                    o.work.as_ref().map(|w| w.as_str()).unwrap_or("")
                ))
            ),
            _ => format!("umount2({mount} {to}, MNT_DETACH)"),
        }),
        Call::BindMount {
            mount,
            to: to @ Target::InRoot(_),
            ..
        } => Undo::Do(format!("umount2({mount} {to}, MNT_DETACH)")),
        // The setup's mounts are only in the new namespace.
        Call::Attach { .. }
        | Call::MountFs { .. }
        | Call::BindMount { .. }
        | Call::Mount { .. }
        | Call::Umount(_) => Undo::Discarded,
        Call::Remount {
            on: AttrOn::Mount(_),
            ..
        } => Undo::Nothing,
        Call::Remount {
            on: AttrOn::Path(t),
            ..
        } => Undo::Do(format!(
            "mount(NULL, {t}, NULL, MS_REMOUNT|MS_BIND|..., NULL) back to the flags it had before"
        )),
        Call::MaskClassic { at, mount } => Undo::Do(format!(
            "umount2({mount} {at}, MNT_DETACH) if it mounted anything"
        )),
        // A detached mount goes with its descriptor.
        Call::NewFs { .. } | Call::CloneTree { .. } | Call::Idmap { .. } => Undo::Nothing,
        Call::SetAttr {
            on: AttrOn::Mount(_),
            ..
        } => Undo::Nothing,
        Call::SetAttr {
            on: AttrOn::Path(t),
            recursive,
            ..
        } => Undo::Do(format!(
            "mount_setattr({t}, {}, ...) back to the flags it had before",
            if *recursive { "AT_RECURSIVE" } else { "0" }
        )),
        Call::Mask { at, mount } | Call::Readonly { at, mount } => Undo::Do(format!(
            "umount2({mount} {at}, MNT_DETACH) if it mounted anything"
        )),
        Call::Mkdir { at, host, .. } => Undo::Do(removal(
            "rmdir",
            at,
            host,
            "a directory that is not empty is left",
        )),
        Call::CreateFile { at, host, .. }
        | Call::Mknod { at, host, .. }
        | Call::Symlink { at, host, .. } => Undo::Do(removal(
            "unlink",
            at,
            host,
            "an existing one it accepted is left",
        )),
        Call::MakePutOld { at, host } => {
            let named = |s: String| format!("{s}XXXXXX");
            let host = host.as_ref().map(|h| h.with_rel(named(h.rel.clone())));
            Undo::Do(format!(
                "rmdir({}) if this step made it and it is still that directory{}",
                quote(&named(in_root(&at.path))),
                where_(&host)
            ))
        }
        Call::Chmod { at, host, .. } => Undo::Do(format!(
            "chmod({at}) back to the mode it had before, if it is still the same inode{}",
            where_(host)
        )),
        Call::Chown { at, host, .. } => Undo::Do(format!(
            "lchown({at}) back to the owner it had before (and the set-id bits the chown \
             cleared), if it is still the same inode{}",
            where_(host)
        )),
        Call::MaskHostProcSys | Call::PivotRoot { .. } | Call::Chroot | Call::RemovePutOld => {
            Undo::Discarded
        }
        Call::Chdir(_) => Undo::Nothing,
    }
}

/// The undo lines of one step (or of the implicit setup), in the order rollback runs them.
pub(crate) fn undo(calls: &[Call], is_pivot: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut discarded = false;
    for c in calls.iter().rev() {
        match one(c, calls) {
            Undo::Do(l) => out.push(l),
            Undo::Discarded => discarded = true,
            Undo::Nothing => {}
        }
    }
    if is_pivot {
        out.push(
            "the rest: once the pivot has started, a failure discards the new mount namespace"
                .to_string(),
        );
    } else if discarded && out.is_empty() {
        out.push(
            "nothing: this only changes the new mount namespace, which is discarded".to_string(),
        );
    } else if discarded {
        out.push("the rest is only in the new mount namespace, which is discarded".to_string());
    } else if out.is_empty() {
        out.push("nothing to undo".to_string());
    }
    out
}
