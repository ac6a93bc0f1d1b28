//! mountplan: a declarative, TOML-driven mount-plan executor for Linux.
//!
//! The pipeline, one module per stage, each handing typed values to the next:
//!
//! ```text
//! source    the plan text + name, span helpers               -> Sources, Loc
//! raw       serde + schemars mirror of the TOML               -> raw::Plan (may be wrong);
//!           raw/step.rs the flat `[[step]]`, raw/json_schema.rs schema/plan.schema.json
//! parse     text -> raw::Plan                                 (syntax errors with spans)
//! load      a plan file and its includes -> [raw::Plan]        (include cycles, unreadable files;
//!           `mountplan:NAME` fragments from `fragments`; load/limits.rs what a plan may read)
//! validate  [raw::Plan] + --set -> model::Plan                (every semantic error, collected)
//! graph     model::Plan -> Dag                                (edges, cycles, final tree)
//! calls     model::Plan -> the exact system calls per step    (shared by render and exec)
//! render    &Dag -> text | json | markdown | mermaid | dot    (pure, byte-stable)
//! diff      two Dags -> a semantic diff
//! exec      &Dag + Config -> Applied                          (namespaces, steps, journal, rollback):
//!           exec/parent.rs and child.rs the two processes, run.rs the steps, journal/format.rs
//!           the journal format, recover.rs the undoing of a journal, report.rs the outcome
//! sys       the kernel boundary: narrow traits (Sys, Procs, JournalStore), sys/linux (the only
//!           code that calls the kernel: state/ the state directory, command/ the command's
//!           process) and recording fakes (sys/fake)
//! ```
//!
//! Only `main` prints (and [`timing`], on stderr, when `MOUNTPLAN_TIMING=1`); only `main` and `load` (through the reader it is given) read files;
//! only `exec`, through [`sys::Sys`], touches the kernel.

pub mod calls;
pub mod capture;
pub mod diag;
pub mod diff;
pub mod doctor;
pub mod exec;
pub mod export;
pub mod fragments;
pub mod graph;
pub mod import;
pub mod load;
pub mod model;
pub mod parse;
pub mod quote;
pub mod raw;
pub mod reference;
pub mod render;
pub mod source;
pub mod sys;
#[cfg(test)]
mod test_plans;
pub mod timing;
pub mod validate;

mod pipeline;
pub use pipeline::{Checked, check, check_with};

#[cfg(target_env = "musl")]
mod musl_alloc;

/// The heap of a musl build (see `musl_alloc`); glibc builds keep glibc's malloc.
#[cfg(target_env = "musl")]
#[global_allocator]
static HEAP: musl_alloc::Heap = musl_alloc::Heap::new();
