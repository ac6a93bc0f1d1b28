//! What the steps that change existing mounts and files do to the model: a remount's flags, a
//! pivot into the top mount, an umount, a mask and a readonly path.

use std::collections::BTreeMap;

use super::lookup::PathId;
use super::{Walk, WalkMount, atime};
use crate::graph::{Mounted, NodeKind, PropSet, TreeMount};
use crate::lowering::{ATIME, PERM};
use crate::model::{FsKind, MsFlags, RecAttrs};

/// What a mask will mount, as far as the plan tells.
enum MaskAs {
    /// A directory: an empty read-only tmpfs.
    Tmpfs,
    /// Anything else: a bind of `/dev/null`.
    DevNull,
    /// Decided by what is on disk at apply time.
    Unknown,
    /// The path cannot exist (an empty filesystem the plan mounted): nothing is mounted.
    Missing,
}

impl Walk<'_, '_> {
    pub(super) fn remount(&mut self, i: usize, e: usize, given: MsFlags, rec: RecAttrs) {
        let by = |x: &mut WalkMount| {
            if given.contains(MsFlags::MS_RDONLY) {
                x.ro_by = Some(i);
            }
            if given.contains(MsFlags::MS_NODEV) {
                x.nodev_by = Some(i);
            }
        };
        if given.contains(MsFlags::MS_REC) {
            // mount_setattr(AT_RECURSIVE): adds the flags to the mount and every mount on it.
            self.remount_rec(i, e, (given - MsFlags::MS_REC) | rec.set, rec.clear);
        } else {
            // MS_REMOUNT|MS_BIND: exactly these flags; atime kept when none is given.
            by(&mut self.entries[e]);
            let f = &mut self.entries[e].mount.flags;
            let keep = if given.intersects(ATIME) {
                atime(given)
            } else {
                *f & ATIME
            };
            *f = (given & PERM) | keep;
            if !rec.is_empty() {
                self.remount_rec(i, e, rec.set, rec.clear);
            }
        }
    }

    /// mount_setattr(AT_RECURSIVE): adds `set` to the mount `e` and every mount on it, and
    /// takes `clear` away.
    fn remount_rec(&mut self, i: usize, e: usize, set: MsFlags, clear: MsFlags) {
        for x in self.subtree(e) {
            if set.contains(MsFlags::MS_RDONLY) {
                self.entries[x].ro_by = Some(i);
            }
            if set.contains(MsFlags::MS_NODEV) {
                self.entries[x].nodev_by = Some(i);
            }
            let m = &mut self.entries[x].mount;
            if m.recursive {
                m.below = (m.below | (set & PERM)) - clear;
            }
            let f = &mut m.flags;
            *f |= set & PERM;
            *f -= clear & PERM;
            if set.intersects(MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME) {
                *f = (*f - (MsFlags::MS_NOATIME | MsFlags::MS_RELATIME | MsFlags::MS_STRICTATIME))
                    | (set & (MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME));
            }
            *f |= set & MsFlags::MS_NODIRATIME;
        }
    }

    /// Every strategy switches into the top mount on `/` (the executor's pivot goes there):
    /// when the plan stacked one there (an overlay on `/`), it becomes the root, and the mounts
    /// it covers, with what is mounted on them, are left behind in the old root.
    pub(super) fn pivot_into_top(&mut self) {
        let Some(top) = self
            .paths
            .get("/")
            .and_then(|root| self.at.top(root))
            .filter(|&t| t != 0)
        else {
            return;
        };
        let keep = self.subtree(top);
        for x in 0..self.entries.len() {
            if self.entries[x].alive && keep.binary_search(&x).is_err() {
                self.entries[x].alive = false;
                let mp = self.entries[x].at;
                self.at.unlink(&self.paths, mp, x);
                self.entries[x].children.clear();
            }
        }
        self.entries[top].parent = None;
    }

    pub(super) fn umount(&mut self, e: usize) {
        if e == 0 {
            // Detaching the new root itself leaves nothing to predict; the tree stays.
            return;
        }
        let gone = self.subtree(e);
        for &x in &gone {
            self.entries[x].alive = false;
            let mp = self.entries[x].at;
            self.at.unlink(&self.paths, mp, x);
        }
        if let Some(p) = self.entries[e].parent {
            self.entries[p].children.retain(|&c| c != e);
        }
        // What was made on a detached filesystem is no longer in the root.
        let dead: Vec<usize> = gone
            .iter()
            .flat_map(|&x| self.entries[x].nodes.iter().copied())
            .filter(|&n| self.nodes[n].alive)
            .collect();
        for n in dead {
            self.kill_node(n);
        }
    }

