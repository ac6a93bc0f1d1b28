//! The model's lookups: which mount is visible at a path, which node, who made it, and the
//! bookkeeping of adding mounts and nodes. Every path the walk meets is numbered once
//! ([`Paths`], one hash probe per step); the model's tables are indexed by that number, and a
//! lookup walks the path's ancestors by number (no hashing, no allocation), so the walk stays
//! linear in the plan (times the path depth).

use std::collections::HashMap;
use std::collections::hash_map::Entry as Slot;

use super::{Walk, WalkMount, WalkNode};
use crate::graph::{Edge, EdgeKind, NodeKind, TreeMount, TreeNode};
use crate::model::{Mode, MsFlags, RootPath};

/// The number of a path in [`Paths`].
pub(super) type PathId = usize;

/// The number of `/`.
pub(super) const ROOT: PathId = 0;

/// Every path the walk has met, and every ancestor of each, numbered in the order met: a tree
/// of paths (each knows its parent and its children) with a hash map from the text (borrowed
/// from the plan: an ancestor's text is the start of its descendant's).
#[derive(Debug)]
pub(super) struct Paths<'p> {
    ids: HashMap<&'p str, PathId>,
    path: Vec<&'p str>,
    /// The parent of each path (`/` is its own).
    parent: Vec<PathId>,
    children: Vec<Vec<PathId>>,
}

impl<'p> Paths<'p> {
    /// `/` alone, with room for `n` more paths.
    pub(super) fn with_capacity(n: usize) -> Self {
        let mut ids = HashMap::with_capacity(n + 1);
        ids.insert("/", ROOT);
        let mut paths = Paths {
            ids,
            path: Vec::with_capacity(n + 1),
            parent: Vec::with_capacity(n + 1),
            children: Vec::with_capacity(n + 1),
        };
        paths.path.push("/");
        paths.parent.push(ROOT);
        paths.children.push(Vec::new());
        paths
    }
    /// The number of `p`, numbering it (and its ancestors not met yet) when new.
    pub(super) fn id(&mut self, p: &'p RootPath) -> PathId {
        let s = p.as_str();
        let (id, new) = self.add(s);
        if new {
            // Up to the nearest ancestor already numbered (`/` always is): one probe each.
            let (mut child, mut end) = (id, s.len());
            loop {
                end = match s[..end].rfind('/') {
                    Some(0) | None => 1,
                    Some(k) => k,
                };
                let (parent, new) = self.add(&s[..end]);
                self.parent[child] = parent;
                self.children[parent].push(child);
                if !new {
                    break;
                }
                child = parent;
            }
        }
        id
    }
    /// The number of `text`, and whether it is new (then its parent is still to be set).
    fn add(&mut self, text: &'p str) -> (PathId, bool) {
        let next = self.path.len();
        match self.ids.entry(text) {
            Slot::Occupied(e) => (*e.get(), false),
            Slot::Vacant(e) => {
                e.insert(next);
                self.path.push(text);
                self.parent.push(ROOT);
                self.children.push(Vec::new());
                (next, true)
            }
        }
    }
    /// The number of `text`, when it was met.
    pub(super) fn get(&self, text: &str) -> Option<PathId> {
        self.ids.get(text).copied()
    }
    /// The text of the path numbered `id`.
    pub(super) fn text(&self, id: PathId) -> &'p str {
        self.path[id]
    }
    /// The path numbered `id`.
    pub(super) fn path(&self, id: PathId) -> RootPath {
        RootPath::normalised(self.path[id])
    }
    /// The parent directory of `id` (`/` for `/`).
    pub(super) fn parent(&self, id: PathId) -> PathId {
        self.parent[id]
    }
    /// `id`, then each of its ancestors up to `/`.
    pub(super) fn up(&self, id: PathId) -> impl Iterator<Item = PathId> + use<'_, 'p> {
        let mut next = Some(id);
        std::iter::from_fn(move || {
            let cur = next?;
            next = (cur != ROOT).then(|| self.parent[cur]);
            Some(cur)
        })
    }
}

/// Indices (of mounts or nodes) by path number, the latest first: each path holds its latest
/// index, and each index the one added before it at the same path (a list threaded through
/// one vector, no allocation a path). For each path, how many paths of its subtree (itself
/// included) hold an index, so that "everything below" visits only those.
#[derive(Debug, Default)]
pub(super) struct PathIndex {
    /// The latest index at each path ([`NONE`] for none).
    top: Vec<usize>,
    /// For each index, the one before it at its path ([`NONE`] for none).
    prev: Vec<usize>,
    below: Vec<usize>,
}

/// No index.
const NONE: usize = usize::MAX;

