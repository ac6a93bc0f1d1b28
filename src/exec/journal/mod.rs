//! The undo journal: every change to a persistent host filesystem, on disk before and after
//! it is made, so an apply killed at any instant can be undone by `mountplan recover`.
//!
//! Takes undo records with their host place (the root directory or a bind source, and the
//! path below it); encodes them, one line each, for a [`JournalStore`] (the file
//! `<state-dir>/journal/<key>.journal`, every line synced before the change it describes is
//! made: the intent before, done with the inode's identity after); parses such a file back
//! into [`Entry`]s for [`mod@super::recover`].
//!
//! The files: this one is the writer ([`Journal`], through [`Log`]) and the journal's name
//! ([`key`]); [`format`](mod@format) is the journal format, the one place that writes and
//! reads it (the line of every record, its tokens and checksum, the reading of a file back,
//! torn lines and older versions).

pub mod format;

pub use self::format::{Entry, Parsed, parse};

use self::format::{done_line, header_line, intent_line, undone_line};
use crate::lowering::HostPlace;
use crate::model::{Plan, Root};
use crate::sys::{JournalStore, Undo};

/// Where journal records go.
pub trait Log {
    /// Before a change at `place`: what undoes it.
    fn intent(&mut self, seq: u64, place: &HostPlace, u: &Undo) -> Result<(), String>;
    /// After the change: the complete undo record.
    fn done(&mut self, seq: u64, u: &Undo) -> Result<(), String>;
    /// The change was undone (or never happened).
    fn undone(&mut self, seq: u64) -> Result<(), String>;
}

/// FNV-1a, 64 bits.
fn fnv64(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The journal's name for a plan: a hash of the root directory's path (so every apply on
/// the same root shares one lock and one journal), or of the plan's name for a tmpfs root.
pub fn key(plan: &Plan) -> String {
    match &plan.root {
        Root::Path(p) => format!("root-{:016x}", fnv64(p.as_str().as_bytes())),
        Root::Tmpfs(_) => format!("tmpfs-{:016x}", fnv64(plan.name.as_bytes())),
    }
}

/// The journal of one apply: its records, encoded by [`format`](mod@format), written through a
/// [`JournalStore`] (the file, created on the first record).
#[derive(Debug)]
pub struct Journal<S> {
    store: S,
    head: String,
    started: bool,
}

impl<S: JournalStore> Journal<S> {
    /// A journal for the plan whose key is `key`, written to `store`.
    pub fn new(store: S, key: &str) -> Self {
        Journal {
            store,
            head: header_line(key),
            started: false,
        }
    }

    fn write(&mut self, line: String) -> Result<(), String> {
        self.store.append(&self.head, &line)?;
        self.started = true;
        Ok(())
    }

    /// The apply succeeded or was fully rolled back: the journal is removed.
    pub fn finish(&mut self) -> Result<(), String> {
        if std::mem::take(&mut self.started) {
            self.store.remove()?;
        }
        Ok(())
    }
}

impl<S: JournalStore> Log for Journal<S> {
    fn intent(&mut self, seq: u64, place: &HostPlace, u: &Undo) -> Result<(), String> {
        match intent_line(seq, place, u) {
            Some(l) => self.write(l),
            None => Ok(()),
        }
    }
    fn done(&mut self, seq: u64, u: &Undo) -> Result<(), String> {
        match done_line(seq, u) {
            Some(l) => self.write(l),
            None => Ok(()),
        }
    }
    fn undone(&mut self, seq: u64) -> Result<(), String> {
        if !self.started {
            return Ok(());
        }
        self.write(undone_line(seq))
    }
}

#[cfg(test)]
mod tests;
