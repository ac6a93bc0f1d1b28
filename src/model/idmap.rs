//! The id mapping of an idmapped bind.
//!
//! Built by [`crate::validate`] from a step's `idmap` table (ranges checked: in bounds, not
//! overlapping, at most [`Idmap::MAX_LINES`] each; or a host path of a user namespace to
//! borrow, [`IdmapFrom::Userns`]); read by the lowering, which gives it to the one call that
//! makes (or opens) the user namespace and sets `MOUNT_ATTR_IDMAP`.

use std::fmt;

/// One `uid_map`/`gid_map` line: ids `outside .. outside + count` on the filesystem are seen
/// as `inside .. inside + count` through the bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// The first id as seen through the bind (inside the user namespace).
    pub inside: u32,
    /// The first id on the filesystem (outside it).
    pub outside: u32,
    /// How many ids.
    pub count: u32,
}

impl IdRange {
    /// The line of the user namespace's map that does it. A mount idmapped with a user
    /// namespace shows an id `k` on the filesystem as what `k` *inside* the namespace is
    /// outside it: so the filesystem's id is the line's first column, and the id seen
    /// through the bind its second.
    pub fn userns_line(&self) -> String {
        format!("{} {} {}", self.outside, self.inside, self.count)
    }
}

impl fmt::Display for IdRange {
    /// As the plan writes it: `[inside, outside, count]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}, {}]", self.inside, self.outside, self.count)
    }
}

/// Where an idmapped bind's user namespace comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdmapFrom {
    /// A user namespace mountplan makes with these maps.
    Maps(Idmap),
    /// A user namespace that exists, borrowed by its file on the host (`/proc/PID/ns/user`, a
    /// pinned namespace): opened, checked to be a user namespace, and given to the mount.
    Userns(super::HostPath),
}

/// The mapping of an idmapped bind: the user namespace's `uid_map` and `gid_map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idmap {
    /// The `uid_map` lines.
    pub uid: Vec<IdRange>,
    /// The `gid_map` lines.
    pub gid: Vec<IdRange>,
}

impl Idmap {
    /// The most lines a map may have (the kernel's limit since Linux 4.15).
    pub const MAX_LINES: usize = 340;

    /// A map as the kernel reads it: one [`IdRange::userns_line`] per range.
    pub fn map_text(ranges: &[IdRange]) -> String {
        ranges.iter().map(|r| r.userns_line() + "\n").collect()
    }
}
