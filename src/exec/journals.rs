//! The journal directory of the state directory: the roots' locks and the journals left.
//!
//! Takes the state directory (its path, opened through the checked walk of
//! [`crate::sys::linux::state`]); returns, from [`recover`], what undoing every journal left
//! there did ([`Recovery`]), each under its root's lock. [`Journals`] is the directory held
//! open, shared with the parent's side of an apply (its lock, a leftover of its root).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use super::recover::{self, Recovery};
use super::{ApplyError, Event};
use crate::sys::linux::state::{self, Lock, StateDir};
use crate::sys::{Errno, SysError};

/// The journal directory and its path (for messages only).
pub(super) struct Journals<'a> {
    pub(super) fd: OwnedFd,
    pub(super) path: &'a Path,
}

impl Journals<'_> {
    /// Takes the lock `<key>.lock`, waiting for another holder.
    pub(super) fn lock(&self, key: &str, on: &mut dyn FnMut(Event<'_>)) -> Result<Lock, SysError> {
        let name = format!("{key}.lock");
        let shown = self.path.join(&name);
        let l = state::lock(self.fd.as_fd(), self.path, &name, true, &mut || {
            on(Event::WaitingForLock(&shown))
        })?;
        l.ok_or_else(|| SysError::new(format!("flock({:?})", shown.display()), Errno::EAGAIN))
    }
    pub(super) fn exists(&self, name: &str) -> bool {
        state::exists(self.fd.as_fd(), name)
    }
    pub(super) fn recover(&self, name: &str, forget: bool) -> Recovery {
        recover::recover_file(self.fd.as_fd(), self.path, name, forget)
    }
}

/// Undoes every journal left in the state directory, each under its root's lock, and removes
/// the lock files no apply holds (earlier versions left one per root); with `forget`, a
/// journal is removed even when some of its records could not be proved to act on what the
/// apply changed (they are reported as kept). A missing state directory has nothing to
/// recover.
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
