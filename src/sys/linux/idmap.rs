//! Idmapped binds: a user namespace with a plan's mapping, and `MOUNT_ATTR_IDMAP` with it.
//!
//! Takes a detached copy of a bind's source (held by its descriptor), the host's `/proc` (the
//! one opened before the namespaces were made: pids there are the host's) and an
//! [`Idmap`]; returns once the copy has the mapping, or the errno with why in words. The user
//! namespace is made as runc and crun make one: a child process unshares it and waits; this
//! process writes the child's `uid_map` and `gid_map`, opens `/proc/CHILD/ns/user`, then lets
//! the child go. The namespace lives on in the mount while the descriptor is closed. A plan can
//! also borrow a user namespace that exists ([`borrow`]: its host file opened and checked
//! with `NS_GET_NSTYPE`).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use crate::model::Idmap;

/// `MOUNT_ATTR_IDMAP`.
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// A descriptor of a new user namespace whose maps are `map`'s.
pub fn userns(proc: BorrowedFd<'_>, map: &Idmap) -> Result<OwnedFd, Errno> {
    let (mut ours, mut theirs) = std::os::unix::net::UnixStream::pair().map_err(io_errno)?;
    // SAFETY: the steps run in a process without other threads; the child only makes
    // async-signal-safe calls (unshare, prctl, readlinkat, write, read, _exit).
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            drop(ours);
            // Its pid as the host's /proc knows it (this process may be in a pid namespace
            // of its own), or nothing when it failed.
            let mut said = Vec::new();
            if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok() {
                // Dumpable, so its /proc files are its own owner's (a rootless apply's
                // process is not).
                // SAFETY: prctl(PR_SET_DUMPABLE) takes integers only.
                unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
                if let Ok(p) = nix::fcntl::readlinkat(proc, "self") {
                    said = p.into_encoded_bytes();
                }
            }
            said.push(b'\n');
            let _ = theirs.write_all(&said);
            let mut b = [0u8; 1];
            let _ = theirs.read(&mut b);
            // SAFETY: ends the child without running this process's exit handlers.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(theirs);
            let r = (|| {
                let mut said = Vec::new();
                let mut b = [0u8; 1];
                while ours.read(&mut b).map_err(io_errno)? == 1 && b[0] != b'\n' {
                    said.push(b[0]);
                }
                let pid = String::from_utf8(said).map_err(|_| Errno::EIO)?;
                if pid.is_empty() || !pid.bytes().all(|c| c.is_ascii_digit()) {
                    // unshare(CLONE_NEWUSER) failed in the child.
                    return Err(Errno::EPERM);
                }
                write_at(proc, &format!("{pid}/uid_map"), &Idmap::map_text(&map.uid))?;
                write_at(proc, &format!("{pid}/gid_map"), &Idmap::map_text(&map.gid))?;
                openat(
                    proc,
                    format!("{pid}/ns/user").as_str(),
                    OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
            })();
            drop(ours);
            let _ = nix::sys::wait::waitpid(child, None);
            r
        }
    }
}

/// `ioctl(NS_GET_NSTYPE)`: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// A descriptor of the user namespace that exists at `path` on the host (`/proc/PID/ns/user`,
/// or a file a namespace is pinned on), or why not in words: missing, or not a user
/// namespace (another namespace's file, or any other file: ENOTTY/EINVAL from the ioctl).
pub fn borrow(path: &std::path::Path) -> Result<OwnedFd, (Errno, String)> {
    let shown = path.display();
    let fd =
        nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
            let why = match e {
                Errno::ENOENT => format!(
                    "`{shown}` does not exist on the host: give the user namespace of a running \
                     process (`/proc/PID/ns/user`) or a file a namespace is pinned on"
                ),
                e => format!("`{shown}` cannot be opened: {}", e.desc()),
            };
            (e, why)
        })?;
    // SAFETY: NS_GET_NSTYPE takes no argument and returns the namespace's CLONE_NEW* type.
    let t = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) };
    if t != libc::CLONE_NEWUSER {
        let e = if t < 0 { Errno::last() } else { Errno::EINVAL };
        return Err((
            e,
            format!(
                "`{shown}` is not a user namespace ({}): give `/proc/PID/ns/user` of a process \
                 in the namespace whose mapping the bind should get",
                if t < 0 {
                    "not a namespace file".to_string()
                } else {
                    format!("a namespace of type {t:#x}")
                }
            ),
        ));
    }
    Ok(fd)
}

fn write_at(proc: BorrowedFd<'_>, name: &str, text: &str) -> Result<(), Errno> {
    let fd = openat(
        proc,
        name,
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    std::fs::File::from(fd)
        .write_all(text.as_bytes())
        .map_err(io_errno)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(mount, "", AT_EMPTY_PATH [|AT_RECURSIVE], {attr_set=MOUNT_ATTR_IDMAP,
/// userns_fd})`.
pub fn set_idmap(
    mount: BorrowedFd<'_>,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: mount_setattr(2) reads `attr` (its size passed) and an empty C string naming
    // `mount` itself (AT_EMPTY_PATH); both outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// Why the kernel refused an idmapped bind of `source` with `e`, in words.
pub fn why(e: Errno, source: &str) -> String {
    match e {
        Errno::EINVAL => format!(
            "the filesystem of `{source}` does not support idmapped mounts (or the kernel \
             refuses this mapping): `mountplan doctor` says which filesystems here do; remove \
             `idmap` or bind from a filesystem that supports it (ext4, xfs, btrfs, tmpfs, ...)"
        ),
        Errno::EPERM => format!(
            "idmapping `{source}` needs CAP_SYS_ADMIN in the user namespace that owns its \
             filesystem: a rootless apply cannot idmap a host filesystem; run as root"
        ),
        Errno::ENOSYS => "this kernel (or a seccomp filter) lacks mount_setattr (Linux 5.12), \
                          which idmapped binds need"
            .to_string(),
        Errno::EBUSY => format!("the mount of `{source}` is in use or already idmapped"),
        e => format!("the idmapped bind of `{source}` failed: {}", e.desc()),
    }
}
