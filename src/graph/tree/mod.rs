//! The walk: the plan's steps, in order, against a model of the mount table and of the files
//! the plan makes -> implicit edges, warnings and the predicted [`FinalTree`].
//!
//! Takes the plan; returns the implicit edges and the final tree, and pushes warnings (a mount
//! that hides what an earlier step made; a remount, propagation change or umount of a path
//! nothing is mounted on). Edges always point from the latest earlier step that matters:
//!
//! - mount: the mount that provides the path the step works in (the visible mount covering
//!   its path; for a mount step, the one it is mounted on or stacked over);
//! - parent: the step that made the parent directory, while that directory is still visible;
//! - made: the step that made the path itself (chmod, mask, readonly, a mount on it);
//! - changes: for remount, propagation and umount, the step that made the mount at exactly
//!   their target.
//!
//! The model follows the kernel: a new mount goes on top of whatever is visible at its target;
//! a detached umount takes the mount and every mount on it; a remount with `MS_BIND` sets the
//! per-mount flags to exactly the ones given (keeping the atime flags when none is given),
//! while a recursive remount (`mount_setattr`) adds flags to the mount and every mount below it.
//! Each mount's propagation is predicted as the states it may be in ([`PropSet`]): a new
//! filesystem is private, a copy of a host mount private or a slave, a copy of a mount of the
//! plan as that mount, anything attached on a shared mount shared, and propagation steps change
//! it as the kernel does. A mask or readonly step on a path the model does not know exists is
//! conditional (the executor mounts nothing when the path is missing).
//!
//! The walk also finds what apply will fail at (`fail`): an error when the failure is certain,
//! a warning when it is likely. On an empty tmpfs (the root, one the plan mounts, a directory
//! mask) the model knows everything that exists, so a step whose parent directory (or whose
//! path, for chmod and `create = "none"`) nothing made certainly fails (ENOENT). A path made
//! on a read-only mount fails (EROFS): certainly where it cannot exist yet, likely elsewhere
//! (unless it is there already). A pivot_root of a shared root fails (EINVAL), as does a
//! put_old directory that cannot be made; with a fallback, the fallback is used (a warning).
//! A device node on a `nodev` mount is made but cannot be opened (a warning: apply succeeds).
//!
//! `lookup` holds the model's queries (the visible mount and node at a path, who made what)
//! and bookkeeping; `warn` the warnings about what the plan hides or changes; `fail` the
//! failures; `changes` what a remount, umount, mask, readonly path and a pivot into the top
//! mount do to the model; `place` the model as the lowering asks it; this file the walk
//! itself, step by step.

use super::{Edge, FinalTree, Mounted, NodeKind, PropSet, TreeMount, TreeNode};
use crate::diag::Diag;
use crate::lowering::{ATIME, Dev, Lowered, MountId, PERM, StepCalls};
use crate::model::{
    Action, Create, FsKind, Mode, MsFlags, NodeSpec, NodeType, Plan, PropagationKind, Root,
    RootPath,
};

/// What the walk found.
pub(super) struct Walked {
    /// Implicit edges, unsorted, possibly repeated.
    pub edges: Vec<Edge>,
    /// The predicted final state.
    pub tree: FinalTree,
    /// The calls of the setup and of every step, lowered against the model as it stood right
    /// before each step.
    pub calls: Lowered,
}

/// The atime flags the kernel gives a new mount (or a remount that names one): relatime unless
/// noatime or strictatime is given, plus nodiratime when given.
fn atime(flags: MsFlags) -> MsFlags {
    let a = flags & MsFlags::MS_NODIRATIME;
    if flags.contains(MsFlags::MS_STRICTATIME) {
        a | MsFlags::MS_STRICTATIME
    } else if flags.contains(MsFlags::MS_NOATIME) {
        a | MsFlags::MS_NOATIME
    } else {
        a | MsFlags::MS_RELATIME
    }
}

/// The per-mount flags of a fresh (non-bind) mount made with `flags`.
fn fresh(flags: MsFlags) -> MsFlags {
    (flags & PERM) | atime(flags)
}

