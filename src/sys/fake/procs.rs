//! A recording fake of [`Procs`] for unit tests of an apply's process steps: no process is
//! made, each request is logged, and a test says which side of the fork to play and how the
//! child ends.
//!
//! Takes the executor's requests; returns what the test set ([`FakeProcs::fork_as`],
//! [`FakeProcs::child_exit`], [`FakeProcs::fail`]) and records every request in
//! [`FakeProcs::log`]. [`Procs::exit_now`] panics with `exit_now(CODE)`, so a test of the
//! child's side catches the end of the "process" with `catch_unwind`.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use crate::model::{CapSet, Console, HostPath, Namespaces, Process};
use crate::sys::procs::{Command, Exit, Forked, HostTerminal, Procs};
use crate::sys::{Errno, SysError};

/// The recording fake.
#[derive(Debug)]
pub struct FakeProcs {
    /// Every request, in order, as `name(arguments)`.
    pub log: Vec<String>,
    /// The effective uid it reports.
    pub euid: u32,
    /// The capabilities it says mountplan lacks.
    pub missing: CapSet,
    /// The side of the fork it plays.
    pub fork_as: Forked,
    /// How the waited-for child ends.
    pub child_exit: Exit,
    /// The request (by name) that fails, and with which errno.
    pub fail: Option<(&'static str, Errno)>,
}

impl Default for FakeProcs {
    fn default() -> Self {
        FakeProcs {
            log: Vec::new(),
            euid: 0,
            missing: CapSet::EMPTY,
            fork_as: Forked::Parent(4242),
            child_exit: Exit {
                status: 0,
                signal: None,
            },
            fail: None,
        }
    }
}

impl FakeProcs {
    fn did(&mut self, name: &'static str, args: String) -> Result<(), SysError> {
        self.log.push(format!("{name}({args})"));
        match self.fail {
            Some((n, e)) if n == name => Err(SysError::new(format!("{name}({args})"), e)),
            _ => Ok(()),
        }
    }
}

impl Procs for FakeProcs {
    fn euid(&self) -> u32 {
        self.euid
    }
    fn missing_caps(&self, _: &Process) -> CapSet {
        self.missing
    }
    fn close_inherited_fds(&mut self, keep: Option<i32>) {
        let _ = self.did("close_inherited_fds", format!("{keep:?}"));
    }
    fn set_dumpable(&mut self, on: bool) -> Result<(), SysError> {
        self.did("set_dumpable", on.to_string())
    }
    fn set_umask(&mut self, mask: u32) -> u32 {
        let _ = self.did("set_umask", format!("{mask:o}"));
        0o022
    }
    fn caller_env(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![(b"PATH".to_vec(), b"/usr/bin".to_vec())]
    }
    fn note_caller_signals(&mut self) {
        let _ = self.did("note_caller_signals", String::new());
    }
    fn unshare_pid(&mut self) -> Result<(), SysError> {
        self.did("unshare_pid", String::new())
    }
    fn pid(&self) -> i32 {
        100
    }
    fn parent_pid(&self) -> i32 {
        100
    }
    fn fork(&mut self) -> Result<Forked, SysError> {
        self.did("fork", String::new())?;
        Ok(self.fork_as)
    }
    fn forward_signals_to(&mut self, pid: i32) {
        let _ = self.did("forward_signals_to", pid.to_string());
    }
    fn wait(&mut self, pid: i32) -> Result<Exit, SysError> {
        self.did("wait", pid.to_string())?;
        Ok(self.child_exit)
    }
    fn die_with_parent(&mut self) -> Result<(), SysError> {
        self.did("die_with_parent", String::new())
    }
    fn peer_gone(&self, _: &UnixStream) -> bool {
        false
    }
    fn enter_namespaces(
        &mut self,
        ns: &Namespaces,
        userns: bool,
        _: BorrowedFd<'_>,
    ) -> Result<(), SysError> {
        self.did("enter_namespaces", format!("pid={} user={userns}", ns.pid))
    }
    fn set_hostname(&mut self, name: &str) -> Result<(), SysError> {
        self.did("set_hostname", name.to_string())
    }
    fn stop_self(&mut self) {
        let _ = self.did("stop_self", String::new());
    }
    fn close_extra_fds(&mut self, _: Option<OwnedFd>) {
        let _ = self.did("close_extra_fds", String::new());
    }
    fn open_host_terminal(&mut self, path: &HostPath) -> Result<HostTerminal, SysError> {
        self.did("open_host_terminal", path.to_string())?;
        let null = |_| {
            std::fs::File::open("/dev/null")
                .map(OwnedFd::from)
                .map_err(|e| {
                    SysError::new(
                        "open(\"/dev/null\")",
                        Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    )
                })
        };
        Ok(HostTerminal {
            tty: null(0)?,
            tree: null(1)?,
        })
    }
    fn open_console(
        &mut self,
        c: &Console,
        host: Option<HostTerminal>,
        _: &UnixStream,
    ) -> Result<(), SysError> {
        let host = if host.is_some() { ", host" } else { "" };
        self.did("open_console", format!("{}{host}", c.target))
    }
    fn relay_console(&mut self, _: &UnixStream) -> Result<(), SysError> {
        self.did("relay_console", String::new())
    }
    fn start_command(&mut self, c: &Command<'_>, _: &mut dyn FnMut(&str)) -> u8 {
        let _ = self.did("start_command", format!("{} args", c.args.len()));
        0
    }
    fn exit_now(&mut self, code: u8) -> ! {
        let _ = self.did("exit_now", code.to_string());
        panic!("exit_now({code})")
    }
}