impl PathIndex {
    /// Empty, with room for paths numbered below `n` and `n` indices.
    pub(super) fn with_capacity(n: usize) -> Self {
        PathIndex {
            top: Vec::with_capacity(n),
            prev: Vec::with_capacity(n),
            below: Vec::with_capacity(n),
        }
    }
    /// The latest index at `k`.
    pub(super) fn top(&self, k: PathId) -> Option<usize> {
        self.top.get(k).copied().filter(|&v| v != NONE)
    }
    /// The indices at `k`, the latest first.
    pub(super) fn latest(&self, k: PathId) -> impl Iterator<Item = usize> + '_ {
        let mut next = self.top(k);
        std::iter::from_fn(move || {
            let v = next?;
            next = Some(self.prev[v]).filter(|&p| p != NONE);
            Some(v)
        })
    }
    /// Adds `v`, the next index (indices are added once each, in order), at `k`.
    pub(super) fn push(&mut self, paths: &Paths<'_>, k: PathId, v: usize) {
        debug_assert_eq!(v, self.prev.len());
        if self.top.len() <= k {
            self.top.resize(k + 1, NONE);
        }
        let before = std::mem::replace(&mut self.top[k], v);
        self.prev.push(before);
        if before == NONE {
            for a in paths.up(k) {
                if self.below.len() <= a {
                    self.below.resize(a + 1, 0);
                }
                self.below[a] += 1;
            }
        }
    }
    /// Takes `v` out of the indices at `k`.
    pub(super) fn unlink(&mut self, paths: &Paths<'_>, k: PathId, v: usize) {
        let Some(top) = self.top(k) else { return };
        if top == v {
            self.top[k] = self.prev[v];
            if self.top[k] == NONE {
                for a in paths.up(k) {
                    self.below[a] -= 1;
                }
            }
            return;
        }
        let mut x = top;
        while self.prev[x] != NONE {
            if self.prev[x] == v {
                self.prev[x] = self.prev[v];
                return;
            }
            x = self.prev[x];
        }
    }
    fn below(&self, k: PathId) -> usize {
        self.below.get(k).copied().unwrap_or(0)
    }
}

/// Paths strictly below `t` that have an entry in `map` (in no particular order).
pub(super) fn keys_below(map: &PathIndex, paths: &Paths<'_>, t: PathId) -> Vec<PathId> {
    let mut out = Vec::new();
    if map.below(t) == 0 {
        return out;
    }
    let mut stack: Vec<PathId> = paths.children[t].clone();
    while let Some(x) = stack.pop() {
        if map.below(x) == 0 {
            continue;
        }
        if map.top(x).is_some() {
            out.push(x);
        }
        stack.extend_from_slice(&paths.children[x]);
    }
    out
}

impl Walk<'_, '_> {
    pub(super) fn push_entry(
        &mut self,
        at: PathId,
        mount: TreeMount,
        parent: Option<usize>,
        by: Option<usize>,
        transparent: bool,
        file_root: bool,
    ) -> usize {
        let idx = self.entries.len();
        // Mounts are made in step order (`made_after` relies on it).
        debug_assert!(self.entries.last().is_none_or(|l| l.by <= by));
        self.at.push(&self.paths, at, idx);
        if let Some(p) = parent {
            self.entries[p].children.push(idx);
        }
        let made = |f: MsFlags| if mount.flags.contains(f) { by } else { None };
        let (ro_by, nodev_by) = (made(MsFlags::MS_RDONLY), made(MsFlags::MS_NODEV));
        let shared_by = parent.and_then(|p| self.entries[p].shared_by);
        self.entries.push(WalkMount {
            mount,
            at,
            parent,
            children: Vec::new(),
            nodes: Vec::new(),
            by,
            alive: true,
            transparent,
            file_root,
            ro_by,
            nodev_by,
            shared_by,
            place: super::place::Kind::default(),
        });
        idx
    }

    /// The mount visible at `p`: the latest alive mount on `p` or an ancestor.
    pub(super) fn cover(&self, p: PathId, opaque: bool) -> usize {
        let mut best = 0;
        for a in self.paths.up(p) {
            let top = self
                .at
                .latest(a)
                .find(|&e| !opaque || !self.entries[e].transparent);
            if let Some(e) = top {
                best = best.max(e);
            }
        }
        best
    }

    /// The latest alive node at `p` that is not under a mount made after it.
    pub(super) fn visible_node(&self, p: PathId) -> Option<usize> {
        let by = self.entries[self.cover(p, true)].by;
        // The latest node is the one made last: if it was made before the covering mount, so
        // was every older one.
        self.node_at
            .latest(p)
            .next()
            .filter(|&n| Some(self.nodes[n].made_by) > by)
    }

