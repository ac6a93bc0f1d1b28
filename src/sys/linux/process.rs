//! The kernel calls of an apply's processes (behind [`crate::sys::Procs`]): descriptors,
//! dumpability, signals, namespaces, fork and wait, and starting the command.
//!
//! Takes what the executor asks for; returns errno-carrying [`SysError`]s and wait results.
//! The shape of the processes ([`crate::exec`] orchestrates them), in order:
//!
//! ```text
//! parent (host namespaces)         child
//!   close_range(3, ~0); PR_SET_DUMPABLE 0 (inherited by every child)
//!   [as root with a pid namespace: unshare(PID) here, so the child is its pid 1]
//!   fork ------------------------>  PR_SET_PDEATHSIG(SIGKILL); parent still there?
//!   |                               unshare(USER) + setgroups deny + uid/gid map  (rootless;
//!   |                                dumpable only meanwhile: the maps are its /proc files)
//!   |                               unshare(NS | IPC | UTS | NET | CGROUP [| PID rootless])
//!   |                               sethostname ([process] hostname)
//!   |                               [rootless pid: fork ---------> init (pid 1): PDEATHSIG,
//!   |                                wait, pass the status          parent still there?]
//!   |                               steps, verify, rollback         (same, in the init)
//!   | <--- outcome (length + JSON) --
//!   |                               print the report
//!   | <--- "printed" ----------------   (without it, the parent prints the report)
//!   |  --persist: bind /proc/CHILD/ns/mnt, then "go" -->
//!   |                               close fds >= 3, then as [process] says (see
//!   |                               `command`): setsid, umask, seccomp, capabilities,
//!   |                               ids, no_new_privs, chdir(cwd), exec COMMAND
//!   |                               (pid: the init starts the command so, reaps, forwards
//!   |                                SIGTERM/SIGINT/SIGHUP, exits with its status)
//!   waitpid; if the child died before reporting, recover its journal
//! ```
//!
//! mountplan has no threads, so `fork` is safe and the child may allocate.

use std::io::Write;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::command::{Failed, Setup, Stage, become_command};
use crate::model::Namespaces;
use crate::sys::SysError;

/// Where a forwarded signal goes (0: nowhere yet).
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe; the handler touches nothing else but an atomic.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

const FORWARDED: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

/// The [`FORWARDED`] signals the caller ignored (bit N for signal N), kept for the command.
static CALLER_IGNORED: AtomicU64 = AtomicU64::new(0);

/// Notes which of SIGTERM, SIGINT and SIGHUP the caller ignored (`nohup` ignores SIGHUP), so
/// the command ignores them too. Call it before any handler is installed.
pub fn note_caller_signals() {
    let mut bits = 0u64;
    for s in FORWARDED {
        let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: a query (no new action) into a zeroed sigaction.
        let r = unsafe { libc::sigaction(s as libc::c_int, std::ptr::null(), old.as_mut_ptr()) };
        // SAFETY: sigaction filled it, or it is still all zeroes.
        if r == 0 && unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN {
            bits |= 1 << (s as u32);
        }
    }
    CALLER_IGNORED.store(bits, Ordering::Relaxed);
}

/// Forwards SIGTERM, SIGINT and SIGHUP to `pid` from now on.
pub fn forward_signals_to(pid: Pid) {
    FORWARD_TO.store(pid.as_raw(), Ordering::Relaxed);
    let a = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in FORWARDED {
        // Cannot fail for these signals with a valid handler.
        // SAFETY: the handler only reads an atomic and calls kill(2), both async-signal-safe.
        let _ = unsafe { nix::sys::signal::sigaction(s, &a) };
    }
}

/// The exit status for a wait status: the code, or 128+N for signal N.
pub fn exit_code(ws: WaitStatus) -> Option<u8> {
    match ws {
        WaitStatus::Exited(_, c) => Some(u8::try_from(c & 0xff).unwrap_or(255)),
        WaitStatus::Signaled(_, s, _) => Some(128u8.saturating_add(s as i32 as u8)),
        _ => None,
    }
}

/// Waits for `pid` to end, through EINTR and stops.
pub fn wait_for(pid: Pid) -> Result<WaitStatus, Errno> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Ok(ws @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(ws),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// True when the other end of `sock` is closed (the parent died): `poll` says POLLHUP.
pub fn peer_gone(sock: &UnixStream) -> bool {
    let mut p = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd that outlives the call; the timeout is 0.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r > 0 && p.revents & (libc::POLLHUP | libc::POLLERR) != 0
}

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: this process dies with its parent.
pub fn die_with_parent() -> Result<(), SysError> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes integers only.
    let r = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    Errno::result(r)
        .map(drop)
        .map_err(|e| SysError::new("prctl(PR_SET_PDEATHSIG, SIGKILL)", e))
}

