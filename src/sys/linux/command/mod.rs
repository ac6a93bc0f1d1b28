//! The process that becomes the command: what the plan's `[process]` says, done with system
//! calls only, in an order where each call still has the privilege it needs.
//!
//! Takes the plan's [`Process`](crate::model::Process), the command line, the caller's umask
//! and environment; [`Setup::prepare`] builds everything beforehand (C strings, the
//! environment, the candidates of the `PATH` search, capability masks, the seccomp program),
//! so that [`become_command`] makes system calls only and is safe in a
//! `CLONE_VM | CLONE_VFORK` child.
//! The order:
//!
//! ```text
//! setsid (unless --keep-terminal)       the caller's terminal is no longer the controlling one
//! ioctl(0, TIOCSCTTY) (console)         the console's pty (descriptors 0, 1, 2) becomes it
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
//!
//! The files: this one holds [`Setup`] and what [`become_command`] returns ([`Failed`],
//! [`Stage`]); `prepare.rs` is [`Setup::prepare`] (the environment, the `PATH` candidates,
//! the capabilities kept) and the failure's message; `become_command.rs` is the list above,
//! made of system calls only; `seccomp.rs` the filter against TIOCSTI and TIOCLINUX; `caps.rs`
//! what capabilities the running kernel and this process have.

mod become_command;
mod caps;
mod prepare;
mod seccomp;

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;

pub use self::become_command::become_command;
pub use self::caps::unavailable;
pub use self::seccomp::tiocsti_filter;

/// The step of [`become_command`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The seccomp filter against TIOCSTI could not be installed (and was needed).
    Seccomp,
    /// `ioctl(0, TIOCSCTTY)`: the console as the controlling terminal.
    Terminal,
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
    /// Descriptor 0 is the console's pty: make it the controlling terminal after setsid.
    console: bool,
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

/// The caller's environment as bytes, in order.
pub fn caller_env() -> Vec<(Vec<u8>, Vec<u8>)> {
    std::env::vars_os()
        .map(|(k, v)| (OsStr::as_bytes(&k).to_vec(), OsStr::as_bytes(&v).to_vec()))
        .collect()
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
