//! The mount calls of [`Linux`]: targets and sources made into names mount(2) takes, and the
//! mounts of steps, masks and read-only paths.
//!
//! Takes calls whose targets are paths inside the root; returns what changed. A resolved
//! target is an `O_PATH` descriptor, passed to mount(2) as `self/fd/N` relative to the host
//! `/proc` (the working directory is set there first, see [`Linux::at_proc`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;

use nix::sys::stat::{SFlag, fstat};

use super::files::{self, fd_name, kind};
use super::resolve::How;
use super::{Linux, host, in_root, layers, mount, why_resolve};
use crate::calls::{Call, Source, Target};
use crate::model::{MsFlags, RootPath};
use crate::sys::{Before, Effect, FileId, SysError, Undo};

pub(super) const PROPAGATION: MsFlags = MsFlags::MS_PRIVATE
    .union(MsFlags::MS_SLAVE)
    .union(MsFlags::MS_SHARED)
    .union(MsFlags::MS_UNBINDABLE);

/// Flags of a mount(2) call that does not put a new mount on its target.
pub(super) const NOT_NEW: MsFlags = PROPAGATION
    .union(MsFlags::MS_REMOUNT)
    .union(MsFlags::MS_MOVE);

/// A mount target or source, ready for mount(2): a resolved descriptor, a name in a directory
/// held open (one made by this process on a filesystem of its own namespace), or a path.
pub(super) enum Spot {
    Fd(OwnedFd),
    /// A descriptor this layer keeps open itself (the host's `/dev/null`).
    Held(RawFd),
    In(RawFd, String),
    Path(String),
}

impl Linux {
    /// Sets the working directory to the host `/proc`, for `self/fd/N` names.
    pub(super) fn at_proc(&mut self) -> Result<(), Errno> {
        if !self.cwd_at_proc {
            nix::unistd::fchdir(self.proc.as_fd())?;
            self.cwd_at_proc = true;
        }
        Ok(())
    }

    pub(super) fn path_of(&mut self, s: &Spot) -> Result<String, Errno> {
        match s {
            Spot::Fd(fd) => {
                self.at_proc()?;
                Ok(fd_name(fd.as_fd()))
            }
            Spot::Held(fd) => {
                self.at_proc()?;
                Ok(format!("self/fd/{fd}"))
            }
            Spot::In(dir, name) => {
                self.at_proc()?;
                Ok(format!("self/fd/{dir}/{name}"))
            }
            Spot::Path(p) => Ok(p.clone()),
        }
    }

    /// The directory the previous call made at `p` on a private filesystem, as its parent's
    /// descriptor (the root's, or the cached one) and its name.
    fn fresh_spot(&self, p: &RootPath) -> Option<Spot> {
        let (dir, name) = files::split(p.relative());
        let fd = if dir.is_empty() {
            self.root.as_ref()?.as_raw_fd()
        } else {
            match &self.dir_cache {
                Some((cached, fd)) if cached == dir => fd.as_raw_fd(),
                _ => return None,
            }
        };
        Some(Spot::In(fd, name.to_string()))
    }

    pub(super) fn mount(
        &mut self,
        src: Option<&Spot>,
        target: &Spot,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        let src = match src {
            Some(s) => Some(self.path_of(s)?),
            None => None,
        };
        let t = self.path_of(target)?;
        nix::mount::mount(src.as_deref(), t.as_str(), fstype, flags, data)
    }

    pub(super) fn target(&mut self, t: &Target, how: How) -> Result<Spot, Errno> {
        Ok(match t {
            Target::InRoot(p) | Target::AfterPivot(p) => Spot::Fd(self.resolve(p, how)?),
            Target::Host(h) => Spot::Path(h.as_str().to_string()),
            Target::TmpRoot => Spot::Held(
                self.tmproot
                    .as_ref()
                    .ok_or(Errno::EINVAL)?
                    .mountpoint()
                    .as_raw_fd(),
            ),
            Target::Cwd => Spot::Path(".".into()),
        })
    }

    pub(super) fn source(&mut self, s: &Source) -> Result<Option<Spot>, Errno> {
        Ok(match s {
            Source::None => None,
            Source::Name(n) => Some(Spot::Path(n.clone())),
            Source::Host(h) => Some(Spot::Fd(
                host::open_path(Path::new(h.as_str()), false).map_err(|e| e.errno)?,
            )),
            Source::Cwd => Some(Spot::Path(".".into())),
        })
    }

