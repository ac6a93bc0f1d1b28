//! The mount calls of [`Linux`]: new filesystems and copies of trees made detached and held by
//! their descriptors, their flags, attaching them, unmounting, masks and read-only paths (the
//! pivot's own calls are in `pivot`).
//!
//! Takes mount calls whose targets are paths placed on the plan's mounts; returns what
//! changed. A target is a descriptor resolved below the mount it is on (see [`super::below`]);
//! `mount(2)` and `umount2(2)`, which take no descriptor, get it as `self/fd/N` relative to the
//! host `/proc` (the working directory is set there first, see [`Linux::at_proc`]).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::{SFlag, fstat};

use super::below::Fd;
use super::files::{self, kind};
use super::resolve::How;
use super::{Linux, host, in_root, layers, mount_facts, newmount};
use crate::lowering::{At, AttrOn, Call, MountId, PERM, Source, Target};
use crate::model::{FsKind, HostPath, MsFlags};
use crate::sys::{Before, Effect, SysError, Undo};

impl Linux {
    /// Sets the working directory to the host `/proc`, for `self/fd/N` names.
    pub(super) fn at_proc(&mut self) -> Result<(), Errno> {
        if !self.cwd_at_proc {
            nix::unistd::fchdir(self.proc.as_fd())?;
            self.cwd_at_proc = true;
        }
        Ok(())
    }

    /// `self/fd/N` of a descriptor, with the working directory at the host `/proc`.
    pub(super) fn name_of(&mut self, fd: i32) -> Result<String, Errno> {
        self.at_proc()?;
        Ok(format!("self/fd/{fd}"))
    }

    /// `mount(2)` of what only changes an existing mount: propagation, the setup's slave,
    /// the root's `MS_MOVE`, the old root made private after a pivot.
    pub(super) fn mount_call(&mut self, c: &Call) -> Result<Effect, SysError> {
        let Call::Mount {
            source,
            target,
            flags,
        } = c
        else {
            return Err(SysError::new(c, Errno::EINVAL));
        };
        let err = |e: Errno| SysError::new(c, e);
        let src = match source {
            Source::None => None,
            Source::Cwd => Some(".".to_string()),
            Source::Host(h) => Some(h.as_str().to_string()),
        };
        let t = match target {
            Target::InRoot(at) => {
                let how = How::FOLLOW;
                let fd = self
                    .held
                    .top(at, how)
                    .map_err(|e| self.refuse(c, at, e, how))?;
                let r = fd.raw();
                let name = self.name_of(r).map_err(err)?;
                (name, Some(fd))
            }
            Target::Host(h) => (h.as_str().to_string(), None),
            Target::TmpRoot => {
                let fd = self.tmproot_mountpoint().map_err(err)?.as_raw_fd();
                (self.name_of(fd).map_err(err)?, None)
            }
            Target::Cwd => (".".to_string(), None),
            Target::AfterPivot(p) => (p.as_str().to_string(), None),
            Target::OldRoot => {
                let fd = self
                    .old_root
                    .as_ref()
                    .map(|f| f.as_raw_fd())
                    .ok_or_else(|| err(Errno::EBADF))?;
                (self.name_of(fd).map_err(err)?, None)
            }
        };
        // `t.1` keeps a resolved descriptor open until mount(2) has used its name.
        nix::mount::mount(
            src.as_deref(),
            t.0.as_str(),
            None::<&str>,
            *flags,
            None::<&str>,
        )
        .map_err(err)?;
        drop(t.1);
        Ok(Effect::Local)
    }

