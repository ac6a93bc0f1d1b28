//! The plan's mounts as descriptors, and paths resolved below them.
//!
//! Takes each mount the plan makes (its descriptor, from `fsmount` or `open_tree`, and where
//! it is attached) and paths placed on those mounts ([`At`]); returns descriptors of what the
//! paths name. A path is resolved below the descriptor of the mount the dry run puts it on,
//! never through its mountpoint on disk, and never into another mount: on the root `M0`
//! symlinks are taken inside the root (`RESOLVE_IN_ROOT`), on any other mount they must stay
//! below it (`RESOLVE_BENEATH`); with `RESOLVE_NO_XDEV` on both. So neither a symlink planted
//! in the root nor a rename of a directory by the root's owner can move a change onto a mount
//! the dry run does not name (a bind of a host directory, the disk below a tmpfs): the call
//! fails with EXDEV instead.

use std::borrow::Cow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, fstat};

use super::files::{self, kind};
use super::resolve::{How, resolve};
use crate::lowering::{At, MountId};

/// One of the plan's mounts.
#[derive(Debug, Default)]
struct Slot {
    /// Its root, from the moment it was made until it is unmounted.
    fd: Option<OwnedFd>,
    /// Where it was to be attached (set for a mask or read-only copy even when the path was
    /// missing and nothing was made: paths below it are then resolved where it would be).
    at: Option<At>,
    /// Its mount id.
    mnt: Option<u64>,
}

/// The plan's mounts, by [`MountId`].
#[derive(Debug, Default)]
pub(super) struct Held {
    slots: Vec<Slot>,
}

/// A descriptor to use for one call: one of the held mounts' own, or one resolved for it.
pub(super) enum Fd {
    /// A held mount's root (valid while the mount is held).
    Held(RawFd),
    /// Resolved for the call.
    Own(OwnedFd),
}

impl Fd {
    pub(super) fn raw(&self) -> RawFd {
        match self {
            Fd::Held(fd) => *fd,
            Fd::Own(fd) => fd.as_raw_fd(),
        }
    }
    pub(super) fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            // SAFETY: a held mount's descriptor stays open while this value lives: it is
            // closed only when its mount is unmounted, never during the call it serves.
            Fd::Held(fd) => unsafe { BorrowedFd::borrow_raw(*fd) },
            Fd::Own(fd) => fd.as_fd(),
        }
    }
}

/// Where a path is resolved: the descriptor, the path below it, and whether it is the root.
pub(super) struct Base<'a> {
    pub fd: RawFd,
    /// The mount it is.
    pub on: MountId,
    pub rel: Cow<'a, str>,
    pub root: bool,
}

impl Base<'_> {
    pub(super) fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: as for [`Fd::Held`].
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
    /// How paths below this base are resolved.
    pub(super) fn how(&self, how: How) -> How {
        how.on_mount(!self.root)
    }
}

impl Held {
    pub(super) fn new(n: usize) -> Self {
        let mut slots = Vec::with_capacity(n);
        slots.resize_with(n, Slot::default);
        Held { slots }
    }

