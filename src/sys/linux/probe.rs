//! What this kernel and host offer: the probes of `mountplan doctor` (the kernel's binary view
//! of a mount table, `statmount` and `listmount`, which `capture` reads, is in
//! [`super::statmount`]).
//!
//! Takes nothing, or a host path or a namespace; returns plain answers ([`Answer`], values of
//! sysctls, [`StatMount`]s). Nothing here changes the host: a system call is tried on a bad
//! descriptor (EBADF says it exists, ENOSYS that it does not), or for real on something that
//! is dropped at once (a detached mount, a descriptor); whatever needs a namespace of its own
//! (an unprivileged user namespace, a throwaway user namespace for an idmapped mount, the
//! mount API as a rootless apply would use it) runs in a forked child, which makes its
//! namespaces and exits. mountplan has no threads, so the child may `unshare(CLONE_NEWUSER)`
//! (which fails in a multi-threaded process) and allocate.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use super::newmount;

pub use super::statmount::{
    LSMT_ROOT, MOUNT_ATTR_ATIME_MASK, MOUNT_ATTR_IDMAP, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW,
    MOUNT_ATTR_RDONLY, MOUNT_ATTR_STRICTATIME, StatMount, listmount, mnt_ns_id, stat_table,
    statmount,
};

/// A probe's answer: it works (with what it found), or the errno of the call that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It works.
    Yes,
    /// It does not: which call failed, and how.
    No {
        /// The call, with its arguments.
        call: String,
        /// The errno.
        errno: Errno,
    },
}

impl Answer {
    fn of(call: impl Into<String>, r: Result<(), Errno>) -> Answer {
        match r {
            Ok(()) => Answer::Yes,
            Err(errno) => Answer::No {
                call: call.into(),
                errno,
            },
        }
    }
    /// True for [`Answer::Yes`].
    pub fn yes(&self) -> bool {
        matches!(self, Answer::Yes)
    }
    /// The errno, when it does not work.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Answer::Yes => None,
            Answer::No { errno, .. } => Some(*errno),
        }
    }
}

fn fd_of(r: libc::c_long) -> Result<OwnedFd, Errno> {
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the call returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

/// Whether a system call exists: made with a bad descriptor, anything but ENOSYS says it does.
fn exists(r: libc::c_long) -> Result<(), Errno> {
    if r < 0 && Errno::last() == Errno::ENOSYS {
        return Err(Errno::ENOSYS);
    }
    Ok(())
}

/// `openat2(AT_FDCWD, "/", {O_PATH|O_CLOEXEC, RESOLVE_NO_MAGICLINKS})`, for real.
pub fn openat2() -> Answer {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: a C string and a struct (its size passed) that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    Answer::of(
        "openat2(AT_FDCWD, \"/\", {O_PATH, RESOLVE_NO_MAGICLINKS})",
        fd_of(r).map(drop),
    )
}

/// Each call of the new mount API, tried where it cannot change anything: `fsopen("tmpfs")`
/// (a context, dropped before it makes a superblock; EPERM without privilege still says the
/// call exists), `open_tree(AT_FDCWD, "/", 0)` (an `O_PATH` descriptor, no copy), and
/// `fsconfig`, `fsmount`, `move_mount`, `mount_setattr` on descriptor -1.
pub fn mount_api() -> Vec<(&'static str, Answer)> {
    let mut out = Vec::new();
    let fsopen = match newmount::fsopen("tmpfs") {
        Ok(_) | Err(Errno::EPERM) => Ok(()),
        Err(e) => Err(e),
    };
    out.push((
        "fsopen",
        Answer::of("fsopen(\"tmpfs\", FSOPEN_CLOEXEC)", fsopen),
    ));
    // SAFETY: bad descriptors and NULL pointers: the kernel only checks them.
    let fsconfig = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            -1,
            6 as libc::c_uint,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_int,
        )
    };
    out.push((
        "fsconfig",
        Answer::of("fsconfig(-1, FSCONFIG_CMD_CREATE)", exists(fsconfig)),
    ));
    // SAFETY: as above.
    let fsmount = unsafe { libc::syscall(libc::SYS_fsmount, -1, 1 as libc::c_uint, 0) };
    out.push(("fsmount", Answer::of("fsmount(-1, 0, 0)", exists(fsmount))));
    // SAFETY: a C string that outlives the call; no clone is asked for.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            libc::O_CLOEXEC as libc::c_uint,
        )
    };
    out.push((
        "open_tree",
        Answer::of(
            "open_tree(AT_FDCWD, \"/\", OPEN_TREE_CLOEXEC)",
            fd_of(tree).map(drop),
        ),
    ));
    // SAFETY: bad descriptors and empty C strings: the kernel only checks them.
    let mv = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            -1,
            c"".as_ptr(),
            -1,
            c"".as_ptr(),
            0x44 as libc::c_uint,
        )
    };
    out.push((
        "move_mount",
        Answer::of("move_mount(-1, \"\", -1, \"\", F|T_EMPTY_PATH)", exists(mv)),
    ));
    // SAFETY: as above; a NULL attribute pointer with size 0.
    let sa = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            std::ptr::null::<libc::c_void>(),
            0usize,
        )
    };
    out.push((
        "mount_setattr",
        Answer::of(
            "mount_setattr(-1, \"\", AT_EMPTY_PATH, NULL, 0)",
            exists(sa),
        ),
    ));
    out
}

