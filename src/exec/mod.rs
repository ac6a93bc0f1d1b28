//! The executor: a valid plan -> a new namespace with the planned root, then the command.
//!
//! Takes a [`Dag`] and a [`Config`]; returns [`Applied`] (the [`Outcome`] of the steps and
//! the exit status), or an [`ApplyError`] when nothing was started. It orchestrates: every
//! system call goes through [`crate::sys::Sys`] (the steps) or [`crate::sys::Procs`] (the
//! processes), and [`apply_with`] takes the latter as a parameter, so unit tests run the
//! order below with a recording fake. The checklist, in order:
//!
//! 1. refuse early what cannot work ([`crate::validate::preflight`]: device nodes in a user namespace, ids
//!    other than 0 there, capabilities mountplan lacks, ...);
//! 2. close every descriptor the caller left open, become non-dumpable (the children inherit
//!    it), `umask(0)` (keeping the caller's for the command); open (or create) `--persist
//!    FILE`, never through a symlink; open the host's `/proc` and `/dev/null` (`O_PATH`,
//!    checked); open the state directory once, through a checked walk from `/` ([`state`]),
//!    and reach everything in it through that descriptor; take the root's lock; undo a journal
//!    a killed apply left;
//! 3. fork; the child makes the namespaces ([`crate::sys::linux::process`]), sets the hostname, and runs the
//!    steps ([`run`]) through [`crate::sys::linux::Linux`], journaling host changes
//!    ([`journal`]), verifying the mount table ([`verify`]) and rolling back on failure;
//! 4. the child reports to the parent, then becomes the command as `[process]` says
//!    ([`crate::sys::linux::command`]: ids, capabilities, no_new_privs, umask, cwd, environment) and execs it
//!    (or, in a pid namespace, its init starts it so); the parent waits, pins the namespace
//!    for `--persist` (on the descriptor of FILE opened in step 2), and undoes the journal
//!    itself, still under the lock, if the child died before reporting; the lock file is
//!    removed when the lock is released.
//!
//! Printing is the caller's: it gets [`Event`]s (in the parent, or in the child for the
//! per-step report, which must come out before the command's own output).

pub mod channel;
pub mod journal;
pub mod pause;
pub mod recover;
pub mod report;
pub mod run;
pub mod verify;

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use self::journal::Journal;
use self::recover::Recovery;
use self::report::Outcome;
use self::run::{Inject, Options, Point};
use crate::diag::Diag;
use crate::graph::Dag;
use crate::model::{Plan, Root};
use crate::sys::linux::host::{HostError, Refusal};
use crate::sys::linux::pin::{self, Pin};
use crate::sys::linux::state::{self, Lock, StateDir, TmpRootDir};
use crate::sys::linux::{Linux, LinuxProcs, command, host, resolve};
use crate::sys::procs::{Command, Forked, Procs};
use crate::sys::{Errno, SysError};
use crate::validate::preflight::{self, preflight};

/// Test hooks (see `docs` of `mountplan apply`; read from the environment only by debug
/// builds).
#[derive(Debug, Clone, Default)]
pub struct TestHooks {
    /// `MOUNTPLAN_TEST_FAIL_AT_CALL=N`: call N (from 0, setup included) fails with EIO.
    pub fail_at_call: Option<usize>,
    /// `MOUNTPLAN_TEST_KILL_AT_CALL=N`: the process running the steps dies right before call N
    /// (from 0, setup included), wherever that is between journal points.
    pub kill_at_call: Option<usize>,
    /// `MOUNTPLAN_TEST_KILL_RECOVER_AT=N`: `recover` dies right after undoing N records, before
    /// it removes the journal.
    pub kill_recover_at: Option<usize>,
    /// `MOUNTPLAN_TEST_KILL_AT=N`: the process running the steps dies at journal point N
    /// (intent N/2 written, or change (N-1)/2 made before its done record).
    pub kill_at_point: Option<u32>,
    /// `MOUNTPLAN_TEST_HANG_AT=N`: the process running the steps stops at journal point N and
    /// waits forever (so a test can kill the parent there).
    pub hang_at_point: Option<u32>,
    /// `MOUNTPLAN_TEST_NO_OPENAT2=1`: resolve with the user-space walk, as without openat2.
    pub no_openat2: bool,
    /// `MOUNTPLAN_TEST_DIE_AFTER_REPORT=1`: the process running the steps dies right after it
    /// sent its outcome to the parent, before it printed its report.
    pub die_after_report: bool,
    /// `MOUNTPLAN_TEST_PAUSE_BEFORE_PERSIST=1`: with `--persist`, the parent stops itself
    /// (SIGSTOP) after the steps succeeded, right before it binds the namespace onto FILE, so
    /// a test can swap FILE and then let it go on (SIGCONT).
    pub pause_before_persist: bool,
}

