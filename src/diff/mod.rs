//! The semantic diff of two plans: two [`Dag`]s -> a [`Diff`] (steps added, removed, moved
//! and changed, field by field, and the change in the predicted final tree).
//!
//! Steps are matched by explicit id first, then by kind and path (`target` or `path`; the
//! pivot by kind alone), the n-th unmatched old step with a key to the n-th unmatched new
//! one. A matched step is *moved* when it is not part of the longest run of matched steps that
//! kept their relative order (so inserting a step moves nothing, and swapping two steps moves
//! one). Fields are compared in plan words (`fields.rs`); mounts of the final tree are matched by
//! mountpoint (and position among mounts stacked on it), nodes by path.
//!
//! [`Diff::with_warnings`] adds the warnings the new plan has that the old one has not (matched
//! by code and message, each old warning cancelling one new one), placed in the new plan's
//! files. Files left behind show the step that makes them and `(hidden by ID)` as the dry run's
//! table does ([`crate::render`]'s STEP cell).
//!
//! Also [`unified`]: a line diff of two texts (a checked-in dry run and the dry run now, for
//! `plan --check`).

mod fields;
mod lines;
mod render;

pub use lines::{MAX_EDITS, unified};
pub use render::{json, markdown, text};

use std::collections::{BTreeMap, VecDeque};

use crate::diag::Diag;
use crate::graph::{Dag, TreeMount, TreeNode};
use crate::render::findmnt;
use crate::source::Sources;

/// A field that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The field, as named in a plan (`options`, `target`, `mode`, ...).
    pub field: &'static str,
    /// The old value in plan words, `(none)` when absent.
    pub old: String,
    /// The new value.
    pub new: String,
}

/// What happened to one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepChange {
    /// Only in the new plan (index into its steps).
    Added {
        /// Index in the new plan.
        new: usize,
    },
    /// Only in the old plan.
    Removed {
        /// Index in the old plan.
        old: usize,
    },
    /// In both (possibly the same).
    Matched {
        /// Index in the old plan.
        old: usize,
        /// Index in the new plan.
        new: usize,
        /// Its place relative to the other matched steps changed.
        moved: bool,
        /// The fields that differ.
        fields: Vec<FieldChange>,
    },
}

impl StepChange {
    /// True unless the step is the same, in the same place.
    pub fn is_change(&self) -> bool {
        match self {
            StepChange::Matched { moved, fields, .. } => *moved || !fields.is_empty(),
            _ => true,
        }
    }
}

/// How an item of the final tree changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Only in the new tree.
    Added,
    /// Only in the old tree.
    Removed,
    /// In both, with fields that differ.
    Changed,
}

/// An item of the final tree (a mount or a file left behind) that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeChange<T> {
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// The item in the old tree.
    pub old: Option<T>,
    /// The item in the new tree.
    pub new: Option<T>,
    /// For a change: what differs (mounts: `fstype`, `source`, `options`, `recursive`;
    /// files: `type`, `mode`, `owner`, `hidden`: `no` or `hidden by ID`).
    pub fields: Vec<FieldChange>,
}

/// A mount of the final tree that differs.
pub type MountChange = TreeChange<TreeMount>;

/// A file left behind that differs.
pub type NodeChange = TreeChange<TreeNode>;

/// The semantic difference of two plans.
#[derive(Debug, Clone)]
pub struct Diff<'a> {
    /// The old plan.
    pub old: &'a Dag,
    /// The new plan.
    pub new: &'a Dag,
    /// Header fields that differ (name, description, root, namespaces, how the command runs,
    /// vars, includes).
    pub plan: Vec<FieldChange>,
    /// Every step of both plans, in the new plan's order, each removed step after the step
    /// it followed in the old plan. Unchanged steps are included (see [`StepChange::is_change`]).
    pub steps: Vec<StepChange>,
    /// Mounts of the final tree that differ, by mountpoint.
    pub mounts: Vec<MountChange>,
    /// Files left behind that differ, by path.
    pub nodes: Vec<NodeChange>,
    /// Warnings of the new plan that the old one has not (see [`Diff::with_warnings`]).
    pub warnings: Vec<&'a Diag>,
    /// The new plan's files, where [`Diff::warnings`] point.
    pub new_sources: Option<&'a Sources>,
}