/// `listmount` and `statmount` of this namespace's root mount, for real.
pub fn statmount_listmount() -> (Answer, Answer) {
    let list = listmount(0);
    let l = Answer::of(
        "listmount({LSMT_ROOT}, ...)",
        list.as_ref().map(drop).map_err(|e| *e),
    );
    let s = match list {
        Ok(ids) => match ids.first() {
            Some(id) => Answer::of(
                format!("statmount({{{id}}}, SB_BASIC|MNT_BASIC)"),
                statmount(*id, 0).map(drop),
            ),
            None => Answer::of("statmount", Err(Errno::ENOENT)),
        },
        // Without listmount, a mount's unique id comes from statx(STATX_MNT_ID_UNIQUE).
        Err(_) => match unique_mnt_id("/") {
            Ok(id) => Answer::of(
                format!("statmount({{{id}}}, SB_BASIC|MNT_BASIC)"),
                statmount(id, 0).map(drop),
            ),
            Err(e) => Answer::of("statx(\"/\", STATX_MNT_ID_UNIQUE)", Err(e)),
        },
    };
    (s, l)
}

/// `STATX_MNT_ID_UNIQUE` (Linux 6.8).
const STATX_MNT_ID_UNIQUE: libc::c_uint = 0x4000;

fn unique_mnt_id(path: &str) -> Result<u64, Errno> {
    let p = CString::new(path).map_err(|_| Errno::EINVAL)?;
    let mut st = std::mem::MaybeUninit::<libc::statx>::uninit();
    // SAFETY: a C string and a writable statx buffer that outlive the call.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            p.as_ptr(),
            0,
            STATX_MNT_ID_UNIQUE,
            st.as_mut_ptr(),
        )
    };
    Errno::result(r)?;
    // SAFETY: statx succeeded.
    let st = unsafe { st.assume_init() };
    if st.stx_mask & STATX_MNT_ID_UNIQUE == 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(st.stx_mnt_id)
}

