//! Reading a live mount namespace for `capture`: its mountinfo, its mounts' `statmount`
//! records, which namespaces the process does not share with mountplan, and a look at files
//! on both sides.
//!
//! Takes a pid (or none, for mountplan's own namespace); returns a [`Snapshot`] and a
//! [`Looker`]. Everything of the process is read through one descriptor of its `/proc/PID`
//! directory, so a pid reused while it is read fails the read (ESRCH) instead of reading
//! another process. Only reads: nothing is changed.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, fstat};

use super::probe;
use super::resolve::{How, resolve};
use crate::capture::{Look, Snapshot, Stat};
use crate::sys::{SysError, errno_words};

/// Files of the captured namespace (below the process's root) and of the host.
#[derive(Debug)]
pub struct Looker {
    root: OwnedFd,
}

fn stat_of(fd: &OwnedFd) -> Option<Stat> {
    let st = fstat(fd.as_fd()).ok()?;
    Some(Stat {
        dev: st.st_dev,
        ino: st.st_ino,
        dir: SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR,
        mode: st.st_mode & 0o7777,
    })
}

impl Look for Looker {
    fn host(&self, path: &str) -> Option<Stat> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        stat_of(&fd)
    }
    fn inside(&self, path: &str) -> Option<Stat> {
        // Below the process's root as if it were `/`: an absolute symlink there stays inside.
        let rel = path.trim_start_matches('/');
        let fd = if rel.is_empty() {
            super::resolve::dup(self.root.as_fd()).ok()?
        } else {
            resolve(self.root.as_fd(), rel, How::NOFOLLOW).ok()?
        };
        stat_of(&fd)
    }
}

fn openat(dir: &OwnedFd, name: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
    nix::fcntl::openat(dir.as_fd(), name, flags | OFlag::O_CLOEXEC, Mode::empty())
}

fn read_at(dir: &OwnedFd, name: &str) -> Result<String, Errno> {
    let fd = openat(dir, name, OFlag::O_RDONLY)?;
    let mut s = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut s)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    Ok(s)
}

fn ns_id(dir: &OwnedFd, kind: &str) -> Option<(u64, u64)> {
    let fd = openat(dir, &format!("ns/{kind}"), OFlag::O_RDONLY).ok()?;
    let st = fstat(fd.as_fd()).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// Reads the mount namespace of `pid` (`None`: mountplan's own).
pub fn read(pid: Option<u32>) -> Result<(Snapshot, Looker), SysError> {
    let name = match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".into(),
    };
    let dir = nix::fcntl::open(
        name.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        let mut s = SysError::new(format!("open({name:?}, O_PATH|O_DIRECTORY)"), e);
        if e == Errno::ENOENT {
            s.why = Some(format!("there is no process {}", pid.unwrap_or(0)));
        }
        s
    })?;
    let me = nix::fcntl::open(
        "/proc/self",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SysError::new("open(\"/proc/self\", O_PATH|O_DIRECTORY)", e))?;
    let mountinfo = read_at(&dir, "mountinfo")
        .map_err(|e| SysError::new(format!("read(\"{name}/mountinfo\")"), e))?;
    let host_mountinfo = read_at(&me, "mountinfo")
        .map_err(|e| SysError::new("read(\"/proc/self/mountinfo\")", e))?;
    let root = openat(&dir, "root", OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(|e| SysError::new(format!("open(\"{name}/root\", O_PATH)"), e))?;
    let mut differs = Vec::new();
    for kind in ["user", "pid", "ipc", "uts", "net", "cgroup"] {
        let (a, b) = (ns_id(&dir, kind), ns_id(&me, kind));
        differs.push((kind, a.is_some() && a != b));
    }
    let own = ns_id(&dir, "mnt").is_some() && ns_id(&dir, "mnt") == ns_id(&me, "mnt");
    let stat = match openat(&dir, "ns/mnt", OFlag::O_RDONLY) {
        Ok(ns) => {
            let r = if own {
                probe::stat_table(None)
            } else {
                probe::stat_table(Some(ns.as_fd()))
            };
            r.map_err(|e| {
                let what = if e == Errno::ENOTTY || e == Errno::EINVAL {
                    "ioctl(NS_GET_MNTNS_ID) or listmount(2) of another namespace (Linux 6.11)"
                } else {
                    "listmount(2)/statmount(2)"
                };
                format!("{what} => {}", errno_words(e))
            })
        }
        Err(e) => Err(format!("open(\"{name}/ns/mnt\") => {}", errno_words(e))),
    };
    // Read after the rest: when the process went away (or its pid was reused) meanwhile,
    // the descriptor of its /proc directory no longer reads.
    read_at(&dir, "mountinfo")
        .map_err(|e| SysError::new(format!("read(\"{name}/mountinfo\")"), e))?;
    let snap = Snapshot {
        pid,
        own,
        mountinfo,
        host_mountinfo,
        stat,
        differs,
        kernel: probe::uname().0,
    };
    Ok((snap, Looker { root }))
}
