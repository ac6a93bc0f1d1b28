//! The roots' lock files in a journal directory: one apply (or recovery) on a root at a time.
//!
//! Takes a journal directory's descriptor and a lock file's name; returns a [`Lock`], an
//! exclusive `flock` held until [`Lock::release`], which removes the file while still holding
//! it (and a waiter that finds the name gone opens the file again).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, fstat, fstatat};
use nix::unistd::UnlinkatFlags;

use crate::sys::SysError;
use crate::sys::linux::files::id_of;

/// An exclusive `flock` on a lock file in a journal directory, held until released.
#[derive(Debug)]
pub struct Lock {
    fd: OwnedFd,
    name: String,
}

fn flock(fd: BorrowedFd<'_>, op: libc::c_int) -> Result<(), Errno> {
    loop {
        // SAFETY: flock(2) on a descriptor borrowed for the call.
        if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// How many times [`lock`] reopens a lock file that was removed while it waited.
const LOCK_TRIES: u32 = 10_000;

/// Takes the lock `name` (created 0600) in the journal directory `dir`. With `wait`, waits for
/// another holder (calling `on_wait` once first); without, returns `None` when it is held.
///
/// The holder removes the file when done, so after the lock is taken the name must still be
/// the locked inode (the holder before may have removed it while this process waited on the
/// old inode): when it is not, the file is opened again.
pub fn lock(
    dir: BorrowedFd<'_>,
    shown: &Path,
    name: &str,
    wait: bool,
    on_wait: &mut dyn FnMut(),
) -> Result<Option<Lock>, SysError> {
    let path = || shown.join(name).display().to_string();
    let mut waited = false;
    for _ in 0..LOCK_TRIES {
        let fd = nix::fcntl::openat(
            dir,
            name,
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| SysError::new(format!("open({:?}, O_RDWR|O_CREAT, 0600)", path()), e))?;
        match flock(fd.as_fd(), libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => {}
            Err(Errno::EWOULDBLOCK) if !wait => return Ok(None),
            Err(Errno::EWOULDBLOCK) => {
                if !waited {
                    on_wait();
                    waited = true;
                }
                flock(fd.as_fd(), libc::LOCK_EX)
                    .map_err(|e| SysError::new(format!("flock({:?}, LOCK_EX)", path()), e))?;
            }
            Err(e) => return Err(SysError::new(format!("flock({:?}, LOCK_EX)", path()), e)),
        }
        let held =
            fstat(fd.as_fd()).map_err(|e| SysError::new(format!("fstat({:?})", path()), e))?;
        match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(now) if id_of(&now) == id_of(&held) => {
                return Ok(Some(Lock {
                    fd,
                    name: name.to_string(),
                }));
            }
            Ok(_) | Err(Errno::ENOENT) => continue,
            Err(e) => return Err(SysError::new(format!("lstat({:?})", path()), e)),
        }
    }
    Err(SysError::refused(
        format!("flock({:?}, LOCK_EX)", path()),
        Errno::EAGAIN,
        format!("the lock file was replaced {LOCK_TRIES} times while waiting for it"),
    ))
}

impl Lock {
    /// Removes the lock file (while still holding the lock, and only when its name is still
    /// the locked inode), then releases the lock. A process that waited on it finds the name
    /// gone and opens the file again.
    pub fn release(self, dir: BorrowedFd<'_>) {
        if let (Ok(held), Ok(now)) = (
            fstat(self.fd.as_fd()),
            fstatat(dir, self.name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW),
        ) {
            if id_of(&held) == id_of(&now) {
                let _ = nix::unistd::unlinkat(dir, self.name.as_str(), UnlinkatFlags::NoRemoveDir);
            }
        }
        drop(self.fd);
    }
}