/// A mount as the walk tracks it: the [`TreeMount`] it reports, where it is in the tree of
/// mounts, and whether it is still mounted.
struct WalkMount {
    mount: TreeMount,
    /// The number of its mountpoint.
    at: PathId,
    parent: Option<usize>,
    children: Vec<usize>,
    /// The nodes made on it.
    nodes: Vec<usize>,
    /// The step that put it there (for a copy made by a recursive bind, the bind's step).
    by: Option<usize>,
    alive: bool,
    /// A readonly bind of a path onto itself, or a copy it brought along: same content as
    /// what it covers, so it hides nothing.
    transparent: bool,
    /// Its root is a file (a bind made with `create = "file"`, or a `/dev/null` mask).
    file_root: bool,
    /// The step that made it read-only, or `nodev` (the one that made it, when it was made so;
    /// `None` for the root, or when it is not), for the place a failure points at.
    ro_by: Option<usize>,
    nodev_by: Option<usize>,
    /// The step that made it shared (a propagation step, or one that made the mount it was
    /// attached under shared: the kernel makes a mount attached under a shared one shared).
    shared_by: Option<usize>,
    /// How the executor knows it: the plan's number for it (`None` for a copy a recursive
    /// bind brought along), where what is made on it lives on the host, and more (see
    /// [`place`]).
    place: place::Kind,
}

/// A file as the walk tracks it: the [`TreeNode`] it reports, the step that made it, and
/// whether it is still there.
struct WalkNode {
    node: TreeNode,
    /// The number of its path.
    at: PathId,
    /// The step that created it (a chmod for a path the plan did not make).
    made_by: usize,
    alive: bool,
    /// An alive mount found hiding it, remembered: while that mount is alive it still hides
    /// the node (a mount's path, step and kind never change), so the next question is one
    /// lookup instead of a walk up every ancestor's mounts (a hostile plan of 3000 `mkdir -p`
    /// of a 40-deep path under a mount made again each time asked it 200 million times).
    hidden_by_entry: std::cell::Cell<Option<usize>>,
}

struct Walk<'p, 'w> {
    plan: &'p Plan,
    /// Every path met, numbered: the tables below are indexed by number.
    paths: Paths<'p>,
    entries: Vec<WalkMount>,
    /// Alive entries by mountpoint, in the order made (the last is on top).
    at: lookup::PathIndex,
    nodes: Vec<WalkNode>,
    /// Alive nodes by path, in the order made.
    node_at: lookup::PathIndex,
    edges: Vec<Edge>,
    /// Errors (what apply certainly fails at) and warnings (what it likely fails at, or does
    /// without what was probably meant).
    warnings: &'w mut Vec<Diag>,
    /// The steps a failure was reported for, in order: a step stops at its first failing
    /// call, so it gets one such diagnostic, and what it makes is not judged further.
    failed: Vec<usize>,
    /// The number of the next mount the plan makes (`M0` is the root).
    next_mount: u32,
}

/// Walks the plan: implicit edges, warnings, and the final tree.
pub(super) fn walk(plan: &Plan, warnings: &mut Vec<Diag>) -> Walked {
    let root = match &plan.root {
        Root::Tmpfs(_) => TreeMount::new(
            RootPath::root(),
            Mounted::Fs(plan.root.fs()),
            "tmpfs".into(),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME,
            None,
            false,
        ),
        Root::Path(p) => TreeMount {
            // A copy of the host's directory (open_tree): as the host's mount there.
            propagation: PropSet::HOST,
            ..TreeMount::new(
                RootPath::root(),
                Mounted::Bind,
                p.to_string(),
                MsFlags::empty(),
                None,
                true,
            )
        },
    };
    // Sized for what a step mostly adds (a path, a mount or a node, an edge or two), so that
    // the tables are not copied as they grow.
    let n = plan.steps.len() + 1;
    // Mounts: one for the root and each step that mounts (more, copies a recursive bind
    // brings along, grow the table); a mount is 400 bytes, most steps make none.
    let mounts = 1 + plan
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.action,
                Action::Mount(_) | Action::Mask(_) | Action::Readonly(_)
            )
        })
        .count();
    let mut w = Walk {
        plan,
        paths: Paths::with_capacity(n),
        entries: Vec::with_capacity(mounts),
        at: lookup::PathIndex::with_capacity(n),
        nodes: Vec::with_capacity(n),
        node_at: lookup::PathIndex::with_capacity(n),
        edges: Vec::with_capacity(2 * n),
        warnings,
        failed: Vec::new(),
        next_mount: 1,
    };
    w.push_entry(ROOT, root, None, None, false, false);
    w.entries[0].place = place::Kind::root(&plan.root);
    let mut calls = Lowered {
        setup: crate::lowering::setup(plan),
        steps: Vec::with_capacity(plan.steps.len()),
        mounts: 0,
    };
    for i in 0..plan.steps.len() {
        // The step's calls, placed on the model as it stands before the step; then the step
        // changes the model, and the mounts it made get the numbers its calls gave them.
        w.intern(i);
        let first = MountId(w.next_mount);
        let mut next = w.next_mount;
        let (mut c, fallback) = crate::lowering::step_calls(
            &plan.steps[i].action,
            &w,
            &mut next,
            plan.api.is_classic(),
        );
        // A step makes a call or two: room for four, as pushing gives, is most of a step's
        // memory at 100 000 steps.
        c.shrink_to_fit();
        w.next_mount = next;
        calls.steps.push(StepCalls {
            step: Some(i),
            calls: c,
            fallback,
        });
        let from = w.entries.len();
        w.step(i);
        w.placed(i, from, (next > first.0).then_some(first));
    }
    calls.mounts = w.next_mount as usize;
    w.finish(calls)
}

