//! The command's console: a pty of the new root's devpts bound onto `/dev/console`, handed to
//! the command, and the relay between the caller and its master.
//!
//! Takes the plan's [`Console`] (in the child, after the pivot: `/` is the new root);
//! returns the pty's master ([`open`]), after the slave is made mode 0600 and owner 0:0 (as
//! libcontainer's console setup does), bound onto `/dev/console` and put on descriptors 0, 1
//! and 2 of this process in place of the caller's. A host terminal (`console = "PATH"`) is
//! opened before the steps in the new mount namespace ([`open_host`]: its mount must be one of
//! that namespace to be copied) and bound the same way, its host mode and owner untouched. [`send`] and [`receive`] carry the master
//! from the child to the parent over their socket (`SCM_RIGHTS`); [`relay`], in the parent,
//! copies the caller's standard input to the master and the master to the caller's standard
//! output until the last holder of the slave is gone, with the caller's terminal (when
//! standard input is one) in raw mode and restored after.
//!
//! The calls of [`open`], in order (each error names its call):
//!
//! ```text
//! openat(<devpts>, "ptmx", O_RDWR|O_NOCTTY|O_NOFOLLOW)   checked: devpts, device 5:2
//! ioctl(TIOCSPTLCK, 0)                                    unlock the slave
//! ioctl(TIOCGPTPEER, O_RDWR|O_NOCTTY)                     the slave, without a path lookup
//! fchown(slave, 0, 0); fchmod(slave, 0600)
//! openat(<dev>, "console", O_PATH|O_NOFOLLOW)             or created (O_CREAT|O_EXCL|O_WRONLY, 0600)
//! open_tree(slave, OPEN_TREE_CLONE); move_mount(-> <dev>/console)
//! dup2(slave, 0); dup2(slave, 1); dup2(slave, 2)
//! ```
//!
//! The pty comes from the new root's own devpts (a new instance), never from the host's: the
//! command then holds no descriptor of the caller's terminal and can reach no host pty.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;

use super::resolve::{self, How};
use crate::model::{Console, ConsoleSource, HostPath};
use crate::sys::SysError;
use crate::sys::procs::HostTerminal;

/// `DEVPTS_SUPER_MAGIC`.
const DEVPTS_MAGIC: i64 = 0x1cd1;

