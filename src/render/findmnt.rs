//! The predicted final state as tables: the [`FinalTree`] -> a findmnt-like mount tree
//! (TARGET SOURCE FSTYPE PROPAGATION OPTIONS; a conditional mount's target marked
//! `(if it exists)`) and a table of the files the plan leaves behind.
//!
//! Takes the final tree and the plan's step ids; returns lines without colour. A mount's
//! parent is the latest earlier mount on its mountpoint or an ancestor of it, which is what the
//! kernel mounted it on (the graph keeps mounts in the order made, a detached mount's subtree
//! already removed).

use std::collections::BTreeMap;

use crate::graph::{FinalTree, Mounted, NodeKind, TreeMount};
use crate::lowering::Dev;
use crate::model::MsFlags;

/// The options column: `ro`/`rw`, the flags, then the filesystem data. For a bind only the
/// flags the plan sets are known; for a mask of unknown kind nothing is.
pub(crate) fn options(m: &TreeMount) -> String {
    if m.kind == Mounted::Mask {
        return "-".into();
    }
    let bind = m.kind == Mounted::Bind;
    let mut v: Vec<&str> = Vec::new();
    if m.flags.contains(MsFlags::MS_RDONLY) {
        v.push("ro");
    } else if !bind {
        v.push("rw");
    }
    // The per-mount flags findmnt shows after ro/rw, as the plan's option words.
    let shown = MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC
        | MsFlags::MS_RELATIME
        | MsFlags::MS_NOATIME
        | MsFlags::MS_STRICTATIME
        | MsFlags::MS_NODIRATIME;
    for w in crate::model::option_words(m.flags & shown) {
        v.push(w);
    }
    if let Some(d) = &m.data {
        v.push(d);
    }
    if v.is_empty() {
        "(as the source)".into()
    } else {
        v.join(",")
    }
}

/// What marks a conditional mount's target: made only when its path exists.
pub(crate) fn if_exists(m: &TreeMount) -> &'static str {
    if m.conditional { " (if it exists)" } else { "" }
}

/// The PROPAGATION cell: the states the mount may be in (`private`, `private or slave`).
pub(crate) fn propagation(m: &TreeMount) -> String {
    m.propagation.words()
}

/// The parent of every mount (index into `mounts`), `None` for the root.
pub(crate) fn parents(mounts: &[TreeMount]) -> Vec<Option<usize>> {
    // The latest mount so far on each mountpoint; the parent is the latest of those on the
    // mountpoint or an ancestor of it.
    let mut latest: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(mounts.len());
    for (k, m) in mounts.iter().enumerate() {
        let p = m
            .mountpoint
            .ancestors_and_self()
            .iter()
            .filter_map(|a| latest.get(a.as_str()).copied())
            .max();
        out.push(p);
        latest.insert(m.mountpoint.as_str(), k);
    }
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad(s: &str, w: usize) -> String {
    let mut o = s.to_string();
    o.extend(std::iter::repeat_n(' ', w.saturating_sub(width(s))));
    o
}

/// The widest cell columns are aligned to: a wider one sticks out of its column instead of
/// widening every row (a 4 000-character path would otherwise pad every line to it).
const ALIGNED: usize = 100;

/// Aligns rows into columns separated by two spaces; the last column is not padded, and a
/// cell wider than [`ALIGNED`] is not aligned to.
pub(crate) fn columns(rows: &[Vec<String>]) -> Vec<String> {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut w = vec![0; n];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            let cw = width(c);
            if cw <= ALIGNED {
                w[i] = w[i].max(cw);
            }
        }
    }
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                if i + 1 == r.len() {
                    line.push_str(c);
                } else {
                    line.push_str(&pad(c, w[i]));
                    line.push_str("  ");
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// Deeper than this the tree gets no more indentation: each mount shows its depth instead, so
/// a plan that stacks 10 000 mounts makes lines of bounded width, not a dry run quadratic in
/// the depth.
const DRAWN_DEPTH: usize = 24;

/// The mount tree as findmnt draws it, header first.
pub(crate) fn mount_table(tree: &FinalTree) -> Vec<String> {
    let ms = &tree.mounts;
    let parent = parents(ms);
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); ms.len()];
    let mut roots = Vec::new();
    for (k, p) in parent.iter().enumerate() {
        match p {
            Some(p) => children[*p].push(k),
            None => roots.push(k),
        }
    }
    let mut rows = vec![vec![
        "TARGET".to_string(),
        "SOURCE".to_string(),
        "FSTYPE".to_string(),
        "PROPAGATION".to_string(),
        "OPTIONS".to_string(),
    ]];
    // (mount, prefix of its children, its own branch, its depth)
    let mut stack: Vec<(usize, String, String, usize)> = roots
        .iter()
        .rev()
        .map(|&r| (r, String::new(), String::new(), 0))
        .collect();
    while let Some((k, prefix, branch, depth)) = stack.pop() {
        let m = &ms[k];
        rows.push(vec![
            format!("{branch}{}{}", m.mountpoint, if_exists(m)),
            m.source.clone(),
            m.fstype.clone(),
            propagation(m),
            options(m),
        ]);
        let kids = &children[k];
        for (i, &c) in kids.iter().enumerate().rev() {
            let last = i + 1 == kids.len();
            let fork = if last { "└─" } else { "├─" };
            if depth < DRAWN_DEPTH {
                let b = format!("{prefix}{fork}");
                let p = format!("{prefix}{}", if last { "  " } else { "│ " });
                stack.push((c, p, b, depth + 1));
            } else {
                let b = format!("{prefix}[depth {}]{fork}", depth + 1);
                stack.push((c, prefix.clone(), b, depth + 1));
            }
        }
    }
    columns(&rows)
}