/// A sysctl's value (`/proc/sys/` + the name with dots as slashes), trimmed; `None` when the
/// kernel has no such sysctl.
pub fn sysctl(name: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The filesystem types the kernel has registered (`/proc/filesystems`).
pub fn filesystems() -> Vec<String> {
    std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect()
}

/// Whether a module for filesystem type `fstype` could be loaded on demand: the kernel asks
/// for `fs-TYPE`, which `modules.alias` of the running kernel must name. `None` when this
/// kernel has no module directory at all (a kernel without loadable modules, or one whose
/// modules are not installed).
pub fn fs_module(fstype: &str) -> Option<bool> {
    let rel = uname().0;
    let dir = format!("/lib/modules/{rel}");
    if !std::path::Path::new(&dir).is_dir() {
        return None;
    }
    let aliases = std::fs::read_to_string(format!("{dir}/modules.alias")).unwrap_or_default();
    let want = format!("alias fs-{fstype} ");
    Some(aliases.lines().any(|l| l.starts_with(&want)))
}

/// The kernel release and machine (`uname -r`, `uname -m`).
pub fn uname() -> (String, String) {
    match nix::sys::utsname::uname() {
        Ok(u) => (
            u.release().to_string_lossy().into_owned(),
            u.machine().to_string_lossy().into_owned(),
        ),
        Err(_) => (String::from("unknown"), String::from("unknown")),
    }
}

/// The ranges of `/proc/self/uid_map`: a process in the initial user namespace has the one
/// line `0 0 4294967295`.
pub fn in_initial_userns() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| {
        let f: Vec<&str> = m.split_whitespace().collect();
        f == ["0", "0", "4294967295"]
    })
}

/// Runs `f` in a forked child and returns what it sent back: `Ok(())`, or the stage (a
/// small number naming the call) and errno of the call that failed. The child exits when
/// `f` returns; its namespaces go with it.
fn in_child(f: impl FnOnce() -> Result<(), (u8, Errno)>) -> Result<(), (u8, Errno)> {
    let (mut rd, mut wr) = match std::os::unix::net::UnixStream::pair() {
        Ok(p) => p,
        Err(e) => return Err((0, Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))),
    };
    // SAFETY: mountplan has no threads (see the module documentation), so the child may do
    // anything the parent could; it leaves only through _exit.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err((0, e)),
        Ok(nix::unistd::ForkResult::Child) => {
            drop(rd);
            let msg = match f() {
                Ok(()) => [0u8, 0, 0, 0, 0],
                Err((stage, e)) => {
                    let n = (e as i32).to_ne_bytes();
                    [stage, n[0], n[1], n[2], n[3]]
                }
            };
            let _ = wr.write_all(&msg);
            // SAFETY: _exit ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(wr);
            let mut msg = [0u8; 5];
            let got = rd.read_exact(&mut msg);
            let _ = nix::sys::wait::waitpid(child, None);
            if got.is_err() {
                return Err((0, Errno::ECHILD));
            }
            if msg[0] == 0 {
                return Ok(());
            }
            let n = i32::from_ne_bytes([msg[1], msg[2], msg[3], msg[4]]);
            Err((msg[0], Errno::from_raw(n)))
        }
    }
}

fn write_file(path: &str, text: &str) -> Result<(), Errno> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// In the calling child: a user namespace mapping the caller to root (and a mount namespace),
/// as a rootless apply makes them.
fn become_rootless() -> Result<(), Errno> {
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)?;
    write_file("/proc/self/setgroups", "deny")?;
    write_file("/proc/self/uid_map", &format!("0 {uid} 1\n"))?;
    write_file("/proc/self/gid_map", &format!("0 {gid} 1\n"))?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    Ok(())
}

/// In a child, as uid/gid 65534 when running as root (as the caller otherwise):
/// `unshare(CLONE_NEWUSER)`. Whether an unprivileged user may make a user namespace here.
pub fn unprivileged_userns() -> Answer {
    let root = nix::unistd::geteuid().is_root();
    let r = in_child(|| {
        if root {
            nix::unistd::setgroups(&[]).map_err(|e| (1, e))?;
            let n = nix::unistd::Gid::from_raw(65534);
            nix::unistd::setresgid(n, n, n).map_err(|e| (1, e))?;
            let u = nix::unistd::Uid::from_raw(65534);
            nix::unistd::setresuid(u, u, u).map_err(|e| (1, e))?;
        }
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).map_err(|e| (2, e))
    });
    let who = if root {
        "as uid 65534"
    } else {
        "as the caller"
    };
    match r {
        Ok(()) => Answer::Yes,
        Err((1, e)) => Answer::of(format!("setresuid(65534) in a child ({who})"), Err(e)),
        Err((_, e)) => Answer::of(format!("unshare(CLONE_NEWUSER) {who}"), Err(e)),
    }
}