/// `prctl(PR_SET_DUMPABLE)`. A process that is not dumpable cannot be reached through
/// `/proc/PID/{root,cwd,fd,exe,environ,mem}` (nor ptraced) by a process without
/// CAP_SYS_PTRACE, whatever its uid: mountplan's own processes are not, so the command cannot
/// open the mountplan binary (CVE-2019-5736) or a descriptor they hold through them. Its
/// `/proc/self` files then belong to root of the namespace the memory was made in, which is
/// why a rootless child is dumpable while it writes its uid and gid maps.
pub fn set_dumpable(on: bool) -> Result<(), SysError> {
    // SAFETY: prctl(PR_SET_DUMPABLE) takes integers only.
    let r = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on), 0, 0, 0) };
    Errno::result(r)
        .map(drop)
        .map_err(|e| SysError::new(format!("prctl(PR_SET_DUMPABLE, {})", u8::from(on)), e))
}

/// Closes every descriptor but 0, 1 and 2 that this process has: at the start of an apply,
/// before it opens any of its own, so nothing the caller left open (a host directory, a
/// secret) stays reachable in mountplan's processes while the command runs. As
/// [`close_extra_fds`] does it, with the host's `/proc` found by path (nothing is unshared
/// yet).
pub fn close_inherited_fds(keep: Option<RawFd>) {
    let proc = nix::fcntl::open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok();
    close_fds_but(proc, keep.filter(|k| *k >= 3));
}

/// `sethostname(name)`, in the new UTS namespace.
pub fn set_hostname(name: &str) -> Result<(), SysError> {
    nix::unistd::sethostname(name)
        .map_err(|e| SysError::new(format!("sethostname({name:?}) ([process] hostname)"), e))
}

fn write_proc(proc: BorrowedFd<'_>, name: &str, text: &str) -> Result<(), SysError> {
    let call = || format!("write(\"/proc/self/{name}\", {text:?})");
    let fd = nix::fcntl::openat(
        proc,
        format!("self/{name}").as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SysError::new(call(), e))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(text.as_bytes()).map_err(|e| {
        SysError::new(
            call(),
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })
}

/// The clone flags for the namespaces besides the user namespace.
pub fn ns_flags(ns: &Namespaces) -> CloneFlags {
    let mut f = CloneFlags::CLONE_NEWNS;
    for (on, flag) in [
        (ns.ipc, CloneFlags::CLONE_NEWIPC),
        (ns.uts, CloneFlags::CLONE_NEWUTS),
        (ns.net, CloneFlags::CLONE_NEWNET),
        (ns.cgroup, CloneFlags::CLONE_NEWCGROUP),
        (ns.pid, CloneFlags::CLONE_NEWPID),
    ] {
        if on {
            f |= flag;
        }
    }
    f
}

fn clone_words(f: CloneFlags) -> String {
    let names = [
        (CloneFlags::CLONE_NEWNS, "CLONE_NEWNS"),
        (CloneFlags::CLONE_NEWIPC, "CLONE_NEWIPC"),
        (CloneFlags::CLONE_NEWUTS, "CLONE_NEWUTS"),
        (CloneFlags::CLONE_NEWNET, "CLONE_NEWNET"),
        (CloneFlags::CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
        (CloneFlags::CLONE_NEWPID, "CLONE_NEWPID"),
        (CloneFlags::CLONE_NEWUSER, "CLONE_NEWUSER"),
    ];
    names
        .iter()
        .filter(|(b, _)| f.contains(*b))
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("|")
}

/// Makes the namespaces: first a user namespace mapping the caller to root (rootless), then
/// the others.
pub fn enter_namespaces(
    ns: &Namespaces,
    userns: bool,
    proc: BorrowedFd<'_>,
) -> Result<(), SysError> {
    if userns {
        let uid = nix::unistd::geteuid();
        let gid = nix::unistd::getegid();
        nix::sched::unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| {
            let mut s = SysError::new("unshare(CLONE_NEWUSER)", e);
            if matches!(e, Errno::EPERM | Errno::ENOSPC | Errno::EACCES) {
                s.why = Some(
                    "this system does not allow unprivileged user namespaces \
                     (kernel.unprivileged_userns_clone=0, user.max_user_namespaces=0, or an \
                     AppArmor/SELinux restriction): run as root with [namespaces] user = false"
                        .into(),
                );
            }
            s
        })?;
        // A process that is not dumpable has its /proc/self files owned by the host's root,
        // which the caller cannot write: dumpable for the maps only (the caller's other
        // processes, the only ones that could reach this one meanwhile, are the caller's).
        set_dumpable(true)?;
        // The kernel wants setgroups denied before an unprivileged gid_map is written.
        write_proc(proc, "setgroups", "deny")?;
        write_proc(proc, "uid_map", &format!("0 {uid} 1\n"))?;
        write_proc(proc, "gid_map", &format!("0 {gid} 1\n"))?;
        set_dumpable(false)?;
    }
    let f = ns_flags(ns);
    nix::sched::unshare(f).map_err(|e| {
        let mut s = SysError::new(format!("unshare({})", clone_words(f)), e);
        if e == Errno::EPERM && !userns {
            s.why = Some(
                "new namespaces need CAP_SYS_ADMIN: run as root, or let mountplan make a user \
                 namespace ([namespaces] user = \"auto\" or true)"
                    .into(),
            );
        }
        s
    })
}

/// `close_range(3, ~0, 0)`: no descriptor but stdio reaches the command (CVE-2024-21626).
/// Every other `OwnedFd` of this process must be gone by now; `proc` (the host's `/proc`) is
/// consumed.
///
/// Without `close_range` (kernels before 5.9, or a seccomp filter), every descriptor listed in
/// `self/fd` of the host's `/proc` is closed, then every number below the soft limit: a
/// descriptor the caller left open above a limit it lowered afterwards is closed too, and a
/// `/proc` planted in the new root plays no part.
pub fn close_extra_fds(proc: Option<OwnedFd>) {
    close_fds_but(proc, None);
}

/// [`close_extra_fds`], keeping `keep` (3 or more) open.
fn close_fds_but(proc: Option<OwnedFd>, keep: Option<RawFd>) {
    use std::os::fd::IntoRawFd;
    // Raw from here: close_range closes it with the others.
    let proc = proc.map(IntoRawFd::into_raw_fd);
    let ranges: &[(u32, u32)] = &match keep {
        Some(k) => [(3, k as u32 - 1), (k as u32 + 1, u32::MAX)],
        None => [(3, u32::MAX), (1, 0)],
    };
    // SAFETY: close_range(2) takes integers only; no OwnedFd of this process is left open
    // (the caller's contract), so nothing closes a descriptor Rust still owns.
    let closed = ranges.iter().all(|&(lo, hi)| {
        lo > hi || unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) } == 0
    });
    if closed {
        return;
    }
    if let Some(p) = proc {
        let listed = open_fds(p);
        for fd in listed {
            if fd >= 3 && Some(fd) != keep {
                // SAFETY: as for close_range above: only descriptors no Rust owner holds remain.
                unsafe {
                    libc::close(fd);
                }
            }
        }
    }
    let max = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft.min(1 << 20))
        .unwrap_or(1024);
    for fd in (3..max as i32).filter(|fd| Some(*fd) != keep) {
        // SAFETY: as above; closing a number that is not open is EBADF, harmless.
        unsafe {
            libc::close(fd);
        }
    }
}