mod changes;
mod fail;
mod lookup;
mod place;
mod warn;

use lookup::{PathId, Paths, ROOT};

impl Walk<'_, '_> {
    fn step(&mut self, i: usize) {
        let plan = self.plan;
        let step = &plan.steps[i];
        match &step.action {
            Action::Mount(m) => {
                let t = self.paths.id(&m.target);
                self.path_edges(i, t, true);
                let failed = match m.create {
                    Create::None => self.check_exists(i, t, false),
                    _ if t != ROOT => self.check_exists(i, self.paths.parent(t), true),
                    _ => false,
                };
                if !failed && t != ROOT {
                    match m.create {
                        Create::Dir => self.check_writable(i, t, "mkdir"),
                        Create::File => self.check_writable(i, t, "open(O_CREAT)"),
                        Create::None => false,
                    };
                }
                let under = self.cover(t, false);
                match m.create {
                    Create::Dir => {
                        self.add_if_missing(i, t, NodeKind::Dir, Mode::from_bits(0o755));
                    }
                    Create::File => {
                        self.add_if_missing(i, t, NodeKind::File, Mode::from_bits(0o644));
                    }
                    Create::None => {}
                }
                self.hide(i, t);
                let on = self.entries[under].mount.propagation;
                let mut mount = match &m.fs {
                    FsKind::Bind { source, recursive } => TreeMount {
                        // A copy of the host's mount of the source.
                        propagation: PropSet::HOST,
                        below: if *recursive {
                            ((m.flags | m.rec.set) & PERM) - m.rec.clear
                        } else {
                            MsFlags::empty()
                        },
                        ..TreeMount::new(
                            m.target.clone(),
                            Mounted::Bind,
                            source.to_string(),
                            // A bind keeps the flags of the source's mount; only those the
                            // plan sets (with a remount) are known.
                            ((m.flags & (PERM | ATIME)) | (m.rec.set & PERM)) - m.rec.clear,
                            Some(i),
                            *recursive,
                        )
                    },
                    fs => TreeMount::new(
                        m.target.clone(),
                        Mounted::Fs(fs.clone()),
                        m.source().to_string(),
                        fresh(m.flags),
                        Some(i),
                        false,
                    ),
                };
                mount.propagation = mount.propagation.attached_on(on);
                self.push_entry(
                    t,
                    mount,
                    Some(under),
                    Some(i),
                    false,
                    m.create == Create::File,
                );
            }
            Action::Remount(r) => {
                let t = self.paths.id(&r.target);
                if let Some(e) = self.changes(i, t) {
                    self.remount(i, e, r.flags, r.rec);
                }
            }
            Action::Propagation(p) => {
                let t = self.paths.id(&p.target);
                if let Some(e) = self.changes(i, t) {
                    let by = (p.kind == PropagationKind::Shared).then_some(i);
                    let all = if p.recursive {
                        self.subtree(e)
                    } else {
                        vec![e]
                    };
                    for x in all {
                        self.entries[x].shared_by = by;
                        let pr = &mut self.entries[x].mount.propagation;
                        *pr = pr.changed(p.kind);
                    }
                }
            }
            Action::Umount(u) => {
                let t = self.paths.id(&u.target);
                if let Some(e) = self.changes(i, t) {
                    self.umount(e);
                }
            }
            Action::Mkdir(m) => {
                let p = self.paths.id(&m.path);
                self.path_edges(i, p, false);
                let mut failed = false;
                if !m.parents && p != ROOT {
                    failed = self.check_exists(i, self.paths.parent(p), true);
                }
                if m.parents && p != ROOT {
                    // The ancestors below `/`, from the top down.
                    let mut anc: Vec<PathId> = self.paths.up(self.paths.parent(p)).collect();
                    anc.pop();
                    for &a in anc.iter().rev() {
                        failed = failed || self.check_writable(i, a, "mkdir");
                        self.add_if_missing(i, a, NodeKind::Dir, Mode::from_bits(0o755));
                    }
                }
                if !failed && p != ROOT {
                    self.check_writable(i, p, "mkdir");
                }
                // An existing directory is left as it is (mode included).
                self.add_if_missing(i, p, NodeKind::Dir, m.mode);
            }
            Action::Mknod(n) => {
                let p = self.paths.id(&n.path);
                self.path_edges(i, p, false);
                if !self.check_exists(i, self.paths.parent(p), true) {
                    self.check_writable(i, p, "mknod");
                }
                let kind = match &n.spec {
                    NodeSpec::Given {
                        node: NodeType::Char,
                        major,
                        minor,
                    } => NodeKind::Char(Dev::Num(*major, *minor)),
                    NodeSpec::Given {
                        node: NodeType::Block,
                        major,
                        minor,
                    } => NodeKind::Block(Dev::Num(*major, *minor)),
                    NodeSpec::Given {
                        node: NodeType::Fifo,
                        ..
                    } => NodeKind::Fifo,
                    // As the calls make it: a character device with the host node's number.
                    NodeSpec::FromHost(h) => NodeKind::Char(Dev::FromHost(h.clone())),
                };
                self.add_node(i, p, kind, Some(n.mode), n.uid, n.gid);
            }
            Action::Symlink(s) => {
                let p = self.paths.id(&s.path);
                self.path_edges(i, p, false);
                if !self.check_exists(i, self.paths.parent(p), true) {
                    self.check_writable(i, p, "symlink");
                }
                self.add_node(i, p, NodeKind::Symlink(s.to.clone()), None, None, None);
            }
            Action::Chmod(c) => {
                let p = self.paths.id(&c.path);
                self.path_edges(i, p, true);
                self.check_exists(i, p, false);
                match self.visible_node(p) {
                    Some(n) => {
                        let node = &mut self.nodes[n].node;
                        node.mode = Some(c.mode);
                        node.uid = c.uid.or(node.uid);
                        node.gid = c.gid.or(node.gid);
                        node.step = i;
                        // Whatever was there, its mode is now the plan's.
                        node.if_missing = false;
                    }
                    None => {
                        self.add_node(i, p, NodeKind::Changed, Some(c.mode), c.uid, c.gid);
                    }
                }
            }
            Action::Mask(m) => {
                let p = self.paths.id(&m.path);
                self.path_edges(i, p, true);
                self.mask(i, p);
            }
            Action::Readonly(r) => {
                let p = self.paths.id(&r.path);
                self.path_edges(i, p, true);
                self.readonly(i, p);
            }
            Action::Pivot(p) => {
                // The tree as seen from the new root is the tree built so far; a put_old
                // directory is removed again by the pivot itself.
                let put_old = self.paths.id(&p.put_old);
                self.check_pivot(i, p, put_old);
                self.pivot_into_top();
            }
        }
    }

    fn finish(mut self, calls: Lowered) -> Walked {
        self.check_nodev();
        for k in 0..self.nodes.len() {
            if self.nodes[k].alive {
                let by = self.hider(&self.nodes[k]).and_then(|e| self.entries[e].by);
                self.nodes[k].node.hidden_by = by;
            }
        }
        // Collected in place, in the walk's tables (sized for a mount and a node a step):
        // shrunk to what is left.
        let mut mounts: Vec<TreeMount> = self
            .entries
            .into_iter()
            .filter(|e| e.alive)
            .map(|e| e.mount)
            .collect();
        mounts.shrink_to_fit();
        let mut nodes: Vec<TreeNode> = self
            .nodes
            .into_iter()
            .filter(|n| n.alive)
            .map(|n| n.node)
            .collect();
        nodes.shrink_to_fit();
        // Stable: nodes at the same path stay in the order made.
        nodes.sort_by(|a, b| a.path.cmp(&b.path));
        Walked {
            edges: self.edges,
            tree: FinalTree { mounts, nodes },
            calls,
        }
    }
}
