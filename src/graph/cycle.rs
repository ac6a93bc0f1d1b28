//! Backward edges: an `after` that names a step declared later -> an error.
//!
//! Takes every edge of the plan; pushes one error per cycle (listing every step in it, with a
//! label on each) and one error per backward `after` that is not part of a cycle (naming both
//! steps and saying which to move). Only explicit `after` entries can point backwards, so the
//! search runs only when one does.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{Edge, EdgeKind, id_loc};
use crate::diag::Diag;
use crate::model::Plan;
use crate::source::Loc;

/// Pushes an error for every cycle and every other backward edge.
pub(super) fn check(
    plan: &Plan,
    edges: &[Edge],
    after_locs: &BTreeMap<(usize, usize), Loc>,
    errors: &mut Vec<Diag>,
) {
    let mut back: Vec<Edge> = edges.iter().filter(|e| e.from > e.to).copied().collect();
    if back.is_empty() {
        return;
    }
    back.sort_by_key(|e| (e.to, e.from));
    back.dedup_by_key(|e| (e.to, e.from));
    let n = plan.steps.len();
    // deps[x]: the steps x runs after, with why (an `after` first when there are several).
    let mut deps: Vec<Vec<(usize, EdgeKind)>> = vec![Vec::new(); n];
    for e in edges {
        if e.from < n && e.to < n {
            deps[e.to].push((e.from, e.kind));
        }
    }
    for d in &mut deps {
        d.sort();
        d.dedup_by_key(|(s, _)| *s);
    }
    let comp = components(&deps);
    let mut size: BTreeMap<usize, usize> = BTreeMap::new();
    for &c in &comp {
        *size.entry(c).or_default() += 1;
    }
    let mut reported = BTreeSet::new();
    for e in back {
        let c = comp[e.to];
        if comp[e.from] == c && size.get(&c).copied().unwrap_or(0) > 1 {
            if reported.insert(c) {
                let cyc = cycle_through(&deps, &comp, e.to, e.from);
                errors.push(cycle_error(plan, &cyc, after_locs));
            }
        } else {
            errors.push(declared_later(plan, e, after_locs));
        }
    }
}

/// Strongly connected components (Tarjan, iterative so deep plans cannot overflow the stack).
/// Returns a component number per step.
fn components(deps: &[Vec<(usize, EdgeKind)>]) -> Vec<usize> {
    const NONE: usize = usize::MAX;
    let n = deps.len();
    let mut index = vec![NONE; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut comp = vec![NONE; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut ncomp = 0;
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        // (node, position in its dependency list)
        let mut work = vec![(root, 0usize)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(top) = work.last_mut() {
            let v = top.0;
            let dep = deps[v].get(top.1).map(|&(w, _)| w);
            if let Some(w) = dep {
                top.1 += 1;
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp[w] = ncomp;
                    if w == v {
                        break;
                    }
                }
                ncomp += 1;
            }
        }
    }
    comp
}

/// One link of a cycle: `step` runs after `dep` because of `kind`.
struct Link {
    step: usize,
    dep: usize,
    kind: EdgeKind,
}

/// The shortest cycle through the backward edge `to` -> `from` (`to` runs after `from`, which
/// is declared later), found by a breadth-first search from `from` back to `to` inside their
/// component.
fn cycle_through(
    deps: &[Vec<(usize, EdgeKind)>],
    comp: &[usize],
    to: usize,
    from: usize,
) -> Vec<Link> {
    let kind_of = |a: usize, b: usize| {
        deps[a]
            .iter()
            .find(|(s, _)| *s == b)
            .map(|(_, k)| *k)
            .unwrap_or(EdgeKind::After)
    };
    let c = comp[to];
    let mut prev: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = BTreeSet::from([from]);
    while let Some(x) = queue.pop_front() {
        if x == to {
            break;
        }
        for &(y, _) in &deps[x] {
            if comp[y] == c && seen.insert(y) {
                prev.insert(y, x);
                queue.push_back(y);
            }
        }
    }
    // Walk back from `to` to `from`: the path from, p1, ..., to in dependency order.
    let mut path = vec![to];
    let mut cur = to;
    while cur != from {
        match prev.get(&cur) {
            Some(&p) => {
                path.push(p);
                cur = p;
            }
            None => break,
        }
    }
    path.reverse();
    let mut links = vec![Link {
        step: to,
        dep: from,
        kind: kind_of(to, from),
    }];
    for w in path.windows(2) {
        links.push(Link {
            step: w[0],
            dep: w[1],
            kind: kind_of(w[0], w[1]),
        });
    }
    links
}

fn why(plan: &Plan, l: &Link) -> String {
    let dep = &plan.steps[l.dep].id;
    match l.kind {
        EdgeKind::After => "named in `after`".into(),
        EdgeKind::Mount => format!("it works under the mount `{dep}` makes"),
        EdgeKind::Parent => format!("`{dep}` makes its parent directory"),
        EdgeKind::Made => format!("`{dep}` makes its path"),
        EdgeKind::Changes => format!("`{dep}` makes the mount it changes"),
        EdgeKind::Pivot => "the pivot runs after every step".into(),
    }
}

fn link_loc(plan: &Plan, l: &Link, after_locs: &BTreeMap<(usize, usize), Loc>) -> Loc {
    match l.kind {
        EdgeKind::After => after_locs
            .get(&(l.dep, l.step))
            .copied()
            .unwrap_or_else(|| id_loc(&plan.steps[l.step])),
        _ => plan.steps[l.step].key_loc(),
    }
}

fn cycle_error(plan: &Plan, links: &[Link], after_locs: &BTreeMap<(usize, usize), Loc>) -> Diag {
    let id = |i: usize| plan.steps[i].id.as_str();
    let mut chain = format!("`{}` runs after `{}`", id(links[0].step), id(links[0].dep));
    for l in &links[1..] {
        chain.push_str(&format!(", which runs after `{}`", id(l.dep)));
    }
    let first = &links[0];
    let mut d = Diag::error(
        "mountplan::graph::cycle",
        format!("steps depend on each other in a cycle: {chain}"),
        link_loc(plan, first, after_locs),
    )
    .label(format!(
        "`{}` runs after `{}` ({})",
        id(first.step),
        id(first.dep),
        why(plan, first)
    ))
    .help(format!(
        "the declared order is the execution order, so a step can only run after steps declared \
         above it: remove `{}` from the `after` list of `{}`",
        id(first.dep),
        id(first.step)
    ));
    for l in &links[1..] {
        d = d.also(
            link_loc(plan, l, after_locs),
            format!(
                "`{}` runs after `{}` ({})",
                id(l.step),
                id(l.dep),
                why(plan, l)
            ),
        );
    }
    d
}

fn declared_later(plan: &Plan, e: Edge, after_locs: &BTreeMap<(usize, usize), Loc>) -> Diag {
    let a = &plan.steps[e.to];
    let b = &plan.steps[e.from];
    let loc = after_locs
        .get(&(e.from, e.to))
        .copied()
        .unwrap_or_else(|| id_loc(a));
    Diag::error(
        "mountplan::after::declared-later",
        format!(
            "step `{}` runs after `{}`, which is declared later",
            a.id, b.id
        ),
        loc,
    )
    .label(format!("`{}` is declared below `{}`", b.id, a.id))
    .also(id_loc(b), format!("`{}` is declared here", b.id))
    .help(format!(
        "the declared order is the execution order; move step `{}` above step `{}`",
        b.id, a.id
    ))
}
