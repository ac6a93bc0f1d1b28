//! The exact system calls of a plan: model steps -> [`Call`] lists, computed once.
//!
//! Takes a validated [`Plan`](crate::model::Plan)'s steps, one at a time, with the one model of
//! the plan's mounts (the graph's walk, through [`Place`]); returns [`Lowered`]: the implicit
//! setup calls and, for every step in order, the calls apply makes ([`StepCalls`]). The
//! [`crate::graph::Dag`] keeps them; the dry run prints them and the executor makes them,
//! through [`crate::sys::Sys`], so the two cannot disagree. A few calls depend on what is on
//! disk at apply time (a missing mountpoint, a file or a directory to mask); they say so in
//! their text.
//!
//! Every path inside the new root is an [`At`]: the mount the plan's model puts it on (the
//! newest of the plan's mounts at or above it, `M0` being the root itself) and the path below
//! that mount's root. The executor holds a descriptor of each of the plan's mounts from the
//! moment it is made (the new mount API hands it over: `fsmount`, `open_tree`) and resolves
//! every path below that descriptor, never through the mountpoint on disk, refusing to cross
//! into any other mount; so a symlink or a rename in the root cannot move a step onto another
//! mount than the dry run names. `<tmproot>` is the directory in the tool's state directory
//! that an empty tmpfs root is mounted on, inside the new namespace only.
//!
//! `lower` computes a step's calls from the model's answers (`classic` the calls of
//! `api = "classic"`: mount(2) and umount2(2) on descriptors passed as `self/fd/N`); `display`
//! prints a call as the dry run shows it.

mod classic;
#[cfg(test)]
mod classic_tests;
mod display;
pub mod fsconfig;
mod lower;
#[cfg(test)]
mod tests;

use std::fmt;

pub use display::{mount_attr, setattr_text};
pub use lower::{Place, below, setup, step_calls};

use crate::model::{FsKind, HostPath, Mode, MsFlags, NodeType, RootPath};

/// The per-mount flags (`mount_setattr` attributes) besides the atime mode: what a bind
/// remount sets exactly.
pub const PERM: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// The atime flags (a per-mount mode, and `nodiratime`).
pub const ATIME: MsFlags = MsFlags::MS_NOATIME
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME)
    .union(MsFlags::MS_NODIRATIME);

/// A mount the apply makes, numbered in the order its call comes: `M0` is the new root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MountId(pub u32);

impl MountId {
    /// The new root.
    pub const ROOT: MountId = MountId(0);
    /// Its index in a table of mounts.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for MountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "M{}", self.0)
    }
}

/// A path of the plan, placed on the mount the model says it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    /// The path inside the new root (what the plan wrote, for messages and the dry run).
    pub path: RootPath,
    /// The mount it is on: the newest of the plan's mounts at or above it.
    pub on: MountId,
    /// The path below that mount's root, without a leading `/`; empty for the mount's root.
    pub rel: String,
}

impl At {
    /// The root itself.
    pub fn root() -> At {
        At {
            path: RootPath::root(),
            on: MountId::ROOT,
            rel: String::new(),
        }
    }
    /// `rel` split into the directory below the mount and the final name (`("", name)` for a
    /// name right below the mount's root; `None` for the mount's root itself).
    pub fn split(&self) -> Option<(&str, &str)> {
        if self.rel.is_empty() {
            return None;
        }
        Some(match self.rel.rfind('/') {
            Some(i) => (&self.rel[..i], &self.rel[i + 1..]),
            None => ("", self.rel.as_str()),
        })
    }
}

/// Where a mount's source comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// NULL.
    None,
    /// A host path, opened `O_PATH` first and passed as its descriptor.
    Host(HostPath),
    /// The current directory (`"."`), the new root after `fchdir`.
    Cwd,
}

/// Where a path-taking call lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path inside the new root, resolved below the descriptor of the mount it is on.
    InRoot(At),
    /// A host path (only the implicit setup: `/` and the root directory).
    Host(HostPath),
    /// The directory an empty tmpfs root is mounted on.
    TmpRoot,
    /// The current directory (`"."`).
    Cwd,
    /// An absolute path in the process's current root, after a pivot.
    AfterPivot(RootPath),
    /// The old root after a `put-old` pivot, through the descriptor of `/` taken right before
    /// `pivot_root` (the put_old directory's name in the root plays no part).
    OldRoot,
}

/// What `mount_setattr` changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrOn {
    /// A mount the plan made (detached or attached), through its descriptor.
    Mount(MountId),
    /// The mount on top at a path.
    Path(Target),
}

