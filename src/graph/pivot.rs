//! The pivot's edges: every step before a pivot -> an [`EdgeKind::Pivot`] edge, reduced.
//!
//! Takes the plan and its (acyclic, forward-only) edges; adds to each pivot an edge from every
//! earlier step that is not already an ancestor of the pivot through the edges it has so far.
//! Walking the earlier steps from the latest down and marking each new edge's ancestors keeps
//! exactly the steps nothing else leads from: "every step runs before the pivot" still follows
//! from the edges, and a drawing shows a handful of pivot edges instead of one per step.

use super::{Edge, EdgeKind};
use crate::model::{Action, Plan};

/// Adds the reduced pivot edges of every pivot step to `edges`.
pub(super) fn add_edges(plan: &Plan, edges: &mut Vec<Edge>) {
    let n = plan.steps.len();
    let pivots: Vec<usize> = (0..n)
        .filter(|&i| matches!(plan.steps[i].action, Action::Pivot(_)))
        .collect();
    if pivots.is_empty() {
        return;
    }
    for p in pivots {
        let deps = Deps::new(n, edges);
        let mut before = vec![false; n];
        mark(&deps, &deps[p], &mut before);
        for j in (0..p).rev() {
            if !before[j] {
                edges.push(Edge {
                    from: j,
                    to: p,
                    kind: EdgeKind::Pivot,
                });
                before[j] = true;
                mark(&deps, &deps[j], &mut before);
            }
        }
    }
}

/// The forward edges by dependent step, in one vector: `deps[x]` are the steps `x` runs after.
struct Deps {
    /// `from` of every forward edge, grouped by `to`.
    from: Vec<usize>,
    /// Where each step's group starts in `from` (and, one further, ends).
    start: Vec<usize>,
}

impl Deps {
    fn new(n: usize, edges: &[Edge]) -> Deps {
        let forward = || edges.iter().filter(|e| e.from < e.to && e.to < n);
        let mut start = vec![0; n + 1];
        for e in forward() {
            start[e.to + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut next = start.clone();
        let mut from = vec![0; start[n]];
        for e in forward() {
            from[next[e.to]] = e.from;
            next[e.to] += 1;
        }
        Deps { from, start }
    }
}

impl std::ops::Index<usize> for Deps {
    type Output = [usize];
    fn index(&self, x: usize) -> &[usize] {
        &self.from[self.start[x]..self.start[x + 1]]
    }
}

/// Marks `start` and everything they depend on, transitively.
fn mark(deps: &Deps, start: &[usize], before: &mut [bool]) {
    let mut stack: Vec<usize> = start.iter().copied().filter(|&s| !before[s]).collect();
    while let Some(x) = stack.pop() {
        if before[x] {
            continue;
        }
        before[x] = true;
        stack.extend(deps[x].iter().copied().filter(|&y| !before[y]));
    }
}
