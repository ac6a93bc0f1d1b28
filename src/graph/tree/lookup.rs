//! The model's lookups: which mount is visible at a path, which node, who made it, and the
//! bookkeeping of adding mounts and nodes. Every lookup walks the path's ancestors in a
//! [`PathIndex`] by path (one hash probe each), so the walk stays linear in the plan (times the
//! path depth).

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use super::{Entry, Node, Walk};
use crate::graph::{Edge, EdgeKind, NodeKind, TreeMount, TreeNode};
use crate::model::{Mode, RootPath};

/// `/`, then every ancestor of `p` from the top, then `p` itself, as slices of `p` (no
/// allocation: this runs several times per step).
pub(super) fn prefixes(p: &str) -> impl Iterator<Item = &str> {
    std::iter::once("/").chain(
        p.char_indices()
            .skip(1)
            .filter(|&(_, c)| c == '/')
            .map(move |(i, _)| &p[..i])
            .chain((p.len() > 1).then_some(p)),
    )
}

/// Indices (of mounts or nodes) by path, in the order added: a hash map for the point lookups
/// the walk makes several times per step, and the paths in order for "everything below".
#[derive(Debug, Default)]
pub(super) struct PathIndex {
    map: HashMap<String, Vec<usize>>,
    keys: BTreeSet<String>,
}

impl PathIndex {
    pub(super) fn get(&self, k: &str) -> Option<&Vec<usize>> {
        self.map.get(k)
    }
    pub(super) fn get_mut(&mut self, k: &str) -> Option<&mut Vec<usize>> {
        self.map.get_mut(k)
    }
    pub(super) fn get_key_value(&self, k: &str) -> Option<(&String, &Vec<usize>)> {
        self.map.get_key_value(k)
    }
    /// Adds `v` last at `k`.
    pub(super) fn push(&mut self, k: &str, v: usize) {
        match self.map.get_mut(k) {
            Some(vs) => vs.push(v),
            None => {
                self.keys.insert(k.to_string());
                self.map.insert(k.to_string(), vec![v]);
            }
        }
    }
    pub(super) fn remove(&mut self, k: &str) {
        if self.map.remove(k).is_some() {
            self.keys.remove(k);
        }
    }
}

/// Keys of `map` strictly below `t`, in order.
pub(super) fn keys_below<'a>(map: &'a PathIndex, t: &RootPath) -> Vec<&'a String> {
    if t.is_root() {
        return map.keys.iter().filter(|k| k.as_str() != "/").collect();
    }
    let prefix = format!("{t}/");
    map.keys
        .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
        .take_while(|k| k.starts_with(&prefix))
        .collect()
}

impl Walk<'_, '_> {
    pub(super) fn push_entry(
        &mut self,
        mount: TreeMount,
        parent: Option<usize>,
        by: Option<usize>,
        transparent: bool,
        file_root: bool,
    ) -> usize {
        let idx = self.entries.len();
        self.at.push(mount.mountpoint.as_str(), idx);
        if let Some(p) = parent {
            self.entries[p].children.push(idx);
        }
        self.entries.push(Entry {
            mount,
            parent,
            children: Vec::new(),
            nodes: Vec::new(),
            by,
            alive: true,
            transparent,
            file_root,
        });
        idx
    }

    /// The mount visible at `p`: the latest alive mount on `p` or an ancestor.
    pub(super) fn cover(&self, p: &RootPath, opaque: bool) -> usize {
        let mut best = 0;
        for a in prefixes(p.as_str()) {
            if let Some(v) = self.at.get(a) {
                let top = v
                    .iter()
                    .rev()
                    .find(|&&e| !opaque || !self.entries[e].transparent);
                if let Some(&e) = top {
                    best = best.max(e);
                }
            }
        }
        best
    }

    /// The latest alive node at `p` that is not under a mount made after it.
    pub(super) fn visible_node(&self, p: &RootPath) -> Option<usize> {
        let by = self.entries[self.cover(p, true)].by;
        self.node_at
            .get(p.as_str())?
            .iter()
            .rev()
            .copied()
            .find(|&n| Some(self.nodes[n].made_by) > by)
    }