/// Where a change to a file on a persistent filesystem lives on the host, so the journal can
/// undo it after a crash: `base` (the root directory, a bind source or an overlay's upper
/// layer) and the path below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlace {
    /// The host directory the path is resolved in (root path, bind source, upper layer).
    pub base: HostPath,
    /// The path below `base`, without a leading `/` (empty for `base` itself). In a call, the
    /// path as the plan names it; in a journal record, where the change really is (symlinks
    /// resolved, as the kernel named the directory at the time).
    pub rel: String,
    /// When `base` is the upper layer of an overlay the plan mounts: that overlay's
    /// mountpoint. A change there is undone in the upper layer itself once the overlay is
    /// unmounted, and so is what the kernel copies up for it (see [`crate::sys::Sys::sides`]).
    pub overlay: Option<RootPath>,
}

impl HostPlace {
    /// The host path it names: `base/rel`, or `base` itself.
    pub fn on_host(&self) -> String {
        match (self.base.as_str(), self.rel.as_str()) {
            (b, "") => b.to_string(),
            ("/", r) => format!("/{r}"),
            (b, r) => format!("{b}/{r}"),
        }
    }
    /// The same base with another path below it.
    pub fn with_rel(&self, rel: String) -> HostPlace {
        HostPlace {
            base: self.base.clone(),
            rel,
            overlay: self.overlay.clone(),
        }
    }
}

/// A device number, given or copied from a host node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dev {
    /// `makedev(major, minor)`.
    Num(u32, u32),
    /// The `st_rdev` of a host node, checked to have the right type.
    FromHost(HostPath),
}

/// One `fsconfig` of a new filesystem: `key` alone (`FSCONFIG_SET_FLAG`) or `key=value`
/// (`FSCONFIG_SET_STRING`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsParam {
    /// The key.
    pub key: String,
    /// The value, for a string parameter.
    pub value: Option<String>,
}

