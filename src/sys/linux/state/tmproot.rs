//! The tmpfs root's mountpoint, `<state>/tmproot`: opened on the host, found again in the new
//! mount namespace.
//!
//! Takes the [`StateDir`]; returns a [`TmpRootDir`] (the state directory and its `tmproot/`,
//! held from the host's mount namespace), then, after `unshare(CLONE_NEWNS)`, the [`TmpRoot`]
//! the new namespace sees, checked to be the very inodes opened on the host; and the root of
//! the tmpfs mounted there, checked to be a tmpfs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, fstat};

use super::{StateDir, sys};
use crate::sys::SysError;
use crate::sys::linux::files::id_of;
use crate::sys::linux::host::HostError;

/// tmpfs's f_type.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// The tmpfs root's mountpoint, `<state>/tmproot`, opened in the host's mount namespace, to
/// be found again in the new one (a descriptor of the host's namespace sees none of the
/// mounts made in the new one).
#[derive(Debug)]
pub struct TmpRootDir {
    state: OwnedFd,
    dir: OwnedFd,
}

/// The tmpfs root's mountpoint as the new mount namespace sees it (see [`TmpRootDir`]).
#[derive(Debug)]
pub struct TmpRoot {
    state: OwnedFd,
    mountpoint: OwnedFd,
}

impl StateDir {
    /// The tmpfs root's mountpoint `tmproot/` (created if missing), held open.
    pub fn tmproot(&self) -> Result<TmpRootDir, HostError> {
        let dir = self
            .subdir("tmproot", true)?
            .ok_or_else(|| sys("open(\"tmproot\")".into(), Errno::ENOENT))?;
        let state = crate::sys::linux::resolve::dup(self.fd())
            .map_err(|e| sys("dup(<state directory>)".into(), e))?;
        Ok(TmpRootDir { state, dir })
    }
}

impl TmpRootDir {
    /// Right before `unshare(CLONE_NEWNS)`: makes the state directory the working directory,
    /// which the kernel moves into the new mount namespace with the process.
    pub fn before_unshare(&self) -> Result<(), SysError> {
        nix::unistd::fchdir(self.state.as_fd())
            .map_err(|e| SysError::new("fchdir(<state directory>)", e))
    }

    /// After it: the state directory and its `tmproot` in the new namespace (from the working
    /// directory), checked to be the very inodes opened on the host.
    pub fn in_new_namespace(self) -> Result<TmpRoot, SysError> {
        let call = "open(\".\" (the state directory in the new namespace), O_DIRECTORY)";
        let state = nix::fcntl::open(
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SysError::new(call, e))?;
        let mountpoint = nix::fcntl::openat(
            state.as_fd(),
            "tmproot",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SysError::new("open(\"<state>/tmproot\", O_PATH|O_NOFOLLOW)", e))?;
        let same = |a: BorrowedFd<'_>, b: BorrowedFd<'_>| match (fstat(a), fstat(b)) {
            (Ok(a), Ok(b)) => id_of(&a) == id_of(&b),
            _ => false,
        };
        if !same(state.as_fd(), self.state.as_fd()) || !same(mountpoint.as_fd(), self.dir.as_fd()) {
            return Err(SysError::refused(
                call,
                Errno::EINVAL,
                "the state directory or its tmproot in the new mount namespace is not the one \
                 opened on the host",
            ));
        }
        Ok(TmpRoot { state, mountpoint })
    }
}

impl TmpRoot {
    /// The mountpoint, for the tmpfs root's mount.
    pub fn mountpoint(&self) -> BorrowedFd<'_> {
        self.mountpoint.as_fd()
    }

    /// The root of the tmpfs mounted on the mountpoint: `tmproot` looked up again in the state
    /// directory (a lookup crosses the mount the descriptor of the mountpoint is under), checked
    /// to be a tmpfs other than the mountpoint's filesystem. `call` names the call in errors.
    pub fn open_root(&self, call: &dyn std::fmt::Display) -> Result<OwnedFd, SysError> {
        let err = |e: Errno| SysError::new(call, e);
        let fd = nix::fcntl::openat(
            self.state.as_fd(),
            "tmproot",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(err)?;
        let root = fstat(fd.as_fd()).map_err(err)?;
        let under = fstat(self.mountpoint.as_fd()).map_err(err)?;
        let fs = nix::sys::statfs::fstatfs(fd.as_fd()).map_err(err)?;
        if root.st_dev == under.st_dev || fs.filesystem_type().0 as i64 != TMPFS_MAGIC {
            return Err(SysError::refused(
                call,
                Errno::EINVAL,
                "`<state>/tmproot` is not the tmpfs just mounted on it",
            ));
        }
        Ok(fd)
    }
}
