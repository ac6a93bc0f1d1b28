//! The command line's descriptor calls: opening a plan file without waiting for a FIFO's
//! writer, and taking over a descriptor the caller passed (`--report-fd N`).
//!
//! Takes paths and descriptor numbers; returns `File`s, or the `io::Error` of the call.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `p` for reading with `O_NONBLOCK | O_NOCTTY`: a FIFO with no writer does not hang the
/// open, a terminal does not become the controlling one.
pub fn open_nonblocking(p: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(p)
}

/// Clears `O_NONBLOCK` on `f`: reads wait for data again.
pub fn set_blocking(f: &File) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor `f` owns for the whole call.
    let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
    if flags < 0
        || unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What descriptor `n` of this process is open for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Not open.
    No,
    /// For reading only.
    ReadOnly,
    /// For writing (or both).
    Writable,
}

/// `fcntl(n, F_GETFL)`, as an [`Open`].
pub fn open_for(n: i32) -> Open {
    // SAFETY: fcntl(F_GETFL) takes an integer and reads nothing else.
    let flags = unsafe { libc::fcntl(n, libc::F_GETFL) };
    if flags < 0 {
        Open::No
    } else if flags & libc::O_ACCMODE == libc::O_RDONLY {
        Open::ReadOnly
    } else {
        Open::Writable
    }
}

/// Marks descriptor `n` close-on-exec and takes it over as a `File`.
///
/// # Safety
/// `n` is open and nothing else in this process uses it from here on (the caller handed it
/// over by naming it).
pub unsafe fn take_cloexec(n: i32) -> io::Result<File> {
    // SAFETY: FD_CLOEXEC is a flag of this process's descriptor only.
    if unsafe { libc::fcntl(n, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { File::from_raw_fd(n) })
}