    /// The step that made `p` (a directory when `dir`), while what it made is visible.
    pub(super) fn creator(&self, p: PathId, dir: bool) -> Option<usize> {
        let n = &self.nodes[self.visible_node(p)?];
        let ok = match n.node.kind {
            NodeKind::Changed => false,
            NodeKind::Dir => true,
            _ => !dir,
        };
        ok.then_some(n.made_by)
    }

    /// True when the plan knows `p` exists: a node it made, or the root of a mount.
    pub(super) fn exists(&self, p: PathId) -> bool {
        self.visible_node(p).is_some() || self.entries[self.cover(p, false)].at == p
    }

    /// The empty filesystem `p` would be on, when `p` certainly does not exist there: on an
    /// empty tmpfs (the root, one the plan mounted, or a directory mask) only what the plan
    /// made exists.
    pub(super) fn empty_fs_without(&self, p: PathId) -> Option<usize> {
        if self.exists(p) {
            return None;
        }
        let c = self.cover(p, true);
        let e = &self.entries[c];
        (e.mount.kind.is_tmpfs() && !e.transparent).then_some(c)
    }

    /// The first alive mount, made after the node, that hides it.
    pub(super) fn hider(&self, n: &WalkNode) -> Option<usize> {
        let mut best: Option<usize> = None;
        for e in self.made_after(n) {
            best = Some(best.map_or(e, |b| b.min(e)));
        }
        best
    }

    /// True when an alive mount made after the node hides it ([`Walk::hider`] is some).
    pub(super) fn hidden(&self, n: &WalkNode) -> bool {
        if let Some(e) = n.hidden_by_entry.get() {
            if self.entries[e].alive {
                return true;
            }
        }
        let e = self.made_after(n).next();
        n.hidden_by_entry.set(e);
        e.is_some()
    }

    /// The alive mounts, made after the node, that hide it: those on its path (unless it is a
    /// directory or file, which a mount on it uses as its mountpoint) or on an ancestor, but
    /// not a readonly bind and its copies (the same content). The mounts at a path come the
    /// latest first, and the steps that made them only go down along the list: the scan of a
    /// path stops at the first one made before the node (only those made after it are seen,
    /// not every mount ever stacked there).
    fn made_after<'s>(&'s self, n: &'s WalkNode) -> impl Iterator<Item = usize> + 's {
        let mountpoint = matches!(n.node.kind, NodeKind::Dir | NodeKind::File);
        self.paths
            .up(n.at)
            .filter(move |&a| !(a == n.at && mountpoint))
            .flat_map(move |a| {
                self.at
                    .latest(a)
                    .take_while(move |&e| self.entries[e].by > Some(n.made_by))
                    .filter(move |&e| !self.entries[e].transparent)
            })
    }

    pub(super) fn dep(&mut self, from: Option<usize>, to: usize, kind: EdgeKind) {
        if let Some(from) = from {
            if from < to {
                self.edges.push(Edge { from, to, kind });
            }
        }
    }

    /// Edges of a step working at `p`: the mount it works in, the maker of its parent
    /// directory, and (when `made`) the maker of `p` itself.
    pub(super) fn path_edges(&mut self, i: usize, p: PathId, made: bool) {
        let v = self.cover(p, false);
        self.dep(self.entries[v].by, i, EdgeKind::Mount);
        if p != ROOT {
            let c = self.creator(self.paths.parent(p), true);
            self.dep(c, i, EdgeKind::Parent);
        }
        if made {
            let c = self.creator(p, false);
            self.dep(c, i, EdgeKind::Made);
        }
    }

    /// A directory or file made only when missing (mkdir, a mountpoint): nothing when the plan
    /// knows `path` exists ([`Walk::exists`]); else certain on an empty filesystem
    /// ([`Walk::empty_fs_without`]), and marked `if_missing` on any other.
    pub(super) fn add_if_missing(&mut self, i: usize, path: PathId, kind: NodeKind, mode: Mode) {
        // `exists`, `empty_fs_without` and `add_node` in one: each lookup once.
        if self.visible_node(path).is_some() {
            return;
        }
        let on = self.cover(path, false);
        if self.entries[on].at == path {
            return;
        }
        let e = &self.entries[self.cover(path, true)];
        let certain = e.mount.kind.is_tmpfs() && !e.transparent;
        let node = TreeNode {
            path: self.paths.path(path),
            kind,
            mode: Some(mode),
            uid: None,
            gid: None,
            step: i,
            hidden_by: None,
            if_missing: !certain,
        };
        // Nothing is visible at `path`: no node to replace.
        self.push_node(path, on, node);
    }

