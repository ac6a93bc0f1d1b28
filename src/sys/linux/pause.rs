//! Test pauses (debug builds only): the process running the steps, or recovery, stops right
//! before a chosen call or undo until the test lets it go on, so a test can change the root at
//! exactly that point instead of racing for it.
//!
//! Takes the point from [`set`] (the binary reads `MOUNTPLAN_TEST_PAUSE_AT_CALL=N`,
//! `MOUNTPLAN_TEST_PAUSE_AT_UNDO=N` and `MOUNTPLAN_TEST_RESUME=FIFO`); [`before_call`] and
//! [`before_undo`] print `mountplan: test pause before call N` (or `undo N`) on stderr, then
//! block opening FIFO for reading and read it to its end: the test writes to it (or just opens
//! and closes it) when it is done. FIFO is opened relative to its directory, held from the
//! first call or undo on (before any pivot), so a pause after the pivot, whose new root does
//! not show FIFO's path, still finds it.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Where to pause.
#[derive(Debug, Clone, Default)]
pub struct Pause {
    /// Before this call (from 0, setup included) of the process running the steps.
    pub at_call: Option<usize>,
    /// Before this undo (from 0, in the order they are made) of a rollback or a recovery.
    pub at_undo: Option<usize>,
    /// The FIFO whose opening and end let the process go on.
    pub resume: PathBuf,
}

static PAUSE: OnceLock<Pause> = OnceLock::new();

/// FIFO's directory (`O_PATH`, close-on-exec), opened by the first hook.
static DIR: OnceLock<Option<OwnedFd>> = OnceLock::new();

fn dir(p: &Pause) -> Option<&'static OwnedFd> {
    DIR.get_or_init(|| {
        let parent = p.resume.parent().filter(|d| !d.as_os_str().is_empty());
        nix::fcntl::open(
            parent.unwrap_or(std::path::Path::new(".")),
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok()
    })
    .as_ref()
}

/// Sets the pause for this process and its children (once; later calls are ignored).
pub fn set(p: Pause) {
    let _ = PAUSE.set(p);
}

/// True when a pause is set.
pub fn active() -> bool {
    PAUSE.get().is_some()
}

/// Pauses when call `n` is the chosen one.
pub fn before_call(n: usize) {
    if let Some(p) = PAUSE.get() {
        dir(p);
        if p.at_call == Some(n) {
            wait(p, &format!("call {n}"));
        }
    }
}

/// Pauses when undo `n` is the chosen one.
pub fn before_undo(n: usize) {
    if let Some(p) = PAUSE.get() {
        dir(p);
        if p.at_undo == Some(n) {
            wait(p, &format!("undo {n}"));
        }
    }
}

fn wait(p: &Pause, what: &str) {
    eprintln!("mountplan: test pause before {what}");
    // Blocks until the test opens the FIFO for writing; then until it closes it.
    let opened = match (dir(p), p.resume.file_name()) {
        (Some(d), Some(name)) => nix::fcntl::openat(
            d.as_fd(),
            name,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map(std::fs::File::from)
        .map_err(std::io::Error::from),
        _ => std::fs::File::open(&p.resume),
    };
    match opened {
        Ok(mut f) => {
            let mut sink = Vec::new();
            let _ = f.read_to_end(&mut sink);
        }
        Err(e) => eprintln!("mountplan: test pause: {}: {e}", p.resume.display()),
    }
}
