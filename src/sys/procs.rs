//! The second narrow trait between the executor and the kernel: the calls of an apply's
//! processes, as [`super::Sys`] is for the calls of its steps.
//!
//! Takes what [`crate::exec`] asks for, one operation at a time (close the caller's
//! descriptors, become non-dumpable, fork, make the namespaces, wait, start the command);
//! returns [`SysError`]s that carry the call and its errno, and plain values ([`Forked`],
//! [`Exit`]). [`super::linux::LinuxProcs`] makes the calls; [`super::fake::FakeProcs`]
//! records them, for unit tests of the order of an apply's preparations and of what the parent
//! does when its child dies.

use std::ffi::CString;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use super::SysError;
use crate::model::{CapSet, Console, HostPath, Namespaces, Process};

/// Which side of a fork this process is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The new process.
    Child,
    /// The process that forked, with the child's pid.
    Parent(i32),
}

/// How a waited-for process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit status as a shell gives it: the code, or 128+N for signal N.
    pub status: u8,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
}

/// The command to start, with everything `[process]` and the caller give it.
pub struct Command<'a> {
    /// How it runs.
    pub process: &'a Process,
    /// The command line (checked: no NUL).
    pub args: &'a [CString],
    /// The umask mountplan was started with.
    pub caller_umask: u32,
    /// The environment mountplan was started with.
    pub caller_env: &'a [(Vec<u8>, Vec<u8>)],
    /// Leave the session (and the terminal) as it is.
    pub keep_terminal: bool,
    /// The command's descriptors 0, 1 and 2 are a console's pty ([`Procs::open_console`]):
    /// it becomes the controlling terminal of the command's new session.
    pub console: bool,
    /// A rootless apply (no setgroups: the kernel denies it there).
    pub userns: bool,
    /// This process is pid 1 of a pid namespace: it starts the command as its child, reaps
    /// and forwards signals, and returns the command's status; else it execs the command.
    pub as_init: bool,
}

/// A terminal of the host's opened for the console (`console = "PATH"`): the terminal, and a
/// detached copy of its mount (`open_tree`), bound onto `/dev/console` after the pivot.
pub struct HostTerminal {
    /// The terminal, open for reading and writing, not as a controlling terminal.
    pub tty: OwnedFd,
    /// The copy of its mount, made in the new mount namespace before the steps.
    pub tree: OwnedFd,
}

/// The process calls of an apply.
pub trait Procs {
    /// The effective uid.
    fn euid(&self) -> u32;
    /// The capabilities `process` lists that this process cannot pass on.
    fn missing_caps(&self, process: &Process) -> CapSet;
    /// Closes every descriptor but 0, 1, 2 and `keep` (the caller's, left open to us).
    fn close_inherited_fds(&mut self, keep: Option<i32>);
    /// `prctl(PR_SET_DUMPABLE)`.
    fn set_dumpable(&mut self, on: bool) -> Result<(), SysError>;
    /// `umask(mask)`; returns the previous one.
    fn set_umask(&mut self, mask: u32) -> u32;
    /// The caller's environment, in order.
    fn caller_env(&self) -> Vec<(Vec<u8>, Vec<u8>)>;
    /// Notes which signals the caller ignored (before any handler is installed).
    fn note_caller_signals(&mut self);
    /// `unshare(CLONE_NEWPID)`: the children are made in a new pid namespace.
    fn unshare_pid(&mut self) -> Result<(), SysError>;
    /// This process's pid.
    fn pid(&self) -> i32;
    /// The parent's pid (0 for pid 1 of a new namespace).
    fn parent_pid(&self) -> i32;
    /// `fork()`.
    fn fork(&mut self) -> Result<Forked, SysError>;
    /// Forwards SIGTERM, SIGINT and SIGHUP to `pid` from now on.
    fn forward_signals_to(&mut self, pid: i32);
    /// Waits for `pid` to end.
    fn wait(&mut self, pid: i32) -> Result<Exit, SysError>;
    /// `prctl(PR_SET_PDEATHSIG, SIGKILL)`.
    fn die_with_parent(&mut self) -> Result<(), SysError>;
    /// True when the other end of `sock` is closed.
    fn peer_gone(&self, sock: &UnixStream) -> bool;
    /// Makes the namespaces (a user namespace first when `userns`); `proc` is the host's.
    fn enter_namespaces(
        &mut self,
        ns: &Namespaces,
        userns: bool,
        proc: BorrowedFd<'_>,
    ) -> Result<(), SysError>;
    /// `sethostname(name)`.
    fn set_hostname(&mut self, name: &str) -> Result<(), SysError>;
    /// Stops this process (SIGSTOP) until it is continued (a test hook's pause).
    fn stop_self(&mut self);
    /// Closes every descriptor but 0, 1 and 2; `proc`, the host's `/proc`, lists them where
    /// `close_range` is missing (and is closed too).
    fn close_extra_fds(&mut self, proc: Option<OwnedFd>);
    /// In the child, in the new mount namespace before the steps: opens the host's terminal
    /// `path` (refused unless it is one) and a copy of its mount, for the console.
    fn open_host_terminal(&mut self, path: &HostPath) -> Result<HostTerminal, SysError>;
    /// In the child, after the steps (the pivot done): opens the console's pty in the new
    /// root's devpts (or takes `host`, the terminal opened before the steps), binds it onto
    /// the console's target (a pty's slave made 0600, 0:0 first), makes it this process's
    /// descriptors 0, 1 and 2, and sends a pty's master to the parent over `sock` (else, and
    /// on failure, says to the parent that none comes).
    fn open_console(
        &mut self,
        c: &Console,
        host: Option<HostTerminal>,
        sock: &UnixStream,
    ) -> Result<(), SysError>;
    /// In the parent: receives the console's master over `sock` and relays between the
    /// caller's standard input and output and it until the command is gone (nothing when no
    /// console came).
    fn relay_console(&mut self, sock: &UnixStream) -> Result<(), SysError>;
    /// Becomes (or, as init, starts) the command; returns its status, or on failure calls
    /// `on_error` with the message and returns 127 (not found) or 126.
    fn start_command(&mut self, c: &Command<'_>, on_error: &mut dyn FnMut(&str)) -> u8;
    /// Ends this process at once with `code`, without destructors.
    fn exit_now(&mut self, code: u8) -> !;
}