/// How to apply.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The state directory (journals, locks, the tmpfs root's mountpoint).
    pub state_dir: PathBuf,
    /// Compare the mount table with the prediction after the last step.
    pub verify: bool,
    /// Do not start a new session for the command.
    pub keep_terminal: bool,
    /// The command and its arguments (empty: none).
    pub command: Vec<String>,
    /// Pin the namespace on this file.
    pub persist: Option<PathBuf>,
    /// A descriptor of the caller's that mountplan's own processes keep open when they close
    /// the others (`--report-fd`: close-on-exec, and closed before the command's exec, so
    /// never the command's).
    pub keep_fd: Option<i32>,
    /// Test hooks.
    pub test: TestHooks,
}

/// Something for the caller to show.
#[derive(Debug)]
pub enum Event<'a> {
    /// Another apply on the same root holds the lock; waiting for it.
    WaitingForLock(&'a Path),
    /// A journal left by a killed apply was undone (before applying, or after the child died).
    Recovered(&'a Recovery),
    /// In the process that ran the steps, after them (success or failure), before the command.
    Setup(&'a Outcome),
    /// The command could not be executed (in the process that tried).
    ExecFailed(&'a str),
    /// Test hook: the process running the steps stops at this journal point for good.
    Hanging(u32),
    /// Test hook: the parent stops itself right before it pins the namespace.
    PausingBeforePersist,
    /// The child ended without reporting (killed): `signal` when it was a signal.
    ChildDied {
        /// The signal that killed it.
        signal: Option<i32>,
        /// It left a journal (which the parent undoes next). When false it had finished its
        /// steps and its journal, so their changes stay.
        journal: bool,
        /// It had sent its outcome (which the parent printed instead), not printed it: it died
        /// after its steps, before the command started.
        reported: bool,
    },
}

/// The result of an apply.
#[derive(Debug)]
pub struct Applied {
    /// What the steps did (`None` when the child died before reporting).
    pub outcome: Option<Outcome>,
    /// The exit status for mountplan.
    pub exit_status: u8,
    /// Journals undone (a leftover before, or the child's after it died).
    pub recovered: Vec<Recovery>,
    /// Pinning the namespace failed.
    pub persist_error: Option<SysError>,
}

/// Why nothing was applied.
#[derive(Debug)]
pub enum ApplyError {
    /// The plan cannot work here (each with its place in the plan).
    Refused(Vec<Diag>),
    /// The host side failed (state directory, lock, /proc, fork).
    Host(SysError),
    /// A journal left by an earlier apply on this root could not be fully undone.
    Leftover(Box<Recovery>),
}

/// Whether the apply makes a user namespace (rootless), for mountplan as it runs.
pub fn wants_userns(plan: &Plan) -> bool {
    preflight::wants_userns(plan, LinuxProcs.euid())
}

/// The default state directory: /run/mountplan as root, else $XDG_RUNTIME_DIR/mountplan.
pub fn default_state_dir() -> Result<PathBuf, String> {
    if LinuxProcs.euid() == 0 {
        return Ok(PathBuf::from("/run/mountplan"));
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => Ok(PathBuf::from(d).join("mountplan")),
        _ => Err(
            "XDG_RUNTIME_DIR is not set, so there is no default state directory for a \
             non-root user: pass --state-dir DIR (a directory only you can write)"
                .into(),
        ),
    }
}

/// A host path refused (the state directory, `--persist` FILE), as a diagnostic.
pub fn refusal(r: Refusal) -> Diag {
    Diag::error_nowhere(r.code, r.message).help(r.help)
}

impl From<HostError> for ApplyError {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Sys(e) => ApplyError::Host(e),
            HostError::Refused(r) => ApplyError::Refused(vec![refusal(r)]),
        }
    }
}

/// The journal directory and its path (for messages only).
struct Journals<'a> {
    fd: OwnedFd,
    path: &'a Path,
}