    pub(super) fn mask(&mut self, i: usize, p: PathId) {
        let v = self.cover(p, false);
        let as_ = match self.visible_node(p).map(|n| &self.nodes[n].node.kind) {
            Some(NodeKind::Dir) => MaskAs::Tmpfs,
            Some(NodeKind::File | NodeKind::Char(_) | NodeKind::Block(_) | NodeKind::Fifo) => {
                MaskAs::DevNull
            }
            Some(NodeKind::Symlink(_) | NodeKind::Changed) => MaskAs::Unknown,
            None => {
                let en = &self.entries[v];
                if en.at == p {
                    if en.file_root {
                        MaskAs::DevNull
                    } else if matches!(en.mount.kind, Mounted::Bind | Mounted::Mask) {
                        MaskAs::Unknown
                    } else {
                        MaskAs::Tmpfs
                    }
                } else if self.empty_fs_without(p).is_some() {
                    MaskAs::Missing
                } else {
                    MaskAs::Unknown
                }
            }
        };
        let conditional = self.conditional(p);
        // A new tmpfs is private; a copy of the host's /dev/null as the host's mount of it.
        let (kind, source, flags, file_root, prop) = match as_ {
            MaskAs::Missing => return,
            MaskAs::Tmpfs => (
                Mounted::Fs(FsKind::Tmpfs(Default::default())),
                "tmpfs",
                MsFlags::MS_RDONLY | MsFlags::MS_RELATIME,
                false,
                PropSet::PRIVATE,
            ),
            MaskAs::DevNull => (
                Mounted::Bind,
                "/dev/null",
                MsFlags::empty(),
                true,
                PropSet::HOST,
            ),
            MaskAs::Unknown => (
                Mounted::Mask,
                "tmpfs or /dev/null",
                MsFlags::empty(),
                false,
                PropSet::HOST,
            ),
        };
        self.hide(i, p);
        let on = self.entries[v].mount.propagation;
        let mount = TreeMount {
            conditional,
            propagation: prop.attached_on(on),
            ..TreeMount::new(
                self.paths.path(p),
                kind,
                source.into(),
                flags,
                Some(i),
                false,
            )
        };
        self.push_entry(p, mount, Some(v), Some(i), false, file_root);
    }

    /// Whether a mask or readonly step on `p` mounts only when `p` turns out to exist: the
    /// plan does not know it exists, or knows only a symlink there (followed; a dangling one
    /// is missing).
    fn conditional(&self, p: PathId) -> bool {
        !self.exists(p)
            || self
                .visible_node(p)
                .is_some_and(|n| matches!(self.nodes[n].node.kind, NodeKind::Symlink(_)))
    }

    /// A recursive bind of `p` onto itself, then everything in it made read-only.
    pub(super) fn readonly(&mut self, i: usize, pid: PathId) {
        if self.empty_fs_without(pid).is_some() {
            // A missing path is left alone.
            return;
        }
        let conditional = self.conditional(pid);
        let v = self.cover(pid, false);
        let p = self.paths.path(pid);
        // A copy of the mount at the path (the same propagation), attached on it.
        let on = self.entries[v].mount.propagation;
        let bind = TreeMount {
            conditional,
            propagation: on.attached_on(on),
            below: MsFlags::MS_RDONLY,
            ..TreeMount::new(
                p.clone(),
                Mounted::Bind,
                crate::quote::in_root(&p),
                self.entries[v].mount.flags | MsFlags::MS_RDONLY,
                Some(i),
                true,
            )
        };
        let file_root = self.entries[v].file_root && self.entries[v].at == pid;
        let b = self.push_entry(pid, bind, Some(v), Some(i), true, file_root);
        // The recursive bind brings along the mounts below `p` on `v`: copies, made now.
        let mut copy: Vec<usize> = Vec::new();
        for &c in &self.entries[v].children {
            let cm = &self.entries[c].mount.mountpoint;
            if c != b && *cm != p && cm.starts_with(&p) {
                copy.extend(self.subtree(c));
            }
        }
        copy.sort_unstable();
        copy.dedup();
        let mut map: BTreeMap<usize, usize> = BTreeMap::new();
        for c in copy {
            let parent = match self.entries[c].parent {
                Some(pp) if pp == v => b,
                Some(pp) => map.get(&pp).copied().unwrap_or(b),
                None => b,
            };
            let mut m = self.entries[c].mount.clone();
            m.flags |= MsFlags::MS_RDONLY;
            if m.recursive {
                m.below |= MsFlags::MS_RDONLY;
            }
            m.conditional |= conditional;
            m.propagation = m.propagation.attached_on(on);
            let (fr, at) = (self.entries[c].file_root, self.entries[c].at);
            let n = self.push_entry(at, m, Some(parent), Some(i), true, fr);
            map.insert(c, n);
        }
    }
}
