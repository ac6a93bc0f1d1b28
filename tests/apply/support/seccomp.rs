//! Seccomp filters the tests install in a child before it runs mountplan: deny openat2, or a
//! list of system calls, with an errno.

use super::*;

/// The `AUDIT_ARCH_*` of this build (seccomp filters check it first).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;

#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Installs, in `cmd`'s child before exec, a seccomp filter that makes `openat2` fail with
/// ENOSYS (as on a kernel before 5.6, or under a container runtime's filter); every other
/// system call is allowed. Inherited by everything the command starts.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub fn deny_openat2(cmd: &mut Command) {
    deny_syscalls(cmd, &[libc::SYS_openat2 as u32]);
}

/// Installs, in `cmd`'s child before exec, a seccomp filter that makes each system call in
/// `nrs` fail with ENOSYS; every other one is allowed.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub fn deny_syscalls(cmd: &mut Command, nrs: &[u32]) {
    use std::os::unix::process::CommandExt;
    let n = nrs.len() as u8;
    let ret_errno = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    // A = arch; if A != AUDIT_ARCH goto allow; A = nr; if A == nrs[i] goto deny; allow; deny.
    let mut f = vec![
        stmt(0x20, 4),
        libc::sock_filter {
            code: 0x15,
            jt: 0,
            jf: n + 1,
            k: AUDIT_ARCH,
        },
        stmt(0x20, 0),
    ];
    for (i, nr) in nrs.iter().enumerate() {
        f.push(libc::sock_filter {
            code: 0x15,
            jt: n - i as u8,
            jf: 0,
            k: *nr,
        });
    }
    f.push(stmt(0x06, libc::SECCOMP_RET_ALLOW));
    f.push(stmt(0x06, ret_errno));
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: f.len() as u16,
                filter: f.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
