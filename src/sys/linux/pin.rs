//! Pinning a mount namespace on a file (`apply --persist FILE`) and releasing it.
//!
//! Takes FILE's path; returns a [`Pin`]: FILE held open, made by mountplan (`O_CREAT|O_EXCL|
//! O_NOFOLLOW`) or an existing regular, empty file of the caller's (opened `O_NOFOLLOW` and
//! checked on the descriptor), never a symlink, never a namespace already pinned. The
//! namespace is bound onto that descriptor (`/proc/self/fd/N`), never onto the path, so a
//! symlink planted at FILE, before or during the apply, cannot steer the bind to a host file.
//! [`release`] opens FILE the same way, unmounts through the descriptor and removes the name
//! through its directory's descriptor after checking it is still the file it released.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::UnlinkatFlags;

use super::files::{self, id_of, kind, kind_word};
use super::host::{HostError, NSFS_MAGIC, Refusal};
use crate::sys::SysError;

fn p(path: &Path) -> String {
    path.display().to_string()
}

fn is_nsfs(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    Ok(nix::sys::statfs::fstatfs(fd)?.filesystem_type().0 as i64 == NSFS_MAGIC)
}

/// FILE's directory (opened `O_PATH`, following symlinks: the directory is the caller's
/// choice) and its final name.
fn split(file: &Path) -> Result<(OwnedFd, OsString), HostError> {
    let Some(name) = file.file_name() else {
        return Err(HostError::Refused(Refusal {
            code: "mountplan::persist::not-a-file",
            message: format!("`{}` does not name a file", p(file)),
            help: "give the path of a file, such as /run/mountplan/pins/NAME".into(),
        }));
    };
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        HostError::Sys(SysError::new(
            format!("open({:?}, O_PATH|O_DIRECTORY)", p(dir)),
            e,
        ))
    })?;
    Ok((fd, name.to_os_string()))
}

/// FILE, held open for `apply --persist FILE` until the namespace is bound onto it.
#[derive(Debug)]
pub struct Pin {
    dir: OwnedFd,
    name: OsString,
    fd: OwnedFd,
    path: PathBuf,
    created: bool,
    pinned: bool,
}

impl Pin {
    /// Opens FILE, or creates it 0644 (see the module documentation); refuses anything else,
    /// before anything is applied.
    pub fn prepare(file: &Path) -> Result<Pin, HostError> {
        let (dir, name) = split(file)?;
        let refuse = |code: &'static str, message: String, help: String| {
            Err(HostError::Refused(Refusal {
                code,
                message,
                help,
            }))
        };
        let made = nix::fcntl::openat(
            dir.as_fd(),
            name.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        );
        let (fd, created) = match made {
            Ok(fd) => (fd, true),
            Err(Errno::EEXIST) => {
                let fd = nix::fcntl::openat(
                    dir.as_fd(),
                    name.as_os_str(),
                    OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| {
                    HostError::Sys(SysError::new(
                        format!("open({:?}, O_PATH|O_NOFOLLOW)", p(file)),
                        e,
                    ))
                })?;
                let st = fstat(fd.as_fd()).map_err(|e| {
                    HostError::Sys(SysError::new(format!("fstat({:?})", p(file)), e))
                })?;
                let me = super::host::euid();
                if is_nsfs(fd.as_fd()).unwrap_or(false) {
                    return refuse(
                        "mountplan::persist::already-pinned",
                        format!("`{}` already pins a namespace", p(file)),
                        format!(
                            "release it first (`mountplan release {}`), or give another FILE",
                            p(file)
                        ),
                    );
                }
                if kind(&st) == SFlag::S_IFLNK {
                    return refuse(
                        "mountplan::persist::symlink",
                        format!(
                            "`{}` is a symlink: --persist never follows one (the namespace would \
                             be pinned on whatever it points to)",
                            p(file)
                        ),
                        "remove it, or give another FILE (mountplan creates it)".into(),
                    );
                }
                if kind(&st) != SFlag::S_IFREG {
                    return refuse(
                        "mountplan::persist::not-a-file",
                        format!("`{}` is {}, not a regular file", p(file), kind_word(&st)),
                        "give a path that does not exist yet (mountplan creates it)".into(),
                    );
                }
                if st.st_uid != me || st.st_size != 0 {
                    return refuse(
                        "mountplan::persist::not-yours",
                        format!(
                            "`{}` exists and is not an empty file of yours (owner uid {}, {} \
                             bytes): --persist pins only onto a file it makes or an empty file \
                             the caller owns",
                            p(file),
                            st.st_uid,
                            st.st_size
                        ),
                        "give a path that does not exist yet (mountplan creates it)".into(),
                    );
                }
                (fd, false)
            }
            Err(e) => {
                return Err(HostError::Sys(SysError::new(
                    format!("open({:?}, O_CREAT|O_EXCL|O_NOFOLLOW, 0644)", p(file)),
                    e,
                )));
            }
        };
        Ok(Pin {
            dir,
            name,
            fd,
            path: file.to_path_buf(),
            created,
            pinned: false,
        })
    }

    /// Binds the mount namespace of `pid` onto the file opened, through its descriptor:
    /// `mount("/proc/PID/ns/mnt", "/proc/self/fd/N", MS_BIND)`, so `nsenter --mount=FILE`
    /// enters it.
    pub fn bind(&mut self, pid: i32) -> Result<(), SysError> {
        let src = format!("/proc/{pid}/ns/mnt");
        let target = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        let call = format!(
            "mount({src:?}, {target:?} ({}), NULL, MS_BIND, NULL)",
            p(&self.path)
        );
        match nix::mount::mount(
            Some(src.as_str()),
            target.as_str(),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        ) {
            Ok(()) => {
                self.pinned = true;
                Ok(())
            }
            Err(Errno::EINVAL) => Err(SysError::refused(
                call,
                Errno::EINVAL,
                "the file must be on a private mount (a namespace cannot be pinned where it \
                 would propagate into itself): `mount --bind DIR DIR && mount --make-private \
                 DIR`, then pin it in DIR",
            )),
            Err(e) => Err(SysError::new(call, e)),
        }
    }
}

