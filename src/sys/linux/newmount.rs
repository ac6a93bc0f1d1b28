//! The kernel's new mount API, as thin wrappers: `fsopen`, `fsconfig`, `fsmount`,
//! `open_tree`, `move_mount`, `mount_setattr`.
//!
//! Takes descriptors, names and `MOUNT_ATTR_*` bits; returns descriptors of detached or
//! attached mounts, or the errno. A mount made this way is known by its descriptor from the
//! moment it exists: nothing has to find it again by a path another process could rename.
//! These calls exist since Linux 5.2 (`mount_setattr` since 5.12).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
const AT_RECURSIVE: libc::c_uint = 0x8000;

fn c(s: &str) -> Result<CString, Errno> {
    CString::new(s).map_err(|_| Errno::EINVAL)
}

/// A descriptor from a system call's return value.
fn fd_of(r: libc::c_long) -> Result<OwnedFd, Errno> {
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the call returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`: a filesystem context.
pub fn fsopen(fstype: &str) -> Result<OwnedFd, Errno> {
    let t = c(fstype)?;
    // SAFETY: a valid C string and an integer flag.
    fd_of(unsafe { libc::syscall(libc::SYS_fsopen, t.as_ptr(), FSOPEN_CLOEXEC) })
}

/// `fsconfig(fs, FSCONFIG_SET_STRING, key, value)`, or `FSCONFIG_SET_FLAG` without a value.
pub fn fsconfig(fs: BorrowedFd<'_>, key: &str, value: Option<&str>) -> Result<(), Errno> {
    let k = c(key)?;
    let v = value.map(c).transpose()?;
    let (cmd, vp) = match &v {
        Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
        None => (FSCONFIG_SET_FLAG, std::ptr::null()),
    };
    // SAFETY: valid C strings (or NULL for a flag) that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            cmd,
            k.as_ptr(),
            vp,
            0 as libc::c_int,
        )
    };
    Errno::result(r).map(drop)
}

/// `fsconfig(fs, FSCONFIG_CMD_CREATE)`: the superblock.
pub fn fsconfig_create(fs: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: integers and NULL pointers only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_int,
        )
    };
    Errno::result(r).map(drop)
}

/// `fsmount(fs, FSMOUNT_CLOEXEC, attr)`: a detached mount of the context's superblock.
pub fn fsmount(fs: BorrowedFd<'_>, attr: u64) -> Result<OwnedFd, Errno> {
    // SAFETY: integers only.
    fd_of(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attr as libc::c_uint,
        )
    })
}

/// What the filesystem context logged about a failure (`e reason` lines), when it did.
pub fn fs_log(fs: BorrowedFd<'_>) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        // SAFETY: reads into a buffer of the given size.
        let n = unsafe { libc::read(fs.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf[..n as usize]).into_owned();
        let line = line.trim_end().to_string();
        out.push(match line.split_once(' ') {
            Some((_, rest)) => rest.to_string(),
            None => line,
        });
    }
    (!out.is_empty()).then(|| out.join("; "))
}

/// `open_tree(fd, "", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_EMPTY_PATH [|AT_RECURSIVE])`: a
/// detached copy of the mount `fd` is on, from the directory `fd` names (with the mounts below
/// it when `recursive`).
pub fn clone_tree(fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: an empty C string naming `fd` itself (AT_EMPTY_PATH), and integers.
    fd_of(unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) })
}

/// `move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH)`: attaches
/// the mount `from` is the root of on the directory (or file) `to` names.
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: two descriptors and empty C strings naming them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(r).map(drop)
}

/// `move_mount(from, "", dir, name, MOVE_MOUNT_F_EMPTY_PATH)`: attaches the mount `from` is
/// the root of on `name` in the directory `dir` (one component: no final symlink followed, no
/// automount triggered).
pub fn move_mount_at(from: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &str) -> Result<(), Errno> {
    let name = std::ffi::CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: two descriptors, an empty C string naming `from` and a C string that outlives
    // the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    Errno::result(r).map(drop)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [|AT_RECURSIVE], {set, clr})`, with the bits of
/// [`crate::lowering::mount_attr`].
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, set: u64, clr: u64) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: mount_setattr(2) reads `attr` (its size passed) and an empty C string naming
    // `fd` itself (AT_EMPTY_PATH); both outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// The calls of the new mount API this kernel lacks (ENOSYS), asked cheaply for an apply to
/// choose its API: each call made with a NULL name or descriptor -1, which the kernel refuses
/// (EFAULT, EBADF, EINVAL) before doing anything when it has the call. A seccomp filter that
/// answers ENOSYS counts as lacking it.
pub fn missing() -> Vec<&'static str> {
    let null = std::ptr::null::<libc::c_char>();
    let lacks = |r: libc::c_long| r < 0 && Errno::last() == Errno::ENOSYS;
    let mut out = Vec::new();
    // SAFETY (each call): NULL pointers, descriptor -1 and sizes 0: the kernel only checks
    // them, and the errno is read right after the call.
    if lacks(unsafe { libc::syscall(libc::SYS_fsopen, null, 0 as libc::c_uint) }) {
        out.push("fsopen");
    }
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, -1, FSCONFIG_CMD_CREATE, null, null, 0) };
    if lacks(r) {
        out.push("fsconfig");
    }
    if lacks(unsafe { libc::syscall(libc::SYS_fsmount, -1, 0 as libc::c_uint, 0) }) {
        out.push("fsmount");
    }
    if lacks(unsafe { libc::syscall(libc::SYS_open_tree, -1, null, 0 as libc::c_uint) }) {
        out.push("open_tree");
    }
    let r = unsafe { libc::syscall(libc::SYS_move_mount, -1, null, -1, null, 0 as libc::c_uint) };
    if lacks(r) {
        out.push("move_mount");
    }
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            null,
            0 as libc::c_uint,
            null,
            0usize,
        )
    };
    if lacks(r) {
        out.push("mount_setattr");
    }
    out
}
