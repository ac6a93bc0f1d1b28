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
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::UnlinkatFlags;

use super::files::{id_of, kind};
use super::host::{HostError, Refusal};
use crate::sys::{FileId, SysError};

/// The most symlinks the walk follows (the kernel's limit).
const MAX_LINKS: u32 = 40;

/// tmpfs's f_type.
const TMPFS_MAGIC: i64 = 0x0102_1994;

fn me() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn ours(uid: u32) -> bool {
    uid == 0 || uid == me()
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

fn sys(call: String, e: Errno) -> HostError {
    HostError::Sys(SysError::new(call, e))
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

/// The state directory, open.
#[derive(Debug)]
pub struct StateDir {
    fd: OwnedFd,
    path: PathBuf,
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

/// The names in the directory `dir` that end with `suffix`, sorted.
pub fn list(dir: BorrowedFd<'_>, suffix: &str) -> Result<Vec<String>, Errno> {
    let mut d = nix::dir::Dir::openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut v = Vec::new();
    for e in d.iter() {
        let e = e?;
        if let Ok(n) = e.file_name().to_str() {
            if n.ends_with(suffix) && n != suffix {
                v.push(n.to_string());
            }
        }
    }
    v.sort();
    Ok(v)
}

/// True when `name` exists in `dir` (errors other than "missing" count as existing).
pub fn exists(dir: BorrowedFd<'_>, name: &str) -> bool {
    !matches!(
        fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW),
        Err(Errno::ENOENT)
    )
}

/// A journal file read from its directory's descriptor.
#[derive(Debug)]
pub struct JournalText {
    /// Its text.
    pub text: String,
    /// The inode read, so only it is removed.
    pub id: FileId,
}

/// The most a journal may hold (a plan has at most 10 000 steps of a few records each).
const MAX_JOURNAL: u64 = 64 << 20;

/// Reads the journal `name` in `dir`: `Ok(None)` when it is gone. Only a regular file the
/// caller owns and only it may write is read (journals are made 0600): anything else is not
/// a journal of this user and is left alone.
pub fn read(dir: BorrowedFd<'_>, name: &str) -> Result<Option<JournalText>, String> {
    let fd = match nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(format!("cannot open it: {}", crate::sys::errno_words(e))),
    };
    let st = fstat(fd.as_fd()).map_err(|e| format!("fstat: {}", crate::sys::errno_words(e)))?;
    if kind(&st) != SFlag::S_IFREG || st.st_uid != me() || mode_of(&st) & 0o022 != 0 {
        return Err(format!(
            "it is not a journal mountplan wrote as {} ({} owned by {}, mode 0{:o}): it was \
             left alone",
            owner_word(me()),
            super::files::kind_word(&st),
            owner_word(st.st_uid),
            mode_of(&st)
        ));
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_JOURNAL)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read it: {}", crate::sys::io_words(&e)))?;
    Ok(Some(JournalText {
        text,
        id: id_of(&st),
    }))
}

/// Removes `name` from `dir` when it is still the inode `id`: `Ok(false)` when it is gone or
/// is another file now (left alone).
pub fn remove(dir: BorrowedFd<'_>, name: &str, id: FileId) -> Result<bool, Errno> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if id_of(&st) == id => {}
        Ok(_) | Err(Errno::ENOENT) => return Ok(false),
        Err(e) => return Err(e),
    }
    nix::unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)?;
    let _ = nix::unistd::fsync(dir);
    Ok(true)
}

/// The journal of one apply, `<key>.journal` in the journal directory held open (from before
/// the namespace was made, so it works after a pivot): created exclusively on the first line.
#[derive(Debug)]
pub struct JournalFile {
    dir: OwnedFd,
    name: String,
    file: Option<std::fs::File>,
}

impl JournalFile {
    /// The journal `name` in the journal directory `dir`.
    pub fn new(dir: OwnedFd, name: &str) -> Self {
        JournalFile {
            dir,
            name: name.to_string(),
            file: None,
        }
    }
}

