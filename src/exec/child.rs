//! The child's side of an apply: namespaces, the steps, the report, then the command.
//!
//! Takes what the parent hands over ([`Child`]: the host's descriptors, the journal directory,
//! the lock, the socket) with the [`Dag`] and the [`Config`]; returns the exit status of the
//! process (or never returns: it becomes the command). Steps 3 and 4 of the checklist in
//! [`super`]: the namespaces and the hostname, in a pid namespace a fork into its init, the
//! steps through [`Linux`] with the journal and the test hooks, the report to the parent (sent
//! before it is printed, so a child killed in between leaves the printing to the parent), and
//! the command.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use super::journal::Journal;
use super::report::Outcome;
use super::run::{self, Inject, Options, Point};
use super::{Config, Event, channel};
use crate::graph::Dag;
use crate::model::ConsoleSource;
use crate::sys::linux::pause;
use crate::sys::linux::state::{self, Lock, TmpRootDir};
use crate::sys::linux::{Linux, host, resolve};
use crate::sys::procs::{Command, Forked, Procs};

/// What the child takes over from the parent.
pub(super) struct Child {
    pub(super) host: host::HostFds,
    pub(super) jdir: OwnedFd,
    pub(super) key: String,
    /// The tmpfs root's mountpoint, held from the host's mount namespace.
    pub(super) tmproot: Option<TmpRootDir>,
    pub(super) userns: bool,
    pub(super) sock: UnixStream,
    /// Held, never released here: the parent removes the lock file.
    pub(super) lock: Lock,
    pub(super) parent: i32,
    /// The parent made the pid namespace: this child is its pid 1.
    pub(super) pid_here: bool,
    pub(super) args: Vec<std::ffi::CString>,
    /// The umask mountplan was started with.
    pub(super) caller_umask: u32,
    /// The environment mountplan was started with.
    pub(super) caller_env: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The child: namespaces, then (in the init of a pid namespace) the steps and the command.
pub(super) fn child(
    dag: &Dag,
    cfg: &Config,
    p: &mut dyn Procs,
    c: Child,
    on: &mut dyn FnMut(Event<'_>),
) -> u8 {
    let plan = &dag.plan;
    // Pid 1 of a new namespace sees its parent as pid 0: there, the parent's end of the socket
    // tells whether it is still alive.
    let dies_with_parent = p.die_with_parent().is_ok();
    let parent_alive = if c.pid_here {
        !p.peer_gone(&c.sock)
    } else {
        p.parent_pid() == c.parent
    };
    if !dies_with_parent || !parent_alive {
        // The parent is gone (or we cannot follow it): stop before changing anything.
        return 125;
    }
    crate::timing::mark("child-started");
    let mut c = c;
    let mut ns = plan.namespaces;
    ns.pid &= !c.pid_here;
    // The kernel moves the working directory into the new mount namespace: from there the
    // tmpfs root's mountpoint is found again without a path.
    if let Some(Err(e)) = c.tmproot.as_ref().map(TmpRootDir::before_unshare) {
        let o = Outcome::early_failure(&plan.name, &e);
        report(&mut c.sock, &o, on);
        return 125;
    }
    if let Err(e) = p.enter_namespaces(&ns, c.userns, c.host.proc.as_fd()) {
        let o = Outcome::early_failure(&plan.name, &e);
        report(&mut c.sock, &o, on);
        return 125;
    }
    if let Some(h) = &plan.process.hostname {
        if let Err(e) = p.set_hostname(h) {
            let o = Outcome::early_failure(&plan.name, &e);
            report(&mut c.sock, &o, on);
            return 125;
        }
    }
    crate::timing::mark("namespaces");
    if !ns.pid {
        return steps_then_command(dag, cfg, p, c, on);
    }
    match p.fork() {
        Err(e) => {
            let o = Outcome::early_failure(&plan.name, &e);
            report(&mut c.sock, &o, on);
            125
        }
        Ok(Forked::Child) => {
            // Pid 1 of the new namespace. Its parent is outside it (getppid() is 0), so check
            // the top parent instead: its end of the socket closes when it dies.
            if p.die_with_parent().is_err() || p.peer_gone(&c.sock) {
                return 125;
            }
            steps_then_command(dag, cfg, p, c, on)
        }
        Ok(Forked::Parent(child)) => {
            // Only the init keeps the socket, the lock and the host descriptors.
            drop(c);
            p.forward_signals_to(child);
            p.wait(child).map_or(125, |e| e.status)
        }
    }
}

/// The child's word to the parent that it printed its report.
pub(super) const PRINTED: &[u8] = b"printed";

/// Sends the outcome to the parent, prints the report, then tells the parent it did: a child
/// killed in between leaves the printing to the parent.
fn report(sock: &mut UnixStream, o: &Outcome, on: &mut dyn FnMut(Event<'_>)) {
    report_or_die(sock, o, on, false);
}

/// [`report`], or with `die` (a test hook) death right after the outcome is sent.
fn report_or_die(sock: &mut UnixStream, o: &Outcome, on: &mut dyn FnMut(Event<'_>), die: bool) {
    if let Ok(b) = serde_json::to_vec(o) {
        let _ = channel::send(sock, &b);
    }
    if die {
        crate::sys::linux::process::die_now();
    }
    on(Event::Setup(o));
    let _ = channel::send(sock, PRINTED);
}

fn steps_then_command(
    dag: &Dag,
    cfg: &Config,
    p: &mut dyn Procs,
    c: Child,
    on: &mut dyn FnMut(Event<'_>),
) -> u8 {
    let Child {
        host,
        jdir,
        key,
        tmproot,
        userns,
        mut sock,
        lock,
        args,
        caller_umask,
        caller_env,
        ..
    } = c;
    let opts = Options {
        verify: cfg.verify,
        userns,
    };
    // For closing every descriptor before the command where close_range is missing.
    let fd_proc = resolve::dup(host.proc.as_fd()).ok();
    // A host terminal for the console is opened here, in the new mount namespace before the
    // steps: after the pivot the host's paths are gone, and only a mount of this namespace can
    // be copied onto /dev/console.
    let host_terminal = match dag.plan.process.console.as_ref().map(|c| &c.source) {
        Some(ConsoleSource::Host(path)) if !args.is_empty() && cfg.persist.is_none() => {
            match p.open_host_terminal(path) {
                Ok(t) => Some(t),
                Err(e) => {
                    let o = Outcome::early_failure(&dag.plan.name, &e);
                    report(&mut sock, &o, on);
                    return 125;
                }
            }
        }
        _ => None,
    };
    let tmproot = match tmproot.map(TmpRootDir::in_new_namespace).transpose() {
        Ok(t) => t,
        Err(e) => {
            let o = Outcome::early_failure(&dag.plan.name, &e);
            report(&mut sock, &o, on);
            return 125;
        }
    };
    let mut linux = match Linux::new(host, tmproot, userns, dag.calls.mounts) {
        Ok(l) => l.classic(dag.plan.api.is_classic()),
        Err(e) => {
            let o = Outcome::early_failure(&dag.plan.name, &e);
            report(&mut sock, &o, on);
            return 125;
        }
    };
    let mut journal = Journal::new(
        state::JournalFile::new(jdir, &format!("{key}.journal")),
        &key,
    );
    let mut points = 0u32;
    let kill_at = cfg.test.kill_at_point;
    let hang_at = cfg.test.hang_at_point;
    let mut point = |_: Point| {
        if kill_at == Some(points) {
            crate::sys::linux::process::die_now();
        }
        if hang_at == Some(points) {
            on(Event::Hanging(points));
            crate::sys::linux::process::hang();
        }
        points += 1;
    };
    let hook = match (cfg.test.fail_at_call, cfg.test.kill_at_call) {
        (Some(at), _) => Some((at, false)),
        (None, Some(at)) => Some((at, true)),
        // Only counting, for a test pause.
        (None, None) if pause::active() => Some((usize::MAX, false)),
        (None, None) => None,
    };
    let mut outcome = match hook {
        Some((at, kill)) => {
            let mut inj = Inject {
                inner: &mut linux,
                at,
                count: 0,
                kill,
                undos: 0,
            };
            run::run(dag, &mut inj, &mut journal, opts, &mut point)
        }
        None => run::run(dag, &mut linux, &mut journal, opts, &mut point),
    };
    outcome.api = if dag.plan.api.is_classic() {
        "classic"
    } else {
        "new"
    }
    .into();
    outcome.api_why = cfg.api_why.clone();
    outcome.resolver = if resolve::uses_openat2() {
        "openat2".into()
    } else {
        "walk".into()
    };
    // Success, or a complete rollback: nothing is left for recovery.
    if outcome.succeeded() || outcome.rollback_errors.is_empty() {
        if let Err(e) = journal.finish() {
            outcome.rollback_errors.push(e);
        }
    }
    drop(journal);
    drop(linux);
    crate::timing::mark("steps-verified");
    report_or_die(&mut sock, &outcome, on, cfg.test.die_after_report);
    crate::timing::mark("reported");
    if !outcome.succeeded() {
        return 125;
    }
    drop(lock);
    if cfg.persist.is_some() {
        // Wait until the parent has pinned the namespace (or failed to).
        let _ = channel::recv(&mut sock);
        return 0;
    }
    if args.is_empty() {
        return 0;
    }
    let console = dag.plan.process.console.as_ref();
    if let Some(c) = console {
        // In the new root (after the pivot): the pty of its devpts, bound onto /dev/console,
        // becomes descriptors 0, 1 and 2 in place of the caller's; its master goes to the
        // parent, which relays.
        if let Err(e) = p.open_console(c, host_terminal, &sock) {
            on(Event::ExecFailed(&format!(
                "cannot set up the console ([process] console): {e}"
            )));
            return 126;
        }
    }
    drop(sock);
    p.close_extra_fds(fd_proc);
    let command = Command {
        process: &dag.plan.process,
        args: &args,
        caller_umask,
        caller_env: &caller_env,
        // A host terminal is shared with whoever else holds it: the filter against TIOCSTI
        // is then required, as with --keep-terminal.
        keep_terminal: cfg.keep_terminal
            || console.is_some_and(|c| matches!(c.source, ConsoleSource::Host(_))),
        console: console.is_some(),
        userns,
        as_init: dag.plan.namespaces.pid,
    };
    p.start_command(&command, &mut |m| on(Event::ExecFailed(m)))
}
