//! The dependency graph: a validated [`Plan`] -> a [`Dag`].
//!
//! Takes the plan from `validate`; returns its edges (explicit `after` plus implicit path
//! edges), the warnings found while building them, and the predicted final state: the mount
//! tree and the nodes, links and modes the plan leaves behind. Cycles and steps declared before
//! what they depend on are errors; the declared order is the execution order, never reordered.
//!
//! The work is split by concern:
//!
//! ```text
//! after   explicit `after` edges: unknown names, a step naming itself, back edges
//! tree    one walk over the steps with a model of the mount table and of the files made:
//!         implicit edges (mount, parent, made, changes), "hides" and "not a mountpoint"
//!         warnings, the predicted final tree
//! cycle   cycles through back edges (each listed whole), "declared later" errors
//! pivot   the pivot's edges, reduced to the steps not already before it
//! process what the command could see or leave: host processes, a plain chroot
//! ```
//!
//! Implicit edges point from an earlier step to a later one by construction ("the latest
//! earlier step that ..."), so only an explicit `after` can point backwards. A backward `after`
//! is an error either way: when it closes a cycle the whole cycle is reported, otherwise it
//! is reported as a step that must move up.

mod after;
mod cycle;
mod pivot;
mod process;
mod tree;

#[cfg(test)]
mod tests;

use crate::diag::Diag;
use crate::model::{FsKind, MsFlags, Plan, Propagated, RootPath};

/// Why one step depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EdgeKind {
    /// Named in `after`.
    After,
    /// The step works under a path that this mount provides.
    Mount,
    /// This step creates the parent directory of the step's path.
    Parent,
    /// This step made the path the step works on (a chmod of a directory made by mkdir, a
    /// mount on a directory made by mkdir, a mask of a node the plan made).
    Made,
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
            EdgeKind::Made => "made",
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
///
/// - The root comes first (`step` `None`): `tmpfs` for an empty tmpfs root, or `bind` of the
///   root directory (recursive) for a path root.
/// - A bind's `flags` are only those the plan sets: the rest are the source mount's on the host.
/// - A mask is `tmpfs` (read-only) when the plan made a directory there, a `bind` of
///   `/dev/null` when it made anything else, and fstype `mask` (source `tmpfs or /dev/null`)
///   when what is there is only known at apply time (the executor mounts nothing when the path
///   is missing). A mask of a path that cannot exist (on an empty tmpfs the plan made, and not
///   made by the plan) is not in the tree.
/// - A readonly step is a recursive `bind` whose source is the path itself (`<root>/path`),
///   followed by read-only copies of the mounts below it that the recursive bind brings along.
///   Like a mask, it is left out when the path cannot exist; otherwise it is predicted (the
///   executor mounts nothing when the path turns out to be missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeMount {
    /// Where, inside the new root.
    pub mountpoint: RootPath,
    /// What it is: the walk's (and the renderer's) questions about a mount match on this.
    pub kind: Mounted,
    /// `bind` for binds, `mask` for a mask of unknown kind, else the fstype: the FSTYPE column,
    /// derived from `kind` by [`TreeMount::new`].
    pub fstype: String,
    /// The source as mount(2) gets it (the host path for binds).
    pub source: String,
    /// Per-mount flags after every remount (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, and the
    /// atime flags: MS_RELATIME, MS_NOATIME or MS_STRICTATIME, plus MS_NODIRATIME), as the
    /// kernel ends up with them (a fresh mount gets MS_RELATIME unless told otherwise).
    pub flags: MsFlags,
    /// The filesystem's options as the mount table shows them (`mode=0755,size=65536`),
    /// derived from `kind` by [`TreeMount::new`] ([`crate::lowering::fsconfig::data`]).
    pub data: Option<String>,
    /// The step that made it (`None` for the root itself; for a copy brought along by a
    /// recursive bind, the step that made the original).
    pub step: Option<usize>,
    /// A recursive bind: the host's submounts below the source come along (not predicted).
    pub recursive: bool,
    /// The per-mount flags (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC) every mount it brought
    /// along carries (a recursive bind's flags, `rro` and friends, a recursive remount's; a
    /// readonly step's MS_RDONLY): verify checks each of them.
    pub below: MsFlags,
    /// Made only when its path exists at apply time (a mask or a readonly step on a path the
    /// plan does not know exists; a dangling symlink counts as missing): then nothing is
    /// mounted there, and verify counts it as skipped.
    pub conditional: bool,
    /// Its propagation after the plan's propagation steps and the pivot, as mountinfo shows
    /// it: the states it may be in (a bind of a host path is a slave when the host shares its
    /// source, private otherwise).
    pub propagation: PropSet,
}