/// In a child, as the apply would (rootless: in a user namespace of its own): a detached
/// tmpfs with `fsopen` + `fsconfig(FSCONFIG_CMD_CREATE)` + `fsmount`, and a detached copy of
/// `/` with `open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)` given a flag with `mount_setattr`. All is dropped
/// with the child.
pub fn mount_api_works(rootless: bool) -> Answer {
    let r = in_child(|| {
        if rootless {
            become_rootless().map_err(|e| (1, e))?;
        }
        let fs = newmount::fsopen("tmpfs").map_err(|e| (2, e))?;
        newmount::fsconfig_create(fs.as_fd()).map_err(|e| (3, e))?;
        let m = newmount::fsmount(fs.as_fd(), 0).map_err(|e| (4, e))?;
        drop(m);
        let root =
            super::host::open_path(std::path::Path::new("/"), true).map_err(|e| (5, e.errno))?;
        // Recursive, as an apply copies a root: rootless, a copy without the mounts below
        // it is refused while they are locked (EINVAL).
        let copy = newmount::clone_tree(root.as_fd(), true).map_err(|e| (5, e))?;
        newmount::mount_setattr(copy.as_fd(), false, MOUNT_ATTR_NOSUID, 0).map_err(|e| (6, e))
    });
    let calls = [
        "",
        "unshare(CLONE_NEWUSER|CLONE_NEWNS) + uid/gid map",
        "fsopen(\"tmpfs\")",
        "fsconfig(FSCONFIG_CMD_CREATE)",
        "fsmount()",
        "open_tree(\"/\", OPEN_TREE_CLONE|AT_RECURSIVE)",
        "mount_setattr(<copy of />, MOUNT_ATTR_NOSUID)",
    ];
    match r {
        Ok(()) => Answer::Yes,
        Err((s, e)) => Answer::of(calls.get(s as usize).copied().unwrap_or("fork()"), Err(e)),
    }
}