    pub(super) fn add_node(
        &mut self,
        i: usize,
        path: PathId,
        kind: NodeKind,
        mode: Option<Mode>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> usize {
        // A new node at a path replaces the visible one there.
        if let Some(old) = self.visible_node(path) {
            self.kill_node(old);
        }
        let on = self.cover(path, false);
        let node = TreeNode {
            path: self.paths.path(path),
            kind,
            mode,
            uid,
            gid,
            step: i,
            hidden_by: None,
            if_missing: false,
        };
        self.push_node(path, on, node)
    }

    /// Adds `node` (made by its `step`) at `path`, on the mount `on` visible there.
    fn push_node(&mut self, path: PathId, on: usize, node: TreeNode) -> usize {
        let idx = self.nodes.len();
        self.entries[on].nodes.push(idx);
        let made_by = node.step;
        self.nodes.push(WalkNode {
            node,
            at: path,
            made_by,
            alive: true,
            hidden_by_entry: std::cell::Cell::new(None),
        });
        self.node_at.push(&self.paths, path, idx);
        idx
    }

    pub(super) fn kill_node(&mut self, n: usize) {
        self.nodes[n].alive = false;
        self.node_at.unlink(&self.paths, self.nodes[n].at, n);
    }

    /// `e` and every mount on it, in the order made.
    pub(super) fn subtree(&self, e: usize) -> Vec<usize> {
        let mut out = vec![e];
        let mut i = 0;
        while i < out.len() {
            out.extend(self.entries[out[i]].children.iter().copied());
            i += 1;
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_paths(v: &[&str]) -> Vec<RootPath> {
        v.iter().map(|p| RootPath::new(p).unwrap()).collect()
    }

    #[test]
    fn paths_number_every_ancestor_once() {
        let all = root_paths(&["/dev/pts/x", "/", "/dev/shm", "/dev/pts"]);
        let mut paths = Paths::with_capacity(0);
        let mut down = |i: usize| {
            let id = paths.id(&all[i]);
            let mut v: Vec<&str> = paths.up(id).map(|a| paths.text(a)).collect();
            v.reverse();
            v
        };
        assert_eq!(down(0), ["/", "/dev", "/dev/pts", "/dev/pts/x"]);
        assert_eq!(down(1), ["/"]);
        assert_eq!(down(2), ["/", "/dev", "/dev/shm"]);
        assert_eq!(paths.path.len(), 5);
        let pts = paths.id(&all[3]);
        assert_eq!(paths.path(paths.parent(pts)).as_str(), "/dev");
        assert_eq!(paths.parent(ROOT), ROOT);
    }

    #[test]
    fn keys_below_are_the_entries_strictly_below() {
        let all = root_paths(&["/a", "/a/b", "/a/b/c", "/b", "/a/x"]);
        let mut paths = Paths::with_capacity(all.len());
        let mut ix = PathIndex::default();
        let [a, ab, abc, b, ax] = [0, 1, 2, 3, 4].map(|i| paths.id(&all[i]));
        for (v, k) in [ROOT, a, abc, b].into_iter().enumerate() {
            ix.push(&paths, k, v);
        }
        let below = |t| {
            let mut v = keys_below(&ix, &paths, t);
            v.sort();
            v
        };
        assert_eq!(below(ROOT), [a, abc, b]);
        assert_eq!(below(a), [abc]);
        assert_eq!(below(ab), [abc]);
        assert!(below(ax).is_empty());
        ix.unlink(&paths, abc, 2);
        assert!(keys_below(&ix, &paths, a).is_empty());
        assert!(ix.top(abc).is_none());
    }

    #[test]
    fn indices_at_a_path_come_latest_first_and_unlink_anywhere() {
        let all = root_paths(&["/a", "/b"]);
        let mut paths = Paths::with_capacity(all.len());
        let [a, b] = [0, 1].map(|i| paths.id(&all[i]));
        let mut ix = PathIndex::default();
        for (v, k) in [a, b, a, a, b].into_iter().enumerate() {
            ix.push(&paths, k, v);
        }
        let at = |ix: &PathIndex, k| ix.latest(k).collect::<Vec<_>>();
        assert_eq!(at(&ix, a), [3, 2, 0]);
        assert_eq!(at(&ix, b), [4, 1]);
        ix.unlink(&paths, a, 2);
        assert_eq!(at(&ix, a), [3, 0]);
        ix.unlink(&paths, a, 3);
        assert_eq!(at(&ix, a), [0]);
        ix.unlink(&paths, a, 7);
        ix.unlink(&paths, a, 0);
        assert!(ix.top(a).is_none());
        assert_eq!(keys_below(&ix, &paths, ROOT), [b]);
    }
}
