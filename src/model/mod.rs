//! The high-level plan: validated, typed values that cannot be wrong.
//!
//! Built only by [`crate::validate`] from a [`crate::raw::Plan`]; read by `graph`, `render`
//! and `exec`. Paths are [`RootPath`] (inside the new root) or [`HostPath`] (on the host),
//! both absolute and normalised; flags are [`MsFlags`], never strings. Every step keeps the
//! [`Loc`] of its `[[step]]` table and of its important keys so later stages can point back
//! into the file.
//!
//! The files, by job: this one holds the plan, its root, namespaces and steps, step ids and
//! modes; `paths.rs` the checked paths, `mounts.rs` the mount steps' types (the
//! filesystem kinds and their typed options, remount, propagation, umount), `actions.rs` every
//! step's [`Action`] and the other steps' types, `flags.rs` the mount flags' names and words,
//! `api.rs` the plan's mount API, `idmap.rs` an idmapped bind's mapping, `process.rs` the
//! command's `[process]`.

use std::collections::BTreeMap;
use std::fmt;

pub use nix::mount::MsFlags;

mod actions;
mod api;
mod flags;
mod idmap;
mod mounts;
mod paths;
mod process;

pub use self::actions::*;
pub use self::api::Api;
pub use self::flags::{FLAG_WORDS, MS_NAMES, REC_WORDS, ms_flags_str, option_words, rec_base};
pub use self::idmap::{IdRange, Idmap, IdmapFrom};
pub use self::mounts::*;
pub use self::paths::{HostPath, MAX_COMPONENT, MAX_PATH, PathError, RootPath};
pub use self::process::{
    CAP_NAMES, Cap, CapSet, CapsAsked, Console, ConsoleSource, DEFAULT_CAPS, Env, Process,
    ProcessLocs,
};

use crate::raw::StepKind;
use crate::source::Loc;

/// A step's name: given as `id`, or `<kind>-<n>` (n counts steps from 1 across the plan).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepId(String);

impl StepId {
    /// Wraps a checked id (validate checks the characters).
    pub(crate) fn new(s: impl Into<String>) -> Self {
        StepId(s.into())
    }
    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file mode's permission bits (at most 0o7777).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mode(u32);

impl Mode {
    /// Parses an octal string such as `"0755"` or `"1777"`; `None` when not octal or over 0o7777.
    pub fn parse(s: &str) -> Option<Mode> {
        let t = s.strip_prefix("0o").unwrap_or(s);
        if t.is_empty() || t.len() > 6 || !t.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        let v = u32::from_str_radix(t, 8).ok()?;
        (v <= 0o7777).then_some(Mode(v))
    }
    /// From bits (masked to 0o7777).
    pub fn from_bits(b: u32) -> Mode {
        Mode(b & 0o7777)
    }
    /// The bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0{:o}", self.0)
    }
}

/// The validated plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan's name.
    pub name: String,
    /// The plan's description.
    pub description: Option<String>,
    /// The kernel mount API apply uses (`api`, or `--api`).
    pub api: Api,
    /// Where `api` is written, when it is.
    pub api_loc: Option<Loc>,
    /// Where the root comes from.
    pub root: Root,
    /// Where `[root] path` is, for a root on a host directory.
    pub root_loc: Option<Loc>,
    /// Namespaces to create (mount always).
    pub namespaces: Namespaces,
    /// How the command runs (`[process]`).
    pub process: Process,
    /// Variables after command-line overrides, as substituted.
    pub vars: BTreeMap<String, String>,
    /// Included files, as named in the sources (in the order read).
    pub includes: Vec<String>,
    /// Steps in execution order (includes' steps first).
    pub steps: Vec<Step>,
}

/// Where the new root comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// An existing host directory, bound onto itself.
    Path(HostPath),
    /// An empty tmpfs.
    Tmpfs(TmpfsOptions),
}

