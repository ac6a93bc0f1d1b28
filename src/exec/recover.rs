//! Recovery: the journal of an apply that did not finish -> the host as it was.
//!
//! Takes a journal directory (and, for [`recover_file`], a journal's name); undoes every
//! change the journal records that was not undone, newest first, from the host: each path is
//! resolved inside its base directory (symlinks cannot lead out of it) and the inode is
//! checked (kind, device number or link target, and dev/ino once known) before anything is
//! removed or changed back. Returns what was undone, left alone, or could not be undone; the
//! journal is removed only when nothing is left to do.

use std::io::Read;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::journal::parse;
use crate::sys::io_words;
use crate::sys::linux::files::Reversed;
use crate::sys::linux::host;

/// What recovering one journal did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// The journal file.
    pub journal: PathBuf,
    /// Changes undone.
    pub undone: Vec<String>,
    /// Changes left alone, with why (what is there is not what was made).
    pub kept: Vec<String>,
    /// Changes that could not be undone (the journal is kept for another try).
    pub errors: Vec<String>,
    /// Problems reading the journal.
    pub warnings: Vec<String>,
    /// True when the journal was removed (nothing is left to do).
    pub removed: bool,
}

impl Recovery {
    /// True when nothing is left to undo.
    pub fn complete(&self) -> bool {
        self.errors.is_empty()
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

/// Undoes every change a journal records that was not undone, newest first, from the host;
/// removes the journal when nothing is left.
pub fn recover_file(dir: &Path, name: &str) -> Recovery {
    let path = dir.join(name);
    let mut r = Recovery {
        journal: path.clone(),
        ..Recovery::default()
    };
    let mut text = String::new();
    let read = std::fs::File::open(&path).and_then(|mut f| f.read_to_string(&mut text));
    if let Err(e) = read {
        if e.kind() == std::io::ErrorKind::NotFound {
            r.removed = true;
        } else {
            r.errors
                .push(format!("cannot read {}: {}", path.display(), io_words(&e)));
        }
        return r;
    }
    let parsed = match parse(&text) {
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
    for e in parsed.entries.iter().rev().filter(|e| !e.undone) {
        let d = e.undo.on_host(&e.place);
        match host::undo_on_host(&proc, &e.place.base, &e.place.rel, &e.undo) {
            Ok(Reversed::Done) => r.undone.push(d),
            Ok(Reversed::Gone) => {}
            Ok(Reversed::Kept(why)) => r.kept.push(format!("{d}: left alone: {why}")),
            Err(x) => r.errors.push(x.to_string()),
        }
    }
    if r.errors.is_empty() {
        match std::fs::remove_file(&path) {
            Ok(()) => r.removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => r.removed = true,
            Err(e) => r
                .errors
                .push(format!("remove {}: {}", path.display(), io_words(&e))),
        }
    }
    r
}

/// The journals left in a journal directory, by file name, sorted.
pub fn leftovers(dir: &Path) -> Result<Vec<String>, String> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {}", dir.display(), io_words(&e))),
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".journal"))
        .collect();
    v.sort();
    Ok(v)
}

/// True when the file exists (errors other than "missing" count as existing).
pub fn exists(dir: &Path, name: &str) -> bool {
    !matches!(nix::sys::stat::lstat(&dir.join(name)), Err(Errno::ENOENT))
}
