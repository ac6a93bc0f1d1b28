//! The parent's side of an apply: checks, host preparations, the fork, then the wait.
//!
//! Takes a [`Dag`], a [`Config`] and the process calls ([`Procs`]); returns [`Applied`] once
//! the child has ended (its outcome, the exit status, the journals undone), or an
//! [`ApplyError`] when nothing was started. Steps 1 and 2 of the checklist in [`super`], the
//! fork, and the parent's part of step 4: read the child's outcome, release the lock, pin the
//! namespace for `--persist`, wait, and undo what a child that died left.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use super::child::{self, Child, PRINTED};
use super::journals::Journals;
use super::report::Outcome;
use super::{Applied, ApplyError, Config, Event, channel, journal};
use crate::diag::Diag;
use crate::graph::Dag;
use crate::model::Root;
use crate::sys::linux::pin::Pin;
use crate::sys::linux::state::{Lock, StateDir};
use crate::sys::linux::{LinuxProcs, command, host, resolve};
use crate::sys::procs::{Forked, Procs};
use crate::sys::{Errno, SysError};
use crate::validate::preflight::{self, preflight};

fn sys_io(call: &str, e: std::io::Error) -> SysError {
    SysError::new(
        call,
        Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EIO as i32)),
    )
}

/// Applies a valid plan. See the module documentation for the order of things.
pub fn apply(
    dag: &Dag,
    cfg: &Config,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<Applied, ApplyError> {
    apply_with(dag, cfg, &mut LinuxProcs, on)
}

/// [`apply`] with the process calls of `p` (the fake's in unit tests).
pub fn apply_with(
    dag: &Dag,
    cfg: &Config,
    p: &mut dyn Procs,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<Applied, ApplyError> {
    let plan = &dag.plan;
    let euid = p.euid();
    let userns = preflight::wants_userns(plan, euid);
    let refused = preflight(
        plan,
        &preflight::Host {
            euid,
            userns,
            persist: cfg.persist.is_some(),
            missing_caps: p.missing_caps(&plan.process),
        },
    );
    if !refused.is_empty() {
        return Err(ApplyError::Refused(refused));
    }
    let args = command::c_args(&cfg.command).map_err(|m| {
        ApplyError::Refused(vec![Diag::error_nowhere("mountplan::apply::command", m)])
    })?;

    // Before anything is opened: no descriptor the caller left open stays in mountplan's
    // processes, and none of them can be reached through /proc by the command (or anyone
    // else without CAP_SYS_PTRACE). Children inherit the non-dumpable flag.
    p.close_inherited_fds(cfg.keep_fd);
    p.set_dumpable(false).map_err(ApplyError::Host)?;
    // Nodes and directories get exactly the modes the plan gives, whatever the caller's umask;
    // the command gets the caller's back.
    let caller_umask = p.set_umask(0);
    let caller_env = p.caller_env();
    // FILE is opened (or made) first: a FILE that cannot be pinned on is refused before
    // anything starts, and the bind later lands on this very file. Dropped unpinned (any
    // return below), a FILE this apply made is removed again.
    let mut pin = match &cfg.persist {
        Some(f) => Some(Pin::prepare(f)?),
        None => None,
    };
    p.note_caller_signals();
    if cfg.test.no_openat2 {
        resolve::force_fallback();
    }
    let host_fds = host::open_host_fds().map_err(ApplyError::Host)?;
    let Some(state) = StateDir::open(&cfg.state_dir, true)? else {
        return Err(ApplyError::Host(SysError::new(
            format!("mkdir({:?})", cfg.state_dir.display()),
            Errno::ENOENT,
        )));
    };
    let jpath = state.path().join("journal");
    let journals = Journals {
        fd: state
            .subdir("journal", true)?
            .ok_or_else(|| SysError::new("open(\"journal\")", Errno::ENOENT))
            .map_err(ApplyError::Host)?,
        path: &jpath,
    };
    let tmproot = match plan.root {
        Root::Tmpfs(_) => Some(state.tmproot()?),
        Root::Path(_) => None,
    };
    drop(state);
    let key = journal::key(plan);
    let lock = journals.lock(&key, on).map_err(ApplyError::Host)?;
    let jname = format!("{key}.journal");
    let mut recovered = Vec::new();
    if journals.exists(&jname) {
        let r = journals.recover(&jname, false);
        on(Event::Recovered(&r));
        if !r.complete() {
            lock.release(journals.fd.as_fd());
            return Err(ApplyError::Leftover(Box::new(r)));
        }
        recovered.push(r);
    }
    let jdir = resolve::dup(journals.fd.as_fd())
        .map_err(|e| ApplyError::Host(SysError::new("dup(<journal directory>)", e)))?;
    let (mut parent_sock, child_sock) =
        UnixStream::pair().map_err(|e| ApplyError::Host(sys_io("socketpair(AF_UNIX)", e)))?;
    let parent = p.pid();
    // A pty console's master comes to this process, which relays.
    let relay = !args.is_empty()
        && plan
            .process
            .console
            .as_ref()
            .is_some_and(|c| matches!(c.source, crate::model::ConsoleSource::Pty { .. }));
    let _ = std::io::Write::flush(&mut std::io::stdout());
    // As root, the pid namespace is made here, for the children (this process stays in the
    // host's): the child is then pid 1 at once, without an intermediate process. Rootless, it
    // must belong to the user namespace the child makes first, so the child makes both.
    let pid_here = plan.namespaces.pid && !userns;
    let forked = match pid_here {
        true => p.unshare_pid().and_then(|()| p.fork()),
        false => p.fork(),
    };
    crate::timing::mark("host-prepared");
    let forked = match forked {
        Ok(f) => f,
        Err(e) => {
            lock.release(journals.fd.as_fd());
            return Err(ApplyError::Host(e));
        }
    };
    match forked {
        Forked::Child => {
            drop(parent_sock);
            let code = child::child(
                dag,
                cfg,
                p,
                Child {
                    host: host_fds,
                    jdir,
                    key,
                    tmproot,
                    userns,
                    sock: child_sock,
                    lock,
                    parent,
                    pid_here,
                    args,
                    caller_umask,
                    caller_env,
                },
                on,
            );
            // The copies of FILE's descriptor and of the journal directory's die with this
            // process (no destructor runs: FILE is the parent's to remove).
            p.exit_now(code)
        }
        Forked::Parent(child) => {
            drop(child_sock);
            drop(host_fds);
            drop(jdir);
            drop(tmproot);
            p.forward_signals_to(child);
            let left = || journals.exists(&jname);
            let (mut applied, lock) = wait_child(
                child,
                &mut parent_sock,
                cfg,
                p,
                relay,
                Parented {
                    lock,
                    journals: &journals,
                    pin: pin.as_mut(),
                    journal_left: &left,
                },
                on,
            );
            crate::timing::mark("child-reaped");
            drop(parent_sock);
            let done_ok = applied.outcome.as_ref().is_some_and(|o| o.succeeded());
            if !done_ok && journals.exists(&jname) {
                // Still under the lock: no other apply on this root recovers it at the same time.
                let r = journals.recover(&jname, false);
                on(Event::Recovered(&r));
                applied.recovered.push(r);
            }
            if let Some(l) = lock {
                l.release(journals.fd.as_fd());
            }
            recovered.append(&mut applied.recovered);
            applied.recovered = recovered;
            Ok(applied)
        }
    }
}

/// What the parent keeps while its child runs.
struct Parented<'a, 'j> {
    /// The root's lock.
    lock: Lock,
    journals: &'a Journals<'j>,
    pin: Option<&'a mut Pin>,
    /// Whether the child left a journal.
    journal_left: &'a dyn Fn() -> bool,
}

/// The parent's side: read the outcome, pin the namespace, wait. The lock is released (and
/// its file removed) as soon as the steps succeeded; otherwise it is handed back, for the
/// recovery of what the child left.
fn wait_child(
    child: i32,
    sock: &mut UnixStream,
    cfg: &Config,
    p: &mut dyn Procs,
    console: bool,
    kept: Parented<'_, '_>,
    on: &mut dyn FnMut(Event<'_>),
) -> (Applied, Option<Lock>) {
    let Parented {
        lock,
        journals,
        pin,
        journal_left,
    } = kept;
    let mut lock = Some(lock);
    let outcome: Option<Outcome> = match channel::recv(sock) {
        Ok(Some(b)) => serde_json::from_slice(&b).ok(),
        _ => None,
    };
    // The child prints its report (before the command's own output), then says so. Killed in
    // between, it leaves the printing to this process.
    let printed = outcome.is_some() && matches!(channel::recv(sock), Ok(Some(b)) if b == PRINTED);
    if let (Some(o), false) = (&outcome, printed) {
        on(Event::Setup(o));
    }
    let ok = outcome.as_ref().is_some_and(|o| o.succeeded());
    let mut persist_error = None;
    if ok {
        // The journal is gone: another apply on this root may start.
        if let Some(l) = lock.take() {
            l.release(journals.fd.as_fd());
        }
        if let Some(pin) = pin {
            if cfg.test.pause_before_persist {
                on(Event::PausingBeforePersist);
                p.stop_self();
            }
            let r = pin.bind(child);
            let go: &[u8] = if r.is_ok() { b"1" } else { b"0" };
            let _ = channel::send(sock, go);
            persist_error = r.err();
        }
    }
    if ok && console && cfg.persist.is_none() {
        // The child sends the console's master (or word that none comes) before the command.
        if let Err(e) = p.relay_console(sock) {
            on(Event::ExecFailed(&format!(
                "the console's relay failed: {e}"
            )));
        }
    }
    let ws = p.wait(child).ok();
    let mut exit_status = ws.map_or(125, |e| e.status);
    if !printed {
        on(Event::ChildDied {
            signal: ws.and_then(|e| e.signal),
            journal: journal_left(),
            reported: outcome.is_some(),
        });
        exit_status = 125;
    } else if !ok || persist_error.is_some() {
        exit_status = 125;
    }
    (
        Applied {
            outcome,
            exit_status,
            recovered: Vec::new(),
            persist_error,
        },
        lock,
    )
}
