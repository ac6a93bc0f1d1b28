//! The mount steps' types: the filesystem of a mount ([`FsKind`], with its typed options),
//! [`Mount`], [`Remount`] (with [`RecAttrs`], OCI's recursive flags), [`Propagation`],
//! [`Umount`].

use super::{HostPath, Mode, MsFlags, RootPath, TmpfsOptions};
use crate::source::Loc;

/// The filesystem of a mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsKind {
    /// A bind of a host path (`rbind` or the `rec` option makes it recursive).
    Bind {
        /// The host path.
        source: HostPath,
        /// MS_REC.
        recursive: bool,
    },
    /// tmpfs.
    Tmpfs(TmpfsOptions),
    /// proc.
    Proc,
    /// sysfs.
    Sysfs,
    /// devpts.
    Devpts(DevptsOptions),
    /// mqueue.
    Mqueue,
    /// overlay.
    Overlay(OverlayOptions),
    /// cgroup2.
    Cgroup2,
    /// Any other filesystem by name, with its options as given.
    Other {
        /// The fstype passed to mount(2).
        fstype: String,
        /// `key` or `key=value` entries (checked: no commas).
        data: Vec<String>,
    },
}

impl FsKind {
    /// The fstype as shown in the mount table (`bind` for binds, whose real fstype is the source's).
    pub fn fstype(&self) -> &str {
        match self {
            FsKind::Bind { .. } => "bind",
            FsKind::Tmpfs(_) => "tmpfs",
            FsKind::Proc => "proc",
            FsKind::Sysfs => "sysfs",
            FsKind::Devpts(_) => "devpts",
            FsKind::Mqueue => "mqueue",
            FsKind::Overlay(_) => "overlay",
            FsKind::Cgroup2 => "cgroup2",
            FsKind::Other { fstype, .. } => fstype,
        }
    }
}

/// devpts options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevptsOptions {
    /// `newinstance` (default true).
    pub newinstance: bool,
    /// `ptmxmode=`.
    pub ptmxmode: Option<Mode>,
    /// `mode=`.
    pub mode: Option<Mode>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
}

/// overlay options (host paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayOptions {
    /// `lowerdir=`, topmost first.
    pub lower: Vec<HostPath>,
    /// `upperdir=`.
    pub upper: Option<HostPath>,
    /// `workdir=`.
    pub work: Option<HostPath>,
}

/// What to create when a mountpoint is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// A directory (mode 0755).
    Dir,
    /// An empty regular file (mode 0644), for binds of files.
    File,
    /// Nothing: a missing mountpoint is an error.
    None,
}

/// A mount step.
#[derive(Debug, Clone)]
pub struct Mount {
    /// The filesystem, with its typed options: encoded for the kernel and for the dry run only
    /// by [`crate::lowering::fsconfig`].
    pub fs: FsKind,
    /// The `source` the plan gave a filesystem (not a bind, whose source is its host path):
    /// what the kernel gets instead of the type's name. See [`Mount::source`].
    pub given_source: Option<String>,
    /// The mountpoint inside the root.
    pub target: RootPath,
    /// Where `target` is written.
    pub target_loc: Loc,
    /// Flags (MS_RDONLY, MS_NOSUID, ..., MS_REC for binds). Never MS_BIND/MS_REMOUNT: those
    /// are added by the executor where the kernel needs them.
    pub flags: MsFlags,
    /// The flags given with OCI's recursive spellings (`rro`, `rnosuid`, `rrw`, ...).
    pub rec: RecAttrs,
    /// A bind's id mapping (`MOUNT_ATTR_IDMAP`).
    pub idmap: Option<super::IdmapFrom>,
    /// What to create when the target is missing.
    pub create: Create,
}

impl Mount {
    /// The source the kernel gets: a bind's host path, else the plan's `source` or the type's
    /// name.
    pub fn source(&self) -> &str {
        match (&self.fs, &self.given_source) {
            (FsKind::Bind { source, .. }, _) => source.as_str(),
            (_, Some(s)) => s,
            (fs, None) => fs.fstype(),
        }
    }
}

/// A remount step.
#[derive(Debug, Clone)]
pub struct Remount {
    /// The mountpoint.
    pub target: RootPath,
    /// Where `target` is written.
    pub target_loc: Loc,
    /// The new flags (MS_RDONLY etc.; MS_REC applies them below too).
    pub flags: MsFlags,
    /// The flags given with OCI's recursive spellings (`rro`, `rnosuid`, `rrw`, ...).
    pub rec: RecAttrs,
}