    fn slot(&mut self, m: MountId) -> &mut Slot {
        let i = m.index();
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, Slot::default);
        }
        &mut self.slots[i]
    }

    /// Holds the descriptor of mount `m`, just made.
    pub(super) fn put(&mut self, m: MountId, fd: OwnedFd) {
        let mnt = files::statx_id(fd.as_fd()).ok().and_then(|x| x.1);
        let s = self.slot(m);
        s.fd = Some(fd);
        s.mnt = mnt;
    }

    /// Notes where mount `m` is (or was to be) attached.
    pub(super) fn attached(&mut self, m: MountId, at: &At) {
        self.slot(m).at = Some(at.clone());
    }

    /// Holds the descriptor of mount `m`, just made, whose mount id is known already.
    pub(super) fn put_known(&mut self, m: MountId, fd: OwnedFd, mnt: Option<u64>) {
        let s = self.slot(m);
        s.fd = Some(fd);
        s.mnt = mnt;
    }

    /// Where mount `m` is (or was to be) attached.
    pub(super) fn where_attached(&self, m: MountId) -> Option<At> {
        self.slots.get(m.index())?.at.clone()
    }

    /// How many mounts the table has room for.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Forgets mount `m` (unmounted, or its attach failed).
    pub(super) fn forget(&mut self, m: MountId) {
        let s = self.slot(m);
        s.fd = None;
        s.mnt = None;
    }

    /// The descriptor of mount `m`, while held.
    pub(super) fn fd(&self, m: MountId) -> Option<RawFd> {
        self.slots
            .get(m.index())?
            .fd
            .as_ref()
            .map(|f| f.as_raw_fd())
    }

    /// The mount id of each held mount, by number (`None`: not made, or unmounted).
    pub(super) fn ids(&self) -> Vec<Option<u64>> {
        self.slots
            .iter()
            .map(|s| s.fd.as_ref().and(s.mnt))
            .collect()
    }

    /// Whether `mnt` is the mount id of one of the held mounts.
    pub(super) fn holds_mnt(&self, mnt: u64) -> bool {
        self.slots
            .iter()
            .any(|s| s.fd.is_some() && s.mnt == Some(mnt))
    }

    /// The mount `at` is resolved below, and the path below it: the mount's own descriptor,
    /// or, for a mask or read-only copy that was not made (its path was missing), the mount
    /// it would have covered.
    pub(super) fn base<'a>(&self, at: &'a At) -> Result<Base<'a>, Errno> {
        let mut on = at.on;
        let mut rel: Cow<'a, str> = Cow::Borrowed(at.rel.as_str());
        // A chain of conditional mounts not made is at most as long as the table.
        for _ in 0..=self.slots.len() {
            let s = self.slots.get(on.index()).ok_or(Errno::EBADF)?;
            if let Some(fd) = &s.fd {
                return Ok(Base {
                    fd: fd.as_raw_fd(),
                    on,
                    rel,
                    root: on == MountId::ROOT,
                });
            }
            let Some(a) = &s.at else {
                return Err(Errno::EBADF);
            };
            rel = Cow::Owned(match (a.rel.as_str(), rel.as_ref()) {
                (a, "") => a.to_string(),
                ("", r) => r.to_string(),
                (a, r) => format!("{a}/{r}"),
            });
            on = a.on;
        }
        Err(Errno::ELOOP)
    }

    /// What `at` names, on its mount (`follow`: a final symlink followed, inside the root).
    pub(super) fn file(&self, at: &At, how: How) -> Result<Fd, Errno> {
        let b = self.base(at)?;
        if b.rel.is_empty() {
            return Ok(Fd::Held(b.fd));
        }
        resolve(b.as_fd(), &b.rel, b.how(how)).map(Fd::Own)
    }

    /// The directory `at`'s final name is in, on its mount, and that name.
    pub(super) fn parent<'a>(&self, at: &'a At) -> Result<(Fd, &'a str), Errno> {
        let (_, name) = at.split().ok_or(Errno::EEXIST)?;
        files::split_name(name)?;
        let b = self.base(at)?;
        // The directory below the base: `b.rel` without its last component (`b.rel` may be
        // longer than `at.rel` for a conditional mount not made).
        let d = &b.rel[..b.rel.len() - name.len()];
        let d = d.trim_end_matches('/');
        if d.is_empty() {
            return Ok((Fd::Held(b.fd), name));
        }
        Ok((Fd::Own(resolve(b.as_fd(), d, b.how(How::DIR))?), name))
    }

    /// The mount on top at `at`, for a call that works on a mount there (mount on top of it,
    /// unmount it, change its flags or propagation): the path is resolved on its mount, and
    /// its final component may be the root of another mount that is not the plan's (one the
    /// root or a recursive bind brought along). Never one of the plan's own mounts that the
    /// dry run does not put there (EXDEV), and never through a final symlink into another
    /// mount (ELOOP).
    pub(super) fn top(&self, at: &At, how: How) -> Result<Fd, Errno> {
        let b = self.base(at)?;
        if b.rel.is_empty() {
            return Ok(Fd::Held(b.fd));
        }
        match resolve(b.as_fd(), &b.rel, b.how(how)) {
            Err(Errno::EXDEV) => {}
            r => return r.map(Fd::Own),
        }
        // Crossing at the final component only: what is mounted there.
        let (dir, name) = self.parent(at)?;
        let fd = nix::fcntl::openat(
            dir.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let st = fstat(fd.as_fd())?;
        if kind(&st) == SFlag::S_IFLNK {
            return Err(Errno::ELOOP);
        }
        if how.dir && kind(&st) != SFlag::S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        let (_, mnt) = files::statx_id(fd.as_fd())?;
        let (_, under) = files::statx_id(dir.as_fd())?;
        if mnt == under || mnt.is_some_and(|m| self.holds_mnt(m)) {
            return Err(Errno::EXDEV);
        }
        Ok(Fd::Own(fd))
    }
}