    /// A new filesystem, made detached and held as its mount number.
    pub(super) fn new_fs(&mut self, c: &Call) -> Result<Effect, SysError> {
        let Call::NewFs {
            fs: kind,
            source,
            sb,
            attr,
            mount,
        } = c
        else {
            return Err(SysError::new(c, Errno::EINVAL));
        };
        let err = |e: Errno| SysError::new(c, e);
        let fstype = kind.fstype();
        let fs = newmount::fsopen(fstype).map_err(|e| match e {
            Errno::ENODEV => SysError::refused(
                c,
                e,
                format!(
                    "this kernel does not know the filesystem type `{fstype}` (see \
                     /proc/filesystems): load its module, or fix `type`"
                ),
            ),
            Errno::ENOSYS => SysError::refused(
                c,
                e,
                "this kernel (or a seccomp filter) lacks the new mount API (fsopen, Linux 5.2), \
                 which mountplan uses to hold every mount it makes by its descriptor",
            ),
            e => err(e),
        })?;
        let refused = |e: Errno, fs: &OwnedFd| {
            let log = newmount::fs_log(fs.as_fd());
            match (e, kind) {
                (Errno::EINVAL, FsKind::Overlay(o)) => {
                    SysError::refused(c, e, self.layers.why_refused(o, log.as_deref()))
                }
                (Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES, FsKind::Overlay(o)) => {
                    match layers::missing_lower(o) {
                        Some(l) => {
                            SysError::host_path(c, e, "the overlay's lower layer", l.as_str())
                        }
                        None => err(e),
                    }
                }
                _ => match log {
                    Some(l) => SysError::refused(c, e, format!("{fstype} says: {l}")),
                    None => err(e),
                },
            }
        };
        // Exactly the parameters the dry run prints, from the one encoding of them.
        for p in crate::lowering::fsconfig::params(kind, source, *sb) {
            newmount::fsconfig(fs.as_fd(), &p.key, p.value.as_deref())
                .map_err(|e| refused(e, &fs))?;
        }
        newmount::fsconfig_create(fs.as_fd()).map_err(|e| refused(e, &fs))?;
        let (bits, _) = crate::lowering::mount_attr(*attr, MsFlags::empty());
        let m = newmount::fsmount(fs.as_fd(), bits).map_err(|e| refused(e, &fs))?;
        self.held.put(*mount, m);
        let i = mount.index();
        if self.real_dir_only.len() <= i {
            self.real_dir_only.resize(i + 1, false);
        }
        self.real_dir_only[i] = matches!(kind, FsKind::Proc | FsKind::Sysfs);
        Ok(Effect::Local)
    }

    /// A detached copy of a host directory's mount, held as its mount number.
    pub(super) fn clone_tree(
        &mut self,
        c: &Call,
        source: &HostPath,
        recursive: bool,
        mount: MountId,
    ) -> Result<Effect, SysError> {
        let what = if mount == MountId::ROOT {
            "the root directory"
        } else {
            "the bind's source"
        };
        let dir = host::open_path(Path::new(source.as_str()), mount == MountId::ROOT)
            .map_err(|e| SysError::host_path(c, e.errno, what, source.as_str()))?;
        let m = newmount::clone_tree(dir.as_fd(), recursive).map_err(|e| match e {
            Errno::ENOSYS => SysError::refused(
                c,
                e,
                "this kernel (or a seccomp filter) lacks the new mount API (open_tree, Linux \
                 5.2), which mountplan uses to hold every mount it makes by its descriptor",
            ),
            e => SysError::new(c, e),
        })?;
        if mount == MountId::ROOT {
            self.root_dir = Some(dir);
        }
        self.held.put(mount, m);
        Ok(Effect::Local)
    }

    /// `mount_setattr` on a held mount or on the mount at a path.
    pub(super) fn set_attr(
        &mut self,
        c: &Call,
        on: &AttrOn,
        recursive: bool,
        set: MsFlags,
        clear: MsFlags,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let (fd, had) = self.attr_on(c, on)?;
        let undo = had.map(|(at, old)| {
            if recursive {
                // Take back what was not there before.
                Undo::Setattr {
                    at,
                    recursive,
                    set: MsFlags::empty(),
                    clear: (set - old) & PERM,
                }
            } else {
                Undo::restore_flags(at, old)
            }
        });
        if let Some(u) = &undo {
            before(u)?;
        }
        let (s, cl) = crate::lowering::mount_attr(set, clear);
        match newmount::mount_setattr(fd.as_fd(), recursive, s, cl) {
            Ok(()) => {}
            Err(Errno::EPERM) if self.userns => {
                // The kernel refuses to clear flags it locked on mounts copied from the host:
                // keep them and try again.
                let old = mount_facts::flags_of_fd(fd.as_fd()).map_err(err)?;
                let keep = mount_facts::locked_to_keep(old, set);
                let (s, cl) = crate::lowering::mount_attr(set | (keep & PERM), clear - keep);
                newmount::mount_setattr(fd.as_fd(), recursive, s, cl).map_err(err)?;
            }
            Err(Errno::EINVAL) => return Err(not_a_mountpoint(c, on, &fd)),
            Err(e) => return Err(err(e)),
        }
        Ok(match undo {
            Some(u) => Effect::Changed(u),
            None => Effect::Local,
        })
    }