    /// A mount call. `on_fresh`: its target is the directory the previous call made on a
    /// filesystem of this namespace only, and it puts a new mount there.
    pub(super) fn do_mount(
        &mut self,
        c: &Call,
        on_fresh: bool,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let Call::Mount {
            source,
            target,
            fstype,
            flags,
            data,
        } = c
        else {
            return Err(SysError::new(c, Errno::EINVAL));
        };
        let err = |e: Errno| SysError::new(c, e);
        let fstype = fstype.as_deref();
        let data = data.as_deref();
        if let (Source::Host(s), Target::Host(t)) = (source, target) {
            if s == t && flags.contains(MsFlags::MS_BIND) {
                // The root bound onto itself: open it once and bind that very directory onto
                // itself through its descriptor, so a rename of the host path between the
                // open and the mount cannot make another directory the root. OpenRoot then
                // checks it opened the bind made here.
                let fd = host::open_path(Path::new(s.as_str()), true).map_err(|e| {
                    SysError::host_path(e.call, e.errno, "the root directory", s.as_str())
                })?;
                let spot = Spot::Fd(fd);
                self.mount(Some(&spot), &spot, None, *flags, None)
                    .map_err(err)?;
                if let Spot::Fd(fd) = spot {
                    self.bound_root = Some(fd);
                }
                return Ok(Effect::Local);
            }
        }
        let Target::InRoot(p) = target else {
            // The implicit setup, the pivot's own calls: paths of this process, no undo.
            let t = self.target(target, How::DIR).map_err(err)?;
            let s = self.source(source).map_err(err)?;
            self.mount(s.as_ref(), &t, fstype, *flags, data)
                .map_err(err)?;
            return Ok(Effect::Local);
        };
        let root = self.root.as_ref().map(|f| f.as_fd());
        let refuse = |e: Errno, how: How| match why_resolve(root, p, e, how) {
            Some(w) => SysError::refused(c, e, w),
            None => SysError::new(c, e),
        };
        if flags.intersects(PROPAGATION) {
            let t = Spot::Fd(
                self.resolve(p, How::FOLLOW)
                    .map_err(|e| refuse(e, How::FOLLOW))?,
            );
            self.mount(None, &t, None, *flags, None).map_err(err)?;
            return Ok(Effect::Local);
        }
        if flags.contains(MsFlags::MS_REMOUNT) {
            let fd = self
                .resolve(p, How::FOLLOW)
                .map_err(|e| refuse(e, How::FOLLOW))?;
            let old = mount::flags_of_fd(fd.as_fd()).map_err(err)?;
            let u = Undo::Remount {
                path: p.clone(),
                flags: old,
            };
            before(&u)?;
            let t = Spot::Fd(fd);
            match self.mount(None, &t, None, *flags, None) {
                Err(Errno::EPERM) if self.userns => {
                    // The kernel refuses to clear flags it locked on mounts copied from the
                    // host: keep them and try again.
                    let keep = mount::locked_to_keep(old, *flags);
                    self.mount(None, &t, None, *flags | keep, None)
                        .map_err(err)?;
                }
                Err(Errno::EINVAL) => {
                    let Spot::Fd(fd) = &t else {
                        return Err(err(Errno::EINVAL));
                    };
                    return Err(match mount::not_a_mountpoint_why(fd.as_fd(), &in_root(p)) {
                        Some(w) => SysError::refused(c, Errno::EINVAL, w),
                        None => err(Errno::EINVAL),
                    });
                }
                r => r.map_err(err)?,
            }
            return Ok(Effect::Changed(u));
        }
        let how = match fstype {
            Some("proc") | Some("sysfs") => How::REAL_DIR,
            _ => How::FOLLOW,
        };
        let t = match on_fresh.then(|| self.fresh_spot(p)).flatten() {
            Some(spot) => spot,
            None => Spot::Fd(self.resolve(p, how).map_err(|e| refuse(e, how))?),
        };
        let s = self.source(source).map_err(|e| match source {
            Source::Host(h) => SysError::host_path(c, e, "the bind's source", h.as_str()),
            _ => err(e),
        })?;
        let u = Undo::Umount(p.clone());
        before(&u)?;
        self.mount(s.as_ref(), &t, fstype, *flags, data)
            .map_err(|e| match (e, fstype) {
                (Errno::EINVAL, Some("overlay")) => {
                    SysError::refused(c, e, self.layers.why_refused(data))
                }
                (Errno::ENODEV, Some(t)) => SysError::refused(
                    c,
                    e,
                    format!(
                        "this kernel does not know the filesystem type `{t}` (see \
                         /proc/filesystems): load its module, or fix `type`"
                    ),
                ),
                (Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES, Some("overlay")) => {
                    match layers::missing_lower(data) {
                        Some(l) => SysError::host_path(c, e, "the overlay's lower layer", l),
                        None => err(e),
                    }
                }
                _ => err(e),
            })?;
        Ok(Effect::Changed(u))
    }