fn fd_of(r: libc::c_int) -> Result<OwnedFd, Errno> {
    // SAFETY: on success `r` is a new descriptor owned by nothing else.
    Errno::result(r).map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn stat_of(fd: BorrowedFd<'_>) -> Result<libc::stat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fstat fills the zeroed buffer, which is then initialised.
    Errno::result(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: filled by fstat (and zeroed before).
    Ok(unsafe { st.assume_init() })
}

/// Opens the host's terminal `path` for a console, in the new mount namespace before the
/// steps: the terminal (refused unless it is one) and a detached copy of its mount.
pub fn open_host(path: &HostPath) -> Result<HostTerminal, SysError> {
    let call = format!("open({:?}, O_RDWR|O_NOCTTY)", path.as_str());
    let c =
        std::ffi::CString::new(path.as_str()).map_err(|_| SysError::new(&call, Errno::EINVAL))?;
    let tty = fd_of(unsafe_open(&c, libc::O_RDWR | libc::O_NOCTTY))
        .map_err(|e| SysError::host_path(&call, e, "the console", path.as_str()))?;
    // SAFETY: isatty on an open descriptor.
    if unsafe { libc::isatty(tty.as_raw_fd()) } != 1 {
        return Err(SysError::refused(
            call,
            Errno::ENOTTY,
            format!("the console `{path}` is not a terminal: give the path of a tty or pty slave"),
        ));
    }
    let tree = super::newmount::clone_tree(tty.as_fd(), false)
        .map_err(|e| SysError::new(format!("open_tree(<{path}>, OPEN_TREE_CLONE)"), e))?;
    Ok(HostTerminal { tty, tree })
}

/// Binds the console onto its target and makes it descriptors 0, 1 and 2 of this process:
/// `host`, the host terminal opened before the steps, or a new pty of the plan's devpts (its
/// slave made 0600, 0:0), whose master is returned. Called after the pivot (`/` is the new
/// root).
pub fn open(c: &Console, host: Option<HostTerminal>) -> Result<Option<OwnedFd>, SysError> {
    let target = c.target.as_str();
    let root = fd_of(unsafe_open(c"/", libc::O_PATH | libc::O_DIRECTORY))
        .map_err(|e| SysError::new("open(\"/\", O_PATH|O_DIRECTORY)", e))?;
    let parent = c.target.parent();
    let dev = resolve::resolve(root.as_fd(), parent.relative(), How::REAL_DIR)
        .map_err(|e| SysError::new(format!("open({:?})", parent.as_str()), e))?;
    let name = c.target.file_name();
    let cname = std::ffi::CString::new(name)
        .map_err(|_| SysError::new(format!("open({target:?})"), Errno::EINVAL))?;
    let devpts = match (&c.source, host) {
        (_, Some(h)) => {
            let dst = mountpoint(dev.as_fd(), &cname, target)?;
            super::newmount::move_mount(h.tree.as_fd(), dst.as_fd())
                .map_err(|e| SysError::new(format!("move_mount(<console>, <{target}>)"), e))?;
            stdio(&h.tty, "console")?;
            return Ok(None);
        }
        (ConsoleSource::Pty { devpts, .. }, None) => devpts,
        (ConsoleSource::Host(p), None) => {
            return Err(SysError::new(
                format!(
                    "open({:?}) (the console, not opened before the steps)",
                    p.as_str()
                ),
                Errno::EBADF,
            ));
        }
    };
    let pts = resolve::resolve(root.as_fd(), devpts.relative(), How::REAL_DIR)
        .map_err(|e| SysError::new(format!("open({devpts:?}) (the console's devpts)"), e))?;
    let ptmx_call = format!("openat(<{devpts}>, \"ptmx\", O_RDWR|O_NOCTTY|O_NOFOLLOW|O_CLOEXEC)");
    // SAFETY: a directory descriptor, a C string and flags.
    let master = fd_of(unsafe {
        libc::openat(
            pts.as_raw_fd(),
            c"ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })
    .map_err(|e| SysError::new(&ptmx_call, e))?;
    let mut fs = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: fstatfs fills the zeroed buffer.
    Errno::result(unsafe { libc::fstatfs(master.as_raw_fd(), fs.as_mut_ptr()) })
        .map_err(|e| SysError::new(format!("fstatfs(<{devpts}/ptmx>)"), e))?;
    // SAFETY: filled by fstatfs.
    let fs = unsafe { fs.assume_init() };
    let st = stat_of(master.as_fd()).map_err(|e| SysError::new("fstat(<ptmx>)", e))?;
    #[allow(clippy::unnecessary_cast)] // f_type is not i64 on every target
    let magic = fs.f_type as i64;
    if magic != DEVPTS_MAGIC || st.st_rdev != libc::makedev(5, 2) {
        return Err(SysError::refused(
            ptmx_call,
            Errno::ENODEV,
            format!("`{devpts}/ptmx` is not the ptmx of a devpts (device 5:2 on devpts)"),
        ));
    }
    let zero: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from a valid pointer.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &zero) })
        .map_err(|e| SysError::new("ioctl(<ptmx>, TIOCSPTLCK, 0)", e))?;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor.
    let slave = fd_of(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })
    .map_err(|e| SysError::new("ioctl(<ptmx>, TIOCGPTPEER, O_RDWR|O_NOCTTY)", e))?;
    // SAFETY: descriptor and integers.
    Errno::result(unsafe { libc::fchown(slave.as_raw_fd(), 0, 0) })
        .map_err(|e| SysError::new("fchown(<pty slave>, 0, 0)", e))?;
    // SAFETY: descriptor and integers.
    Errno::result(unsafe { libc::fchmod(slave.as_raw_fd(), 0o600) })
        .map_err(|e| SysError::new("fchmod(<pty slave>, 0600)", e))?;
    let dst = mountpoint(dev.as_fd(), &cname, target)?;
    let tree = super::newmount::clone_tree(slave.as_fd(), false)
        .map_err(|e| SysError::new("open_tree(<pty slave>, OPEN_TREE_CLONE)", e))?;
    super::newmount::move_mount(tree.as_fd(), dst.as_fd())
        .map_err(|e| SysError::new(format!("move_mount(<pty slave>, <{target}>)"), e))?;
    stdio(&slave, "pty slave")?;
    Ok(Some(master))
}

/// `fd` as descriptors 0, 1 and 2, in place of the caller's.
fn stdio(fd: &OwnedFd, what: &str) -> Result<(), SysError> {
    for n in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, integers only.
        Errno::result(unsafe { libc::dup2(fd.as_raw_fd(), n) })
            .map_err(|e| SysError::new(format!("dup2(<{what}>, {n})"), e))?;
    }
    Ok(())
}

