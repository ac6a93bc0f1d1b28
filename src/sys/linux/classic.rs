//! The mount calls of `api = "classic"`: mount(2) on descriptors, and the new mount held.
//!
//! Takes [`Call::MountFs`], [`Call::BindMount`], [`Call::Remount`] and [`Call::MaskClassic`];
//! returns what changed. The target is never a path that can be raced: it is the descriptor
//! the new API's `move_mount` would get (resolved below the mount the dry run puts it on,
//! see [`super::below`]), passed to mount(2) as `self/fd/N` of the host `/proc` opened before
//! the namespace was made (the working directory is set there, as for every mount(2) of the
//! plan); a bind's host source is opened `O_PATH` first and passed the same way. mount(2)
//! hands back no descriptor: the new mount's root is looked up again by its final name from
//! the directory already resolved (a lookup crosses onto the mount on top there), and is
//! held only if it is the mount just made: a mount root with a mount id neither the
//! target's nor one of the plan's, and for a bind the very inode of its source. The
//! verification then finds it by that id where the dry run puts it.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag, fstat};

use super::below::Fd;
use super::files::{self, kind};
use super::resolve::How;
use super::{Linux, host, mount_facts};
use crate::lowering::{ATIME, At, AttrOn, Call, MountId, PERM, Target};
use crate::model::FsKind;
use crate::sys::{Before, Effect, SysError, Undo};

impl Linux {
    /// The descriptor mount(2) of a classic mount goes on, and its `self/fd/N` name (`None`
    /// for the descriptor: one this layer keeps, the tmpfs root's mountpoint).
    fn classic_target(
        &mut self,
        c: &Call,
        to: &Target,
        how: How,
        fresh: Option<At>,
    ) -> Result<(Option<Fd>, String), SysError> {
        let err = |e: Errno| SysError::new(c, e);
        // The directory the call before made right below the root of a mount of the plan's
        // own tmpfs or devpts: by that root's descriptor and the name, as `attach` does (see
        // docs/RELIABILITY.md, *Shortcuts on the plan's own filesystems*).
        if let Target::InRoot(at) = to {
            if fresh.as_ref() == Some(at) && !at.rel.contains('/') {
                if let Some(dir) = self.held.fd(at.on) {
                    let name = format!("{}/{}", self.name_of(dir).map_err(err)?, at.rel);
                    return Ok((Some(Fd::Held(dir)), name));
                }
            }
        }
        let fd = match to {
            Target::InRoot(at) => self
                .held
                .top(at, how)
                .map_err(|e| self.refuse(c, at, e, how))?,
            Target::Host(h) => {
                Fd::Own(host::open_path(Path::new(h.as_str()), true).map_err(|e| {
                    SysError::host_path(c, e.errno, "the root directory", h.as_str())
                })?)
            }
            Target::TmpRoot => {
                let r = self.tmproot_mountpoint().map_err(err)?.as_raw_fd();
                return Ok((None, self.name_of(r).map_err(err)?));
            }
            _ => return Err(err(Errno::EINVAL)),
        };
        let name = self.name_of(fd.raw()).map_err(err)?;
        Ok((Some(fd), name))
    }

    /// The root of the mount on top at `at`, looked up again by its final name from the
    /// directory it is in (or, for the root of a mount, where that mount is).
    fn reopen_top(&self, c: &Call, at: &At) -> Result<OwnedFd, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let mut at = at.clone();
        for _ in 0..=self.held.len() {
            if at.split().is_some() {
                let (dir, name) = self.held.parent(&at).map_err(err)?;
                return nix::fcntl::openat(
                    dir.as_fd(),
                    name,
                    OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(err);
            }
            if at.on == MountId::ROOT {
                if let Some(t) = &self.tmproot {
                    return t.open_root(c);
                }
                let h = self.root_host.as_ref().ok_or_else(|| err(Errno::EBADF))?;
                return host::open_path(Path::new(h.as_str()), true)
                    .map_err(|e| SysError::new(c, e.errno));
            }
            at = self
                .held
                .where_attached(at.on)
                .ok_or_else(|| err(Errno::EBADF))?;
        }
        Err(err(Errno::ELOOP))
    }