    /// `p` resolved (following symlinks), or `None` when it does not exist.
    pub(super) fn resolve_if_there(&self, p: &RootPath) -> Result<Option<OwnedFd>, Errno> {
        match self.resolve(p, How::FOLLOW) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// runc's maskedPaths: an empty read-only tmpfs over a directory, the host's `/dev/null`
    /// over anything else; a missing path is left alone.
    pub(super) fn mask(
        &mut self,
        c: &Call,
        p: &RootPath,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let Some(fd) = self.resolve_if_there(p).map_err(err)? else {
            return Ok(Effect::Unchanged);
        };
        let is_dir = kind(&fstat(fd.as_fd()).map_err(err)?) == SFlag::S_IFDIR;
        let u = Undo::Umount(p.clone());
        before(&u)?;
        let t = Spot::Fd(fd);
        if is_dir {
            let src = Spot::Path("tmpfs".into());
            self.mount(Some(&src), &t, Some("tmpfs"), MsFlags::MS_RDONLY, None)
                .map_err(err)?;
        } else {
            let null = Spot::Held(self.null.as_raw_fd());
            self.mount(Some(&null), &t, None, MsFlags::MS_BIND, None)
                .map_err(err)?;
        }
        Ok(Effect::Changed(u))
    }

    /// runc's readonlyPaths: the path bound onto itself, then that bind and everything below it
    /// made read-only; a missing path is left alone.
    pub(super) fn readonly(
        &mut self,
        c: &Call,
        p: &RootPath,
        before: &mut Before<'_>,
    ) -> Result<Effect, SysError> {
        let err = |e: Errno| SysError::new(c, e);
        let Some(fd) = self.resolve_if_there(p).map_err(err)? else {
            return Ok(Effect::Unchanged);
        };
        let below = files::statx_id(fd.as_fd()).map_err(err)?;
        let u = Undo::Umount(p.clone());
        before(&u)?;
        let t = Spot::Fd(fd);
        self.mount(Some(&t), &t, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)
            .map_err(err)?;
        drop(t);
        // The descriptor resolved before the bind is below it: resolve the new top, and make
        // sure it is the bind just made. A rename in the root between the bind and this
        // resolution could otherwise name another mount, which would be made read-only while
        // the bind stayed writable.
        let top = self.resolve(p, How::FOLLOW).map_err(err)?;
        if !self.is_bind_on(top.as_fd(), below).map_err(err)? {
            return Err(SysError::refused(
                c,
                Errno::EXDEV,
                format!(
                    "`{}` was moved or replaced between its bind and making it read-only (a \
                     rename in the root): another mount is there now, which is left alone",
                    in_root(p)
                ),
            ));
        }
        mount::setattr_rec(top.as_fd(), MsFlags::MS_RDONLY, MsFlags::empty()).map_err(err)?;
        Ok(Effect::Changed(u))
    }

    /// Whether `top` is the root of a mount stacked right on `below` (the inode and mount id
    /// of the directory a bind was made on): the same inode, and a mount whose parent is the
    /// mount `below` was on. Kernels before 5.8 do not give mount ids: only the inode is
    /// checked there.
    fn is_bind_on(&self, top: BorrowedFd<'_>, below: (FileId, Option<u64>)) -> Result<bool, Errno> {
        let (id, mnt) = files::statx_id(top)?;
        if id != below.0 {
            return Ok(false);
        }
        let (Some(mnt), Some(under)) = (mnt, below.1) else {
            return Ok(true);
        };
        if mnt == under {
            return Ok(false);
        }
        Ok(self.mount_parent(mnt)? == Some(under))
    }

    /// The parent mount id of mount `id` (fields 1 and 2 of /proc/self/mountinfo).
    fn mount_parent(&self, id: u64) -> Result<Option<u64>, Errno> {
        Ok(self.mountinfo_text()?.lines().find_map(|l| {
            let mut f = l.split(' ');
            let me: u64 = f.next()?.parse().ok()?;
            let parent: u64 = f.next()?.parse().ok()?;
            (me == id).then_some(parent)
        }))
    }
}
