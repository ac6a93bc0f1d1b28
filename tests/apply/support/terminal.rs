//! A pseudo-terminal for the tests that run mountplan on one: open it, its number, its line
//! discipline flags, and a run of mountplan with it as the controlling terminal.

use super::*;

/// A pty pair for the caller's side: (master, slave), both close-on-exec.
pub fn openpty() -> (OwnedFd, OwnedFd) {
    // SAFETY: libc calls on the new descriptor and a local buffer; each result is checked.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let m = OwnedFd::from_raw_fd(m);
        assert_eq!(libc::grantpt(m.as_raw_fd()), 0);
        assert_eq!(libc::unlockpt(m.as_raw_fd()), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(m.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0
        );
        let s = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(s >= 0, "open slave: {}", std::io::Error::last_os_error());
        (m, OwnedFd::from_raw_fd(s))
    }
}

fn pty_number(master: &OwnedFd) -> u32 {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int.
    assert_eq!(
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) },
        0
    );
    n
}

fn lflag(fd: &OwnedFd) -> libc::tcflag_t {
    // SAFETY: a local termios filled by tcgetattr, checked.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(fd.as_raw_fd(), &mut t), 0);
        t.c_lflag
    }
}

/// Runs `c` with its descriptors 0, 1 and 2 on a terminal of the test's (its controlling
/// terminal too, in a new session); returns the exit status, everything written to the
/// terminal, and the terminal's local modes (`c_lflag`) before and after. The terminal is
/// never number 0 of the host's devpts (held by the test meanwhile), so its device number
/// differs from that of a console's pty, number 0 of a new devpts. Reads until the last holder
/// of the terminal is gone (EIO), then waits: no timing.
pub fn on_a_terminal(mut c: Command) -> (i32, String, libc::tcflag_t, libc::tcflag_t) {
    let (mut master, mut slave) = openpty();
    let mut held = Vec::new();
    while pty_number(&master) == 0 {
        held.push(openpty());
        std::mem::swap(&mut master, &mut held.last_mut().unwrap().0);
        std::mem::swap(&mut slave, &mut held.last_mut().unwrap().1);
    }
    let before = lflag(&master);
    c.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = c.spawn().unwrap();
    // The test's copies of the slave are gone with `c`: the master reads EIO once mountplan
    // and everything it started have closed theirs.
    drop(c);
    let mut f = std::fs::File::from(master.try_clone().unwrap());
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read the caller's terminal: {e}"),
        }
    }
    let status = child.wait().unwrap();
    let after = lflag(&master);
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        before,
        after,
    )
}
