//! The DAG in Graphviz dot: a [`Dag`] -> a `digraph`.
//!
//! One node per step, labelled with its id and summary (a step whose mount is conditional
//! drawn dashed, with the path it needs); explicit `after` edges solid, implicit
//! edges dashed with their kind as the label. Every string is a quoted dot string with `"` and
//! `\` escaped, so nothing in a plan can break out of it.

use std::fmt::Write as _;

use super::summary::summary;
use crate::graph::{Dag, EdgeKind};

/// A quoted dot string: `"` and `\` escaped, line breaks as `\n` (graphviz's line break in a
/// label), other control characters left out (dot has no escape for them).
pub(crate) fn quote(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect();
    crate::quote::quote(&kept)
}

/// The DAG in dot, with a trailing newline.
pub fn dot(dag: &Dag) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "digraph {} {{", quote(&dag.plan.name));
    o.push_str("  rankdir=TB;\n");
    o.push_str("  node [shape=box, fontname=\"monospace\"];\n");
    for (i, s) in dag.plan.steps.iter().enumerate() {
        let mut label = format!(
            "{}. {} ({})\n{}",
            i + 1,
            s.id,
            s.kind().as_str(),
            summary(s)
        );
        match super::conditional_note(dag, i) {
            Some(c) => {
                label.push('\n');
                label.push_str(&c);
                let _ = writeln!(o, "  s{} [label={}, style=dashed];", i + 1, quote(&label));
            }
            None => {
                let _ = writeln!(o, "  s{} [label={}];", i + 1, quote(&label));
            }
        }
    }
    for e in &dag.edges {
        let (a, b) = (e.from + 1, e.to + 1);
        if e.kind == EdgeKind::After {
            let _ = writeln!(o, "  s{a} -> s{b};");
        } else {
            let _ = writeln!(
                o,
                "  s{a} -> s{b} [style=dashed, label={}];",
                quote(e.kind.as_str())
            );
        }
    }
    o.push_str("}\n");
    o
}
