//! The front half of the pipeline in one call: a plan file -> a [`Dag`] or diagnostics.
//!
//! Takes the entry file name, `--set` overrides and a reader (so only `main` touches the
//! filesystem); returns every source read, the DAG when the plan is valid, and every
//! diagnostic (errors and warnings) in the order found.

use std::io;
use std::path::Path;

use crate::diag::Diag;
use crate::graph::Dag;
use crate::source::Sources;

/// The result of checking one plan.
#[derive(Debug)]
pub struct Checked {
    /// Every file read (the plan first, then its includes).
    pub sources: Sources,
    /// The DAG, when the plan has no errors.
    pub dag: Option<Dag>,
    /// Every error and warning.
    pub diags: Vec<Diag>,
}

impl Checked {
    /// True when there is at least one error.
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diag::is_error)
    }
}

/// Loads, parses, validates and builds the DAG of the plan at `entry`, under the default
/// [`Limits`](crate::load::Limits) (what the command line applies).
pub fn check(
    entry: &Path,
    vars: &[(String, String)],
    read: &mut dyn FnMut(&Path) -> io::Result<String>,
) -> Checked {
    check_with(entry, vars, read, &crate::load::Limits::default())
}

/// [`check`] under other limits (e.g. [`Limits::none`](crate::load::Limits::none) for a
/// benchmark's generated plans).
pub fn check_with(
    entry: &Path,
    vars: &[(String, String)],
    read: &mut dyn FnMut(&Path) -> io::Result<String>,
    limits: &crate::load::Limits,
) -> Checked {
    check_api(entry, vars, read, limits, None)
}

/// [`check_with`] with the plan's `api` overridden (`--api`, `None` for the plan's own).
pub fn check_api(
    entry: &Path,
    vars: &[(String, String)],
    read: &mut dyn FnMut(&Path) -> io::Result<String>,
    limits: &crate::load::Limits,
    api: Option<crate::model::Api>,
) -> Checked {
    let loaded = crate::load::load_with(entry, read, limits);
    crate::timing::mark("loaded");
    let crate::load::Loaded {
        sources,
        mut plans,
        mut diags,
    } = loaded;
    let (plan, more) = crate::validate::validate_api(&sources, &mut plans, vars, api);
    // Validation took the steps out; the rest of the raw plans is not needed past it either.
    drop(plans);
    diags.extend(more);
    crate::timing::mark("validated");
    let mut dag = None;
    if let Some(plan) = plan {
        if !diags.iter().any(Diag::is_error) {
            match crate::graph::build(plan) {
                Ok(d) => {
                    diags.extend(d.warnings.iter().cloned());
                    dag = Some(d);
                }
                Err(errs) => diags.extend(errs),
            }
        }
    }
    crate::timing::mark("graph");
    Checked {
        sources,
        dag,
        diags,
    }
}