/// The descriptors open in this process, from `self/fd` of the `/proc` directory `proc`
/// (empty when it cannot be read). The directory's own descriptor is not in the list.
fn open_fds(proc: std::os::fd::RawFd) -> Vec<i32> {
    // SAFETY: `proc` is open for the whole of this function (closed only afterwards).
    let proc = unsafe { std::os::fd::BorrowedFd::borrow_raw(proc) };
    let Ok(fd) = nix::fcntl::openat(
        proc,
        "self/fd",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return Vec::new();
    };
    let Ok(mut dir) = nix::dir::Dir::from_fd(fd) else {
        return Vec::new();
    };
    let own = dir.as_raw_fd();
    dir.iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().ok()?.parse::<i32>().ok())
        .filter(|n| *n != own)
        .collect()
}

/// How a command could not be run.
#[derive(Debug, Clone)]
pub struct ExecError {
    /// The program.
    pub program: String,
    /// Which step of becoming the command failed.
    pub stage: Stage,
    /// The errno.
    pub errno: Errno,
    text: String,
}

impl ExecError {
    fn new(s: &Setup, f: Failed) -> ExecError {
        ExecError {
            program: s.program.clone(),
            stage: f.stage,
            errno: Errno::from_raw(f.errno),
            text: s.message(f),
        }
    }
    /// 127 when not found, else 126 (also when the process could not be set up as
    /// `[process]` says: the command did not start).
    pub fn status(&self) -> u8 {
        if self.stage == Stage::Exec && self.errno == Errno::ENOENT {
            127
        } else {
            126
        }
    }
    /// The message: the program, the call that failed and its errno in words.
    pub fn message(&self) -> String {
        self.text.clone()
    }
}

/// The signals [`become_command`] resets: those mountplan handles itself.
const RESET: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGPIPE];