    /// Holds `fd` as mount `mount` if it is the mount just made on `under` (see the module's
    /// words); `same` is the inode a bind's root must be.
    fn hold_made(
        &mut self,
        c: &Call,
        mount: MountId,
        fd: OwnedFd,
        under: Option<&Fd>,
        same: Option<crate::sys::FileId>,
    ) -> Result<(), SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let st = files::statx(fd.as_fd(), libc::STATX_INO | libc::STATX_MNT_ID).map_err(err)?;
        let (id, mnt) = files::ids_of(&st);
        let root = libc::STATX_ATTR_MOUNT_ROOT as u64;
        let not_root = st.stx_attributes_mask & root != 0 && st.stx_attributes & root == 0;
        let under_mnt = match under {
            Some(u) => files::statx_id(u.as_fd()).map_err(err)?.1,
            None => None,
        };
        let seen =
            mnt.is_some_and(|m| self.held.holds_mnt(m)) || (mnt.is_some() && mnt == under_mnt);
        if not_root || seen || same.is_some_and(|s| s != id) {
            return Err(SysError::refused(
                c,
                Errno::EXDEV,
                "the mount just made is not what its name leads to any more (renamed while \
                 apply ran): not used",
            ));
        }
        self.held.put_known(mount, fd, mnt);
        Ok(())
    }

    /// `mount(source, target, fstype, flags, data)` of a new filesystem, held as `mount`.
    pub(super) fn mount_fs(
        &mut self,
        c: &Call,
        fresh: Option<At>,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let Call::MountFs {
            fs,
            source,
            flags,
            to,
            mount,
        } = c
        else {
            return Err(SysError::new(c, Errno::EINVAL));
        };
        let how = if matches!(fs, FsKind::Proc | FsKind::Sysfs) {
            How::REAL_DIR
        } else {
            How::FOLLOW
        };
        let (t, name) = self.classic_target(c, to, how, fresh)?;
        let undo = self.classic_undo(to, *mount);
        if let Some(u) = &undo {
            before(u)?;
        }
        let data = crate::lowering::fsconfig::data(fs);
        nix::mount::mount(
            Some(source.as_str()),
            name.as_str(),
            Some(fs.fstype()),
            *flags,
            data.as_deref(),
        )
        .map_err(|e| match (e, fs) {
            (Errno::ENODEV, _) => SysError::refused(
                c,
                e,
                format!(
                    "this kernel does not know the filesystem type `{}` (see /proc/filesystems): \
                     load its module, or fix `type`",
                    fs.fstype()
                ),
            ),
            (Errno::EINVAL, FsKind::Overlay(o)) => {
                SysError::refused(c, e, self.layers.why_refused(o, None))
            }
            _ => SysError::new(c, e),
        })?;
        let made = self.made_at(c, to)?;
        self.hold_made(c, *mount, made, t.as_ref(), None)?;
        self.after_made(*mount, to);
        Ok(undo.map_or(Effect::Local, Effect::Changed))
    }

    /// `mount(source, target, NULL, MS_BIND[|MS_REC], NULL)`, both by descriptor, held as
    /// `mount`.
    pub(super) fn bind_mount(
        &mut self,
        c: &Call,
        fresh: Option<At>,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let Call::BindMount {
            source,
            recursive,
            to,
            mount,
        } = c
        else {
            return Err(err(Errno::EINVAL));
        };
        let (recursive, mount) = (*recursive, *mount);
        let what = if mount == MountId::ROOT {
            "the root directory"
        } else {
            "the bind's source"
        };
        let src = host::open_path(Path::new(source.as_str()), mount == MountId::ROOT)
            .map_err(|e| SysError::host_path(c, e.errno, what, source.as_str()))?;
        let src_st =
            files::statx(src.as_fd(), libc::STATX_INO | libc::STATX_MNT_ID).map_err(err)?;
        let src_id = files::ids_of(&src_st).0;
        let src_name = self.name_of(src.as_raw_fd()).map_err(err)?;
        // The root bound onto itself: the one directory opened is source and target.
        let (t, name) = match to {
            Target::Host(h) if h == source => (None, src_name.clone()),
            _ => self.classic_target(c, to, How::FOLLOW, fresh)?,
        };
        let undo = self.classic_undo(to, mount);
        if let Some(u) = &undo {
            before(u)?;
        }
        let mut flags = MsFlags::MS_BIND;
        if recursive {
            flags |= MsFlags::MS_REC;
        }
        nix::mount::mount(
            Some(src_name.as_str()),
            name.as_str(),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(err)?;
        if mount == MountId::ROOT {
            self.root_host = Some(source.clone());
        }
        let made = self.made_at(c, to)?;
        let under = t.unwrap_or(Fd::Own(src));
        self.hold_made(c, mount, made, Some(&under), Some(src_id))?;
        drop(under);
        if mount == MountId::ROOT {
            // As for the new API's root (see [`mount_facts::bind_is_alone`]): the mount table
            // is read for what the bind brought along only when it may have brought some.
            if let Some(fd) = self.held.fd(MountId::ROOT) {
                // SAFETY: the root's descriptor, held for as long as this layer lives.
                let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                self.root_alone = mount_facts::bind_is_alone(&src_st, b);
            }
        }
        self.after_made(mount, to);
        Ok(undo.map_or(Effect::Local, Effect::Changed))
    }

    /// The undo of a mount made on `to`: only a step's (the setup's go with the namespace).
    fn classic_undo(&self, to: &Target, mount: MountId) -> Option<Undo> {
        match to {
            Target::InRoot(at) => Some(Undo::Umount {
                path: at.path.clone(),
                mount,
            }),
            _ => None,
        }
    }

    /// The root of the mount just made on `to`, looked up again.
    fn made_at(&self, c: &Call, to: &Target) -> Result<OwnedFd, SysError> {
        match to {
            Target::InRoot(at) => self.reopen_top(c, at),
            Target::TmpRoot => self
                .tmproot
                .as_ref()
                .ok_or_else(|| SysError::new(c, Errno::EBADF))?
                .open_root(c),
            Target::Host(h) => {
                host::open_path(Path::new(h.as_str()), true).map_err(|e| SysError::new(c, e.errno))
            }
            _ => Err(SysError::new(c, Errno::EINVAL)),
        }
    }

    fn after_made(&mut self, mount: MountId, to: &Target) {
        if let Target::InRoot(at) = to {
            self.held.attached(mount, at);
        }
    }

    /// `mount(NULL, target, NULL, MS_REMOUNT|MS_BIND|flags, NULL)` on a held mount or on the
    /// mount at a path (the flags it had kept for the undo).
    pub(super) fn remount(
        &mut self,
        c: &Call,
        on: &AttrOn,
        flags: MsFlags,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let (fd, had) = self.attr_on(c, on)?;
        let undo = had.map(|(at, old)| Undo::restore_flags(at, old));
        if let Some(u) = &undo {
            before(u)?;
        }
        let name = self.name_of(fd.raw()).map_err(err)?;
        let r = remount_name(&name, flags);
        match r {
            Ok(()) => {}
            Err(Errno::EPERM) if self.userns => {
                // Flags the kernel locked on mounts copied from the host: kept, and again.
                let old = mount_facts::flags_of_fd(fd.as_fd()).map_err(err)?;
                let keep = mount_facts::locked_to_keep(old, flags);
                remount_name(&name, flags | keep).map_err(err)?;
            }
            Err(Errno::EINVAL) => return Err(super::mounting::not_a_mountpoint(c, on, &fd)),
            Err(e) => return Err(err(e)),
        }
        drop(fd);
        Ok(undo.map_or(Effect::Local, Effect::Changed))
    }

    /// The undo of a remount or a `mount_setattr` in a classic apply: a bind remount with the
    /// flags `set` (what the mount had; `recursive` never, validation refuses it).
    pub(super) fn undo_remount(&mut self, u: &Undo, at: &At, set: MsFlags) -> Result<(), SysError> {
        let err = |e: Errno| SysError::new(u, e);
        let fd = self.held.top(at, How::FOLLOW).map_err(err)?;
        let name = self.name_of(fd.raw()).map_err(err)?;
        let r = remount_name(&name, set);
        drop(fd);
        r.map_err(err)
    }

    /// runc's maskedPaths with mount(2): an empty read-only tmpfs over a directory, a bind of
    /// the host's `/dev/null` over anything else; a missing path is left alone.
    pub(super) fn mask_classic(
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
        let name = self.name_of(t.raw()).map_err(err)?;
        let u = Undo::Umount {
            path: at.path.clone(),
            mount,
        };
        before(&u)?;
        let same = if is_dir {
            let (_, source, flags) = crate::lowering::fsconfig::mask_tmpfs();
            nix::mount::mount(
                Some(source),
                name.as_str(),
                Some("tmpfs"),
                flags,
                None::<&str>,
            )
            .map_err(err)?;
            None
        } else {
            let null = self.name_of(self.null.as_raw_fd()).map_err(err)?;
            nix::mount::mount(
                Some(null.as_str()),
                name.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(err)?;
            Some(files::statx_id(self.null.as_fd()).map_err(err)?.0)
        };
        let made = self.reopen_top(c, at)?;
        self.hold_made(c, mount, made, Some(&t), same)?;
        Ok(Effect::Changed(u))
    }
}

/// `mount(NULL, name, NULL, MS_REMOUNT|MS_BIND|flags, NULL)`.
fn remount_name(name: &str, flags: MsFlags) -> Result<(), Errno> {
    nix::mount::mount(
        None::<&str>,
        name,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | (flags & (PERM | ATIME)),
        None::<&str>,
    )
}
