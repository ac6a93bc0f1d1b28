//! Host-side kernel work around an apply: the descriptors opened before anything else, the
//! masking of the host's full proc and sysfs mounts before a move (runc's msMoveRoot), the
//! undo of one journal record from the host, and the error of host-side work that refuses a
//! path rather than failing a call ([`HostError`]). The state directory and its locks are in
//! [`super::state`], `--persist` and `release` in [`super::pin`].
//!
//! Takes host paths (a journal record's base directory); returns descriptors or what was
//! done, with errors that name the call.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, fstat};

use super::files::{self, Reversed};
use super::mountinfo::{RawMount, is_below};
use crate::model::{HostPath, MsFlags};
use crate::quote::quote;
use crate::sys::{SysError, Undo};

/// procfs's f_type.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// nsfs's f_type (the files in /proc/PID/ns/).
pub const NSFS_MAGIC: i64 = 0x6e73_6673;

/// A host path mountplan will not use, in words: nothing failed, so there is no errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// A stable code such as `mountplan::state-dir::unsafe`.
    pub code: &'static str,
    /// What is wrong and where, lowercase, with values in backticks.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

/// The error of host-side work on a path the caller gave (the state directory, `--persist`
/// FILE, `release` FILE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// A call failed.
    Sys(SysError),
    /// The path was refused.
    Refused(Refusal),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::Sys(e) => e.fmt(f),
            HostError::Refused(r) => write!(f, "{} (help: {})", r.message, r.help),
        }
    }
}

impl From<SysError> for HostError {
    fn from(e: SysError) -> Self {
        HostError::Sys(e)
    }
}

