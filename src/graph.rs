//! The dependency graph: a validated [`Plan`] -> a [`Dag`].
//!
//! Takes the plan from `validate`; returns its edges (explicit `after` plus implicit path
//! edges), the warnings found while building them, and the predicted final state: the mount
//! tree and the nodes, links and modes the plan leaves behind. Cycles and steps declared before
//! what they depend on are errors; the declared order is the execution order, never reordered.

use crate::diag::Diag;
use crate::model::{MsFlags, Plan, RootPath};

/// Why one step depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EdgeKind {
    /// Named in `after`.
    After,
    /// The step works under a path that this mount provides.
    Mount,
    /// This step creates the parent directory of the step's path.
    Parent,
    /// A remount, propagation or umount of the mount this step made.
    Changes,
    /// The pivot depends on every step inside the new root.
    Pivot,
}

impl EdgeKind {
    /// A word for the dry run.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::After => "after",
            EdgeKind::Mount => "mount",
            EdgeKind::Parent => "parent",
            EdgeKind::Changes => "changes",
            EdgeKind::Pivot => "pivot",
        }
    }
}

/// `to` depends on `from` (indices into `plan.steps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Edge {
    /// The step depended on.
    pub from: usize,
    /// The dependent step.
    pub to: usize,
    /// Why.
    pub kind: EdgeKind,
}

/// A mount in the predicted final tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeMount {
    /// Where, inside the new root.
    pub mountpoint: RootPath,
    /// `bind` for binds, else the fstype.
    pub fstype: String,
    /// The source as mount(2) gets it (the host path for binds).
    pub source: String,
    /// Per-mount flags after every remount (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, atime).
    pub flags: MsFlags,
    /// The data string.
    pub data: Option<String>,
    /// The step that made it (`None` for the root itself).
    pub step: Option<usize>,
    /// A recursive bind: the host's submounts below the source come along (not predicted).
    pub recursive: bool,
}

/// What a node in the final tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A directory.
    Dir,
    /// An empty regular file (a mountpoint for a file bind).
    File,
    /// A character device.
    Char(crate::calls::Dev),
    /// A block device.
    Block(crate::calls::Dev),
    /// A FIFO.
    Fifo,
    /// A symlink and its target.
    Symlink(String),
    /// An existing path whose mode/owner a chmod changed.
    Changed,
}

/// A file the plan creates or changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    /// The path inside the new root.
    pub path: RootPath,
    /// What it is.
    pub kind: NodeKind,
    /// Its mode (permission bits), when the plan sets one.
    pub mode: Option<crate::model::Mode>,
    /// Owner uid, when the plan sets one.
    pub uid: Option<u32>,
    /// Owner gid, when the plan sets one.
    pub gid: Option<u32>,
    /// The step that made it last.
    pub step: usize,
    /// A later mount hides it (it is still on disk, but not visible in the final root).
    pub hidden_by: Option<usize>,
}

/// The predicted final state of the new root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FinalTree {
    /// Mounts, parents before children, in the order they were made.
    pub mounts: Vec<TreeMount>,
    /// Nodes, sorted by path.
    pub nodes: Vec<TreeNode>,
}

/// A plan with its dependency graph.
#[derive(Debug, Clone)]
pub struct Dag {
    /// The validated plan.
    pub plan: Plan,
    /// Every edge, sorted by (to, from, kind), without duplicates.
    pub edges: Vec<Edge>,
    /// Warnings (e.g. a mount hiding what an earlier step made).
    pub warnings: Vec<Diag>,
    /// The predicted final state.
    pub tree: FinalTree,
}

impl Dag {
    /// The steps `i` depends on, with why, in order.
    pub fn deps(&self, i: usize) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.to == i)
    }
}

/// Builds the DAG of a valid plan (stub, being written).
pub fn build(plan: Plan) -> Result<Dag, Vec<Diag>> {
    Ok(Dag {
        plan,
        edges: Vec::new(),
        warnings: Vec::new(),
        tree: FinalTree::default(),
    })
}