/// The propagation states a mount of the final tree may be in (a set of [`Propagated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PropSet(u8);

impl PropSet {
    /// No state (not a prediction: the start of a union).
    pub const NONE: PropSet = PropSet(0);
    /// Private only: a new filesystem (fsmount makes it private).
    pub const PRIVATE: PropSet = PropSet::one(Propagated::Private);
    /// A copy of a host mount after the setup's recursive `MS_SLAVE`: a slave of its peer
    /// group when the host shares it, private otherwise.
    pub const HOST: PropSet =
        PropSet(PropSet::one(Propagated::Private).0 | PropSet::one(Propagated::Slave).0);

    /// Just `p`.
    pub const fn one(p: Propagated) -> PropSet {
        PropSet(1 << p as u8)
    }

    /// Whether `p` is one of the states.
    pub fn contains(self, p: Propagated) -> bool {
        self.0 & PropSet::one(p).0 != 0
    }

    /// The states, in [`Propagated::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Propagated> {
        Propagated::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// Every state `f` maps one of these to.
    pub fn map(self, f: impl Fn(Propagated) -> PropSet) -> PropSet {
        PropSet(self.iter().fold(0, |a, p| a | f(p).0))
    }

    /// Whether a mount in one of these states is shared (may propagate to what is attached
    /// on it).
    pub fn may_be_shared(self) -> bool {
        self.contains(Propagated::Shared) || self.contains(Propagated::SharedSlave)
    }

    /// After `mount --make-KIND` (the kernel's `change_mnt_propagation`): shared keeps a
    /// master; slave makes a shared mount a slave of its peers, or private when it has none;
    /// private and unbindable drop both.
    pub fn changed(self, kind: crate::model::PropagationKind) -> PropSet {
        use crate::model::PropagationKind as K;
        use Propagated as P;
        self.map(|p| match (kind, p) {
            (K::Private, _) => PropSet::PRIVATE,
            (K::Unbindable, _) => PropSet::one(P::Unbindable),
            (K::Shared, P::Slave | P::SharedSlave) => PropSet::one(P::SharedSlave),
            (K::Shared, _) => PropSet::one(P::Shared),
            (K::Slave, P::Shared) => PropSet::HOST,
            (K::Slave, P::SharedSlave) => PropSet::one(P::Slave),
            (K::Slave, p) => PropSet::one(p),
        })
    }

    /// After being attached on a mount in the states `on`: on a shared mount the kernel makes
    /// the new one shared (keeping a master).
    pub fn attached_on(self, on: PropSet) -> PropSet {
        let mut out = if on
            .iter()
            .any(|p| !matches!(p, Propagated::Shared | Propagated::SharedSlave))
        {
            self
        } else {
            PropSet::NONE
        };
        if on.may_be_shared() {
            out = PropSet(out.0 | self.changed(crate::model::PropagationKind::Shared).0);
        }
        out
    }

