//! What rollback does to undo a step: its [`StepCalls`] -> lines of plain words.
//!
//! Takes the calls of one step (as [`crate::calls::expand`] gives them, never re-derived) and
//! returns what a rollback does for them, last call first. Mounts are detached; files made on
//! a persistent filesystem (the calls' `host` place) are removed only when they are still the
//! same inode; modes and owners are put back. Everything else lives only in the new mount
//! namespace and is discarded with it, and the lines say so.

use crate::calls::{Call, HostPlace, StepCalls, Target};
use crate::model::MsFlags;

/// Changes an existing mount instead of making one.
const CHANGES: MsFlags = MsFlags::MS_REMOUNT
    .union(MsFlags::MS_PRIVATE)
    .union(MsFlags::MS_SLAVE)
    .union(MsFlags::MS_SHARED)
    .union(MsFlags::MS_UNBINDABLE)
    .union(MsFlags::MS_MOVE);

fn removal(verb: &str, path: &str, host: &Option<HostPlace>, what: &str) -> Option<String> {
    host.as_ref().map(|h| {
        format!(
            "{verb}(\"<root>{path}\") if this step made it and it is still the same inode \
             (on the host: {}); {what}{}",
            h.on_host(),
            in_layer(h)
        )
    })
}

/// For a change on an overlay: where and when it is undone.
fn in_layer(h: &HostPlace) -> &'static str {
    if h.overlay.is_some() {
        "; on an overlay, this and the directories (or the file) the kernel copied up into the \
         upper layer for it are undone there, after the overlay is unmounted"
    } else {
        ""
    }
}

enum Undo {
    /// Rollback does this.
    Do(String),
    /// Only in the new namespace: discarded with it.
    Discarded,
    /// Nothing to undo (a chdir, an open).
    Nothing,
}

fn one(c: &Call, makes_mount: bool) -> Undo {
    let or_discarded = |l: Option<String>| l.map(Undo::Do).unwrap_or(Undo::Discarded);
    match c {
        Call::Mount {
            target,
            flags,
            fstype,
            data,
            ..
        } if !flags.intersects(CHANGES) => match target {
            Target::InRoot(_) if fstype.as_deref() == Some("overlay") => {
                let work = data
                    .as_deref()
                    .and_then(|d| d.split(',').find_map(|o| o.strip_prefix("workdir=")));
                Undo::Do(match work {
                    Some(w) => format!(
                        "umount2({target}, MNT_DETACH); then rmdir(\"{w}/work\") (and `index`) \
                         if the mount made it and it is still the same inode"
                    ),
                    None => format!("umount2({target}, MNT_DETACH)"),
                })
            }
            Target::InRoot(_) => Undo::Do(format!("umount2({target}, MNT_DETACH)")),
            // The setup's mounts are only in the new namespace.
            _ => Undo::Discarded,
        },
        // A remount right after a bind is undone by detaching the bind.
        Call::Mount { .. } | Call::SetattrRec { .. } if makes_mount => Undo::Nothing,
        Call::Mount { .. } | Call::SetattrRec { .. } | Call::Umount(_) => Undo::Discarded,
        Call::Mask(p) | Call::Readonly(p) => Undo::Do(format!(
            "umount2({}, MNT_DETACH) if it mounted anything",
            Target::InRoot(p.clone())
        )),
        Call::Mkdir { path, host, .. } => or_discarded(removal(
            "rmdir",
            rel(path.as_str()),
            host,
            "a directory that is not empty is left",
        )),
        Call::CreateFile { path, host, .. }
        | Call::Mknod { path, host, .. }
        | Call::Symlink { path, host, .. } => or_discarded(removal(
            "unlink",
            rel(path.as_str()),
            host,
            "an existing one it accepted is left",
        )),
        Call::Chmod { path, host, .. } => or_discarded(host.as_ref().map(|h| {
            format!(
                "chmod(\"<root>{}\") back to the mode it had before (on the host: {}){}",
                rel(path.as_str()),
                h.on_host(),
                in_layer(h)
            )
        })),
        Call::Chown { path, host, .. } => or_discarded(host.as_ref().map(|h| {
            format!(
                "lchown(\"<root>{}\") back to the owner it had before (on the host: {}){}",
                rel(path.as_str()),
                h.on_host(),
                in_layer(h)
            )
        })),
        Call::MaskHostProcSys | Call::PivotRoot { .. } | Call::Chroot | Call::Rmdir(_) => {
            Undo::Discarded
        }
        Call::OpenRoot(_) | Call::Chdir(_) => Undo::Nothing,
    }
}

/// The undo lines of one step (or of the implicit setup), in the order rollback runs them.
pub(crate) fn undo(sc: &StepCalls, is_pivot: bool) -> Vec<String> {
    let makes_mount = sc.calls.iter().any(|c| match c {
        Call::Mount { flags, .. } => !flags.intersects(CHANGES),
        _ => false,
    });
    let mut out = Vec::new();
    let mut discarded = false;
    for c in sc.calls.iter().rev() {
        match one(c, makes_mount) {
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

/// `/` stays `` (so `<root>` + path reads `<root>`), anything else as is.
fn rel(p: &str) -> &str {
    if p == "/" { "" } else { p }
}
