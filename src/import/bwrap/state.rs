//! What the importer knows so far: the plan, the notes, the directories known to exist in
//! the new root and the flags of each mount made (for `--remount-ro`); and the parsers of an
//! option's destination and mode.

use std::collections::BTreeSet;

use crate::import::writer::{Plan, Step, Value};
use crate::import::{Host, ImportError, mode_str};

/// One environment variable's fate, in bwrap's order of options.
pub(super) enum Env {
    Set(String),
    Unset,
}

pub(super) struct State<'h> {
    pub(super) host: &'h dyn Host,
    pub(super) plan: Plan,
    pub(super) notes: Vec<String>,
    /// Directories known to exist in the new root.
    pub(super) known: BTreeSet<String>,
    /// The host directory of the root, when something is bound onto `/`.
    pub(super) root_dir: Option<String>,
    /// The per-mount flags of what the plan mounted at a path so far (for `--remount-ro`).
    pub(super) flags: Vec<(String, Vec<String>)>,
    pub(super) perms: Option<u32>,
    pub(super) size: Option<u64>,
    pub(super) started: bool,
}

impl State<'_> {
    fn exists(&self, p: &str) -> bool {
        if self.known.contains(p) {
            return true;
        }
        match &self.root_dir {
            Some(r) => self.host.exists(&format!("{}{p}", r.trim_end_matches('/'))),
            None => false,
        }
    }
    /// Makes the missing parents of `dest` as bwrap does.
    pub(super) fn parents(&mut self, dest: &str, perms: Option<u32>) {
        let parent = match dest.rfind('/') {
            Some(0) | None => return,
            Some(i) => dest[..i].to_string(),
        };
        if !self.exists(&parent) {
            let mut mode = 0o755;
            if let Some(p) = perms {
                if p & 0o070 == 0 {
                    mode &= !0o050;
                }
                if p & 0o007 == 0 {
                    mode &= !0o005;
                }
            }
            let mut s = Step::new("mkdir")
                .s("path", parent.clone())
                .set("parents", Value::Bool(true));
            if mode != 0o755 {
                s = s.s("mode", mode_str(mode));
            }
            self.plan
                .step(s.comment(format!("bwrap makes the parents of {dest}")));
        }
        let mut p = parent;
        loop {
            self.known.insert(p.clone());
            match p.rfind('/') {
                Some(0) | None => break,
                Some(i) => p.truncate(i),
            }
        }
    }
    pub(super) fn mounted(&mut self, dest: &str, words: Vec<String>) {
        self.flags.retain(|(p, _)| p != dest);
        self.flags.push((dest.to_string(), words));
        self.known.insert(dest.to_string());
    }
}

pub(super) fn dest(a: &str, opt: &str) -> Result<String, ImportError> {
    if !a.starts_with('/') {
        return Err(ImportError::new(
            format!("{opt} `{a}`: the destination is relative"),
            "give an absolute path in the sandbox (bwrap takes it relative to its root)",
        ));
    }
    Ok(crate::import::absolute(std::path::Path::new("/"), a))
}

pub(super) fn octal(s: &str, opt: &str) -> Result<u32, ImportError> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| {
            ImportError::new(
                format!("{opt} `{s}`: not an octal mode"),
                "give a mode such as 0755",
            )
        })
}

/// Adds the plan words `w` to mountinfo-style options (`ro` replaces `rw`).
pub(super) fn add_words(opts: &mut Vec<String>, w: &[String]) {
    for x in w {
        if x == "ro" {
            opts.retain(|o| o != "rw");
        }
        if !opts.contains(x) {
            opts.push(x.clone());
        }
    }
}

/// The plan's flag words among mountinfo-style options (the atime mode left out: a remount
/// keeps it).
pub(super) fn plan_words(opts: &[String]) -> Vec<String> {
    ["ro", "nosuid", "nodev", "noexec", "sync", "dirsync"]
        .iter()
        .filter(|w| opts.iter().any(|o| o == *w))
        .map(|w| w.to_string())
        .collect()
}