fn unsafe_open(path: &std::ffi::CStr, flags: libc::c_int) -> libc::c_int {
    // SAFETY: a C string and flags.
    unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) }
}

/// The mountpoint `name` in `dev`: the file there (not a symlink, not a directory), or a new
/// empty file.
fn mountpoint(
    dev: BorrowedFd<'_>,
    name: &std::ffi::CStr,
    target: &str,
) -> Result<OwnedFd, SysError> {
    // SAFETY: a directory descriptor, a C string and flags.
    let found = fd_of(unsafe {
        libc::openat(
            dev.as_raw_fd(),
            name.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    });
    let call = format!("openat(<{target}>, O_PATH|O_NOFOLLOW|O_CLOEXEC)");
    match found {
        Ok(fd) => {
            let st = stat_of(fd.as_fd()).map_err(|e| SysError::new(&call, e))?;
            let kind = st.st_mode & libc::S_IFMT;
            if kind == libc::S_IFLNK || kind == libc::S_IFDIR {
                return Err(SysError::refused(
                    call,
                    Errno::EEXIST,
                    format!("`{target}` is a symlink or a directory, not a file to bind onto"),
                ));
            }
            Ok(fd)
        }
        Err(Errno::ENOENT) => {
            // SAFETY: a directory descriptor, a C string, flags and a mode.
            let fd = fd_of(unsafe {
                libc::openat(
                    dev.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o600 as libc::c_uint,
                )
            })
            .map_err(|e| {
                SysError::new(
                    format!(
                        "openat(<{target}>, O_CREAT|O_EXCL|O_WRONLY|O_NOFOLLOW|O_CLOEXEC, 0600)"
                    ),
                    e,
                )
            })?;
            Ok(fd)
        }
        Err(e) => Err(SysError::new(call, e)),
    }
}

/// Sends `master` over `sock` (one byte, `c`, with the descriptor), or, with `None`, the byte
/// `n` alone: no console comes.
pub fn send(sock: &UnixStream, master: Option<OwnedFd>) -> Result<(), Errno> {
    let byte: [u8; 1] = if master.is_some() { *b"c" } else { *b"n" };
    let mut iov = libc::iovec {
        iov_base: byte.as_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    // Room for one descriptor.
    let mut space = [0u64; 4];
    // SAFETY: a zeroed msghdr pointing at valid local buffers; CMSG_* compute inside `space`,
    // whose size CMSG_SPACE(sizeof(int)) does not exceed.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = &master {
            let n = std::mem::size_of::<RawFd>() as u32;
            msg.msg_control = space.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(n) as _;
            let cm = libc::CMSG_FIRSTHDR(&msg);
            (*cm).cmsg_level = libc::SOL_SOCKET;
            (*cm).cmsg_type = libc::SCM_RIGHTS;
            (*cm).cmsg_len = libc::CMSG_LEN(n) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cm).cast::<RawFd>(), fd.as_raw_fd());
        }
        loop {
            let r = libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL);
            match Errno::result(r) {
                Err(Errno::EINTR) => continue,
                r => return r.map(drop),
            }
        }
    }
}

/// Receives what [`send`] sent: the master, or `None` (no console, or the peer is gone).
pub fn receive(sock: &UnixStream) -> Result<Option<OwnedFd>, Errno> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut space = [0u64; 4];
    // SAFETY: a zeroed msghdr pointing at valid local buffers; the control data read is
    // checked for level, type and length before its descriptor is taken.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = space.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&space) as _;
        let r = loop {
            let r = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
            match Errno::result(r) {
                Err(Errno::EINTR) => continue,
                r => break r?,
            }
        };
        let mut got = None;
        let mut cm = libc::CMSG_FIRSTHDR(&msg);
        while !cm.is_null() {
            if (*cm).cmsg_level == libc::SOL_SOCKET
                && (*cm).cmsg_type == libc::SCM_RIGHTS
                && (*cm).cmsg_len as usize >= libc::CMSG_LEN(4) as usize
            {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cm).cast::<RawFd>());
                got = Some(OwnedFd::from_raw_fd(fd));
            }
            cm = libc::CMSG_NXTHDR(&msg, cm);
        }
        if r == 1 && byte == *b"c" {
            Ok(got)
        } else {
            Ok(None)
        }
    }
}

