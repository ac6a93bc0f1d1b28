//! Path resolution inside a root directory, through file descriptors only.
//!
//! Takes a directory descriptor (the new root, or a host base directory during recovery) and
//! a relative path; returns an `O_PATH` descriptor of what the path names *inside* that
//! directory: symlinks (absolute or with `..`) are resolved as if the directory were `/`,
//! magic links (`/proc/self/root`, `/proc/self/fd/N`) are refused, and nothing is ever
//! opened for reading, so a FIFO where a directory is expected cannot block.
//!
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` does the work where the kernel has it.
//! Where it does not (ENOSYS from an old kernel or a seccomp filter, E2BIG/EINVAL for flags it
//! does not know), a component-by-component walk with `openat(O_PATH | O_NOFOLLOW)` does the
//! same in user space: it keeps the stack of directories it walked, so `..` never climbs
//! above the root, and it follows at most 40 symlinks (then ELOOP), as the kernel does. It
//! never falls back to a path-based call.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, SFlag, fstat};

/// How many symlinks one resolution may follow (the kernel's MAXSYMLINKS).
pub const MAX_LINKS: u32 = 40;

const UNKNOWN: u8 = 0;
const HAVE: u8 = 1;
const MISSING: u8 = 2;

/// Whether openat2 works here: found out on first use.
static OPENAT2: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Use the user-space walk from now on, as if the kernel had no openat2 (for tests of the
/// fallback; a seccomp filter returning ENOSYS has the same effect).
pub fn force_fallback() {
    OPENAT2.store(MISSING, Ordering::Relaxed);
}

/// True when the last resolution used openat2 (for reports and tests).
pub fn uses_openat2() -> bool {
    OPENAT2.load(Ordering::Relaxed) == HAVE
}

/// What a resolution accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct How {
    /// Follow a symlink in the last component (inside the root). When false, the descriptor
    /// of the symlink itself is returned.
    pub follow: bool,
    /// Refuse every symlink, in any component (proc and sysfs mountpoints).
    pub no_symlinks: bool,
    /// Require a directory.
    pub dir: bool,
    /// Stay below the starting directory (`RESOLVE_BENEATH`): an absolute symlink or a `..`
    /// above it is refused with EXDEV, instead of being taken from it as from `/`
    /// (`RESOLVE_IN_ROOT`).
    pub beneath: bool,
    /// Never cross into another mount (`RESOLVE_NO_XDEV`): EXDEV.
    pub no_xdev: bool,
}

impl How {
    /// Follow symlinks inside the root; any type.
    pub const FOLLOW: How = How {
        follow: true,
        no_symlinks: false,
        dir: false,
        beneath: false,
        no_xdev: false,
    };
    /// Follow symlinks inside the root; a directory.
    pub const DIR: How = How {
        follow: true,
        no_symlinks: false,
        dir: true,
        beneath: false,
        no_xdev: false,
    };
    /// The last component itself, not what it points to.
    pub const NOFOLLOW: How = How {
        follow: false,
        no_symlinks: false,
        dir: false,
        beneath: false,
        no_xdev: false,
    };
    /// A real directory reached without any symlink (CVE-2019-19921).
    pub const REAL_DIR: How = How {
        follow: false,
        no_symlinks: true,
        dir: true,
        beneath: false,
        no_xdev: false,
    };
    /// A path written as the kernel names it (a journal record's): no symlink anywhere, below
    /// the starting directory, on its mount.
    pub const EXACT: How = How {
        follow: false,
        no_symlinks: true,
        dir: false,
        beneath: true,
        no_xdev: true,
    };
    /// The same, staying on the starting directory's mount (and below it, with `beneath`).
    pub const fn on_mount(self, beneath: bool) -> How {
        How {
            beneath,
            no_xdev: true,
            ..self
        }
    }
    /// The same, requiring a directory.
    pub const fn dir(self) -> How {
        How { dir: true, ..self }
    }
}

/// Resolves `rel` (relative; empty or `.` for `root` itself) inside `root`.
pub fn resolve(root: BorrowedFd<'_>, rel: &str, how: How) -> Result<OwnedFd, Errno> {
    if OPENAT2.load(Ordering::Relaxed) != MISSING {
        match resolve_openat2(root, rel, how) {
            Err(Errno::ENOSYS) | Err(Errno::E2BIG) => OPENAT2.store(MISSING, Ordering::Relaxed),
            Err(Errno::EINVAL) if OPENAT2.load(Ordering::Relaxed) == UNKNOWN => {
                OPENAT2.store(MISSING, Ordering::Relaxed)
            }
            r => {
                if r.is_ok() {
                    OPENAT2.store(HAVE, Ordering::Relaxed);
                }
                return r;
            }
        }
    }
    walk(root, rel, how)
}

fn resolve_openat2(root: BorrowedFd<'_>, rel: &str, how: How) -> Result<OwnedFd, Errno> {
    let rel = if rel.is_empty() { "." } else { rel };
    let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if !how.follow {
        flags |= OFlag::O_NOFOLLOW;
    }
    if how.dir {
        flags |= OFlag::O_DIRECTORY;
    }
    let mut res = ResolveFlag::RESOLVE_NO_MAGICLINKS;
    res |= if how.beneath {
        ResolveFlag::RESOLVE_BENEATH
    } else {
        ResolveFlag::RESOLVE_IN_ROOT
    };
    if how.no_symlinks {
        res |= ResolveFlag::RESOLVE_NO_SYMLINKS;
    }
    if how.no_xdev {
        res |= ResolveFlag::RESOLVE_NO_XDEV;
    }
    // EAGAIN: a rename raced with the walk (the kernel cannot prove `..` stayed inside).
    let mut tries = 0;
    loop {
        let r = openat2(root, rel, OpenHow::new().flags(flags).resolve(res));
        match r {
            Err(Errno::EAGAIN) if tries < 32 => tries += 1,
            Err(Errno::EAGAIN) => return Err(Errno::EAGAIN),
            // O_NOFOLLOW on a final symlink gives the link itself (with O_DIRECTORY: ENOTDIR);
            // a refused symlink gives ELOOP.
            r => return r,
        }
    }
}

fn open_path(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    nix::fcntl::openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Duplicates a descriptor (close-on-exec).
pub fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on an open descriptor takes integers only.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    // SAFETY: on success the new descriptor is open and owned by nothing else.
    Errno::result(r).map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
}

const PROC_ROOT_INO: u64 = 1;

/// A procfs symlink that is not at the proc root (`self`, `thread-self`, `mounts`, ...) is
/// a magic link (`/proc/PID/root`, `/proc/PID/fd/N`, `/proc/PID/ns/*`): refused.
fn is_magic(link: BorrowedFd<'_>, parent: BorrowedFd<'_>) -> Result<bool, Errno> {
    let fs = nix::sys::statfs::fstatfs(link)?;
    if fs.filesystem_type().0 as i64 != super::host::PROC_SUPER_MAGIC {
        return Ok(false);
    }
    Ok(fstat(parent)?.st_ino != PROC_ROOT_INO)
}

/// The user-space walk used when openat2 is missing.
fn walk(root: BorrowedFd<'_>, rel: &str, how: How) -> Result<OwnedFd, Errno> {
    // Components still to walk, last first (so `pop` gives the next one).
    let mut todo: Vec<String> = rel
        .split('/')
        .rev()
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
        .collect();
    // The directories walked so far below the root; empty means "at the root".
    let mut stack: Vec<OwnedFd> = Vec::new();
    // The final object when it is not a directory pushed on the stack.
    let mut last: Option<OwnedFd> = None;
    let mut links = 0u32;
    // The mount everything must stay on, with `no_xdev`.
    let mount = if how.no_xdev {
        super::files::statx_id(root)?.1
    } else {
        None
    };
    while let Some(c) = todo.pop() {
        if c == ".." {
            if stack.pop().is_none() && how.beneath {
                return Err(Errno::EXDEV);
            }
            continue;
        }
        let cur = stack.last().map(|f| f.as_fd()).unwrap_or(root);
        let fd = open_path(cur, &c)?;
        if how.no_xdev && super::files::statx_id(fd.as_fd())?.1 != mount {
            return Err(Errno::EXDEV);
        }
        let st = fstat(fd.as_fd())?;
        let final_component = todo.is_empty();
        if super::files::kind(&st) == SFlag::S_IFLNK {
            // As the kernel: O_NOFOLLOW gives the final link itself (ENOTDIR when a
            // directory is required) before RESOLVE_NO_SYMLINKS is considered.
            if final_component && !how.follow {
                if how.dir {
                    return Err(Errno::ENOTDIR);
                }
                last = Some(fd);
                break;
            }
            if how.no_symlinks {
                return Err(Errno::ELOOP);
            }
            if is_magic(fd.as_fd(), cur)? {
                return Err(Errno::ELOOP);
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(Errno::ELOOP);
            }
            let target = nix::fcntl::readlinkat(fd.as_fd(), "")?;
            let target = target.to_str().ok_or(Errno::EINVAL)?;
            if target.starts_with('/') {
                if how.beneath {
                    return Err(Errno::EXDEV);
                }
                stack.clear();
            }
            todo.extend(
                target
                    .split('/')
                    .rev()
                    .filter(|c| !c.is_empty() && *c != ".")
                    .map(str::to_owned),
            );
            continue;
        }
        if super::files::kind(&st) == SFlag::S_IFDIR {
            stack.push(fd);
        } else if final_component {
            if how.dir {
                return Err(Errno::ENOTDIR);
            }
            last = Some(fd);
        } else {
            return Err(Errno::ENOTDIR);
        }
    }
    if let Some(fd) = last {
        return Ok(fd);
    }
    match stack.pop() {
        Some(fd) => Ok(fd),
        None => dup(root),
    }
}

/// For messages: the first component of `rel` inside `root` that is a symlink, as
/// (`/path/to/link`, its target). Only the error path calls this.
pub fn first_symlink(root: BorrowedFd<'_>, rel: &str) -> Option<(String, String)> {
    let mut cur: Option<OwnedFd> = None;
    let mut walked = String::new();
    for c in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let dir = cur.as_ref().map(|f| f.as_fd()).unwrap_or(root);
        let fd = open_path(dir, c).ok()?;
        walked.push('/');
        walked.push_str(c);
        if super::files::kind(&fstat(fd.as_fd()).ok()?) == SFlag::S_IFLNK {
            let t = nix::fcntl::readlinkat(fd.as_fd(), "").ok()?;
            return Some((walked, t.to_string_lossy().into_owned()));
        }
        cur = Some(fd);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("mp-resolve-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root/a/b")).unwrap();
        std::fs::create_dir_all(d.join("outside")).unwrap();
        d
    }

    fn open_dir(p: &std::path::Path) -> OwnedFd {
        nix::fcntl::open(p, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap()
    }

    fn ino(fd: &OwnedFd) -> u64 {
        fstat(fd.as_fd()).unwrap().st_ino
    }

    fn ino_of(p: &std::path::Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(p).unwrap().ino()
    }

    /// Both implementations, so the fallback is held to the kernel's answers.
    fn both(root: &OwnedFd, rel: &str, how: How) -> Result<u64, Errno> {
        let k = resolve_openat2(root.as_fd(), rel, how).map(|f| ino(&f));
        let w = walk(root.as_fd(), rel, how).map(|f| ino(&f));
        assert_eq!(k, w, "openat2 and the walk disagree on {rel:?} {how:?}");
        w
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let d = tmp("inside");
        let r = d.join("root");
        symlink("/a", r.join("abs")).unwrap();
        symlink("../../../../..", r.join("a/up")).unwrap();
        symlink(d.join("outside"), r.join("out")).unwrap();
        symlink("/proc/self/root", r.join("selfroot")).unwrap();
        symlink("loop", r.join("loop")).unwrap();
        let root = open_dir(&r);
        assert_eq!(both(&root, "abs/b", How::DIR), Ok(ino_of(&r.join("a/b"))));
        assert_eq!(both(&root, "a/up", How::DIR), Ok(ino_of(&r)));
        assert_eq!(both(&root, "a/up/a/../..", How::DIR), Ok(ino_of(&r)));
        // An absolute symlink to a host directory names the same path inside the root.
        let out_rel = d.join("outside");
        let out_rel = out_rel.strip_prefix("/").unwrap().to_str().unwrap();
        std::fs::create_dir_all(r.join(out_rel)).unwrap();
        assert_eq!(both(&root, "out", How::DIR), Ok(ino_of(&r.join(out_rel))));
        assert_eq!(both(&root, "selfroot", How::DIR), Err(Errno::ENOENT));
        assert_eq!(both(&root, "loop", How::FOLLOW), Err(Errno::ELOOP));
        assert_eq!(both(&root, "abs", How::REAL_DIR), Err(Errno::ENOTDIR));
        assert_eq!(both(&root, "abs/b", How::REAL_DIR), Err(Errno::ELOOP));
        assert_eq!(
            both(&root, "abs", How::NOFOLLOW),
            Ok(ino_of(&r.join("abs")))
        );
        assert_eq!(both(&root, "", How::DIR), Ok(ino_of(&r)));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_fifo_where_a_directory_is_expected_does_not_block() {
        let d = tmp("fifo");
        let r = d.join("root");
        nix::unistd::mkfifo(&r.join("f"), Mode::from_bits_truncate(0o600)).unwrap();
        let root = open_dir(&r);
        assert_eq!(both(&root, "f/x", How::DIR), Err(Errno::ENOTDIR));
        assert_eq!(both(&root, "f", How::DIR), Err(Errno::ENOTDIR));
        assert_eq!(both(&root, "f", How::FOLLOW), Ok(ino_of(&r.join("f"))));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn forty_links_resolve_and_forty_one_do_not() {
        let d = tmp("chain");
        let r = d.join("root");
        for i in 0..41 {
            symlink(format!("l{}", i + 1), r.join(format!("l{i}"))).unwrap();
        }
        std::fs::create_dir(r.join("l41")).unwrap();
        let root = open_dir(&r);
        assert_eq!(both(&root, "l1", How::DIR), Ok(ino_of(&r.join("l41"))));
        assert_eq!(both(&root, "l0", How::DIR), Err(Errno::ELOOP));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn magic_links_in_a_mounted_proc_are_refused() {
        // The host's /proc stands in for a proc mounted inside the root.
        let root = open_dir(std::path::Path::new("/"));
        assert_eq!(
            both(&root, "proc/self/root", How::FOLLOW),
            Err(Errno::ELOOP)
        );
        // `self` itself is an ordinary symlink at the proc root.
        assert!(both(&root, "proc/self/status", How::FOLLOW).is_ok());
    }
}
