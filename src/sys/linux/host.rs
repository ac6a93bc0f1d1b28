//! Host-side kernel work around an apply: the descriptors opened before anything else, the
//! state directory and its locks, pinning a namespace on a file and releasing it, and the
//! undo of one journal record from the host.
//!
//! Takes host paths (the state directory, `--persist FILE`, a journal record's base
//! directory); returns descriptors or what was done, with errors that name the call.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, fstat};

use super::files::{self, Reversed};
use crate::model::HostPath;
use crate::sys::{SysError, Undo};

/// procfs's f_type.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// nsfs's f_type (the files in /proc/PID/ns/).
pub const NSFS_MAGIC: i64 = 0x6e73_6673;

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

/// The state directory: created 0700 if missing, and refused when someone else could write
/// it (another user could plant journals that recovery would act on).
pub fn state_dir(path: &Path) -> Result<OwnedFd, SysError> {
    match nix::unistd::mkdir(path, Mode::from_bits_truncate(0o700)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(SysError::new(format!("mkdir({:?}, 0700)", p(path)), e)),
    }
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SysError::new(format!("open({:?}, O_DIRECTORY)", p(path)), e))?;
    let st = fstat(fd.as_fd()).map_err(|e| SysError::new(format!("fstat({:?})", p(path)), e))?;
    if st.st_uid != nix::unistd::geteuid().as_raw() || st.st_mode & 0o022 != 0 {
        return Err(SysError::refused(
            format!("fstat({:?})", p(path)),
            Errno::EPERM,
            format!(
                "the state directory must be owned by uid {} and writable only by it \
                 (it is uid {}, mode 0{:o}); fix it or choose another with --state-dir",
                nix::unistd::geteuid(),
                st.st_uid,
                st.st_mode & 0o7777
            ),
        ));
    }
    Ok(fd)
}

/// Creates a directory in the state directory if missing (journal/, tmproot/).
pub fn state_subdir(state: &OwnedFd, state_path: &Path, name: &str) -> Result<PathBuf, SysError> {
    match nix::sys::stat::mkdirat(state.as_fd(), name, Mode::from_bits_truncate(0o700)) {
        Ok(()) | Err(Errno::EEXIST) => Ok(state_path.join(name)),
        Err(e) => Err(SysError::new(
            format!("mkdir({:?}, 0700)", p(&state_path.join(name))),
            e,
        )),
    }
}

/// Takes an exclusive `flock` on `path` (created 0600), waiting if another process holds it;
/// `on_wait` is called once before waiting.
pub fn lock(path: &Path, on_wait: &mut dyn FnMut()) -> Result<OwnedFd, SysError> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| SysError::new(format!("open({:?}, O_RDWR|O_CREAT, 0600)", p(path)), e))?;
    // SAFETY: flock(2) on a descriptor owned by `fd`, which outlives the call.
    let r = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(fd);
    }
    let e = Errno::last();
    if e != Errno::EWOULDBLOCK {
        return Err(SysError::new(format!("flock({:?}, LOCK_EX)", p(path)), e));
    }
    on_wait();
    loop {
        // SAFETY: as above.
        let r = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(fd);
        }
        let e = Errno::last();
        if e != Errno::EINTR {
            return Err(SysError::new(format!("flock({:?}, LOCK_EX)", p(path)), e));
        }
    }
}

/// Pins the mount namespace of `pid` on `file` (created 0644 if missing): a bind mount of
/// `/proc/PID/ns/mnt`, so `nsenter --mount=FILE` enters it.
pub fn persist(pid: i32, file: &Path) -> Result<(), SysError> {
    let mut created = false;
    match nix::fcntl::open(
        file,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) => created = true,
        Err(Errno::EEXIST) => {}
        Err(e) => {
            return Err(SysError::new(
                format!("open({:?}, O_CREAT|O_EXCL, 0644)", p(file)),
                e,
            ));
        }
    }
    let src = format!("/proc/{pid}/ns/mnt");
    let call = format!("mount({src:?}, {:?}, NULL, MS_BIND, NULL)", p(file));
    let r = nix::mount::mount(
        Some(src.as_str()),
        file,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    );
    match r {
        Ok(()) => Ok(()),
        Err(e) => {
            if created {
                let _ = nix::unistd::unlink(file);
            }
            if e == Errno::EINVAL {
                Err(SysError::refused(
                    call,
                    e,
                    "the file must be on a private mount (a namespace cannot be pinned where \
                     it would propagate into itself): `mount --bind DIR DIR && mount \
                     --make-private DIR`, then pin it in DIR",
                ))
            } else {
                Err(SysError::new(call, e))
            }
        }
    }
}

/// Undoes [`persist`]: checks `file` is a pinned namespace (nsfs), detaches it, removes it.
pub fn release(file: &Path) -> Result<(), SysError> {
    let fd = open_path(file, false)?;
    let fs = nix::sys::statfs::fstatfs(fd.as_fd())
        .map_err(|e| SysError::new(format!("fstatfs({:?})", p(file)), e))?;
    drop(fd);
    if fs.filesystem_type().0 as i64 != NSFS_MAGIC {
        return Err(SysError::refused(
            format!("fstatfs({:?})", p(file)),
            Errno::EINVAL,
            "it is not a pinned namespace (not an nsfs mount): nothing to release",
        ));
    }
    nix::mount::umount2(
        file,
        nix::mount::MntFlags::MNT_DETACH | nix::mount::MntFlags::UMOUNT_NOFOLLOW,
    )
    .map_err(|e| SysError::new(format!("umount2({:?}, MNT_DETACH)", p(file)), e))?;
    nix::unistd::unlink(file).map_err(|e| SysError::new(format!("unlink({:?})", p(file)), e))
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
            "{} in {:?}",
            u.to_string().replace("<root>", ""),
            base.as_str()
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
        } => files::remove(dir, rel, node, *id, *parent),
        Undo::Chmod {
            id, mode, parent, ..
        } => files::restore_mode(dir, proc, rel, *id, *mode, *parent),
        Undo::Chown {
            id,
            uid,
            gid,
            mode,
            parent,
            ..
        } => files::restore_owner(dir, proc, rel, *id, *uid, *gid, *mode, *parent),
        // Mounts live in the namespace and die with it: nothing to do on the host.
        Undo::Umount { .. } | Undo::Setattr { .. } => Ok(Reversed::Gone),
    }
}
