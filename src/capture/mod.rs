//! `mountplan capture`: a live mount namespace -> a plan that rebuilds its mount tree.
//!
//! Takes a [`Snapshot`] (the captured process's mountinfo, the capturing process's own for
//! host paths, the `statmount` records when the kernel gives them, which namespaces differ),
//! a [`Look`] at files on both sides (only to confirm host paths and tell files from
//! directories) and the [`Request`]; returns the plan's text ([`Captured`]), TOML with a
//! comment on every step saying where it came from, and the list of what the plan cannot
//! rebuild exactly. [`compare`] holds the plan's predicted tree against the captured one.
//!
//! The stages: `table` parses the tables and walks the tree below the root (parents first,
//! the mounts on one mount in the order they were made), deciding for each mount where it
//! came from ([`table::Origin`]): a bind of a host path (its filesystem is mounted on the
//! host, and the mount's root is a path there), a fresh filesystem (one only this namespace
//! has, or one whose content the kernel gives every mount of its type: proc, sysfs, cgroup2,
//! mqueue, ...), or a copy (a second mount of a filesystem only this namespace has, which a
//! plan cannot bind: made again with the same options). `write` turns the tree into steps.
//!
//! The kernel's tables are read by [`crate::sys::linux::snapshot`]; nothing here reads a file.

pub mod compare;
pub mod table;
mod write;

pub use write::words;

#[cfg(test)]
mod tests;

use crate::model::RootPath;
use crate::sys::linux::probe::StatMount;

/// A mount namespace's tables, as read.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The process whose namespace it is (`None`: mountplan's own).
    pub pid: Option<u32>,
    /// The captured mount namespace is mountplan's own.
    pub own: bool,
    /// `/proc/PID/mountinfo` (mountpoints relative to that process's root).
    pub mountinfo: String,
    /// mountplan's own `/proc/self/mountinfo`: where host paths are.
    pub host_mountinfo: String,
    /// `statmount` of every mount of the namespace (through `listmount`), or why not.
    pub stat: Result<Vec<StatMount>, String>,
    /// Per namespace kind (`user`, `pid`, `ipc`, `uts`, `net`, `cgroup`): whether the
    /// process's differs from mountplan's.
    pub differs: Vec<(&'static str, bool)>,
    /// The kernel release.
    pub kernel: String,
}

impl Snapshot {
    /// The mountinfo file's name, for messages.
    pub fn mountinfo_name(&self) -> String {
        match self.pid {
            Some(p) => format!("/proc/{p}/mountinfo"),
            None => "/proc/self/mountinfo".into(),
        }
    }
    fn differs(&self, kind: &str) -> bool {
        self.differs.iter().any(|(k, d)| *k == kind && *d)
    }
}

/// What a path is, as `lstat` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// st_dev.
    pub dev: u64,
    /// st_ino.
    pub ino: u64,
    /// A directory.
    pub dir: bool,
    /// Permission bits.
    pub mode: u32,
}

/// A look at files: on the host (mountplan's namespace) and inside the captured namespace
/// (as the captured process sees them).
pub trait Look {
    /// `path` on the host.
    fn host(&self, path: &str) -> Option<Stat>;
    /// `path` in the captured namespace, below the captured process's root.
    fn inside(&self, path: &str) -> Option<Stat>;
}

/// What to capture.
#[derive(Debug, Clone)]
pub struct Request {
    /// The tree below this path (as the captured process sees it); `None`: its root.
    pub root: Option<RootPath>,
    /// The command line, for the plan's first comment.
    pub command: String,
}

/// A captured plan.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The plan's text.
    pub text: String,
    /// How many mounts it rebuilds (the root counted).
    pub mounts: usize,
    /// What the plan cannot rebuild exactly (a mount left out, an option it cannot give):
    /// each also a comment in the plan.
    pub inexact: Vec<String>,
    /// What is rebuilt, but with a caveat (a copy of a filesystem instead of the same one, a
    /// host path that could not be confirmed, propagation that cannot be made again).
    pub notes: Vec<String>,
    /// The captured mounts the plan makes, in the order it makes them (the root first): what
    /// its dry run must predict ([`compare::differences`]).
    pub expected: Vec<Expect>,
}

/// A captured mount, as the plan's predicted tree must show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// The mountpoint, relative to the captured root.
    pub at: RootPath,
    /// For a bind, its host source (the fstype is then the source's).
    pub bind: Option<String>,
    /// The fstype.
    pub fstype: String,
    /// Per-mount flags (see [`table::Mount::flags`]).
    pub flags: crate::model::MsFlags,
    /// The filesystem options as the kernel shows them, without `rw`/`ro`.
    pub options: Vec<String>,
}

/// Why nothing could be captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

/// Captures the tree below `req.root` of the snapshot as a plan.
pub fn capture(snap: &Snapshot, req: &Request, look: &dyn Look) -> Result<Captured, CaptureError> {
    let root = req.root.clone().unwrap_or_else(RootPath::root);
    let walked = table::walk(snap, &root, look)?;
    Ok(write::plan(snap, req, &walked, look))
}