/// The caller's terminal mode, put back when dropped.
struct Restore {
    saved: Option<libc::termios>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            // SAFETY: fd 0 and a valid termios.
            unsafe { libc::tcsetattr(0, libc::TCSAFLUSH, t) };
        }
    }
}

/// Relays between the caller (descriptors 0 and 1) and `master` until the last holder of the
/// slave is gone (a read of the master says EIO), with the caller's terminal in raw mode (when
/// standard input is one) and put back after. At the end of standard input (not a terminal),
/// the pty gets its end-of-file character once.
pub fn relay(master: OwnedFd) -> Result<(), SysError> {
    let m = master.as_raw_fd();
    let mut restore = Restore { saved: None };
    // SAFETY: ioctl/tc* on fd 0 and the master with valid local buffers.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        let tty = libc::isatty(0) == 1 && libc::tcgetattr(0, &mut t) == 0;
        if tty {
            let mut ws: libc::winsize = std::mem::zeroed();
            if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
                libc::ioctl(m, libc::TIOCSWINSZ, &ws);
            }
            restore.saved = Some(t);
            let mut raw = t;
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(0, libc::TCSANOW, &raw);
        }
        let fl = libc::fcntl(m, libc::F_GETFL);
        libc::fcntl(m, libc::F_SETFL, fl | libc::O_NONBLOCK);
        let mut stdin_open = true;
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: m,
                    events: libc::POLLIN | if pending.is_empty() { 0 } else { libc::POLLOUT },
                    revents: 0,
                },
                libc::pollfd {
                    // A negative descriptor is left out by poll.
                    fd: if stdin_open && pending.is_empty() {
                        0
                    } else {
                        -1
                    },
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            if libc::poll(fds.as_mut_ptr(), 2, -1) < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    e => return Err(SysError::new("poll(<pty master>, 0)", e)),
                }
            }
            if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                let n = libc::read(m, buf.as_mut_ptr().cast(), buf.len());
                if n > 0 {
                    write_all(1, &buf[..n as usize]);
                } else if n == 0 {
                    break;
                } else {
                    match Errno::last() {
                        Errno::EAGAIN | Errno::EINTR => {}
                        // Every descriptor of the slave is closed: the command is gone.
                        Errno::EIO => break,
                        e => return Err(SysError::new("read(<pty master>)", e)),
                    }
                }
            }
            if !pending.is_empty() && fds[0].revents & libc::POLLOUT != 0 {
                let n = libc::write(m, pending.as_ptr().cast(), pending.len());
                if n > 0 {
                    pending.drain(..n as usize);
                }
            }
            if fds[1].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                let n = libc::read(0, buf.as_mut_ptr().cast(), buf.len());
                if n > 0 {
                    pending.extend_from_slice(&buf[..n as usize]);
                } else if n == 0 || Errno::last() != Errno::EINTR {
                    stdin_open = false;
                    if restore.saved.is_none() {
                        // The pty's VEOF (^D by default): a reader of the command's input
                        // sees the end of the caller's.
                        let mut pt: libc::termios = std::mem::zeroed();
                        let eof = if libc::tcgetattr(m, &mut pt) == 0 {
                            pt.c_cc[libc::VEOF]
                        } else {
                            4
                        };
                        pending.push(eof);
                    }
                }
            }
        }
    }
    drop(restore);
    Ok(())
}

/// Writes all of `b` to `fd`, dropping what a closed or failing output does not take.
fn write_all(fd: RawFd, mut b: &[u8]) {
    while !b.is_empty() {
        // SAFETY: a descriptor and a valid buffer.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n > 0 {
            b = &b[n as usize..];
        } else if n < 0 && Errno::last() == Errno::EINTR {
            continue;
        } else {
            return;
        }
    }
}