impl<'a> Diff<'a> {
    /// Adds the warnings of `new` (the new plan's diagnostics, in `sources`) that `old` has
    /// not: matched by code and message, so a warning that only moved in the file is not new;
    /// each old warning cancels one new one. Errors are not warnings and never listed.
    pub fn with_warnings(mut self, old: &[Diag], new: &'a [Diag], sources: &'a Sources) -> Self {
        let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for d in old.iter().filter(|d| !d.is_error()) {
            *seen.entry((d.code, d.message.as_str())).or_default() += 1;
        }
        self.warnings = new
            .iter()
            .filter(|d| !d.is_error())
            .filter(|d| match seen.get_mut(&(d.code, d.message.as_str())) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            })
            .collect();
        self.new_sources = Some(sources);
        self
    }
}

impl Diff<'_> {
    /// True when the plans do the same thing.
    pub fn is_same(&self) -> bool {
        self.plan.is_empty()
            && !self.steps.iter().any(StepChange::is_change)
            && self.mounts.is_empty()
            && self.nodes.is_empty()
    }
}

fn to_changes(v: Vec<(&'static str, String, String)>) -> Vec<FieldChange> {
    v.into_iter()
        .map(|(field, old, new)| FieldChange { field, old, new })
        .collect()
}

/// Compares two plans.
pub fn diff<'a>(old: &'a Dag, new: &'a Dag) -> Diff<'a> {
    let (os, ns) = (&old.plan.steps, &new.plan.steps);
    let pairs = match_steps(old, new);
    let mut new_of: Vec<Option<usize>> = vec![None; os.len()];
    let mut old_of: Vec<Option<usize>> = vec![None; ns.len()];
    for &(o, n) in &pairs {
        new_of[o] = Some(n);
        old_of[n] = Some(o);
    }
    // Moved: matched steps outside the longest run that kept its relative order.
    let mut by_new: Vec<(usize, usize)> = pairs.clone();
    by_new.sort_by_key(|&(_, n)| n);
    let keep = lis(&by_new.iter().map(|&(o, _)| o).collect::<Vec<_>>());
    let mut stays = vec![false; os.len()];
    for k in keep {
        stays[by_new[k].0] = true;
    }
    // Removed steps go after the new position of the matched step they followed.
    let mut removed_after: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
    let mut anchor: Option<usize> = None;
    for (o, n) in new_of.iter().enumerate() {
        match n {
            Some(n) => anchor = Some(*n),
            None => removed_after.entry(anchor).or_default().push(o),
        }
    }
    let mut steps = Vec::new();
    for &o in removed_after.get(&None).map(Vec::as_slice).unwrap_or(&[]) {
        steps.push(StepChange::Removed { old: o });
    }
    for n in 0..ns.len() {
        match old_of[n] {
            None => steps.push(StepChange::Added { new: n }),
            Some(o) => steps.push(StepChange::Matched {
                old: o,
                new: n,
                moved: !stays[o],
                fields: to_changes(fields::changed(
                    &fields::step_fields(&os[o]),
                    &fields::step_fields(&ns[n]),
                )),
            }),
        }
        for &o in removed_after
            .get(&Some(n))
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            steps.push(StepChange::Removed { old: o });
        }
    }
    Diff {
        old,
        new,
        plan: to_changes(fields::changed(
            &fields::plan_fields(&old.plan),
            &fields::plan_fields(&new.plan),
        )),
        steps,
        mounts: mounts(&old.tree.mounts, &new.tree.mounts),
        nodes: nodes(old, new),
        warnings: Vec::new(),
        new_sources: None,
    }
}

/// Matched `(old, new)` step indices: explicit ids first, then kind and path in order.
fn match_steps(old: &Dag, new: &Dag) -> Vec<(usize, usize)> {
    let (os, ns) = (&old.plan.steps, &new.plan.steps);
    let mut taken_old = vec![false; os.len()];
    let mut taken_new = vec![false; ns.len()];
    let mut pairs = Vec::new();
    let ids: BTreeMap<&str, usize> = ns
        .iter()
        .enumerate()
        .filter(|(_, s)| s.explicit_id)
        .map(|(j, s)| (s.id.as_str(), j))
        .collect();
    for (i, s) in os.iter().enumerate().filter(|(_, s)| s.explicit_id) {
        if let Some(&j) = ids.get(s.id.as_str()) {
            if !taken_new[j] {
                taken_old[i] = true;
                taken_new[j] = true;
                pairs.push((i, j));
            }
        }
    }
    let key = |s: &crate::model::Step| {
        (
            s.kind().as_str(),
            s.action.path().map(|p| p.to_string()).unwrap_or_default(),
        )
    };
    let mut queue: BTreeMap<(&str, String), VecDeque<usize>> = BTreeMap::new();
    for (j, s) in ns.iter().enumerate().filter(|(j, _)| !taken_new[*j]) {
        queue.entry(key(s)).or_default().push_back(j);
    }
    for (i, s) in os.iter().enumerate().filter(|(i, _)| !taken_old[*i]) {
        if let Some(j) = queue.get_mut(&key(s)).and_then(VecDeque::pop_front) {
            pairs.push((i, j));
        }
    }
    pairs.sort_unstable();
    pairs
}