    /// The mount a remount or a `mount_setattr` acts on: a held mount, or the mount on top at
    /// a path with its place and the flags it has now (what an undo puts back).
    pub(super) fn attr_on(
        &mut self,
        c: &Call,
        on: &AttrOn,
    ) -> Result<(Fd, Option<(At, MsFlags)>), SysError> {
        let err = |e: Errno| SysError::new(c, e);
        match on {
            AttrOn::Mount(m) => Ok((
                Fd::Held(self.held.fd(*m).ok_or_else(|| err(Errno::EBADF))?),
                None,
            )),
            AttrOn::Path(Target::InRoot(at)) => {
                let fd = self
                    .held
                    .top(at, How::FOLLOW)
                    .map_err(|e| self.refuse(c, at, e, How::FOLLOW))?;
                let old = mount_facts::flags_of_fd(fd.as_fd()).map_err(err)?;
                Ok((fd, Some((at.clone(), old))))
            }
            AttrOn::Path(_) => Err(err(Errno::EINVAL)),
        }
    }

    /// An idmapped bind: the held copy `mount` gets the mapping of a user namespace made
    /// with the plan's maps, or of the one it borrows (see [`super::idmap`]).
    pub(super) fn idmap(
        &mut self,
        c: &Call,
        mount: MountId,
        recursive: bool,
        from: &crate::model::IdmapFrom,
        source: &HostPath,
    ) -> Result<Effect, SysError> {
        let ns = match from {
            crate::model::IdmapFrom::Maps(map) => super::idmap::userns(self.proc.as_fd(), map)
                .map_err(|e| {
                    SysError::refused(
                        c,
                        e,
                        format!(
                            "a user namespace with this mapping could not be made ({}): the \
                             ids outside must be ids this apply has (a rootless apply has \
                             only its own)",
                            e.desc()
                        ),
                    )
                })?,
            crate::model::IdmapFrom::Userns(p) => {
                super::idmap::borrow(std::path::Path::new(p.as_str()))
                    .map_err(|(e, why)| SysError::refused(c, e, why))?
            }
        };
        let fd = Fd::Held(
            self.held
                .fd(mount)
                .ok_or_else(|| SysError::new(c, Errno::EBADF))?,
        );
        super::idmap::set_idmap(fd.as_fd(), recursive, ns.as_fd())
            .map_err(|e| SysError::refused(c, e, super::idmap::why(e, source.as_str())))?;
        Ok(Effect::Local)
    }

