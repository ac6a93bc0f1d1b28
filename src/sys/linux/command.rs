//! The process that becomes the command: what the plan's `[process]` says, done with system
//! calls only, in an order where each call still has the privilege it needs.
//!
//! Takes the plan's [`Process`], the command line, the caller's umask and environment;
//! [`Setup::prepare`] builds everything beforehand (C strings, the environment, the
//! candidates of the `PATH` search, capability masks, the seccomp program), so that
//! [`become_command`] makes system calls only and is safe in a `CLONE_VM | CLONE_VFORK` child.
//! The order:
//!
//! ```text
//! setsid (unless --keep-terminal)       the caller's terminal is no longer the controlling one
//! umask                                 the caller's (mountplan runs with 0), or the plan's
//! signals                               back to default, or ignored as the caller had them
//! seccomp: ioctl TIOCSTI/TIOCLINUX      EPERM, as flatpak and bubblewrap do (installed while
//!                                       CAP_SYS_ADMIN is still there: no_new_privs not needed)
//! PR_CAPBSET_DROP every other cap       needs CAP_SETPCAP: before the uid changes
//! PR_SET_KEEPCAPS 1 (uid != 0)          setresuid would clear the permitted set
//! setgroups, setresgid, setresuid       (setgroups not rootless: it is denied there)
//! capset eff = perm = inh = the set     after the uid change, which cleared the effective set
//! PR_CAP_AMBIENT_RAISE each (uid != 0)  so exec keeps them for a non-root uid, as runc does
//! PR_SET_NO_NEW_PRIVS 1                 last privilege change
//! chdir(cwd)                            as the command's user, with its capabilities
//! execve each PATH candidate            in the command's environment and its PATH
//! ```
//!
//! As uid 0, exec gives the permitted and effective sets the bounding set (with inheritable
//! bits), so the bounding set is what bounds a root command; capset makes the sets exact
//! before exec as well.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;

use crate::model::{CAP_NAMES, CapSet, CapsAsked, Process};

/// The step of [`become_command`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The seccomp filter against TIOCSTI could not be installed (and was needed).
    Seccomp,
    /// Dropping the bounding set.
    Bounding,
    /// `setgroups`.
    Groups,
    /// `setresgid`.
    Gid,
    /// `setresuid` (or `PR_SET_KEEPCAPS`).
    Uid,
    /// `capset`.
    Capset,
    /// Raising the ambient set.
    Ambient,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs,
    /// `chdir` to the working directory.
    Chdir,
    /// `execve` (the PATH search).
    Exec,
}

/// What [`become_command`] returns when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    /// Where.
    pub stage: Stage,
    /// The errno.
    pub errno: libc::c_int,
}

/// Everything the process that becomes the command needs, prepared before it starts.
pub struct Setup {
    /// The program as given (for messages).
    pub program: String,
    /// The working directory (for messages).
    pub cwd_text: String,
    /// The uid, gid and groups (for messages).
    pub ids: (u32, u32, Vec<u32>),
    /// The PATH searched, when the program has no `/` (for messages).
    searched: Option<String>,
    setsid: bool,
    umask: libc::mode_t,
    /// Keeps the argument strings alive for `argv`.
    _args: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    /// `/bin/sh CANDIDATE ARGS...` for a file without a `#!` line (ENOEXEC), as execvp does;
    /// slot 1 is written by the child.
    sh_argv: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    envp: Vec<*const libc::c_char>,
    candidates: Vec<CString>,
    cwd: CString,
    set_groups: bool,
    groups: Vec<libc::gid_t>,
    uid: libc::uid_t,
    gid: libc::gid_t,
    /// The capabilities kept, within those the running kernel has.
    caps: u64,
    /// Those asked for that this process does not have (then nothing is started).
    missing: u64,
    /// The kernel's last capability number.
    last_cap: u32,
    no_new_privs: bool,
    seccomp: Vec<libc::sock_filter>,
    /// The filter must be in place (the command keeps the terminal, or has CAP_SYS_ADMIN).
    seccomp_required: bool,
}

/// `/bin:/usr/bin`, what execvp searches when there is no `PATH` (glibc's `_CS_PATH`).
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