/// In the process that will become the command: everything `[process]` says (see
/// [`super::command`]), then exec. Returns only on failure.
pub fn exec_command(setup: &mut Setup) -> ExecError {
    crate::timing::mark("exec");
    let ignored = CALLER_IGNORED.load(Ordering::Relaxed);
    // SAFETY: `setup` was prepared by Setup::prepare and nothing else uses it meanwhile.
    let f = unsafe { become_command(setup, &RESET, ignored) };
    ExecError::new(setup, f)
}

/// Pid 1 of a new pid namespace: starts the command, reaps every child, forwards SIGTERM,
/// SIGINT and SIGHUP to the command, and returns the command's status when it ends.
pub fn init_run(setup: &mut Setup, on_exec_error: &mut dyn FnMut(&ExecError)) -> u8 {
    crate::timing::mark("exec");
    let child = match spawn_command(setup) {
        Ok(child) => child,
        Err(e) => {
            on_exec_error(&e);
            return e.status();
        }
    };
    forward_signals_to(child);
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::__WALL)) {
            Ok(ws) if ws.pid() == Some(child) => {
                if let Some(c) = exit_code(ws) {
                    return c;
                }
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return 125,
        }
    }
}

/// What the child of [`spawn_command`] reads, and where it leaves its failure.
struct Spawn {
    setup: *mut Setup,
    ignored: u64,
    failed: Option<Failed>,
}

/// The child of [`spawn_command`], on its own stack in this process's memory (the parent is
/// suspended until it execs or exits): only system calls, no allocation, no unwinding.
extern "C" fn spawn_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Spawn` of the suspended parent, valid until this child execs or
    // exits; its `setup` was prepared by Setup::prepare and is used by nobody else meanwhile.
    unsafe {
        let s = &mut *arg.cast::<Spawn>();
        let f = become_command(&mut *s.setup, &RESET, s.ignored);
        std::ptr::write_volatile(&mut s.failed, Some(f));
        libc::_exit(if f.stage == Stage::Exec && f.errno == libc::ENOENT {
            127
        } else {
            126
        })
    }
}

/// Starts the command as [`exec_command`] runs it in a child made with `CLONE_VM |
/// CLONE_VFORK`, as posix_spawn(3) does: this process's memory is not copied for a child that
/// only execs (some 0.1 ms less than a fork here), and a failure comes back as the error.
/// (glibc's posix_spawn would also reset every one of the 64 signals in the child, two calls
/// each, and could not drop capabilities or change ids in the right order.)
fn spawn_command(setup: &mut Setup) -> Result<Pid, ExecError> {
    let mut s = Spawn {
        setup: &raw mut *setup,
        ignored: CALLER_IGNORED.load(Ordering::Relaxed),
        failed: None,
    };
    // The child's stack (the PATH search and the calls before it run on it): allocated, not
    // written (the child writes what it uses).
    let mut stack: Vec<u8> = Vec::with_capacity(256 << 10);
    // SAFETY: the stack grows down from the end of `stack`'s allocation (16-byte aligned),
    // which outlives the child's use of it: with CLONE_VFORK this call returns only once the
    // child has exec'd or exited. `s` and the setup stay alive and unmoved for as long.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(stack.capacity());
        let top = top.sub(top as usize % 16);
        libc::clone(
            spawn_child,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&raw mut s).cast(),
        )
    };
    if pid < 0 {
        let f = Failed {
            stage: Stage::Exec,
            errno: Errno::last_raw(),
        };
        return Err(ExecError::new(setup, f));
    }
    // SAFETY: the child has exec'd or exited; reading what it may have written is race-free.
    let failed = unsafe { std::ptr::read_volatile(&s.failed) };
    if let Some(f) = failed {
        // It exited: reap it here, so the caller sees only the error.
        let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::__WALL));
        return Err(ExecError::new(setup, f));
    }
    Ok(Pid::from_raw(pid))
}

/// Ends this process at once with `code`, without running destructors or atexit handlers
/// (a forked child must not flush or clean up what belongs to its parent).
pub fn exit_now(code: u8) -> ! {
    let _ = std::io::stderr().flush();
    let _ = std::io::stdout().flush();
    // SAFETY: _exit(2) takes an integer; the streams were flushed above.
    unsafe { libc::_exit(i32::from(code)) }
}

/// Test hook: die here as if killed. Pid 1 of a pid namespace cannot be killed by itself,
/// so it exits at once instead (no rollback, no cleanup either way).
pub fn die_now() -> ! {
    if nix::unistd::getpid().as_raw() != 1 {
        let _ = nix::sys::signal::raise(Signal::SIGKILL);
    }
    // SAFETY: _exit(2) takes an integer.
    unsafe { libc::_exit(137) }
}

/// Test hook: stops here for good (until killed).
pub fn hang() -> ! {
    loop {
        nix::unistd::pause();
    }
}
