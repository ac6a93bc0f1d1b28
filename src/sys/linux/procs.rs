//! [`Procs`] for real: each operation is the call of [`super::process`] or
//! [`super::command`] it names.
//!
//! Takes the executor's requests; returns what the kernel said.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::sys::wait::WaitStatus;
use nix::unistd::{ForkResult, Pid};

use super::command::Setup;
use super::process;
use crate::model::{CapSet, Console, HostPath, Namespaces, Process};
use crate::sys::SysError;
use crate::sys::procs::{Command, Exit, Forked, HostTerminal, Procs};

/// The real process calls.
#[derive(Debug, Default)]
pub struct LinuxProcs;

fn exit_of(ws: WaitStatus) -> Exit {
    Exit {
        status: process::exit_code(ws).unwrap_or(125),
        signal: match ws {
            WaitStatus::Signaled(_, s, _) => Some(s as i32),
            _ => None,
        },
    }
}

impl Procs for LinuxProcs {
    fn euid(&self) -> u32 {
        super::host::euid()
    }
    fn missing_caps(&self, p: &Process) -> CapSet {
        super::command::unavailable(p)
    }
    fn close_inherited_fds(&mut self, keep: Option<i32>) {
        process::close_inherited_fds(keep);
    }
    fn set_dumpable(&mut self, on: bool) -> Result<(), SysError> {
        process::set_dumpable(on)
    }
    fn set_umask(&mut self, mask: u32) -> u32 {
        let m = nix::sys::stat::Mode::from_bits_truncate(mask as libc::mode_t);
        nix::sys::stat::umask(m).bits() as u32
    }
    fn caller_env(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        super::command::caller_env()
    }
    fn note_caller_signals(&mut self) {
        process::note_caller_signals();
    }
    fn unshare_pid(&mut self) -> Result<(), SysError> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID)
            .map_err(|e| SysError::new("unshare(CLONE_NEWPID)", e))
    }
    fn pid(&self) -> i32 {
        nix::unistd::getpid().as_raw()
    }
    fn parent_pid(&self) -> i32 {
        nix::unistd::getppid().as_raw()
    }
    fn fork(&mut self) -> Result<Forked, SysError> {
        // SAFETY: mountplan is single-threaded on the apply path (no thread is ever started
        // there), so the child may run any code after fork.
        match unsafe { nix::unistd::fork() } {
            Ok(ForkResult::Child) => Ok(Forked::Child),
            Ok(ForkResult::Parent { child }) => Ok(Forked::Parent(child.as_raw())),
            Err(e) => Err(SysError::new("fork()", e)),
        }
    }
    fn forward_signals_to(&mut self, pid: i32) {
        process::forward_signals_to(Pid::from_raw(pid));
    }
    fn wait(&mut self, pid: i32) -> Result<Exit, SysError> {
        process::wait_for(Pid::from_raw(pid))
            .map(exit_of)
            .map_err(|e: Errno| SysError::new(format!("waitpid({pid})"), e))
    }
    fn die_with_parent(&mut self) -> Result<(), SysError> {
        process::die_with_parent()
    }
    fn peer_gone(&self, sock: &UnixStream) -> bool {
        process::peer_gone(sock)
    }
    fn enter_namespaces(
        &mut self,
        ns: &Namespaces,
        userns: bool,
        proc: BorrowedFd<'_>,
    ) -> Result<(), SysError> {
        process::enter_namespaces(ns, userns, proc)
    }
    fn set_hostname(&mut self, name: &str) -> Result<(), SysError> {
        process::set_hostname(name)
    }
    fn stop_self(&mut self) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
    fn close_extra_fds(&mut self, proc: Option<OwnedFd>) {
        process::close_extra_fds(proc);
    }
    fn open_host_terminal(&mut self, path: &HostPath) -> Result<HostTerminal, SysError> {
        super::console::open_host(path)
    }
    fn open_console(
        &mut self,
        c: &Console,
        host: Option<HostTerminal>,
        sock: &UnixStream,
    ) -> Result<(), SysError> {
        match super::console::open(c, host) {
            Ok(master) => super::console::send(sock, master)
                .map_err(|e| SysError::new("sendmsg(<socket>, SCM_RIGHTS <pty master>)", e)),
            Err(e) => {
                let _ = super::console::send(sock, None);
                Err(e)
            }
        }
    }
    fn relay_console(&mut self, sock: &UnixStream) -> Result<(), SysError> {
        match super::console::receive(sock) {
            Ok(Some(master)) => super::console::relay(master),
            Ok(None) => Ok(()),
            Err(e) => Err(SysError::new("recvmsg(<socket>) (the pty master)", e)),
        }
    }
    fn start_command(&mut self, c: &Command<'_>, on_error: &mut dyn FnMut(&str)) -> u8 {
        let mut setup = Setup::prepare(
            c.process,
            c.args,
            c.caller_umask,
            c.caller_env,
            c.keep_terminal,
            c.console,
            c.userns,
        );
        if c.as_init {
            process::init_run(&mut setup, &mut |e| on_error(&e.message()))
        } else {
            let e = process::exec_command(&mut setup);
            on_error(&e.message());
            e.status()
        }
    }
    fn exit_now(&mut self, code: u8) -> ! {
        process::exit_now(code)
    }
}