    /// The step that made `p` (a directory when `dir`), while what it made is visible.
    pub(super) fn creator(&self, p: &RootPath, dir: bool) -> Option<usize> {
        let n = &self.nodes[self.visible_node(p)?];
        let ok = match n.node.kind {
            NodeKind::Changed => false,
            NodeKind::Dir => true,
            _ => !dir,
        };
        ok.then_some(n.made_by)
    }

    /// True when the plan knows `p` exists: a node it made, or the root of a mount.
    pub(super) fn exists(&self, p: &RootPath) -> bool {
        self.visible_node(p).is_some() || &self.entries[self.cover(p, false)].mount.mountpoint == p
    }

    /// The empty filesystem `p` would be on, when `p` certainly does not exist there: on an
    /// empty tmpfs (the root, one the plan mounted, or a directory mask) only what the plan
    /// made exists.
    pub(super) fn empty_fs_without(&self, p: &RootPath) -> Option<usize> {
        if self.exists(p) {
            return None;
        }
        let c = self.cover(p, true);
        let e = &self.entries[c];
        (e.mount.fstype == "tmpfs" && !e.transparent).then_some(c)
    }

    /// The first alive mount, made after the node, that hides it.
    pub(super) fn hider(&self, n: &Node) -> Option<usize> {
        let path = n.node.path.as_str();
        let mut best: Option<usize> = None;
        for a in prefixes(path) {
            let exempt = a == path && matches!(n.node.kind, NodeKind::Dir | NodeKind::File);
            if exempt {
                continue;
            }
            for &e in self.at.get(a).map(Vec::as_slice).unwrap_or(&[]) {
                let en = &self.entries[e];
                if !en.transparent && en.by > Some(n.made_by) {
                    best = Some(best.map_or(e, |b| b.min(e)));
                }
            }
        }
        best
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
    pub(super) fn path_edges(&mut self, i: usize, p: &RootPath, made: bool) {
        let v = self.cover(p, false);
        self.dep(self.entries[v].by, i, EdgeKind::Mount);
        if !p.is_root() {
            let c = self.creator(&p.parent(), true);
            self.dep(c, i, EdgeKind::Parent);
        }
        if made {
            let c = self.creator(p, false);
            self.dep(c, i, EdgeKind::Made);
        }
    }

    /// A directory or file made only when missing (mkdir, a mountpoint): certain on an empty
    /// filesystem, else marked `if_missing`.
    pub(super) fn add_if_missing(&mut self, i: usize, path: &RootPath, kind: NodeKind, mode: Mode) {
        let certain = self.empty_fs_without(path).is_some();
        let n = self.add_node(i, path, kind, Some(mode), None, None);
        self.nodes[n].node.if_missing = !certain;
    }

    pub(super) fn add_node(
        &mut self,
        i: usize,
        path: &RootPath,
        kind: NodeKind,
        mode: Option<Mode>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> usize {
        // A new node at a path replaces the visible one there.
        if let Some(old) = self.visible_node(path) {
            self.kill_node(old);
        }
        let idx = self.nodes.len();
        let on = self.cover(path, false);
        self.entries[on].nodes.push(idx);
        self.nodes.push(Node {
            node: TreeNode {
                path: path.clone(),
                kind,
                mode,
                uid,
                gid,
                step: i,
                hidden_by: None,
                if_missing: false,
            },
            made_by: i,
            alive: true,
        });
        self.node_at.push(path.as_str(), idx);
        idx
    }

    pub(super) fn kill_node(&mut self, n: usize) {
        self.nodes[n].alive = false;
        if let Some(v) = self.node_at.get_mut(self.nodes[n].node.path.as_str()) {
            v.retain(|&x| x != n);
        }
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
    #[test]
    fn prefixes_go_from_the_root_down() {
        let v: Vec<&str> = super::prefixes("/dev/pts/x").collect();
        assert_eq!(v, ["/", "/dev", "/dev/pts", "/dev/pts/x"]);
        assert_eq!(super::prefixes("/").collect::<Vec<_>>(), ["/"]);
        assert_eq!(super::prefixes("/a").collect::<Vec<_>>(), ["/", "/a"]);
    }
}
