//! The checked walk from `/` to the state directory.
//!
//! Takes the state directory's path; returns the [`StateDir`] opened at its end
//! ([`StateDir::open`]), or a [`Refusal`] naming the directory on the way that another user
//! could write, its owner and mode, why, and the fix.
//!
//! The walk goes component by component with `O_PATH|O_NOFOLLOW|O_DIRECTORY` from `/`. Each
//! directory on the way must be owned by root or the caller; one that group or others may
//! write is accepted only when it is sticky (like `/tmp`) and the next component in it is
//! owned by root or the caller (the usual safe-path rule: in a sticky directory only an
//! entry's owner can rename or remove it). A symlink is followed only when it is owned by root
//! or the caller and lies in a directory that passed (the same rule); its target is walked the
//! same way. The state directory itself must be the caller's and writable only by it; it is
//! created 0700 (on its parent's descriptor) when missing, its parents are not.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

use super::{StateDir, me, mode_of, owner_word, sys};
use crate::sys::linux::files::{id_of, kind};
use crate::sys::linux::host::{HostError, Refusal};

/// The most symlinks the walk follows (the kernel's limit).
const MAX_LINKS: u32 = 40;

fn ours(uid: u32) -> bool {
    uid == 0 || uid == me()
}

fn who() -> String {
    if me() == 0 {
        "root".into()
    } else {
        format!("root or you (uid {})", me())
    }
}

fn unsafe_dir(state: &Path, message: String) -> HostError {
    HostError::Refused(Refusal {
        code: "mountplan::state-dir::unsafe",
        message: format!(
            "the state directory `{}` cannot be used safely: {message}; another user could \
             swap the state directory for one holding a forged journal, which recovery (run \
             by every apply) would act on",
            state.display()
        ),
        help: format!(
            "make every directory on the way to it owned by {} and not writable by group or \
             others (`chown root DIR; chmod go-w DIR`; a sticky directory such as /tmp is fine \
             when what is in it is owned by {}), or choose another with --state-dir DIR",
            who(),
            who()
        ),
    })
}

/// A directory reached by the walk.
struct Step {
    fd: OwnedFd,
    path: PathBuf,
    st: FileStat,
}

/// Whether `dir` lets `entry` (owned by `uid`) be trusted: `dir` is not writable by group or
/// others, or it is sticky and `entry` is owned by root or the caller.
fn dir_guards(state: &Path, dir: &Step, entry: &Path, uid: u32) -> Result<(), HostError> {
    let m = mode_of(&dir.st);
    if m & 0o022 == 0 {
        return Ok(());
    }
    let sticky = m & 0o1000 != 0;
    if sticky && ours(uid) {
        return Ok(());
    }
    let why = if sticky {
        format!(
            "`{}` (owner {}, mode 0{m:o}) may be written by others and `{}` in it is owned by \
             {}, who can rename or replace it",
            dir.path.display(),
            owner_word(dir.st.st_uid),
            entry.display(),
            owner_word(uid)
        )
    } else {
        format!(
            "`{}` (owner {}, mode 0{m:o}) may be written by {} and is not sticky, so they can \
             rename or replace `{}`",
            dir.path.display(),
            owner_word(dir.st.st_uid),
            if m & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            entry.display()
        )
    };
    Err(unsafe_dir(state, why))
}

/// The components of a path, `.` and empty ones dropped.
fn components(p: &OsStr) -> impl Iterator<Item = OsString> + '_ {
    p.as_bytes()
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
}

