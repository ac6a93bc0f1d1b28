//! The walk as the one model of the plan's mounts for the lowering: which of the plan's mounts
//! a path is on, where a change there lives on the host, and whether only this namespace can
//! reach it.
//!
//! Takes the walk's mounts, each with its [`Kind`] (set when the step that made it has run);
//! answers [`crate::lowering::Place`]. A path is on the newest alive mount at or above it; a copy
//! that a recursive bind brought along has no number of its own, so a path on it is placed on
//! the mount that brought it (the executor then refuses to cross into the copy). Where a change
//! lives, and whether it is private, is decided past masks and read-only copies: they are made
//! only when their path exists, and when they are, nothing below them can be changed.

use super::Walk;
use super::lookup::{PathId, ROOT};
use crate::lowering::{At, HostPlace, MountId, Place, below};
use crate::model::{Action, FsKind, HostPath, Root, RootPath};

/// How the executor knows a mount of the model.
#[derive(Debug, Clone, Default)]
pub(super) struct Kind {
    /// The plan's number for it (`None` for a copy a recursive bind brought along).
    pub id: Option<MountId>,
    /// Where what is made on it lives on the host (the root directory, a bind's source, an
    /// overlay's upper layer); `None`: on a filesystem that goes with the namespace.
    pub host: Option<HostPath>,
    /// A tmpfs or devpts of the plan's (or the tmpfs root): nothing outside this namespace
    /// reaches it.
    pub private: bool,
    /// An overlay whose `host` is its upper layer.
    pub overlay: bool,
    /// A mask or a read-only copy (or what it brought along).
    pub conditional: bool,
}

impl Kind {
    /// The root, `M0`.
    pub(super) fn root(root: &Root) -> Kind {
        match root {
            Root::Path(p) => Kind {
                id: Some(MountId::ROOT),
                host: Some(p.clone()),
                ..Kind::default()
            },
            Root::Tmpfs(_) => Kind {
                id: Some(MountId::ROOT),
                private: true,
                ..Kind::default()
            },
        }
    }
}

impl Walk<'_, '_> {
    /// Numbers every path step `i` works on (with their ancestors), so that the lowering can
    /// ask about them.
    pub(super) fn intern(&mut self, i: usize) {
        let plan = self.plan;
        match &plan.steps[i].action {
            Action::Mount(m) => {
                self.paths.id(&m.target);
            }
            Action::Remount(r) => {
                self.paths.id(&r.target);
            }
            Action::Propagation(p) => {
                self.paths.id(&p.target);
            }
            Action::Umount(u) => {
                self.paths.id(&u.target);
            }
            Action::Mkdir(m) => {
                self.paths.id(&m.path);
            }
            Action::Mknod(n) => {
                self.paths.id(&n.path);
            }
            Action::Symlink(s) => {
                self.paths.id(&s.path);
            }
            Action::Chmod(c) => {
                self.paths.id(&c.path);
            }
            Action::Mask(m) => {
                self.paths.id(&m.path);
            }
            Action::Readonly(r) => {
                self.paths.id(&r.path);
            }
            Action::Pivot(p) => {
                self.paths.id(&p.put_old);
            }
        }
    }

    /// After step `i` ran: the mounts it added (from entry `from` on) get their kind, the
    /// first the number `id` its calls gave it.
    pub(super) fn placed(&mut self, i: usize, from: usize, id: Option<MountId>) {
        let kind = match &self.plan.steps[i].action {
            Action::Mount(m) => match &m.fs {
                FsKind::Bind { source, .. } => Kind {
                    host: Some(source.clone()),
                    ..Kind::default()
                },
                FsKind::Overlay(o) => Kind {
                    host: o.upper.clone(),
                    overlay: o.upper.is_some(),
                    ..Kind::default()
                },
                FsKind::Tmpfs(_) | FsKind::Devpts(_) => Kind {
                    private: true,
                    ..Kind::default()
                },
                _ => Kind::default(),
            },
            Action::Mask(_) | Action::Readonly(_) => Kind {
                conditional: true,
                ..Kind::default()
            },
            _ => Kind::default(),
        };
        for (k, e) in self.entries.iter_mut().enumerate().skip(from) {
            e.place = Kind {
                id: if k == from { id } else { None },
                ..kind.clone()
            };
        }
    }

    /// The number of `p`, or of its nearest ancestor the walk met.
    fn known(&self, p: &RootPath) -> PathId {
        let mut s = p.as_str();
        loop {
            if let Some(id) = self.paths.get(s) {
                return id;
            }
            s = match s.rfind('/') {
                Some(0) | None => return ROOT,
                Some(k) => &s[..k],
            };
        }
    }

    /// The newest alive mount at or above `p` that `keep` accepts.
    fn cover_where(&self, p: &RootPath, keep: impl Fn(&Kind) -> bool) -> usize {
        let mut best = 0;
        for a in self.paths.up(self.known(p)) {
            if let Some(e) = self.at.latest(a).find(|&e| keep(&self.entries[e].place)) {
                best = best.max(e);
            }
        }
        best
    }
}

impl Place for Walk<'_, '_> {
    fn at(&self, p: &RootPath) -> At {
        let mut e = self.cover_where(p, |_| true);
        // A copy a recursive bind brought along: the mount that brought it.
        while self.entries[e].place.id.is_none() {
            match self.entries[e].parent {
                Some(up) => e = up,
                None => break,
            }
        }
        let en = &self.entries[e];
        At {
            path: p.clone(),
            on: en.place.id.unwrap_or(MountId::ROOT),
            rel: below(en.mount.mountpoint.as_str(), p),
        }
    }

    fn host_place(&self, p: &RootPath) -> Option<HostPlace> {
        let e = &self.entries[self.cover_where(p, |k| !k.conditional)];
        let base = e.place.host.clone()?;
        Some(HostPlace {
            base,
            rel: below(e.mount.mountpoint.as_str(), p),
            overlay: e.place.overlay.then(|| e.mount.mountpoint.clone()),
        })
    }

    fn private(&self, p: &RootPath) -> bool {
        self.entries[self.cover_where(p, |k| !k.conditional)]
            .place
            .private
    }
}
