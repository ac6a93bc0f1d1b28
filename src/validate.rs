//! Validation: raw plans -> a [`model::Plan`] (stub, being written).

use crate::diag::Diag;
use crate::model;
use crate::raw;
use crate::source::{SourceId, Sources};

/// Validates the raw plans (includes first, entry last) with `--set` overrides.
pub fn validate(
    sources: &Sources,
    plans: &[(SourceId, raw::Plan)],
    vars: &[(String, String)],
) -> (Option<model::Plan>, Vec<Diag>) {
    let _ = (sources, plans, vars);
    (
        None,
        vec![Diag::error_nowhere(
            "mountplan::todo",
            "validation is not written yet",
        )],
    )
}
