//! The executor: a valid plan -> a new namespace with the planned root, then the command.
//!
//! Takes a [`Dag`](crate::graph::Dag) and a [`Config`]; returns [`Applied`] (the [`Outcome`]
//! of the steps and the exit status), or an [`ApplyError`] when nothing was started. It
//! orchestrates: every system call goes through [`crate::sys::Sys`] (the steps) or
//! [`crate::sys::Procs`] (the processes), and [`apply_with`] takes the latter as a parameter,
//! so unit tests run the order below with a recording fake. The checklist, in order:
//!
//! 1. refuse early what cannot work ([`crate::validate::preflight`]: device nodes in a user namespace, ids
//!    other than 0 there, capabilities mountplan lacks, ...);
//! 2. close every descriptor the caller left open, become non-dumpable (the children inherit
//!    it), `umask(0)` (keeping the caller's for the command); open (or create) `--persist
//!    FILE`, never through a symlink; open the host's `/proc` and `/dev/null` (`O_PATH`,
//!    checked); open the state directory once, through a checked walk from `/` ([`crate::sys::linux::state`]),
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
//!
//! The files: this one holds the types of the API ([`Config`], [`Event`], [`Applied`],
//! [`ApplyError`]); `parent.rs` is steps 1 and 2 and the parent's side of 4 ([`apply`],
//! [`apply_with`]); `child.rs` is steps 3 and 4 in the child; `journals.rs` is the journal
//! directory (locks, leftovers) and [`recover()`]. Beside them: [`run`] (the steps), [`journal`]
//! (the undo log and its format), [`recover`](mod@recover) (undoing one journal), [`verify`],
//! [`report`], [`channel`] (the socket protocol), [`api`] (which mount API an apply uses), and
//! the test pauses in [`crate::sys::linux::pause`].

pub mod api;
pub mod channel;
mod child;
pub mod journal;
mod journals;
mod parent;
pub mod recover;
pub mod report;
pub mod run;
pub mod verify;

use std::path::{Path, PathBuf};

use self::recover::Recovery;
use self::report::Outcome;
use crate::diag::Diag;
use crate::model::Plan;
use crate::sys::SysError;
use crate::sys::linux::LinuxProcs;
use crate::sys::linux::host::{HostError, Refusal};
use crate::sys::linux::pin;
use crate::sys::procs::Procs;
use crate::validate::preflight;

pub use self::journals::recover;
pub use self::parent::{apply, apply_with};

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
    /// `MOUNTPLAN_TEST_NO_NEW_API=1`: apply decides as on a kernel without the new mount API
    /// (`api = "auto"` takes the classic calls, `api = "new"` refuses to start).
    pub no_new_api: bool,
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
    /// Why the plan's calls are those of the mount API they are (for the report; see
    /// [`api::choose`]).
    pub api_why: String,
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

/// Undoes `apply --persist FILE`.
pub fn release(file: &Path) -> Result<(), HostError> {
    pin::release(file)
}

#[cfg(test)]
mod procs_tests;
#[cfg(test)]
mod tests;
