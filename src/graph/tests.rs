//! Unit tests of the graph, on plans written as plan text ([`crate::test_plans`]): every
//! diagnostic is pinned to the step, key and text of the plan it points at.

use super::*;
use crate::diag::Severity;
use crate::model::*;
use crate::test_plans::*;

mod edges;
mod hidden;
mod read_only;
mod tree;

fn e(from: usize, to: usize, kind: EdgeKind) -> Edge {
    Edge { from, to, kind }
}

fn codes(ds: &[Diag]) -> Vec<&'static str> {
    ds.iter().map(|d| d.code).collect()
}

/// Every diagnostic of the graph, errors and warnings, as (code, severity, place).
fn all(t: &str) -> Vec<(&'static str, Severity, Option<Spot<'_>>)> {
    let ds = match try_dag(t) {
        Ok(d) => d.warnings,
        Err(e) => e,
    };
    ds.iter()
        .map(|d| (d.code, d.severity, spot_of(t, d.loc)))
        .collect()
}

// ---- certain failures are errors, likely ones warnings (issue 14, item 10) ----

fn shared(id: &str, target: &str, recursive: bool) -> String {
    step(
        "propagation",
        id,
        &[
            kv("target", target),
            kv("propagation", "shared"),
            format!("recursive = {recursive}"),
        ],
    )
}

fn symlink(id: &str, path: &str) -> String {
    step(
        "symlink",
        id,
        &[kv("path", path), kv("to", "/proc/self/fd")],
    )
}