impl Setup {
    /// Prepares the command `args` (checked: no NUL) to run as `process` says. `caller_umask`
    /// is the umask mountplan was started with; `caller_env` the caller's environment;
    /// `keep_terminal` leaves the session as it is; `userns` means a rootless apply (no
    /// setgroups: the kernel denies it there).
    pub fn prepare(
        process: &Process,
        args: &[CString],
        caller_umask: u32,
        caller_env: &[(Vec<u8>, Vec<u8>)],
        keep_terminal: bool,
        userns: bool,
    ) -> Setup {
        let program = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let env: Vec<CString> = process
            .env
            .apply(caller_env.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
            .into_iter()
            .filter_map(|(k, v)| {
                let mut e = k.to_vec();
                e.push(b'=');
                e.extend_from_slice(v);
                CString::new(e).ok()
            })
            .collect();
        let path = env
            .iter()
            .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
            .unwrap_or(DEFAULT_PATH);
        let file = args.first().map(|a| a.as_bytes()).unwrap_or(b"");
        let candidates = candidates(file, path);
        let searched = (!file.contains(&b'/')).then(|| String::from_utf8_lossy(path).into_owned());
        let last_cap = last_cap();
        let kernel = if last_cap >= 63 {
            u64::MAX
        } else {
            (1u64 << (last_cap + 1)) - 1
        };
        // What this process can pass on: a capability it lacks (a caller whose bounding set
        // was narrowed) cannot be given, and asking for it by name is an error.
        let available = available(last_cap) & kernel;
        // The default set and "all" take what there is; a list must be given whole.
        let (caps, missing) = match process.asked {
            CapsAsked::All => (available, 0),
            CapsAsked::Default => (process.caps.bits() & available, 0),
            CapsAsked::Listed => {
                let want = process.caps.bits() & kernel;
                (want & available, want & !available)
            }
        };
        let argv: Vec<*const libc::c_char> = args
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let sh_argv: Vec<*const libc::c_char> = std::iter::once(c"/bin/sh".as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .chain(args.iter().skip(1).map(|a| a.as_ptr()))
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let envp: Vec<*const libc::c_char> = env
            .iter()
            .map(|e| e.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let sys_admin = CapSet::from_bits(caps).contains(crate::model::Cap::SYS_ADMIN);
        Setup {
            program,
            cwd_text: process.cwd.to_string(),
            ids: (process.uid, process.gid, process.groups.clone()),
            searched,
            setsid: !keep_terminal,
            umask: process.umask.map_or(caller_umask, |m| m.bits()) as libc::mode_t,
            _args: args.to_vec(),
            argv,
            sh_argv,
            _env: env,
            envp,
            candidates,
            cwd: CString::new(process.cwd.as_str()).unwrap_or_else(|_| c"/".to_owned()),
            set_groups: !userns,
            groups: process.groups.clone(),
            uid: process.uid,
            gid: process.gid,
            caps,
            missing,
            last_cap,
            no_new_privs: process.no_new_privs,
            seccomp: tiocsti_filter(),
            seccomp_required: keep_terminal || sys_admin,
        }
    }

    /// The message for a failure of [`become_command`].
    /// Called in the process whose exec failed (inside the new root): for ENOENT it says what
    /// is missing there, the program or its ELF or `#!` interpreter, found on the PATH execvp
    /// searched.
    pub fn message(&self, f: Failed) -> String {
        if f.stage == Stage::Exec && f.errno == libc::ENOENT {
            let path = self.searched.as_deref().unwrap_or("");
            if let Some(m) = crate::sys::linux::elf::why_not_found(&self.program, path.as_ref()) {
                return m;
            }
        }
        let (uid, gid, groups) = &self.ids;
        let call = match f.stage {
            Stage::Seccomp => "prctl(PR_SET_SECCOMP) of the filter that stops TIOCSTI \
                               (needed with --keep-terminal or CAP_SYS_ADMIN)"
                .to_string(),
            Stage::Bounding => "prctl(PR_CAPBSET_DROP)".to_string(),
            Stage::Groups => format!("setgroups({groups:?}) ([process] groups)"),
            Stage::Gid => format!("setresgid({gid}, {gid}, {gid}) ([process] gid)"),
            Stage::Uid => format!("setresuid({uid}, {uid}, {uid}) ([process] uid)"),
            Stage::Capset if self.missing != 0 => format!(
                "capset() ([process] capabilities): mountplan itself lacks {} (not in its \
                 permitted or bounding set), so it cannot give them",
                CapSet::from_bits(self.missing).names().join(", ")
            ),
            Stage::Capset => "capset() ([process] capabilities)".to_string(),
            Stage::Ambient => {
                "prctl(PR_CAP_AMBIENT_RAISE) ([process] capabilities, for a uid other than 0)"
                    .to_string()
            }
            Stage::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS, 1)".to_string(),
            Stage::Chdir => format!("chdir({:?}) ([process] cwd)", self.cwd_text),
            Stage::Exec => match &self.searched {
                Some(p) => format!("execve of each entry of the command's PATH {p:?}"),
                None => "execve".to_string(),
            },
        };
        format!(
            "cannot run `{}`: {call} => {}",
            self.program,
            crate::sys::errno_words(Errno::from_raw(f.errno))
        )
    }
}

/// The files execvp would try for `file` with `path`: `file` itself when it has a `/`, else
/// `DIR/file` for each entry (an empty entry is the working directory).
fn candidates(file: &[u8], path: &[u8]) -> Vec<CString> {
    if file.is_empty() {
        return Vec::new();
    }
    if file.contains(&b'/') {
        return CString::new(file).into_iter().collect();
    }
    path.split(|b| *b == b':')
        .filter_map(|dir| {
            let mut c = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            c.push(b'/');
            c.extend_from_slice(file);
            CString::new(c).ok()
        })
        .collect()
}

/// The highest capability number the running kernel has: `PR_CAPBSET_READ` of a number it
/// does not know is EINVAL. Starts at the last one mountplan knows (40, Linux 5.9): two calls
/// on a current kernel.
fn last_cap() -> u32 {
    // SAFETY: prctl(PR_CAPBSET_READ) takes integers only.
    let known = |n: u32| unsafe {
        libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(n), 0, 0, 0) >= 0
    };
    let mut n = CAP_NAMES.len() as u32 - 1;
    if known(n) {
        while n < 63 && known(n + 1) {
            n += 1;
        }
    } else {
        while n > 0 && !known(n) {
            n -= 1;
        }
    }
    n
}

/// The capabilities `process` lists that this process cannot pass on (it lacks them in its
/// permitted or bounding set, as under a caller whose bounding set was narrowed).
/// Only a list counts: the default set and `"all"` take what there is.
pub fn unavailable(process: &Process) -> CapSet {
    if process.asked != CapsAsked::Listed {
        return CapSet::EMPTY;
    }
    let last = last_cap();
    CapSet::from_bits(process.caps.bits() & !available(last))
        .iter()
        .filter(|c| u32::from(c.number()) <= last)
        .fold(CapSet::EMPTY, |mut s, c| {
            s.insert(c);
            s
        })
}

/// The capabilities this process has in both its permitted and its bounding set (bit N for
/// capability N, up to `last`).
fn available(last: u32) -> u64 {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capget writes two CapData (version 3) into `data`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    let permitted = if r == 0 {
        u64::from(data[0].permitted) | (u64::from(data[1].permitted) << 32)
    } else {
        0
    };
    let mut bounding = 0u64;
    for n in 0..=last.min(63) {
        // SAFETY: prctl(PR_CAPBSET_READ) takes integers only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(n), 0, 0, 0) } == 1 {
            bounding |= 1 << n;
        }
    }
    permitted & bounding
}

/// The caller's environment as bytes, in order.
pub fn caller_env() -> Vec<(Vec<u8>, Vec<u8>)> {
    std::env::vars_os()
        .map(|(k, v)| (OsStr::as_bytes(&k).to_vec(), OsStr::as_bytes(&v).to_vec()))
        .collect()
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

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

/// Turns the command into C strings (a NUL byte cannot be passed to exec).
pub fn c_args(cmd: &[String]) -> Result<Vec<CString>, String> {
    cmd.iter()
        .map(|a| {
            CString::new(a.as_bytes())
                .map_err(|_| format!("the command argument {a:?} contains a NUL byte"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_search_tries_what_execvp_would() {
        let c = |f: &str, p: &str| -> Vec<String> {
            candidates(f.as_bytes(), p.as_bytes())
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(c("sh", "/usr/bin:/bin"), ["/usr/bin/sh", "/bin/sh"]);
        assert_eq!(c("sh", "/a::/b"), ["/a/sh", "./sh", "/b/sh"]);
        assert_eq!(c("./x", "/a"), ["./x"]);
        assert_eq!(c("/bin/sh", "/a"), ["/bin/sh"]);
        assert!(c("", "/a").is_empty());
    }

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