/// One system call (or a small fixed group the executor makes as one unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `mount(2)` for what only changes an existing mount: the setup's `MS_SLAVE|MS_REC` on
    /// `/`, a propagation change, `MS_MOVE` of the root.
    Mount {
        /// Source.
        source: Source,
        /// Target.
        target: Target,
        /// Flags.
        flags: MsFlags,
    },
    /// `fsopen(fstype)`, `fsconfig` of each parameter ([`fsconfig::params`]: the source, the
    /// filesystem's options, the superblock flags), `FSCONFIG_CMD_CREATE`, then `fsmount` with
    /// the per-mount attributes: a new filesystem as the detached mount `mount`, whose
    /// descriptor the executor keeps.
    NewFs {
        /// The filesystem with its typed options (never a bind).
        fs: FsKind,
        /// The `source` parameter (the plan's `source`, else the type's name).
        source: String,
        /// Superblock flags set as parameters (`ro`, `sync`, `dirsync`, `lazytime`).
        sb: MsFlags,
        /// Per-mount attributes for `fsmount` (ro, nosuid, nodev, noexec, atime).
        attr: MsFlags,
        /// The mount it makes.
        mount: MountId,
    },
    /// `open_tree(source, OPEN_TREE_CLONE [| AT_RECURSIVE])`: a detached copy of a host
    /// directory's mount (with the mounts below it when recursive) as mount `mount`.
    CloneTree {
        /// The host path.
        source: HostPath,
        /// `AT_RECURSIVE`.
        recursive: bool,
        /// The mount it makes.
        mount: MountId,
    },
    /// `mount_setattr(2)`: set and clear per-mount attributes of one mount, or (recursive) of
    /// it and every mount below it.
    SetAttr {
        /// The mount.
        on: AttrOn,
        /// `AT_RECURSIVE`.
        recursive: bool,
        /// Flags to set (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, atime).
        set: MsFlags,
        /// Flags to clear (a bind remount sets exactly the flags it names).
        clear: MsFlags,
    },
    /// An idmapped bind: a user namespace with the `uid_map` and `gid_map` of `map` (a child
    /// process unshares it, mountplan writes its maps and opens `/proc/CHILD/ns/user`), or the
    /// borrowed one opened by its host file and checked with `NS_GET_NSTYPE`, then
    /// `mount_setattr(mount, 0 [| AT_RECURSIVE], {attr_set=MOUNT_ATTR_IDMAP, userns_fd})` on
    /// the detached copy, before it is attached.
    Idmap {
        /// The detached copy.
        mount: MountId,
        /// `AT_RECURSIVE` (a recursive bind: every mount of the copy).
        recursive: bool,
        /// The mapping, or the user namespace to borrow.
        map: crate::model::IdmapFrom,
        /// The bind's source (for the error's words).
        source: HostPath,
    },
    /// `move_mount(mount, target)`: attaches a mount the plan made, on top of whatever is at
    /// the target.
    Attach {
        /// The mount.
        mount: MountId,
        /// Where.
        to: Target,
    },
    /// `umount2(target, MNT_DETACH)`.
    Umount(Target),
    /// `api = "classic"`: `mount(source, target, fstype, flags, data)` of a new filesystem
    /// on the target's descriptor (`self/fd/N` of the host `/proc`), `data` the options as
    /// [`fsconfig::data`] joins them and `flags` the superblock and per-mount flags; the new
    /// mount's root is then looked up again from the target's directory and held as mount
    /// `mount`.
    MountFs {
        /// The filesystem with its typed options (never a bind).
        fs: FsKind,
        /// The source (the plan's `source`, else the type's name).
        source: String,
        /// Every MS_* flag of the mount.
        flags: MsFlags,
        /// Where.
        to: Target,
        /// The mount it makes.
        mount: MountId,
    },
    /// `api = "classic"`: `mount(source, target, NULL, MS_BIND [| MS_REC], NULL)`, the host
    /// source opened `O_PATH` first and both passed as `self/fd/N`; held as mount `mount`.
    BindMount {
        /// The host path.
        source: HostPath,
        /// `MS_REC`.
        recursive: bool,
        /// Where.
        to: Target,
        /// The mount it makes.
        mount: MountId,
    },
    /// `api = "classic"`: `mount(NULL, target, NULL, MS_REMOUNT|MS_BIND|flags, NULL)`:
    /// exactly these per-mount flags on one mount (the atime mode kept unless one is given;
    /// flags the kernel locked kept in a user namespace).
    Remount {
        /// The mount.
        on: AttrOn,
        /// Its per-mount flags.
        flags: MsFlags,
    },
    /// `api = "classic"` runc's maskedPaths: a directory gets an empty read-only tmpfs
    /// (`mount(2)`), anything else a bind of the host's `/dev/null`, as mount `mount`; a
    /// missing path is left alone.
    MaskClassic {
        /// The path.
        at: At,
        /// The mount it makes when the path exists.
        mount: MountId,
    },
    /// `mkdirat`; with `if_missing`, an existing directory is accepted and left alone.
    Mkdir {
        /// The directory.
        at: At,
        /// Its mode.
        mode: Mode,
        /// Accept an existing directory.
        if_missing: bool,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
        /// On a filesystem the plan made that only this mount namespace reaches (tmpfs,
        /// devpts): nothing outside can rename or replace what is made there.
        private: bool,
    },
    /// `openat(O_CREAT|O_EXCL)` of an empty file when missing (a file mountpoint).
    CreateFile {
        /// The file.
        at: At,
        /// Its mode.
        mode: Mode,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
        /// See [`Call::Mkdir`].
        private: bool,
    },
    /// `mknodat`. An existing node of the same type and number is accepted.
    Mknod {
        /// The node.
        at: At,
        /// Its type.
        node: NodeType,
        /// Its mode.
        mode: Mode,
        /// Its number.
        dev: Dev,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
        /// See [`Call::Mkdir`].
        private: bool,
    },
    /// `symlinkat`. An existing link with the same target is accepted.
    Symlink {
        /// What it points to.
        to: String,
        /// The link.
        at: At,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
        /// See [`Call::Mkdir`].
        private: bool,
    },
    /// `fchmodat` (on the resolved descriptor). Made only when the mode differs.
    Chmod {
        /// The file.
        at: At,
        /// The new mode.
        mode: Mode,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
    },
    /// `fchownat` (on the resolved descriptor, not following a final symlink). Made only when
    /// the owner differs.
    Chown {
        /// The file.
        at: At,
        /// New uid, or -1.
        uid: Option<u32>,
        /// New gid, or -1.
        gid: Option<u32>,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
    },
    /// runc's maskedPaths: a directory gets an empty read-only tmpfs, anything else a copy of
    /// the host's `/dev/null` mount (opened and checked to be char 1:3 at start), as mount
    /// `mount`. A missing path is left alone.
    Mask {
        /// The path.
        at: At,
        /// The mount it makes when the path exists.
        mount: MountId,
    },
    /// runc's readonlyPaths: when the path exists, a recursive copy of the mount there, made
    /// read-only with everything below it while detached, then attached on the path.
    Readonly {
        /// The path.
        at: At,
        /// The mount it makes when the path exists.
        mount: MountId,
    },
    /// Before `move`: every full proc and sysfs mount outside the root is made a recursive
    /// slave and detached (or covered by a tmpfs where that is refused), as runc's msMoveRoot.
    MaskHostProcSys,
    /// `fchdir` to the target.
    Chdir(Target),
    /// `mkdirat` of a new directory named `prefix` and six random characters below the root,
    /// another name when one exists: the put_old directory, held by its descriptor.
    MakePutOld {
        /// The directory the name is made in, and the name's prefix.
        at: At,
        /// Its place on the host, when on a persistent filesystem.
        host: Option<HostPlace>,
    },
    /// `pivot_root(".", put_old)` from the new root: `put_old` `"."`, or the directory
    /// [`Call::MakePutOld`] made, through its descriptor.
    PivotRoot {
        /// Through the put_old directory made before (else `"."`).
        put_old: bool,
    },
    /// `chroot(".")`.
    Chroot,
    /// `unlinkat(AT_REMOVEDIR)` of the put_old directory, if it is still the one made.
    RemovePutOld,
}