/// The host descriptors opened before the namespace is made, so masking and `self/fd/N`
/// mounts keep working after a pivot, whatever the new root holds at `/proc` or `/dev/null`.
#[derive(Debug)]
pub struct HostFds {
    /// The host's `/proc`, `O_PATH`, checked to be procfs.
    pub proc: OwnedFd,
    /// The host's `/dev/null`, `O_PATH`, checked to be the character device 1:3.
    pub null: OwnedFd,
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The effective uid of this process (0: mountplan runs as root).
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Opens a host path `O_PATH` (following symlinks: host paths are the administrator's).
pub fn open_path(path: &Path, dir: bool) -> Result<OwnedFd, SysError> {
    let mut fl = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if dir {
        fl |= OFlag::O_DIRECTORY;
    }
    nix::fcntl::open(path, fl, Mode::empty()).map_err(|e| {
        SysError::new(
            format!(
                "open({:?}, O_PATH{}|O_CLOEXEC)",
                p(path),
                if dir { "|O_DIRECTORY" } else { "" }
            ),
            e,
        )
    })
}

/// Opens and checks the host's `/proc` and `/dev/null`.
pub fn open_host_fds() -> Result<HostFds, SysError> {
    let proc = open_path(Path::new("/proc"), true)?;
    let fs = nix::sys::statfs::fstatfs(proc.as_fd())
        .map_err(|e| SysError::new("fstatfs(\"/proc\")", e))?;
    if fs.filesystem_type().0 as i64 != PROC_SUPER_MAGIC {
        return Err(SysError::refused(
            "fstatfs(\"/proc\")",
            Errno::EINVAL,
            "the host's /proc is not a procfs: mount one (`mount -t proc proc /proc`)",
        ));
    }
    let null = open_path(Path::new("/dev/null"), false)?;
    let st = fstat(null.as_fd()).map_err(|e| SysError::new("fstat(\"/dev/null\")", e))?;
    let is_chr = super::files::kind(&st) == SFlag::S_IFCHR;
    if !is_chr || st.st_rdev != nix::sys::stat::makedev(1, 3) {
        return Err(SysError::refused(
            "fstat(\"/dev/null\")",
            Errno::EINVAL,
            "the host's /dev/null is not the character device 1:3",
        ));
    }
    Ok(HostFds { proc, null })
}

/// `/dev/null` opened again (`O_PATH`) in the new mount namespace, checked to be the same
/// inode as `early`, the host's, checked when it was opened.
pub fn reopen_null(early: &OwnedFd) -> Result<OwnedFd, SysError> {
    let fd = open_path(Path::new("/dev/null"), false)?;
    let a = fstat(early.as_fd()).map_err(|e| SysError::new("fstat(\"/dev/null\")", e))?;
    let b = fstat(fd.as_fd()).map_err(|e| SysError::new("fstat(\"/dev/null\")", e))?;
    if (a.st_dev, a.st_ino, a.st_rdev) != (b.st_dev, b.st_ino, b.st_rdev) {
        return Err(SysError::refused(
            "open(\"/dev/null\", O_PATH)",
            Errno::EINVAL,
            "/dev/null changed between the host check and the new namespace",
        ));
    }
    Ok(fd)
}

/// Reverses one journal record from the host: `rel` is resolved inside `base` (symlinks stay
/// inside it), and the inode is checked before anything is removed or changed back.
pub fn undo_on_host(
    proc: &OwnedFd,
    base: &HostPath,
    rel: &str,
    u: &Undo,
) -> Result<Reversed, SysError> {
    let call = || {
        format!(
            "{} in {}",
            u.call_on(&quote(u.path().as_str())),
            quote(base.as_str())
        )
    };
    let dir = match open_path(Path::new(OsStr::from_bytes(base.as_str().as_bytes())), true) {
        Ok(d) => d,
        Err(e) if e.errno == Errno::ENOENT => return Ok(Reversed::Gone),
        Err(e) => return Err(e),
    };
    let r = undo_in(dir.as_fd(), proc.as_fd(), rel, u);
    r.map_err(|e| SysError::new(call(), e))
}

/// Reverses one file change at `rel` below the directory `dir` (symlinks stay inside it),
/// checking the inode first: a host base directory when recovering, or an overlay's layer.
pub fn undo_in(
    dir: BorrowedFd<'_>,
    proc: BorrowedFd<'_>,
    rel: &str,
    u: &Undo,
) -> Result<Reversed, Errno> {
    match u {
        Undo::Remove {
            node, id, parent, ..
        } => files::remove(dir, rel, node, *id, parent.as_ref()),
        Undo::Chmod {
            id, mode, parent, ..
        } => files::restore_mode(dir, proc, rel, *id, *mode, parent.as_ref()),
        Undo::Chown {
            id,
            uid,
            gid,
            mode,
            parent,
            ..
        } => files::restore_owner(dir, proc, rel, *id, *uid, *gid, *mode, parent.as_ref()),
        // Mounts live in the namespace and die with it: nothing to do on the host.
        Undo::Umount { .. } | Undo::Setattr { .. } => Ok(Reversed::Gone),
    }
}

/// runc's msMoveRoot: every full (root `/`) proc or sysfs mount outside `root_prefix` is made
/// a recursive slave and detached; where the kernel refuses (EINVAL, EPERM: a locked mount in
/// a user namespace) it is covered by an empty tmpfs instead. Mountpoints are host paths of
/// this namespace, from mountinfo; ones already gone with a detached parent are skipped.
pub fn mask_host_proc_sys(mounts: &[RawMount], root_prefix: &str) -> Result<(), SysError> {
    for m in mounts {
        if m.fs_root != "/" || !(m.fstype == "proc" || m.fstype == "sysfs") {
            continue;
        }
        if is_below(&m.mountpoint, root_prefix) {
            continue;
        }
        let mp = m.mountpoint.as_str();
        let slave = nix::mount::mount(
            None::<&str>,
            mp,
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        );
        let detached = match slave {
            Err(Errno::ENOENT) => continue,
            Err(e @ (Errno::EINVAL | Errno::EPERM)) => Err(e),
            Err(e) => {
                return Err(SysError::new(
                    format!("mount(NULL, {mp:?}, NULL, MS_SLAVE|MS_REC, NULL)"),
                    e,
                ));
            }
            Ok(()) => nix::mount::umount2(mp, nix::mount::MntFlags::MNT_DETACH),
        };
        match detached {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(Errno::EINVAL | Errno::EPERM) => {
                nix::mount::mount(
                    Some("tmpfs"),
                    mp,
                    Some("tmpfs"),
                    MsFlags::empty(),
                    None::<&str>,
                )
                .map_err(|e| {
                    SysError::new(format!("mount(\"tmpfs\", {mp:?}, \"tmpfs\", 0, NULL)"), e)
                })?;
            }
            Err(e) => {
                return Err(SysError::new(format!("umount2({mp:?}, MNT_DETACH)"), e));
            }
        }
    }
    Ok(())
}
