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
    match crate::parse::did_you_mean(name, plan.steps.iter().map(|s| s.id.as_str())) {
        Some(best) => d.help(format!("did you mean `{best}`?")),
        None => d.help(format!(
            "give the step you mean `id = \"{name}\"`, or name one of the ids the plan has"
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn step_ids_get_the_same_suggestions_as_keys_and_values() {
        let ids = ["dev", "devpts", "proc"];
        assert_eq!(
            crate::parse::did_you_mean("devpt", ids.into_iter()),
            Some("devpts")
        );
        assert_eq!(
            crate::parse::did_you_mean("prc", ids.into_iter()),
            Some("proc")
        );
        assert_eq!(crate::parse::did_you_mean("sysfs", ids.into_iter()), None);
    }
}
