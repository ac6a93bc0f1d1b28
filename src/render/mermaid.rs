//! The DAG as a Mermaid flowchart: a [`Dag`] -> `flowchart TD` text.
//!
//! One node per step, labelled with its id and summary (and, for a step whose mount is
//! conditional, the path it needs); explicit `after` edges solid, implicit
//! edges dotted with their kind as the label. Labels are quoted, with Mermaid's entity codes
//! for the characters that would end or reinterpret them.

use std::fmt::Write as _;

use super::summary::summary;
use crate::graph::{Dag, EdgeKind};

/// Escapes text for a quoted Mermaid label: `"` and the characters Mermaid or its HTML labels
/// would interpret become entity codes; line breaks become spaces.
pub(crate) fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("#quot;"),
            '#' => o.push_str("#35;"),
            '<' => o.push_str("#lt;"),
            '>' => o.push_str("#gt;"),
            '&' => o.push_str("#amp;"),
            '`' => o.push_str("#96;"),
            '\n' | '\r' | '\t' => o.push(' '),
            c if c.is_control() => {}
            c => o.push(c),
        }
    }
    o
}

/// The DAG as a Mermaid flowchart, with a trailing newline.
pub fn mermaid(dag: &Dag) -> String {
    let mut o = String::from("flowchart TD\n");
    for (i, s) in dag.plan.steps.iter().enumerate() {
        let cond = super::conditional_note(dag, i)
            .map(|c| format!("<br/>{}", escape(&c)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  s{}[\"{}. {} ({})<br/>{}{cond}\"]",
            i + 1,
            i + 1,
            escape(s.id.as_str()),
            s.kind().as_str(),
            escape(&summary(s))
        );
    }
    for e in &dag.edges {
        let (a, b) = (e.from + 1, e.to + 1);
        if e.kind == EdgeKind::After {
            let _ = writeln!(o, "  s{a} --> s{b}");
        } else {
            let _ = writeln!(o, "  s{a} -. {} .-> s{b}", e.kind.as_str());
        }
    }
    o
}