impl StateDir {
    /// Walks to the state directory `path` from `/` (see the module documentation) and opens
    /// it; creates it 0700 when missing and `create` is set, else returns `None` for a missing
    /// directory (or a missing parent).
    pub fn open(path: &Path, create: bool) -> Result<Option<StateDir>, HostError> {
        if !path.is_absolute() {
            return Err(HostError::Refused(Refusal {
                code: "mountplan::state-dir::relative",
                message: format!("the state directory `{}` is not absolute", path.display()),
                help: "give an absolute path with --state-dir".into(),
            }));
        }
        let open = |dir: BorrowedFd<'_>, name: &OsStr, shown: &Path| {
            nix::fcntl::openat(
                dir,
                name,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| sys(format!("open({:?}, O_PATH|O_NOFOLLOW)", shown.display()), e))
        };
        let root = nix::fcntl::open(
            "/",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| sys("open(\"/\", O_PATH)".into(), e))?;
        let st = fstat(root.as_fd()).map_err(|e| sys("fstat(\"/\")".into(), e))?;
        let mut stack = vec![Step {
            fd: root,
            path: PathBuf::from("/"),
            st,
        }];
        if !ours(st.st_uid) {
            return Err(unsafe_dir(
                path,
                format!("`/` is owned by {}", owner_word(st.st_uid)),
            ));
        }
        let mut todo: VecDeque<OsString> = components(path.as_os_str()).collect();
        let (mut links, mut made) = (0, false);
        while let Some(c) = todo.pop_front() {
            if c == ".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let Some(parent) = stack.last() else {
                return Err(sys("walk".into(), Errno::EINVAL));
            };
            let shown = parent.path.join(&c);
            let found = fstatat(
                parent.fd.as_fd(),
                c.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            );
            if found == Err(Errno::ENOENT) {
                // Missing: nothing is made, nor said to be missing, in a directory that would
                // be refused with it there.
                dir_guards(path, parent, &shown, me())?;
            }
            let st = match found {
                Ok(st) => st,
                Err(Errno::ENOENT) if !create => return Ok(None),
                Err(Errno::ENOENT) if todo.is_empty() && !made => {
                    match nix::sys::stat::mkdirat(
                        parent.fd.as_fd(),
                        c.as_os_str(),
                        Mode::from_bits_truncate(0o700),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => {
                            return Err(sys(format!("mkdir({:?}, 0700)", shown.display()), e));
                        }
                    }
                    // Checked like any other: another user may have been first.
                    made = true;
                    todo.push_front(c);
                    continue;
                }
                Err(Errno::ENOENT) => {
                    return Err(HostError::Refused(Refusal {
                        code: "mountplan::state-dir::missing",
                        message: format!(
                            "`{}`, on the way to the state directory `{}`, does not exist \
                             (mountplan makes only the state directory itself)",
                            shown.display(),
                            path.display()
                        ),
                        help: format!(
                            "create it (`mkdir -p {}`), owned by {} and not writable by group \
                             or others",
                            shown.display(),
                            who()
                        ),
                    }));
                }
                Err(e) => return Err(sys(format!("lstat({:?})", shown.display()), e)),
            };
            dir_guards(path, parent, &shown, st.st_uid)?;
            if kind(&st) == SFlag::S_IFLNK {
                if !ours(st.st_uid) {
                    return Err(unsafe_dir(
                        path,
                        format!(
                            "`{}` is a symlink owned by {}, who can point it anywhere",
                            shown.display(),
                            owner_word(st.st_uid)
                        ),
                    ));
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(sys(format!("open({:?})", path.display()), Errno::ELOOP));
                }
                let to = nix::fcntl::readlinkat(parent.fd.as_fd(), c.as_os_str())
                    .map_err(|e| sys(format!("readlink({:?})", shown.display()), e))?;
                if to.as_bytes().first() == Some(&b'/') {
                    stack.truncate(1);
                }
                for t in components(&to).collect::<Vec<_>>().into_iter().rev() {
                    todo.push_front(t);
                }
                continue;
            }
            if kind(&st) != SFlag::S_IFDIR {
                return Err(HostError::Refused(Refusal {
                    code: "mountplan::state-dir::not-a-directory",
                    message: format!(
                        "`{}`, on the way to the state directory `{}`, is not a directory",
                        shown.display(),
                        path.display()
                    ),
                    help: "choose another state directory with --state-dir DIR".into(),
                }));
            }
            let fd = open(parent.fd.as_fd(), &c, &shown)?;
            let st2 = fstat(fd.as_fd()).map_err(|e| sys(format!("fstat({shown:?})"), e))?;
            if id_of(&st2) != id_of(&st) {
                return Err(unsafe_dir(
                    path,
                    format!("`{}` changed while it was checked", shown.display()),
                ));
            }
            if !ours(st2.st_uid) {
                return Err(unsafe_dir(
                    path,
                    format!(
                        "`{}` (mode 0{:o}) is owned by {}, who can rename or replace what it \
                         holds",
                        shown.display(),
                        mode_of(&st2),
                        owner_word(st2.st_uid)
                    ),
                ));
            }
            stack.push(Step {
                fd,
                path: shown,
                st: st2,
            });
        }
        let Some(last) = stack.pop() else {
            return Err(sys("walk".into(), Errno::EINVAL));
        };
        let m = mode_of(&last.st);
        if last.st.st_uid != me() || m & 0o022 != 0 {
            return Err(HostError::Refused(Refusal {
                code: "mountplan::state-dir::unsafe",
                message: format!(
                    "the state directory `{}` must be owned by {} and writable only by it (it \
                     is owned by {}, mode 0{m:o}): anyone else who may write it could plant a \
                     journal that recovery would act on",
                    last.path.display(),
                    owner_word(me()),
                    owner_word(last.st.st_uid)
                ),
                help: format!(
                    "`chown {} {}; chmod 0700 {}`, or choose another with --state-dir DIR",
                    me(),
                    last.path.display(),
                    last.path.display()
                ),
            }));
        }
        // A real descriptor (O_PATH cannot fsync or list), of the very inode checked.
        let fd = nix::fcntl::openat(
            last.fd.as_fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| sys(format!("open({:?}, O_DIRECTORY)", last.path.display()), e))?;
        Ok(Some(StateDir {
            fd,
            path: path.to_path_buf(),
        }))
    }
}
