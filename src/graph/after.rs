//! Explicit edges: every `after = [...]` entry -> an [`Edge`] of kind [`EdgeKind::After`].
//!
//! Takes the plan; returns the edges (including backward ones, which [`super::cycle`] turns
//! into errors) and the location of each entry, and pushes an error for every name that is
//! not a step and every step that names itself.

use std::collections::BTreeMap;

use super::{Edge, EdgeKind, id_loc};
use crate::diag::Diag;
use crate::model::Plan;
use crate::source::Loc;

/// The explicit edges of a plan.
pub(super) struct Explicit {
    /// One edge per valid `after` entry, `from` being the step named.
    pub edges: Vec<Edge>,
    /// Where each `(from, to)` entry is written (the first, when named twice).
    pub locs: BTreeMap<(usize, usize), Loc>,
}

/// The edges of every `after` list; errors for names that are not steps and for self-references.
pub(super) fn edges(plan: &Plan, errors: &mut Vec<Diag>) -> Explicit {
    let mut out = Explicit {
        edges: Vec::new(),
        locs: BTreeMap::new(),
    };
    if plan.steps.iter().all(|s| s.after.is_empty()) {
        // Most plans name no step: then the ids need no index.
        return out;
    }
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in plan.steps.iter().enumerate() {
        // Duplicate ids are validation errors; the first one wins here.
        ids.entry(s.id.as_str()).or_insert(i);
    }
    for (to, step) in plan.steps.iter().enumerate() {
        for (name, loc) in &step.after {
            match ids.get(name.as_str()) {
                None => errors.push(unknown(plan, name.as_str(), *loc)),
                Some(&from) if from == to => errors.push(
                    Diag::error(
                        "mountplan::after::self",
                        format!("step `{name}` names itself in `after`"),
                        *loc,
                    )
                    .label("this is the step's own id")
                    .also(id_loc(step), format!("step `{name}` is declared here"))
                    .help(format!("remove `{name}` from its own `after` list")),
                ),
                Some(&from) => {
                    out.edges.push(Edge {
                        from,
                        to,
                        kind: EdgeKind::After,
                    });
                    out.locs.entry((from, to)).or_insert(*loc);
                }
            }
        }
    }
    out
}

fn unknown(plan: &Plan, name: &str, loc: Loc) -> Diag {
    let d = Diag::error(
        "mountplan::after::unknown",
        format!("`after` names `{name}`, but no step has that id"),
        loc,
    )
    .label("no step has this id");
    match did_you_mean(name, plan.steps.iter().map(|s| s.id.as_str())) {
        Some(best) => d.help(format!("did you mean `{best}`?")),
        None => d.help(format!(
            "give the step you mean `id = \"{name}\"`, or name one of the ids the plan has"
        )),
    }
}

/// The candidate closest to `name` by edit distance, when close enough to be a likely typo
/// (at most a third of the name's length, and at least one edit allowed). Ties go to the
/// first candidate.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(name, c);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("proc", "proc"), 0);
        assert_eq!(edit_distance("proc", "porc"), 2);
        assert_eq!(edit_distance("dev", "devs"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn did_you_mean_takes_the_closest_within_a_third() {
        let ids = ["dev", "devpts", "proc"];
        assert_eq!(did_you_mean("devpt", ids.into_iter()), Some("devpts"));
        assert_eq!(did_you_mean("prc", ids.into_iter()), Some("proc"));
        assert_eq!(did_you_mean("sysfs", ids.into_iter()), None);
    }
}