/// Positions of a longest strictly increasing subsequence of `v` (patience sorting).
fn lis(v: &[usize]) -> Vec<usize> {
    let mut tails: Vec<usize> = Vec::new(); // positions in v
    let mut prev: Vec<Option<usize>> = vec![None; v.len()];
    for (i, &x) in v.iter().enumerate() {
        let k = tails.partition_point(|&t| v[t] < x);
        prev[i] = k.checked_sub(1).map(|k| tails[k]);
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut out = Vec::with_capacity(tails.len());
    let mut cur = tails.last().copied();
    while let Some(i) = cur {
        out.push(i);
        cur = prev[i];
    }
    out.reverse();
    out
}

/// Items keyed by (key, n-th with that key).
fn keyed<T>(items: &[T], key: impl Fn(&T) -> String) -> BTreeMap<(String, usize), &T> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for it in items {
        let k = key(it);
        let c = count.entry(k.clone()).or_default();
        out.insert((k, *c), it);
        *c += 1;
    }
    out
}

/// The items of two lists that differ, matched by `key`; `old_fields` and `new_fields` give
/// each side's fields (they may name steps, each in its own plan).
fn compare<T: Clone>(
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> String,
    old_fields: impl Fn(&T) -> Vec<(&'static str, String)>,
    new_fields: impl Fn(&T) -> Vec<(&'static str, String)>,
) -> Vec<TreeChange<T>> {
    let (o, n) = (keyed(old, &key), keyed(new, &key));
    let mut keys: Vec<&(String, usize)> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        let (a, b) = (
            o.get(k).map(|x| (*x).clone()),
            n.get(k).map(|x| (*x).clone()),
        );
        let (kind, f) = match (&a, &b) {
            (Some(a), Some(b)) => (
                ChangeKind::Changed,
                to_changes(fields::changed(&old_fields(a), &new_fields(b))),
            ),
            (Some(_), None) => (ChangeKind::Removed, Vec::new()),
            (None, _) => (ChangeKind::Added, Vec::new()),
        };
        if kind != ChangeKind::Changed || !f.is_empty() {
            out.push(TreeChange {
                kind,
                old: a,
                new: b,
                fields: f,
            });
        }
    }
    out
}

fn mounts(old: &[TreeMount], new: &[TreeMount]) -> Vec<MountChange> {
    let f = |m: &TreeMount| {
        vec![
            ("fstype", m.fstype.clone()),
            ("source", m.source.clone()),
            ("options", findmnt::options(m)),
            ("recursive", m.recursive.to_string()),
        ]
    };
    compare(old, new, |m| m.mountpoint.to_string(), f, f)
}

/// A step's id in `dag`, as the dry run names it.
pub(crate) fn step_id(dag: &Dag, i: usize) -> String {
    dag.plan
        .steps
        .get(i)
        .map_or_else(|| "?".to_string(), |s| s.id.as_str().to_string())
}

fn nodes(old: &Dag, new: &Dag) -> Vec<NodeChange> {
    let f = |dag: &Dag, n: &TreeNode| {
        vec![
            ("type", findmnt::node_kind(&n.kind)),
            ("mode", n.mode.map_or("-".into(), |m| m.to_string())),
            ("owner", n.owner()),
            (
                "hidden",
                n.hidden_by.map_or_else(
                    || "no".to_string(),
                    |h| format!("hidden by {}", step_id(dag, h)),
                ),
            ),
        ]
    };
    compare(
        &old.tree.nodes,
        &new.tree.nodes,
        |n| n.path.to_string(),
        |n| f(old, n),
        |n| f(new, n),
    )
}

#[cfg(test)]
mod tests;