impl Drop for Pin {
    /// A file mountplan made and did not pin on is removed (only while its name is still it).
    fn drop(&mut self) {
        if self.created && !self.pinned {
            if let (Ok(a), Ok(b)) = (
                fstat(self.fd.as_fd()),
                fstatat(
                    self.dir.as_fd(),
                    self.name.as_os_str(),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                ),
            ) {
                if id_of(&a) == id_of(&b) {
                    let _ = nix::unistd::unlinkat(
                        self.dir.as_fd(),
                        self.name.as_os_str(),
                        UnlinkatFlags::NoRemoveDir,
                    );
                }
            }
        }
    }
}

fn not_pinned(file: &Path, what: &str) -> HostError {
    HostError::Refused(Refusal {
        code: "mountplan::release::not-pinned",
        message: format!(
            "`{}` is not a pinned namespace ({what}): nothing was released",
            p(file)
        ),
        help: "give the FILE that `mountplan apply --persist FILE` pinned".into(),
    })
}

fn same(a: &FileStat, b: &FileStat) -> bool {
    id_of(a) == id_of(b)
}

/// Undoes [`Pin::bind`]: FILE (never through a symlink) must be a pinned namespace (nsfs); it
/// is detached through its descriptor, then the file below is removed through its directory's
/// descriptor, if that name is still the file that was pinned on (a regular, empty file of
/// the caller's).
pub fn release(file: &Path) -> Result<(), HostError> {
    let (dir, name) = split(file)?;
    let name = name.as_os_str();
    let sys = |call: String, e: Errno| HostError::Sys(SysError::new(call, e));
    let fd = nix::fcntl::openat(
        dir.as_fd(),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys(format!("open({:?}, O_PATH|O_NOFOLLOW)", p(file)), e))?;
    let st = fstat(fd.as_fd()).map_err(|e| sys(format!("fstat({:?})", p(file)), e))?;
    if !is_nsfs(fd.as_fd()).map_err(|e| sys(format!("fstatfs({:?})", p(file)), e))? {
        let what = if kind(&st) == SFlag::S_IFLNK {
            "a symlink; mountplan never pins through one".to_string()
        } else {
            format!("{}, not an nsfs mount", kind_word(&st))
        };
        return Err(not_pinned(file, &what));
    }
    let now = lstat(dir.as_fd(), name).map_err(|e| sys(format!("lstat({:?})", p(file)), e))?;
    if !same(&st, &now) {
        return Err(not_pinned(file, "it changed while it was checked"));
    }
    // The inode below the pin, as the directory lists it (a lookup would give the mount's).
    let under =
        listed_ino(dir.as_fd(), name).map_err(|e| sys(format!("readdir({:?})", p(file)), e))?;
    let dir_dev = fstat(dir.as_fd())
        .map_err(|e| sys(format!("fstat(<directory of {:?}>)", p(file)), e))?
        .st_dev;
    let target = format!("/proc/self/fd/{}", fd.as_raw_fd());
    nix::mount::umount2(target.as_str(), nix::mount::MntFlags::MNT_DETACH)
        .map_err(|e| sys(format!("umount2({target:?} ({}), MNT_DETACH)", p(file)), e))?;
    drop(fd);
    let below = lstat(dir.as_fd(), name).map_err(|e| sys(format!("lstat({:?})", p(file)), e))?;
    let me = super::host::euid();
    let same_file = Some(below.st_ino) == under && below.st_dev == dir_dev;
    if same_file && kind(&below) == SFlag::S_IFREG && below.st_size == 0 && below.st_uid == me {
        let still = dir.as_fd();
        nix::unistd::unlinkat(still, name, UnlinkatFlags::NoRemoveDir)
            .map_err(|e| sys(format!("unlink({:?})", p(file)), e))?;
    }
    Ok(())
}

fn lstat(dir: BorrowedFd<'_>, name: &OsStr) -> Result<FileStat, Errno> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

/// The inode number `getdents` gives for `name` in `dir` (that of the file itself, not of a
/// mount on it).
fn listed_ino(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Option<u64>, Errno> {
    let mut d = files::entries(dir)?;
    for e in d.iter() {
        let e = e?;
        if e.file_name().to_bytes() == std::os::unix::ffi::OsStrExt::as_bytes(name) {
            return Ok(Some(e.ino()));
        }
    }
    Ok(None)
}