    /// Attaches a held mount: the root on its directory (the setup), or a mount of a step on
    /// top of what is at its target. `fresh` is the directory the call before made right below
    /// a mount's root on the plan's own tmpfs or devpts, if it did: when that is the target,
    /// the mount goes on it by that root's descriptor and the name, without resolving the
    /// target again (nothing else can mount on, rename or replace the directory there
    /// meanwhile: see docs/RELIABILITY.md, *Shortcuts on the plan's own filesystems*; the
    /// verification still finds the mount by its id, on the mount it was to be on).
    pub(super) fn attach(
        &mut self,
        c: &Call,
        mount: MountId,
        to: &Target,
        fresh: Option<At>,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let from = self.held.fd(mount).ok_or_else(|| err(Errno::EBADF))?;
        // SAFETY: held until forgotten, which happens only below.
        let from_fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(from) };
        match to {
            Target::Host(_) => {
                // The root: onto the very directory it was copied from.
                let dir = self.root_dir.take().ok_or_else(|| err(Errno::EBADF))?;
                newmount::move_mount(from_fd, dir.as_fd()).map_err(err)?;
                let st =
                    files::statx(dir.as_fd(), libc::STATX_INO | libc::STATX_MNT_ID).map_err(err)?;
                self.root_alone = mount_facts::bind_is_alone(&st, from_fd);
                Ok(Effect::Local)
            }
            Target::TmpRoot => {
                let dir = self.tmproot_mountpoint().map_err(err)?;
                newmount::move_mount(from_fd, dir).map_err(err)?;
                Ok(Effect::Local)
            }
            Target::InRoot(at)
                if fresh.as_ref() == Some(at)
                    && !at.rel.contains('/')
                    && self.held.fd(at.on).is_some() =>
            {
                let dir = self.held.fd(at.on).ok_or_else(|| err(Errno::EBADF))?;
                // SAFETY: a held mount's descriptor, open while the mount is held: through
                // this call.
                let dir = unsafe { std::os::fd::BorrowedFd::borrow_raw(dir) };
                let u = Undo::Umount {
                    path: at.path.clone(),
                    mount,
                };
                before(&u)?;
                if let Err(e) = newmount::move_mount_at(from_fd, dir, &at.rel) {
                    self.held.forget(mount);
                    return Err(err(e));
                }
                self.held.attached(mount, at);
                Ok(Effect::Changed(u))
            }
            Target::InRoot(at) => {
                let how = if self.real_dir_only(mount) {
                    How::REAL_DIR
                } else {
                    How::FOLLOW
                };
                let t = self
                    .held
                    .top(at, how)
                    .map_err(|e| self.refuse(c, at, e, how))?;
                let u = Undo::Umount {
                    path: at.path.clone(),
                    mount,
                };
                before(&u)?;
                if let Err(e) = newmount::move_mount(from_fd, t.as_fd()) {
                    self.held.forget(mount);
                    return Err(err(e));
                }
                self.held.attached(mount, at);
                Ok(Effect::Changed(u))
            }
            _ => Err(err(Errno::EINVAL)),
        }
    }

    /// `umount2(MNT_DETACH)` of the mount at a path (a held one through its descriptor), or of
    /// the pivot's old root.
    pub(super) fn umount(&mut self, c: &Call, t: &Target) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let (name, keep, forget) = match t {
            Target::InRoot(at) => {
                let fd = self
                    .held
                    .top(at, How::FOLLOW)
                    .map_err(|e| self.refuse(c, at, e, How::FOLLOW))?;
                let name = self.name_of(fd.raw()).map_err(err)?;
                let forget = at.rel.is_empty().then_some(at.on);
                (name, Some((fd, at)), forget)
            }
            Target::Cwd => (".".to_string(), None, None),
            Target::OldRoot => {
                let fd = self
                    .old_root
                    .as_ref()
                    .map(|f| f.as_raw_fd())
                    .ok_or_else(|| err(Errno::EBADF))?;
                (self.name_of(fd).map_err(err)?, None, None)
            }
            Target::Host(h) => (h.as_str().to_string(), None, None),
            Target::AfterPivot(p) => (p.as_str().to_string(), None, None),
            Target::TmpRoot => {
                let fd = self.tmproot_mountpoint().map_err(err)?.as_raw_fd();
                (self.name_of(fd).map_err(err)?, None, None)
            }
        };
        let r = nix::mount::umount2(name.as_str(), nix::mount::MntFlags::MNT_DETACH);
        if let Err(e) = r {
            return Err(match (e, &keep) {
                (Errno::EINVAL, Some((fd, at))) => {
                    match mount_facts::not_a_mountpoint_why(fd.as_fd(), &in_root(&at.path)) {
                        Some(w) => SysError::refused(c, e, w),
                        None => err(e),
                    }
                }
                _ => err(e),
            });
        }
        drop(keep);
        if let Some(m) = forget {
            self.held.forget(m);
        }
        if matches!(t, Target::OldRoot) {
            self.old_root = None;
        }
        Ok(Effect::Local)
    }

    /// The mount on top at `at`, for a mask or a read-only path that `mount` will be (noted as
    /// its place), or `None` where nothing is there: such a path is left alone.
    pub(super) fn top_if_there(
        &mut self,
        c: &Call,
        at: &At,
        mount: MountId,
    ) -> Result<Option<Fd>, SysError> {
        self.held.attached(mount, at);
        match self.held.top(at, How::FOLLOW) {
            Ok(t) => Ok(Some(t)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(self.refuse(c, at, e, How::FOLLOW)),
        }
    }

    /// runc's maskedPaths: an empty read-only tmpfs over a directory, a copy of the host's
    /// `/dev/null` mount over anything else; a missing path is left alone.
    pub(super) fn mask(
        &mut self,
        c: &Call,
        at: &At,
        mount: MountId,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let Some(t) = self.top_if_there(c, at, mount)? else {
            return Ok(Effect::Unchanged);
        };
        let is_dir = kind(&fstat(t.as_fd()).map_err(err)?) == SFlag::S_IFDIR;
        let m = if is_dir {
            let (tmpfs, source, flags) = crate::lowering::fsconfig::mask_tmpfs();
            let fs = newmount::fsopen(tmpfs.fstype()).map_err(err)?;
            for p in crate::lowering::fsconfig::params(&tmpfs, source, flags) {
                newmount::fsconfig(fs.as_fd(), &p.key, p.value.as_deref()).map_err(err)?;
            }
            newmount::fsconfig_create(fs.as_fd()).map_err(err)?;
            let (bits, _) = crate::lowering::mount_attr(flags, MsFlags::empty());
            newmount::fsmount(fs.as_fd(), bits).map_err(err)?
        } else {
            newmount::clone_tree(self.null.as_fd(), false).map_err(err)?
        };
        let u = Undo::Umount {
            path: at.path.clone(),
            mount,
        };
        before(&u)?;
        newmount::move_mount(m.as_fd(), t.as_fd()).map_err(err)?;
        self.held.put(mount, m);
        Ok(Effect::Changed(u))
    }

    /// runc's readonlyPaths: a recursive copy of the mount at the path, made read-only with
    /// every mount below it while detached, then attached on the path; a missing path is left
    /// alone. Nothing is resolved again after the copy: no rename in the root can make it
    /// land elsewhere or another mount read-only, and no mount table is read.
    pub(super) fn readonly(
        &mut self,
        c: &Call,
        at: &At,
        mount: MountId,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let Some(t) = self.top_if_there(c, at, mount)? else {
            return Ok(Effect::Unchanged);
        };
        let m = newmount::clone_tree(t.as_fd(), true).map_err(err)?;
        let (bits, _) = crate::lowering::mount_attr(MsFlags::MS_RDONLY, MsFlags::empty());
        newmount::mount_setattr(m.as_fd(), true, bits, 0).map_err(err)?;
        let u = Undo::Umount {
            path: at.path.clone(),
            mount,
        };
        before(&u)?;
        newmount::move_mount(m.as_fd(), t.as_fd()).map_err(err)?;
        self.held.put(mount, m);
        Ok(Effect::Changed(u))
    }
}

/// EINVAL from a remount or a `mount_setattr` of `on` (whose mount is `fd`): where what is
/// there is no mountpoint, that, in words.
pub(super) fn not_a_mountpoint(c: &Call, on: &AttrOn, fd: &Fd) -> SysError {
    let shown = match on {
        AttrOn::Path(Target::InRoot(at)) => in_root(&at.path),
        _ => c.to_string(),
    };
    match mount_facts::not_a_mountpoint_why(fd.as_fd(), &shown) {
        Some(w) => SysError::refused(c, Errno::EINVAL, w),
        None => SysError::new(c, Errno::EINVAL),
    }
}
