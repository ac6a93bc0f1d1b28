//! Loading: a plan file and its includes -> parsed raw plans (stub, being written).

use std::io;
use std::path::Path;

use crate::diag::Diag;
use crate::raw;
use crate::source::{SourceId, Sources};

/// Every file read, and its raw plan.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The texts.
    pub sources: Sources,
    /// Raw plans, includes first (depth-first, in `include` order), the entry file last.
    pub plans: Vec<(SourceId, raw::Plan)>,
    /// Syntax errors, unreadable files, include cycles.
    pub diags: Vec<Diag>,
}

/// Reads `entry` and everything it includes.
pub fn load(entry: &Path, read: &mut dyn FnMut(&Path) -> io::Result<String>) -> Loaded {
    let _ = (entry, read);
    Loaded::default()
}
