//! Recovery: the journal of an apply that did not finish -> the host as it was.
//!
//! Takes a journal directory's descriptor and a journal's name; undoes every
//! change the journal records that was not undone, newest first, from the host: each path is
//! resolved inside its base directory (symlinks cannot lead out of it) and the inode is
//! checked (kind, device number or link target, and dev/ino once known) before anything is
//! removed or changed back. Returns what was undone, left alone, or could not be undone; the
//! journal is removed only when nothing is left to do.

use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use super::journal::parse;
use crate::sys::linux::files::Reversed;
use crate::sys::linux::{host, state};

/// Test hook (`MOUNTPLAN_TEST_KILL_RECOVER_AT`): die right after undoing this many records.
static KILL_AFTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(usize::MAX);

/// Test hook: the process dies right after recovery has undone `n` records, before it removes
/// the journal (debug builds set it from `MOUNTPLAN_TEST_KILL_RECOVER_AT`).
pub fn kill_after(n: usize) {
    KILL_AFTER.store(n, std::sync::atomic::Ordering::Relaxed);
}

/// What recovering one journal did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// The journal file.
    pub journal: PathBuf,
    /// Changes undone.
    pub undone: Vec<String>,
    /// Changes left alone, with why: what is there cannot be proved to be what was changed
    /// (its directory moved or replaced, another inode at its name). They keep the journal,
    /// unless recovery was told to forget them.
    pub kept: Vec<String>,
    /// Changes that could not be undone (the journal is kept for another try).
    pub errors: Vec<String>,
    /// Problems reading the journal.
    pub warnings: Vec<String>,
    /// True when the journal was removed (nothing is left to do).
    pub removed: bool,
}

impl Recovery {
    /// True when nothing is left to undo (or what was left was forgotten on purpose).
    pub fn complete(&self) -> bool {
        self.errors.is_empty() && (self.kept.is_empty() || self.removed)
    }
    /// For the JSON report.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "journal": self.journal.display().to_string(),
            "undone": self.undone,
            "kept": self.kept,
            "errors": self.errors,
            "warnings": self.warnings,
            "removed": self.removed,
        })
    }
}

/// Undoes every change the journal `name` in the journal directory `dir` records that was
/// not undone, newest first, from the host; removes the journal when nothing is left (only the
/// very file read). A record that cannot be proved to act on what the apply changed is left,
/// and keeps the journal, unless `forget` (a person checked those paths). `shown` is the
/// directory's path, for messages.
pub fn recover_file(dir: BorrowedFd<'_>, shown: &Path, name: &str, forget: bool) -> Recovery {
    let path = shown.join(name);
    let mut r = Recovery {
        journal: path.clone(),
        ..Recovery::default()
    };
    let read = match state::read(dir, name) {
        Ok(Some(t)) => t,
        Ok(None) => {
            r.removed = true;
            return r;
        }
        Err(e) => {
            r.errors.push(format!("{}: {e}", path.display()));
            return r;
        }
    };
    let parsed = match parse(&read.text) {
        Ok(p) => p,
        Err(e) => {
            r.errors
                .push(format!("{}: {e}; it was left in place", path.display()));
            return r;
        }
    };
    r.warnings = parsed.warnings;
    let proc = match host::open_path(Path::new("/proc"), true) {
        Ok(p) => p,
        Err(e) => {
            r.errors.push(e.to_string());
            return r;
        }
    };
    let kill_after = KILL_AFTER.load(std::sync::atomic::Ordering::Relaxed);
    for (n, e) in parsed
        .entries
        .iter()
        .rev()
        .filter(|e| !e.undone)
        .enumerate()
    {
        if n == kill_after {
            crate::sys::linux::process::die_now();
        }
        crate::sys::linux::pause::before_undo(n);
        let d = e.undo.on_host(&e.place);
        match host::undo_on_host(&proc, &e.place.base, &e.place.rel, &e.undo) {
            Ok(Reversed::Done) => r.undone.push(d),
            Ok(Reversed::Gone) => {}
            Ok(Reversed::Kept(why)) => r.kept.push(format!("{d}: left alone: {why}")),
            Err(x) => r.errors.push(x.to_string()),
        }
    }
    if r.errors.is_empty() && (r.kept.is_empty() || forget) {
        match state::remove(dir, name, read.id) {
            Ok(_) => r.removed = true,
            Err(e) => r.errors.push(format!(
                "remove {}: {}",
                path.display(),
                crate::sys::errno_words(e)
            )),
        }
    }
    r
}
