//! The state directory: opened once, through a checked walk from `/`, then reached only
//! through its descriptor: its `journal/` and `tmproot/` directories, the lock files, the
//! journals recovery reads and removes.
//!
//! Takes the state directory's path (once); returns a [`StateDir`] whose descriptors every
//! later call goes through, [`Lock`]s that are removed when released, and the journal files
//! (listed, read, removed) of a journal directory descriptor. A directory another user could
//! write on the way (an ancestor they own, or one they may write that is not sticky) is a
//! [`Refusal`] that names it, its owner and mode, why, and the fix: such a user could swap the
//! state directory for one holding a forged journal, and recovery (as root) would act on it.
//!
//! The files: this one is [`StateDir`] and its subdirectories; `walk.rs` the checked walk
//! that opens it ([`StateDir::open`]); `lock.rs` the roots' lock files ([`lock`], [`Lock`]);
//! `journal_files.rs` the files of a journal directory ([`list`], [`exists`], [`read`],
//! [`remove`], and [`JournalFile`], the journal one apply writes); `tmproot.rs` the tmpfs
//! root's mountpoint, found again in the new mount namespace ([`TmpRootDir`], [`TmpRoot`]).

mod journal_files;
mod lock;
mod tmproot;
mod walk;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, Mode, fstat};

use super::host::{HostError, Refusal};
use crate::sys::SysError;

pub use self::journal_files::{JournalFile, JournalText, exists, list, read, remove};
pub use self::lock::{Lock, lock};
pub use self::tmproot::{TmpRoot, TmpRootDir};

fn me() -> u32 {
    super::host::euid()
}

fn mode_of(st: &FileStat) -> u32 {
    st.st_mode & 0o7777
}

fn owner_word(uid: u32) -> String {
    if uid == 0 {
        "root".into()
    } else {
        format!("uid {uid}")
    }
}

fn sys(call: String, e: Errno) -> HostError {
    HostError::Sys(SysError::new(call, e))
}

/// The state directory, open.
#[derive(Debug)]
pub struct StateDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl StateDir {
    /// The path given (for messages only).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state directory's descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The directory `name` in the state directory (journal/, tmproot/), created 0700 when
    /// missing and `create` is set (else `None` when missing), checked like the state
    /// directory itself: a real directory, the caller's, writable only by it.
    pub fn subdir(&self, name: &str, create: bool) -> Result<Option<OwnedFd>, HostError> {
        let shown = self.path.join(name);
        if create {
            match nix::sys::stat::mkdirat(self.fd(), name, Mode::from_bits_truncate(0o700)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(sys(format!("mkdir({:?}, 0700)", shown.display()), e)),
            }
        }
        let fd = match nix::fcntl::openat(
            self.fd(),
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if !create => return Ok(None),
            Err(e) => {
                return Err(sys(
                    format!("open({:?}, O_DIRECTORY|O_NOFOLLOW)", shown.display()),
                    e,
                ));
            }
        };
        let st = fstat(fd.as_fd()).map_err(|e| sys(format!("fstat({shown:?})"), e))?;
        if st.st_uid != me() || mode_of(&st) & 0o022 != 0 {
            return Err(HostError::Refused(Refusal {
                code: "mountplan::state-dir::unsafe",
                message: format!(
                    "`{}` in the state directory must be owned by {} and writable only by it \
                     (it is owned by {}, mode 0{:o})",
                    shown.display(),
                    owner_word(me()),
                    owner_word(st.st_uid),
                    mode_of(&st)
                ),
                help: format!(
                    "`chown {} {}; chmod 0700 {}`",
                    me(),
                    shown.display(),
                    shown.display()
                ),
            }));
        }
        Ok(Some(fd))
    }
}

#[cfg(test)]
mod tests;
