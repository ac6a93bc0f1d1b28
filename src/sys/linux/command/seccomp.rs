//! The seccomp filter that stops TIOCSTI and TIOCLINUX.
//!
//! Takes nothing; returns the classic BPF program ([`tiocsti_filter`]) that
//! [`super::become_command`] installs before the command's privileges change: the two ioctls
//! fail with EPERM on this build's architecture and its 32-bit ABI, everything else is
//! allowed.

/// The `AUDIT_ARCH_*` of this build and of the 32-bit ABI its kernel also runs, with the
/// number of ioctl in each (and, on x86_64, the x32 numbers).
#[cfg(target_arch = "x86_64")]
mod arch {
    pub const NATIVE: u32 = 0xC000_003E;
    pub const IOCTL: &[u32] = &[16, 16 | 0x4000_0000, 514 | 0x4000_0000];
    pub const COMPAT: u32 = 0x4000_0003;
    pub const COMPAT_IOCTL: u32 = 54;
}
#[cfg(target_arch = "aarch64")]
mod arch {
    pub const NATIVE: u32 = 0xC000_00B7;
    pub const IOCTL: &[u32] = &[29];
    pub const COMPAT: u32 = 0x4000_0028;
    pub const COMPAT_IOCTL: u32 = 54;
}

/// A classic BPF seccomp program: `ioctl(fd, TIOCSTI, ...)` and `ioctl(fd, TIOCLINUX, ...)`
/// fail with EPERM (TIOCSTI pushes input into a terminal; TIOCLINUX can paste the console's
/// selection), everything else is allowed. Only the low 32 bits of the request are compared:
/// the kernel ignores the others (CVE-2019-10063 in flatpak compared all 64). Empty where the
/// architecture is not one this knows.
pub fn tiocsti_filter() -> Vec<libc::sock_filter> {
    #[cfg(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_endian = "little"
    ))]
    {
        use arch::*;
        // Offsets in struct seccomp_data: nr, arch, then args[6] from 16.
        const NR: u32 = 0;
        const ARCH: u32 = 4;
        const ARG1_LOW: u32 = 24;
        const LD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
        const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
        const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
        enum I {
            Ld(u32),
            /// If A == k, jump to the label; else go on.
            Jeq(u32, &'static str),
            Ret(u32),
            Label(&'static str),
        }
        let allow = libc::SECCOMP_RET_ALLOW;
        let deny = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let mut p = vec![
            I::Ld(ARCH),
            I::Jeq(NATIVE, "native"),
            I::Jeq(COMPAT, "compat"),
            I::Ret(allow),
            I::Label("native"),
            I::Ld(NR),
        ];
        p.extend(IOCTL.iter().map(|n| I::Jeq(*n, "arg")));
        p.extend([
            I::Ret(allow),
            I::Label("compat"),
            I::Ld(NR),
            I::Jeq(COMPAT_IOCTL, "arg"),
            I::Ret(allow),
            I::Label("arg"),
            I::Ld(ARG1_LOW),
            I::Jeq(libc::TIOCSTI as u32, "deny"),
            I::Jeq(libc::TIOCLINUX as u32, "deny"),
            I::Ret(allow),
            I::Label("deny"),
            I::Ret(deny),
        ]);
        // Labels -> instruction indices (labels take no room).
        let mut at = std::collections::BTreeMap::new();
        let mut n = 0usize;
        for i in &p {
            match i {
                I::Label(l) => {
                    at.insert(*l, n);
                }
                _ => n += 1,
            }
        }
        let mut out = Vec::with_capacity(n);
        for i in &p {
            let here = out.len();
            let ins = |code, jt, k| libc::sock_filter { code, jt, jf: 0, k };
            match i {
                I::Label(_) => continue,
                I::Ld(k) => out.push(ins(LD, 0, *k)),
                I::Ret(k) => out.push(ins(RET, 0, *k)),
                I::Jeq(k, l) => {
                    let to = at[l];
                    out.push(ins(JEQ, (to - here - 1) as u8, *k));
                }
            }
        }
        out
    }
    #[cfg(not(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_endian = "little"
    )))]
    {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_a_well_formed_program() {
        let f = tiocsti_filter();
        assert!(!f.is_empty());
        // Every jump lands inside the program, and the program ends in a return.
        for (i, ins) in f.iter().enumerate() {
            if ins.code == (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16 {
                assert!(
                    i + 1 + usize::from(ins.jt) < f.len(),
                    "jump {i} out of range"
                );
            }
        }
        assert_eq!(
            f.last().map(|i| i.k),
            Some(libc::SECCOMP_RET_ERRNO | libc::EPERM as u32)
        );
    }

    /// The filter, installed in a forked child (one thread: nothing but system calls there):
    /// TIOCSTI and TIOCLINUX fail with EPERM, also with the request's high bits set; another
    /// ioctl on the same descriptor still works. As root, TIOCSTI works without the filter.
    #[test]
    fn the_filter_stops_tiocsti_and_nothing_else() {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        use std::os::fd::AsRawFd;
        let slave = pty.slave.as_raw_fd();
        let mut f = tiocsti_filter();
        let prog = libc::sock_fprog {
            len: f.len() as libc::c_ushort,
            filter: f.as_mut_ptr(),
        };
        let root = nix::unistd::geteuid().is_root();
        // SAFETY: the child makes system calls only and ends with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: system calls on valid descriptors and local buffers.
            unsafe {
                let ch = b'x';
                let mut code = 0;
                if root && libc::ioctl(slave, libc::TIOCSTI, &ch) != 0 {
                    code |= 1; // without the filter, root may push input
                }
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || libc::prctl(
                        libc::PR_SET_SECCOMP,
                        libc::SECCOMP_MODE_FILTER,
                        &prog as *const libc::sock_fprog,
                    ) != 0
                {
                    libc::_exit(100);
                }
                let high = libc::TIOCSTI as libc::c_ulong | (1 << 32);
                for req in [libc::TIOCSTI as libc::c_ulong, high, libc::TIOCLINUX as _] {
                    if libc::ioctl(slave, req as _, &ch) != -1
                        || *libc::__errno_location() != libc::EPERM
                    {
                        code |= 2;
                    }
                }
                let mut ws: libc::winsize = std::mem::zeroed();
                if libc::ioctl(slave, libc::TIOCGWINSZ, &mut ws) != 0 {
                    code |= 4;
                }
                libc::_exit(code);
            }
        }
        assert!(pid > 0);
        let mut st = 0;
        // SAFETY: waits for the child just made.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        assert!(libc::WIFEXITED(st));
        assert_eq!(
            libc::WEXITSTATUS(st),
            0,
            "bits: 1 control, 2 not stopped, 4 too much stopped"
        );
    }
}