impl Root {
    /// The root as a filesystem: a recursive bind of the host directory onto itself, or the
    /// tmpfs.
    pub fn fs(&self) -> FsKind {
        match self {
            Root::Path(p) => FsKind::Bind {
                source: p.clone(),
                recursive: true,
            },
            Root::Tmpfs(o) => FsKind::Tmpfs(o.clone()),
        }
    }
}

/// tmpfs options (for the root and for tmpfs mounts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TmpfsOptions {
    /// `size=`: bytes, or a percentage kept as written (`"50%"`).
    pub size: Option<Size>,
    /// `mode=`.
    pub mode: Option<Mode>,
    /// `nr_inodes=`.
    pub nr_inodes: Option<u64>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
}

/// A tmpfs size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Bytes.
    Bytes(u64),
    /// Percent of RAM.
    Percent(u8),
}

/// Whether to create a user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserNs {
    /// Never.
    Off,
    /// Always (the caller is mapped to root inside).
    On,
    /// Only when the caller is not root.
    Auto,
}

/// Namespaces to create besides the mount namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespaces {
    /// User namespace.
    pub user: UserNs,
    /// PID namespace (with a minimal init). On by default.
    pub pid: bool,
    /// IPC namespace.
    pub ipc: bool,
    /// UTS namespace.
    pub uts: bool,
    /// Network namespace.
    pub net: bool,
    /// Cgroup namespace.
    pub cgroup: bool,
}

impl Namespaces {
    /// The namespaces other than mount and user the plan makes, by name, in the order the
    /// texts list them: pid, ipc, uts, net, cgroup.
    pub fn others(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.pid, "pid"),
            (self.ipc, "ipc"),
            (self.uts, "uts"),
            (self.net, "net"),
            (self.cgroup, "cgroup"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
    }
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces {
            user: UserNs::Auto,
            pid: true,
            ipc: false,
            uts: false,
            net: false,
            cgroup: false,
        }
    }
}

/// One validated step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its id (given or generated).
    pub id: StepId,
    /// True when the plan gave the id.
    pub explicit_id: bool,
    /// Where the `[[step]]` table is (its `kind` key and value).
    pub loc: Loc,
    /// Where the `id` value is, when given.
    pub id_loc: Option<Loc>,
    /// Where the step names a host path, when it does (a bind's `source`, an overlay's first
    /// `lower`, a node's `from_host`): an apply that cannot open it points there.
    pub host_loc: Option<Loc>,
    /// Explicit dependencies (`after`), each with the location of the name.
    pub after: Vec<(StepId, Loc)>,
    /// The reviewer's note.
    pub note: Option<String>,
    /// What it does.
    pub action: Action,
}

impl Step {
    /// Where the step names what it works on (its `target` or `path`), else its `kind`: the
    /// place a diagnostic about the step points at.
    pub fn key_loc(&self) -> Loc {
        match &self.action {
            Action::Mount(m) => m.target_loc,
            Action::Remount(m) => m.target_loc,
            Action::Propagation(m) => m.target_loc,
            Action::Umount(m) => m.target_loc,
            Action::Mkdir(m) => m.path_loc,
            Action::Mknod(m) => m.path_loc,
            Action::Symlink(m) => m.path_loc,
            Action::Chmod(m) => m.path_loc,
            Action::Mask(m) => m.path_loc,
            Action::Readonly(m) => m.path_loc,
            Action::Pivot(_) => self.loc,
        }
    }
}

impl Step {
    /// The step's kind.
    pub fn kind(&self) -> StepKind {
        self.action.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_and_bounded() {
        assert_eq!(Mode::parse("0755"), Some(Mode(0o755)));
        assert_eq!(Mode::parse("1777"), Some(Mode(0o1777)));
        assert_eq!(Mode::parse("07777"), Some(Mode(0o7777)));
        assert_eq!(Mode::parse("10000"), None);
        assert_eq!(Mode::parse("0789"), None);
        assert_eq!(Mode::parse(""), None);
        assert_eq!(Mode(0o755).to_string(), "0755");
    }
}