/// What a node is, in a few words.
pub(crate) fn node_kind(k: &NodeKind) -> String {
    let dev = |d: &Dev| match d {
        Dev::Num(a, b) => format!("{a}:{b}"),
        Dev::FromHost(h) => format!("as host {h}"),
    };
    match k {
        NodeKind::Dir => "dir".into(),
        NodeKind::File => "file".into(),
        NodeKind::Char(d) => format!("char {}", dev(d)),
        NodeKind::Block(d) => format!("block {}", dev(d)),
        NodeKind::Fifo => "fifo".into(),
        NodeKind::Symlink(to) => format!("symlink -> {to}"),
        NodeKind::Changed => "existing path".into(),
    }
}

/// The STEP cell of a file left behind: the step that makes it, `(if missing)`, and
/// `(hidden by ID)` when a later mount covers it. `id` names a step.
pub(crate) fn node_step(n: &crate::graph::TreeNode, id: &dyn Fn(usize) -> String) -> String {
    let mut step = id(n.step);
    if n.if_missing {
        step.push_str(" (if missing)");
    }
    if let Some(h) = n.hidden_by {
        step.push_str(&format!(" (hidden by {})", id(h)));
    }
    step
}

/// The files left behind, header first. `id` names a step.
pub(crate) fn node_table(tree: &FinalTree, id: &dyn Fn(usize) -> String) -> Vec<String> {
    let mut rows = vec![vec![
        "PATH".to_string(),
        "TYPE".to_string(),
        "MODE".to_string(),
        "OWNER".to_string(),
        "STEP".to_string(),
    ]];
    for n in &tree.nodes {
        let owner = n.owner();
        rows.push(vec![
            n.path.to_string(),
            node_kind(&n.kind),
            n.mode.map_or("-".into(), |m| m.to_string()),
            owner,
            node_step(n, id),
        ]);
    }
    columns(&rows)
}

/// Notes under the mount table, for the kinds of rows that need one.
pub(crate) fn mount_notes(tree: &FinalTree) -> Vec<&'static str> {
    let mut v = Vec::new();
    if tree.mounts.iter().any(|m| m.kind == Mounted::Bind) {
        v.push("bind: only the flags the plan sets are shown; the others are the source mount's");
    }
    if tree.mounts.iter().any(|m| m.conditional) {
        v.push(
            "(if it exists): made only when the path exists at apply time; a missing path gets \
             nothing, and verify counts it as skipped",
        );
    }
    if tree
        .mounts
        .iter()
        .any(|m| m.propagation == crate::graph::PropSet::HOST)
    {
        v.push(
            "private or slave: a copy of a host mount is a slave of the host's peer group when \
             the host shares it, private otherwise (the setup makes every host mount a slave)",
        );
    }
    if tree.mounts.iter().any(|m| m.kind == Mounted::Mask) {
        v.push(
            "mask: decided at apply time: a directory gets an empty read-only tmpfs, anything \
             else a bind of /dev/null, a missing path nothing",
        );
    }
    v
}