    /// The states as words joined by ` or ` (`private or slave`).
    pub fn words(self) -> String {
        self.iter()
            .map(Propagated::as_str)
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// What a mount of the final tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mounted {
    /// A new filesystem with its typed options (never [`FsKind::Bind`]): the tmpfs root, a
    /// mount step's, a directory mask's empty tmpfs.
    Fs(FsKind),
    /// A bind: of the root directory, a bind step's, a readonly step's bind of the path onto
    /// itself, a `/dev/null` mask.
    Bind,
    /// A mask whose kind (an empty tmpfs or `/dev/null`) is decided at apply time.
    Mask,
}

impl Mounted {
    /// An empty tmpfs when made (the root, a mount step's, a directory mask).
    pub fn is_tmpfs(&self) -> bool {
        matches!(self, Mounted::Fs(FsKind::Tmpfs(_)))
    }
}

impl TreeMount {
    /// A mount of the tree, its FSTYPE and options columns derived from `kind`.
    pub fn new(
        mountpoint: RootPath,
        kind: Mounted,
        source: String,
        flags: MsFlags,
        step: Option<usize>,
        recursive: bool,
    ) -> TreeMount {
        let (fstype, data) = match &kind {
            Mounted::Fs(fs) => (fs.fstype(), crate::lowering::fsconfig::data(fs)),
            Mounted::Bind => ("bind", None),
            Mounted::Mask => ("mask", None),
        };
        TreeMount {
            mountpoint,
            fstype: fstype.to_string(),
            kind,
            source,
            flags,
            data,
            step,
            recursive,
            below: MsFlags::empty(),
            conditional: false,
            propagation: PropSet::PRIVATE,
        }
    }
}

/// What a node in the final tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A directory.
    Dir,
    /// An empty regular file (a mountpoint for a file bind).
    File,
    /// A character device.
    Char(crate::lowering::Dev),
    /// A block device.
    Block(crate::lowering::Dev),
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
    /// Made only when nothing is there (a mkdir, a mountpoint) on a filesystem that may
    /// already have it (a root directory from the host, a bind, proc...): then what is there
    /// stays, with its own mode. False when the plan certainly makes it (on an empty tmpfs),
    /// or sets its mode with a chmod.
    pub if_missing: bool,
}

impl TreeNode {
    /// Its owner as `uid:gid`, `-` for what the plan leaves as it is (`-` alone when both are).
    pub fn owner(&self) -> String {
        match (self.uid, self.gid) {
            (None, None) => "-".to_string(),
            (u, g) => format!(
                "{}:{}",
                u.map_or("-".into(), |u| u.to_string()),
                g.map_or("-".into(), |g| g.to_string())
            ),
        }
    }
}

/// The predicted final state of the new root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FinalTree {
    /// Mounts, parents before children, in the order they were made.
    pub mounts: Vec<TreeMount>,
    /// Nodes, sorted by path (nodes at the same path in the order made). Directories and
    /// files a mount creates as its mountpoint are here too: each is made only when missing.
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
    /// The system calls of the setup and of every step, computed once ([`crate::lowering`]):
    /// what the dry run prints and the executor makes.
    pub calls: crate::lowering::Lowered,
}

impl Dag {
    /// The steps `i` depends on, with why, in order.
    pub fn deps(&self, i: usize) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.to == i)
    }
}

/// Builds the DAG of a valid plan.
///
/// Returns the DAG (with its warnings), or every error found together with the warnings.
/// Edges point from an earlier step to a later one; the pivot gets an edge from each earlier
/// step that is not already before it through other edges (the transitive reduction towards
/// the pivot), which keeps drawings readable while "every step runs before the pivot" still
/// follows from the edges.
pub fn build(plan: Plan) -> Result<Dag, Vec<Diag>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let explicit = after::edges(&plan, &mut errors);
    let walked = tree::walk(&plan, &mut warnings);
    warnings.extend(process::warnings(&plan));
    // The walk finds what apply certainly fails at (errors) besides its warnings.
    let (walk_errors, rest): (Vec<Diag>, Vec<Diag>) =
        warnings.into_iter().partition(Diag::is_error);
    errors.extend(walk_errors);
    let warnings = rest;
    let mut edges = explicit.edges;
    edges.extend(walked.edges);
    cycle::check(&plan, &edges, &explicit.locs, &mut errors);
    if !errors.is_empty() {
        errors.extend(warnings);
        return Err(errors);
    }
    pivot::add_edges(&plan, &mut edges);
    edges.sort_by_key(|e| (e.to, e.from, e.kind));
    edges.dedup();
    let calls = walked.calls;
    Ok(Dag {
        plan,
        edges,
        warnings,
        tree: walked.tree,
        calls,
    })
}

/// Where a step's name is written (its `id`, else its `kind`).
pub(crate) fn id_loc(step: &crate::model::Step) -> crate::source::Loc {
    step.id_loc.unwrap_or(step.loc)
}
