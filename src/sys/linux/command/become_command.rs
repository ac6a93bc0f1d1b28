//! Becoming the command: the list of the module documentation of [`super`], then execve.
//!
//! Takes a prepared [`Setup`], the signals to reset and those the caller ignored; returns only
//! on failure, with the [`Failed`] step and its errno. System calls only (no allocation, no
//! lock), so it is safe in a `CLONE_VM | CLONE_VFORK` child.

use nix::errno::Errno;

use super::caps::{CAP_V3, CapData, CapHeader};
use super::{Failed, Setup, Stage};

/// Becomes the command: every call of the module documentation's list, then execve of each
/// candidate. Returns only on failure. Only system calls (no allocation, no lock): safe in
/// the vfork child of `spawn_command`. `ignored` holds the signals (bit N for signal N) the
/// caller ignored among `signals`, which are reset.
///
/// # Safety
/// `s` was made by [`Setup::prepare`] and is not used by anything else while this runs.
pub unsafe fn become_command(s: &mut Setup, signals: &[libc::c_int], ignored: u64) -> Failed {
    let fail = |stage| Failed {
        stage,
        errno: Errno::last_raw(),
    };
    // SAFETY: system calls on the prepared, NUL-terminated strings and arrays of `s`, which
    // outlive the calls; the structures passed by pointer are local and valid.
    unsafe {
        if s.missing != 0 {
            return Failed {
                stage: Stage::Capset,
                errno: libc::EPERM,
            };
        }
        if s.setsid {
            // Not a process group leader (a new process), so this cannot fail.
            libc::setsid();
        }
        // The console's pty: a session leader without a terminal takes it as its own.
        if s.console && libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
            return fail(Stage::Terminal);
        }
        libc::umask(s.umask);
        for &n in signals {
            let to = if ignored & (1 << n) != 0 {
                libc::SIG_IGN
            } else {
                libc::SIG_DFL
            };
            libc::signal(n, to);
        }
        if !s.seccomp.is_empty() {
            let prog = libc::sock_fprog {
                len: s.seccomp.len() as libc::c_ushort,
                filter: s.seccomp.as_mut_ptr(),
            };
            let r = libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            );
            if r != 0 && s.seccomp_required {
                return fail(Stage::Seccomp);
            }
        } else if s.seccomp_required {
            return Failed {
                stage: Stage::Seccomp,
                errno: libc::ENOSYS,
            };
        }
        for n in 0..=s.last_cap.min(63) {
            if s.caps & (1 << n) == 0
                && libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(n), 0, 0, 0) != 0
            {
                return fail(Stage::Bounding);
            }
        }
        if s.uid != 0 && libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
            return fail(Stage::Uid);
        }
        if s.set_groups && libc::setgroups(s.groups.len(), s.groups.as_ptr()) != 0 {
            return fail(Stage::Groups);
        }
        if libc::setresgid(s.gid, s.gid, s.gid) != 0 {
            return fail(Stage::Gid);
        }
        if libc::setresuid(s.uid, s.uid, s.uid) != 0 {
            return fail(Stage::Uid);
        }
        let mut hdr = CapHeader {
            version: CAP_V3,
            pid: 0,
        };
        let word = |i: u32| (s.caps >> (32 * i)) as u32;
        let data = [0u32, 1].map(|i| CapData {
            effective: word(i),
            permitted: word(i),
            inheritable: word(i),
        });
        if libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) != 0 {
            return fail(Stage::Capset);
        }
        if s.uid != 0 {
            for n in 0..=s.last_cap.min(63) {
                if s.caps & (1 << n) != 0
                    && libc::prctl(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                        libc::c_ulong::from(n),
                        0,
                        0,
                    ) != 0
                {
                    return fail(Stage::Ambient);
                }
            }
        }
        if s.no_new_privs && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return fail(Stage::NoNewPrivs);
        }
        if libc::chdir(s.cwd.as_ptr()) != 0 {
            return fail(Stage::Chdir);
        }
        // execvp's search, in the command's own environment and PATH.
        let mut errno = libc::ENOENT;
        let mut denied = false;
        for c in &s.candidates {
            libc::execve(c.as_ptr(), s.argv.as_ptr(), s.envp.as_ptr());
            match Errno::last_raw() {
                libc::ENOEXEC => {
                    s.sh_argv[1] = c.as_ptr();
                    libc::execve(c"/bin/sh".as_ptr(), s.sh_argv.as_ptr(), s.envp.as_ptr());
                    return fail(Stage::Exec);
                }
                libc::EACCES => denied = true,
                e @ (libc::ENOENT
                | libc::ENOTDIR
                | libc::ESTALE
                | libc::ENODEV
                | libc::ETIMEDOUT) => errno = e,
                _ => return fail(Stage::Exec),
            }
        }
        Failed {
            stage: Stage::Exec,
            errno: if denied { libc::EACCES } else { errno },
        }
    }
}