impl crate::sys::JournalStore for JournalFile {
    fn append(&mut self, head: &str, line: &str) -> Result<(), String> {
        use std::io::Write;
        let e = |what: &str, e: std::io::Error| {
            format!("{what} journal {}: {}", self.name, crate::sys::io_words(&e))
        };
        if self.file.is_none() {
            let fd = nix::fcntl::openat(
                self.dir.as_fd(),
                self.name.as_str(),
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_APPEND
                    | OFlag::O_CLOEXEC
                    | OFlag::O_NOFOLLOW,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(|x| e("create", x.into()))?;
            let mut f = std::fs::File::from(fd);
            f.write_all(head.as_bytes())
                .and_then(|_| f.sync_data())
                .map_err(|x| e("write", x))?;
            // The new name must be on disk before any change it describes.
            nix::unistd::fsync(self.dir.as_fd())
                .map_err(|x| e("sync the directory of", x.into()))?;
            self.file = Some(f);
        }
        let Some(f) = self.file.as_mut() else {
            return Err(format!("journal {} is not open", self.name));
        };
        f.write_all(line.as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|x| e("write", x))
    }

    fn remove(&mut self) -> Result<(), String> {
        if self.file.take().is_some() {
            nix::unistd::unlinkat(
                self.dir.as_fd(),
                self.name.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .map_err(|e| {
                format!(
                    "remove journal {}: {}",
                    self.name,
                    crate::sys::errno_words(e)
                )
            })?;
            let _ = nix::unistd::fsync(self.dir.as_fd());
        }
        Ok(())
    }
}

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
        let state =
            super::resolve::dup(self.fd()).map_err(|e| sys("dup(<state directory>)".into(), e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory of the caller's below the system's temporary directory (sticky,
    /// root's: the walk accepts it, since what is in it is the caller's).
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mountplan-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        d
    }

    #[test]
    fn the_state_directory_is_made_0700_and_dot_dot_is_walked_through_real_parents() {
        let d = scratch("walk");
        std::fs::create_dir(d.join("a")).unwrap();
        std::os::unix::fs::symlink("a", d.join("to-a")).unwrap();
        // `to-a/..` is `d` itself: `..` is taken from the directory the symlink led to.
        let state = d.join("to-a/../a/state");
        assert!(StateDir::open(&state, false).unwrap().is_none());
        let s = StateDir::open(&state, true).unwrap().unwrap();
        let st = fstat(s.fd()).unwrap();
        assert_eq!(st.st_mode & 0o7777, 0o700);
        assert_eq!(
            id_of(&st),
            id_of(&nix::sys::stat::stat(&d.join("a/state")).unwrap())
        );
        let j = s.subdir("journal", true).unwrap().unwrap();
        assert!(s.subdir("missing", false).unwrap().is_none());
        drop(j);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_relative_state_directory_or_a_file_on_the_way_is_refused() {
        let e = StateDir::open(Path::new("state"), true).unwrap_err();
        assert!(
            matches!(e, HostError::Refused(ref r) if r.code == "mountplan::state-dir::relative")
        );
        let d = scratch("file");
        std::fs::write(d.join("f"), "").unwrap();
        let e = StateDir::open(&d.join("f/state"), true).unwrap_err();
        assert!(
            matches!(e, HostError::Refused(ref r) if r.code == "mountplan::state-dir::not-a-directory"),
            "{e}"
        );
        let e = StateDir::open(&d.join("no/state"), true).unwrap_err();
        assert!(
            matches!(e, HostError::Refused(ref r) if r.code == "mountplan::state-dir::missing"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_group_writable_parent_is_refused_before_the_state_directory_is_made() {
        let d = scratch("group");
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o775)).unwrap();
        let e = StateDir::open(&d.join("state"), true).unwrap_err();
        let HostError::Refused(r) = e else {
            panic!("{e}")
        };
        assert!(
            r.message.contains("may be written by its group"),
            "{}",
            r.message
        );
        assert!(
            r.message.contains(&format!("`{}`", d.display())),
            "{}",
            r.message
        );
        assert!(r.help.contains("chmod go-w"), "{}", r.help);
        assert!(!d.join("state").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    /// The classic race of removing lock files: B opens the lock file while A holds it and
    /// waits; A removes the file and releases; B's lock is then on a file no name leads to, and
    /// C would create a new one and lock it too. B must see that and open the file again. B is
    /// made to meet exactly that order (A releases from B's wait callback, before B blocks).
    #[test]
    fn a_lock_released_and_removed_while_another_waits_is_not_held_twice() {
        let d = scratch("lock");
        let dir =
            nix::fcntl::open(&d, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let a = lock(dir.as_fd(), &d, "k.lock", true, &mut || {})
            .unwrap()
            .unwrap();
        assert!(d.join("k.lock").exists());
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (d2, dir2) = (d.clone(), resolve_dup(&dir));
        let b = std::thread::spawn(move || {
            let mut told = false;
            let l = lock(dir2.as_fd(), &d2, "k.lock", true, &mut || {
                told = true;
                tx.send(()).unwrap();
            })
            .unwrap()
            .unwrap();
            (l, told, dir2)
        });
        rx.recv().unwrap();
        a.release(dir.as_fd());
        let (b, told, dir2) = b.join().unwrap();
        assert!(told, "B never waited");
        // B holds the lock on the file the name leads to: C cannot take it.
        let c = lock(dir.as_fd(), &d, "k.lock", false, &mut || {}).unwrap();
        assert!(c.is_none(), "the lock was held twice");
        b.release(dir2.as_fd());
        assert!(!d.join("k.lock").exists(), "the lock file was left");
        let _ = std::fs::remove_dir_all(&d);
    }

    fn resolve_dup(fd: &OwnedFd) -> OwnedFd {
        super::super::resolve::dup(fd.as_fd()).unwrap()
    }
}