impl Call {
    /// The mount this call puts on a path inside the root, and where: an attach, or a classic
    /// filesystem mount or bind; `None` for every other call.
    pub fn mounts_in_root(&self) -> Option<(MountId, &At)> {
        match self {
            Call::Attach {
                mount,
                to: Target::InRoot(at),
            }
            | Call::MountFs {
                mount,
                to: Target::InRoot(at),
                ..
            }
            | Call::BindMount {
                mount,
                to: Target::InRoot(at),
                ..
            } => Some((*mount, at)),
            _ => None,
        }
    }

    /// The place on the host this call changes, when it changes a file on a persistent
    /// filesystem (the change is journaled); `None` for everything else.
    pub fn host_place(&self) -> Option<&HostPlace> {
        match self {
            Call::Mkdir { host, .. }
            | Call::CreateFile { host, .. }
            | Call::Mknod { host, .. }
            | Call::Symlink { host, .. }
            | Call::Chmod { host, .. }
            | Call::Chown { host, .. }
            | Call::MakePutOld { host, .. } => host.as_ref(),
            _ => None,
        }
    }

    /// Whether this call creates a file on a filesystem the plan made that only this mount
    /// namespace reaches (see [`Call::Mkdir`]'s `private`).
    pub fn is_private(&self) -> bool {
        match self {
            Call::Mkdir { private, .. }
            | Call::CreateFile { private, .. }
            | Call::Mknod { private, .. }
            | Call::Symlink { private, .. } => *private,
            _ => false,
        }
    }

    /// The mount this call makes, when it makes one.
    pub fn makes(&self) -> Option<MountId> {
        match self {
            Call::NewFs { mount, .. }
            | Call::CloneTree { mount, .. }
            | Call::MountFs { mount, .. }
            | Call::BindMount { mount, .. }
            | Call::MaskClassic { mount, .. }
            | Call::Mask { mount, .. }
            | Call::Readonly { mount, .. } => Some(*mount),
            _ => None,
        }
    }

    /// Whether this is the call that switches to the new root: the one whose refusal by the
    /// kernel makes a pivot step take its fallback (any other failure fails the step).
    pub fn switches_root(&self) -> bool {
        match self {
            Call::PivotRoot { .. } | Call::Chroot => true,
            Call::Mount { flags, .. } => flags.contains(MsFlags::MS_MOVE),
            _ => false,
        }
    }
}

/// The calls of one step (or of the implicit setup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCalls {
    /// Index of the step in `plan.steps`; `None` for the implicit setup.
    pub step: Option<usize>,
    /// The calls, in order.
    pub calls: Vec<Call>,
    /// For a pivot with a fallback: the calls made instead when the kernel refuses the switch
    /// (see [`Call::switches_root`]).
    pub fallback: Option<Vec<Call>>,
}

/// The calls of a whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lowered {
    /// The implicit setup: `/` a recursive slave, the root mounted or bound.
    pub setup: Vec<Call>,
    /// Every step's calls, in plan order: index `i` is step `i`.
    pub steps: Vec<StepCalls>,
    /// How many mounts the calls make (the root included): the size of the executor's table
    /// of mount descriptors.
    pub mounts: usize,
}