/// Per-mount flags given with OCI's recursive spellings (`rro`, `rnosuid`, `rrw`, `rnoatime`,
/// ...): set and cleared with `mount_setattr(AT_RECURSIVE)` on the mount and every mount below
/// it, after the plain flags. Only added or removed: a flag not named keeps its value on each
/// mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecAttrs {
    /// The flags set (MS_RDONLY, ..., an atime mode).
    pub set: MsFlags,
    /// The flags cleared (`rrw`: MS_RDONLY, ...).
    pub clear: MsFlags,
}

impl Default for RecAttrs {
    fn default() -> RecAttrs {
        RecAttrs {
            set: MsFlags::empty(),
            clear: MsFlags::empty(),
        }
    }
}

impl RecAttrs {
    /// Whether no recursive flag was given.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.clear.is_empty()
    }
}

/// Mount propagation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagationKind {
    /// MS_PRIVATE.
    Private,
    /// MS_SLAVE.
    Slave,
    /// MS_SHARED.
    Shared,
    /// MS_UNBINDABLE.
    Unbindable,
}

impl PropagationKind {
    /// The MS_ flag.
    pub fn flag(self) -> MsFlags {
        match self {
            PropagationKind::Private => MsFlags::MS_PRIVATE,
            PropagationKind::Slave => MsFlags::MS_SLAVE,
            PropagationKind::Shared => MsFlags::MS_SHARED,
            PropagationKind::Unbindable => MsFlags::MS_UNBINDABLE,
        }
    }
    /// The name as written in a plan.
    pub fn as_str(self) -> &'static str {
        match self {
            PropagationKind::Private => "private",
            PropagationKind::Slave => "slave",
            PropagationKind::Shared => "shared",
            PropagationKind::Unbindable => "unbindable",
        }
    }
}

/// A mount's propagation as the kernel shows it: mountinfo's optional fields `shared:N`,
/// `master:N` (with `propagate_from:N`) and `unbindable`, or none (private).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Propagated {
    /// No optional field.
    Private,
    /// `shared:N`: in a peer group.
    Shared,
    /// `master:N`: receives from a peer group.
    Slave,
    /// `shared:N master:M`: both.
    SharedSlave,
    /// `unbindable`.
    Unbindable,
}

impl Propagated {
    /// Every state, in order.
    pub const ALL: [Propagated; 5] = [
        Propagated::Private,
        Propagated::Shared,
        Propagated::Slave,
        Propagated::SharedSlave,
        Propagated::Unbindable,
    ];

    /// The word for it: `private`, `shared`, `slave`, `shared+slave`, `unbindable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagated::Private => "private",
            Propagated::Shared => "shared",
            Propagated::Slave => "slave",
            Propagated::SharedSlave => "shared+slave",
            Propagated::Unbindable => "unbindable",
        }
    }

    /// The state mountinfo's optional fields (`shared:3 master:1`, in any order) show.
    pub fn of_fields<'a>(fields: impl IntoIterator<Item = &'a str>) -> Propagated {
        let (mut shared, mut slave, mut unbindable) = (false, false, false);
        for f in fields {
            shared |= f.starts_with("shared:");
            slave |= f.starts_with("master:");
            unbindable |= f == "unbindable";
        }
        Propagated::of_state(shared, slave, unbindable)
    }

    /// The state of a mount in a peer group (`shared`), receiving from one (`slave`), or
    /// unbindable: as `statmount` gives it (a peer group, a master, MS_UNBINDABLE).
    pub fn of_state(shared: bool, slave: bool, unbindable: bool) -> Propagated {
        match (shared, slave) {
            (true, true) => Propagated::SharedSlave,
            (true, false) => Propagated::Shared,
            (false, true) => Propagated::Slave,
            (false, false) if unbindable => Propagated::Unbindable,
            (false, false) => Propagated::Private,
        }
    }
}

/// A propagation step.
#[derive(Debug, Clone)]
pub struct Propagation {
    /// The mountpoint.
    pub target: RootPath,
    /// Where `target` is written.
    pub target_loc: Loc,
    /// The propagation type.
    pub kind: PropagationKind,
    /// MS_REC.
    pub recursive: bool,
}

/// An umount step (always MNT_DETACH).
#[derive(Debug, Clone)]
pub struct Umount {
    /// The mountpoint.
    pub target: RootPath,
    /// Where `target` is written.
    pub target_loc: Loc,
}
