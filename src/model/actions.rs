//! What a step does: [`Action`], and the types of the steps that are not mounts (mkdir, mknod,
//! symlink, chmod, mask, readonly, pivot).

use super::{HostPath, Mode, Mount, Propagation, Remount, RootPath, Umount};
use crate::raw::StepKind;
use crate::source::Loc;

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Mount a filesystem (boxed: a mount is 224 bytes, the next largest action 96, and a
    /// plan holds one action a step).
    Mount(Box<Mount>),
    /// Change flags of an existing mount.
    Remount(Remount),
    /// Change propagation.
    Propagation(Propagation),
    /// Unmount (detached).
    Umount(Umount),
    /// Create a directory.
    Mkdir(Mkdir),
    /// Create a device node or FIFO.
    Mknod(Mknod),
    /// Create a symlink.
    Symlink(Symlink),
    /// Change mode and owner.
    Chmod(Chmod),
    /// Hide a path.
    Mask(Mask),
    /// Make a path read-only.
    Readonly(Readonly),
    /// Switch to the new root.
    Pivot(Pivot),
}

impl Action {
    /// The step kind this action came from.
    pub fn kind(&self) -> StepKind {
        match self {
            Action::Mount(_) => StepKind::Mount,
            Action::Remount(_) => StepKind::Remount,
            Action::Propagation(_) => StepKind::Propagation,
            Action::Umount(_) => StepKind::Umount,
            Action::Mkdir(_) => StepKind::Mkdir,
            Action::Mknod(_) => StepKind::Mknod,
            Action::Symlink(_) => StepKind::Symlink,
            Action::Chmod(_) => StepKind::Chmod,
            Action::Mask(_) => StepKind::Mask,
            Action::Readonly(_) => StepKind::Readonly,
            Action::Pivot(_) => StepKind::Pivot,
        }
    }
    /// The path inside the root the step works on (`None` for pivot).
    pub fn path(&self) -> Option<&RootPath> {
        match self {
            Action::Mount(m) => Some(&m.target),
            Action::Remount(m) => Some(&m.target),
            Action::Propagation(m) => Some(&m.target),
            Action::Umount(m) => Some(&m.target),
            Action::Mkdir(m) => Some(&m.path),
            Action::Mknod(m) => Some(&m.path),
            Action::Symlink(m) => Some(&m.path),
            Action::Chmod(m) => Some(&m.path),
            Action::Mask(m) => Some(&m.path),
            Action::Readonly(m) => Some(&m.path),
            Action::Pivot(_) => None,
        }
    }
}

/// A mkdir step.
#[derive(Debug, Clone)]
pub struct Mkdir {
    /// The directory.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
    /// Its mode (default 0755).
    pub mode: Mode,
    /// Create missing parents (mode 0755).
    pub parents: bool,
}

/// The type of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    /// S_IFCHR.
    Char,
    /// S_IFBLK.
    Block,
    /// S_IFIFO.
    Fifo,
}

impl NodeType {
    /// The name as written in a plan.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Char => "char",
            NodeType::Block => "block",
            NodeType::Fifo => "fifo",
        }
    }
}

/// Where a node's type and number come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeSpec {
    /// Given in the plan.
    Given {
        /// char, block or fifo.
        node: NodeType,
        /// Major number (0 for a FIFO).
        major: u32,
        /// Minor number (0 for a FIFO).
        minor: u32,
    },
    /// Copied from a host node at apply time (checked to be a char or block device).
    FromHost(HostPath),
}

/// A mknod step.
#[derive(Debug, Clone)]
pub struct Mknod {
    /// The node.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
    /// Its type and number.
    pub spec: NodeSpec,
    /// Its mode (default 0666).
    pub mode: Mode,
    /// Owner uid, when given.
    pub uid: Option<u32>,
    /// Owner gid, when given.
    pub gid: Option<u32>,
}

/// A symlink step.
#[derive(Debug, Clone)]
pub struct Symlink {
    /// The link.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
    /// What it points to, as written (not resolved).
    pub to: String,
}

/// A chmod step.
#[derive(Debug, Clone)]
pub struct Chmod {
    /// The file.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
    /// The new mode.
    pub mode: Mode,
    /// New owner uid, when given.
    pub uid: Option<u32>,
    /// New owner gid, when given.
    pub gid: Option<u32>,
}

/// A mask step.
#[derive(Debug, Clone)]
pub struct Mask {
    /// The path to hide.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
}

/// A readonly step (runc's readonlyPaths).
#[derive(Debug, Clone)]
pub struct Readonly {
    /// The path to make read-only.
    pub path: RootPath,
    /// Where `path` is written.
    pub path_loc: Loc,
}

/// How to switch to the new root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PivotStrategy {
    /// pivot_root(".", ".") then umount2(".", MNT_DETACH).
    PivotRoot,
    /// pivot_root(".", put_old), then make put_old private, detach it and remove the directory.
    PutOld,
    /// Mask the host's full proc and sysfs mounts, MS_MOVE the root onto `/`, chroot(".").
    Move,
    /// chroot(".").
    Chroot,
}

impl PivotStrategy {
    /// The name as written in a plan.
    pub fn as_str(self) -> &'static str {
        match self {
            PivotStrategy::PivotRoot => "pivot-root",
            PivotStrategy::PutOld => "put-old",
            PivotStrategy::Move => "move",
            PivotStrategy::Chroot => "chroot",
        }
    }
}

/// A pivot step.
#[derive(Debug, Clone)]
pub struct Pivot {
    /// The strategy to try first.
    pub strategy: PivotStrategy,
    /// The strategy to try when the first fails.
    pub fallback: Option<PivotStrategy>,
    /// The put_old directory for `put-old` (default `/.pivot_root`).
    pub put_old: RootPath,
    /// `strategy = "auto"`: `pivot-root`, with `move` taken only when pivot_root fails with
    /// EINVAL.
    pub auto: bool,
}

impl Pivot {
    /// When the fallback is taken, in words (the dry run's heading of its calls).
    pub fn fallback_rule(&self) -> &'static str {
        if self.auto {
            "auto: instead, when pivot_root fails with EINVAL (the root is on an initramfs or \
             ramfs, or a mount involved is shared)"
        } else {
            "fallback, when the kernel refuses the switch to the new root"
        }
    }
}