/// A throwaway user namespace mapping the caller to root, as a descriptor: made by a
/// grandchild that unshares it, maps itself and waits until its parent has opened
/// `/proc/GRANDCHILD/ns/user`. Call it in a forked child.
fn throwaway_userns() -> Result<OwnedFd, Errno> {
    // One socket pair, an end each: the grandchild says it is ready on its end, then reads it
    // until the parent closes the other end (EOF).
    let (mut ours, mut theirs) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    // SAFETY: called in a child of a process without threads.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            drop(ours);
            let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok()
                && write_file("/proc/self/setgroups", "deny").is_ok()
                && write_file("/proc/self/uid_map", &format!("0 {uid} 1\n")).is_ok()
                && write_file("/proc/self/gid_map", &format!("0 {gid} 1\n")).is_ok();
            let _ = theirs.write_all(&[u8::from(ok)]);
            let mut b = [0u8; 1];
            let _ = theirs.read(&mut b);
            // SAFETY: ends the grandchild.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(theirs);
            let mut b = [0u8; 1];
            let got = ours.read_exact(&mut b);
            let ns = if got.is_ok() && b[0] == 1 {
                nix::fcntl::open(
                    format!("/proc/{child}/ns/user").as_str(),
                    nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
            } else {
                Err(Errno::EPERM)
            };
            drop(ours);
            let _ = nix::sys::wait::waitpid(child, None);
            ns
        }
    }
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Whether a bind of `source` can be idmapped (`MOUNT_ATTR_IDMAP`), as an apply would do it
/// (rootless: from a user namespace of its own): in a child, a detached copy of `source`
/// (`open_tree(OPEN_TREE_CLONE)`) gets the idmapping of a throwaway user namespace. The copy
/// and the namespaces are dropped with the child.
pub fn idmap(source: &std::path::Path, rootless: bool) -> Answer {
    let shown = source.display().to_string();
    let r = in_child(|| {
        if rootless {
            become_rootless().map_err(|e| (1, e))?;
        }
        let ns = throwaway_userns().map_err(|e| (2, e))?;
        let dir = super::host::open_path(source, false).map_err(|e| (3, e.errno))?;
        let copy = newmount::clone_tree(dir.as_fd(), false).map_err(|e| (3, e))?;
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_IDMAP,
            attr_clr: 0,
            propagation: 0,
            userns_fd: ns.as_raw_fd() as u64,
        };
        // SAFETY: mount_setattr(2) reads `attr` (its size passed) and an empty C string
        // naming the copy itself; both outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                copy.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH as libc::c_uint,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        Errno::result(r).map(drop).map_err(|e| (4, e))
    });
    match r {
        Ok(()) => Answer::Yes,
        Err((1, e)) => Answer::of("unshare(CLONE_NEWUSER|CLONE_NEWNS) + uid/gid map", Err(e)),
        Err((2, e)) => Answer::of("a throwaway user namespace", Err(e)),
        Err((3, e)) => Answer::of(format!("open_tree({shown:?}, OPEN_TREE_CLONE)"), Err(e)),
        Err((_, e)) => Answer::of(
            format!("mount_setattr(<copy of {shown}>, MOUNT_ATTR_IDMAP)"),
            Err(e),
        ),
    }
}

/// What a host path is: whether it exists (and what it is), the mount it is on (from
/// `statx(STATX_MNT_ID)` and `/proc/self/mountinfo`): its mountpoint, fstype and per-mount
/// options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathFacts {
    /// `Ok(true)` for a directory, `Ok(false)` for anything else, the errno when it cannot be
    /// opened.
    pub dir: Result<bool, Errno>,
    /// The mount it is on: (mountpoint, fstype, per-mount options as mountinfo writes them).
    pub mount: Option<(String, String, String)>,
}

/// The facts of host path `path` (symlinks followed, as an apply opens host paths).
pub fn host_path(path: &std::path::Path) -> HostPathFacts {
    let fd = match super::host::open_path(path, false) {
        Ok(fd) => fd,
        Err(e) => {
            return HostPathFacts {
                dir: Err(e.errno),
                mount: None,
            };
        }
    };
    let st = super::files::statx(fd.as_fd(), libc::STATX_TYPE | libc::STATX_MNT_ID);
    let Ok(st) = st else {
        return HostPathFacts {
            dir: Err(Errno::EIO),
            mount: None,
        };
    };
    let dir = u32::from(st.stx_mode) & libc::S_IFMT == libc::S_IFDIR;
    let mount = (st.stx_mask & libc::STATX_MNT_ID != 0)
        .then(|| {
            let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
            text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                if f.first()?.parse::<u64>().ok()? != st.stx_mnt_id {
                    return None;
                }
                let fstype = l.split_once(" - ")?.1.split(' ').next()?;
                Some((
                    super::mountinfo::unescape(f.get(4)?),
                    super::mountinfo::unescape(fstype),
                    f.get(5)?.to_string(),
                ))
            })
        })
        .flatten();
    HostPathFacts {
        dir: Ok(dir),
        mount,
    }
}

/// The mountpoints of mountplan's namespace strictly below `path` (as `/proc/self/mountinfo`
/// names them).
pub fn mounts_below(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4).map(super::mountinfo::unescape))
        .filter(|mp| mp != path && super::mountinfo::is_below(mp, path))
        .collect()
}