impl Journals<'_> {
    /// Takes the lock `<key>.lock`, waiting for another holder.
    fn lock(&self, key: &str, on: &mut dyn FnMut(Event<'_>)) -> Result<Lock, SysError> {
        let name = format!("{key}.lock");
        let shown = self.path.join(&name);
        let l = state::lock(self.fd.as_fd(), self.path, &name, true, &mut || {
            on(Event::WaitingForLock(&shown))
        })?;
        l.ok_or_else(|| SysError::new(format!("flock({:?})", shown.display()), Errno::EAGAIN))
    }
    fn exists(&self, name: &str) -> bool {
        state::exists(self.fd.as_fd(), name)
    }
    fn recover(&self, name: &str, forget: bool) -> Recovery {
        recover::recover_file(self.fd.as_fd(), self.path, name, forget)
    }
}

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
            let code = child(
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

/// What the child takes over from the parent.
struct Child {
    host: host::HostFds,
    jdir: OwnedFd,
    key: String,
    /// The tmpfs root's mountpoint, held from the host's mount namespace.
    tmproot: Option<TmpRootDir>,
    userns: bool,
    sock: UnixStream,
    /// Held, never released here: the parent removes the lock file.
    lock: Lock,
    parent: i32,
    /// The parent made the pid namespace: this child is its pid 1.
    pid_here: bool,
    args: Vec<std::ffi::CString>,
    /// The umask mountplan was started with.
    caller_umask: u32,
    /// The environment mountplan was started with.
    caller_env: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The child: namespaces, then (in the init of a pid namespace) the steps and the command.
fn child(
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
const PRINTED: &[u8] = b"printed";

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
    let tmproot = match tmproot.map(TmpRootDir::in_new_namespace).transpose() {
        Ok(t) => t,
        Err(e) => {
            let o = Outcome::early_failure(&dag.plan.name, &e);
            report(&mut sock, &o, on);
            return 125;
        }
    };
    let mut linux = match Linux::new(host, tmproot, userns, dag.calls.mounts) {
        Ok(l) => l,
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
    drop(sock);
    p.close_extra_fds(fd_proc);
    let command = Command {
        process: &dag.plan.process,
        args: &args,
        caller_umask,
        caller_env: &caller_env,
        keep_terminal: cfg.keep_terminal,
        userns,
        as_init: dag.plan.namespaces.pid,
    };
    p.start_command(&command, &mut |m| on(Event::ExecFailed(m)))
}

/// Undoes every journal left in the state directory, each under its root's lock, and removes
/// the lock files no apply holds (earlier versions left one per root). A missing state
/// directory has nothing to recover.
/// Undoes every journal left in the state directory, each under its root's lock; with
/// `forget`, a journal is removed even when some of its records could not be proved to act on
/// what the apply changed (they are reported as kept).
pub fn recover(
    state_dir: &Path,
    forget: bool,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<Vec<Recovery>, ApplyError> {
    let Some(state) = StateDir::open(state_dir, false)? else {
        return Ok(Vec::new());
    };
    let jpath = state.path().join("journal");
    let Some(fd) = state.subdir("journal", false)? else {
        return Ok(Vec::new());
    };
    drop(state);
    let journals = Journals { fd, path: &jpath };
    let listed = |suffix: &str| {
        state::list(journals.fd.as_fd(), suffix).map_err(|e| {
            ApplyError::Host(SysError::new(format!("readdir({:?})", jpath.display()), e))
        })
    };
    let mut out = Vec::new();
    for name in listed(".journal")? {
        let key = name.trim_end_matches(".journal");
        let lock = journals.lock(key, on).map_err(ApplyError::Host)?;
        if journals.exists(&name) {
            let r = journals.recover(&name, forget);
            on(Event::Recovered(&r));
            out.push(r);
        }
        lock.release(journals.fd.as_fd());
    }
    for name in listed(".lock")? {
        let key = name.trim_end_matches(".lock");
        if journals.exists(&format!("{key}.journal")) {
            continue;
        }
        // Held: an apply is running on that root, and removes it when done.
        if let Ok(Some(l)) = state::lock(journals.fd.as_fd(), &jpath, &name, false, &mut || {}) {
            l.release(journals.fd.as_fd());
        }
    }
    Ok(out)
}

/// Undoes `apply --persist FILE`.
pub fn release(file: &Path) -> Result<(), HostError> {
    pin::release(file)
}

#[cfg(test)]
mod procs_tests;
#[cfg(test)]
mod tests;
