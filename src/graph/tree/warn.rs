//! The walk's warnings about what the plan hides or changes: a mount that hides what earlier
//! steps made, a change to a path nothing is mounted on. Each names the steps involved
//! and carries both places (the step at fault and the other one).

use super::Walk;
use super::lookup::{PathId, keys_below};
use crate::diag::Diag;
use crate::graph::{EdgeKind, NodeKind};
use crate::model::Action;
use crate::source::Loc;

impl Walk<'_, '_> {
    /// Edges and checks of a step that changes the mount at `t`; the mount, when there is one.
    pub(super) fn changes(&mut self, i: usize, tid: PathId) -> Option<usize> {
        let v = self.cover(tid, false);
        if self.entries[v].at == tid {
            self.dep(self.entries[v].by, i, EdgeKind::Changes);
            return Some(v);
        }
        self.dep(self.entries[v].by, i, EdgeKind::Mount);
        if !self.entries[v].mount.recursive {
            let t = self.paths.text(tid);
            let step = &self.plan.steps[i];
            let mp = self.entries[v].mount.mountpoint.clone();
            let mut d = Diag::warning(
                "mountplan::graph::not-a-mount",
                format!("nothing is mounted on `{t}` when step `{}` runs", step.id),
                step.key_loc(),
            )
            .label("not a mountpoint at this point of the plan")
            .help(format!(
                "mount something on `{t}` in an earlier step, or name a mountpoint: only `/` and \
                 paths below a recursive bind (where the host may have submounts) can be \
                 mountpoints the plan did not make"
            ));
            if let Some(by) = self.entries[v].by {
                d = d.also(
                    self.plan.steps[by].key_loc(),
                    format!("the mount `{t}` is in is made here, on `{mp}`"),
                );
            }
            self.warnings.push(d);
        }
        None
    }

    /// Warns when a mount on `t` (about to be made by step `i`) hides what earlier steps made.
    pub(super) fn hide(&mut self, i: usize, tid: PathId) {
        let plan = self.plan;
        let mut hidden: Vec<(String, usize, &'static str)> = Vec::new();
        // `t` and the paths below it, in no particular order: `hidden` is sorted.
        let below = keys_below(&self.node_at, &self.paths, tid);
        for p in std::iter::once(tid).chain(below) {
            // The nodes at `p` come the latest first, made by ever earlier steps: once one is
            // hidden by a mount on a strict ancestor of `p`, that mount hides every older one
            // too (whatever its kind), so the scan stops there.
            for n in self.node_at.latest(p) {
                let node = &self.nodes[n];
                let exempt =
                    node.at == tid && matches!(node.node.kind, NodeKind::Dir | NodeKind::File);
                if exempt {
                    continue;
                }
                if !self.hidden(node) {
                    let p = self.paths.text(p).to_string();
                    hidden.push((p, node.node.step, "made"));
                } else if node
                    .hidden_by_entry
                    .get()
                    .is_some_and(|e| self.entries[e].at != p)
                {
                    break;
                }
            }
        }
        let below = keys_below(&self.at, &self.paths, tid);
        for mp in std::iter::once(tid).chain(below) {
            let Some(top) = self.at.top(mp) else {
                continue;
            };
            if self.cover(mp, false) == top {
                if let Some(by) = self.entries[top].by {
                    let mp = self.paths.text(mp).to_string();
                    hidden.push((mp, by, "mounted"));
                }
            }
        }
        if hidden.is_empty() {
            return;
        }
        let t = self.paths.text(tid);
        hidden.sort();
        // A directory made as a mountpoint and the mount on it are one thing to the reader.
        hidden.dedup_by(|later, kept| {
            let same = later.0 == kept.0 && later.1 == kept.1;
            if same && later.2 == "mounted" {
                kept.2 = "mounted";
            }
            same
        });
        let step = &plan.steps[i];
        let what = if matches!(step.action, Action::Mask(_)) {
            "the mask"
        } else {
            "the mount"
        };
        let message = if let [(p, by, verb)] = hidden.as_slice() {
            format!(
                "{what} on `{t}` hides `{p}`, {verb} earlier by step `{}`",
                plan.steps[*by].id
            )
        } else {
            let names: Vec<String> = hidden.iter().map(|(p, _, _)| format!("`{p}`")).collect();
            format!(
                "{what} on `{t}` hides {} paths earlier steps made below it: {}",
                names.len(),
                join_and(&names)
            )
        };
        let mut d = Diag::warning("mountplan::graph::hides", message, step.key_loc())
            .label(format!("`{t}` is mounted here, over what is already there"))
            .help(format!(
                "a mount covers everything below its target: move step `{}` above the steps \
                 that make what it hides, or mount it on another path",
                step.id
            ));
        let mut seen: Vec<Loc> = Vec::new();
        for (p, by, verb) in &hidden {
            let loc = plan.steps[*by].key_loc();
            if !seen.contains(&loc) {
                seen.push(loc);
                d = d.also(loc, format!("`{p}` is {verb} here, then hidden"));
            }
        }
        self.warnings.push(d);
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(v: &[String]) -> String {
    match v {
        [] => String::new(),
        [a] => a.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
