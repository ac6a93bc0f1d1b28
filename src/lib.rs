//! mountplan: a declarative, TOML-driven mount-plan executor for Linux.
//!
//! The pipeline, one module per stage, each handing typed values to the next:
//!
//! ```text
//! source     the plan text + name, span helpers                 -> Sources, Loc
//! raw        serde + schemars mirror of the TOML                 -> raw::Plan (may be wrong);
//!            raw/step.rs the flat `[[step]]`, raw/spanned.rs a value with its span,
//!            raw/packed.rs the steps as held (only the fields set),
//!            raw/json_schema.rs schema/plan.schema.json
//! parse      text -> raw::Plan                                   (syntax errors with spans);
//!            parse/steps.rs a few `[[step]]`s at a time, when the file allows
//! load       a plan file and its includes -> [raw::Plan]          (include cycles, unreadable
//!            files; load/limits.rs what a plan may read)
//! fragments  the `mountplan:NAME` plans shipped inside mountplan (src/fragments/*.toml)
//! validate   [raw::Plan] + --set -> model::Plan                  (every semantic error,
//!            collected): values.rs single values, step/ one step (mount.rs, mknod.rs,
//!            pivot.rs), process.rs `[process]`; preflight.rs what cannot work on this host
//!            (validation that needs the running system: root or not, capabilities, --persist)
//! model      the validated plan (mod.rs: plan, root, namespaces, steps; paths.rs, mounts.rs,
//!            actions.rs, flags.rs: mount flags' names and words, process.rs)
//! graph      model::Plan -> Dag                                  (edges, cycles, final tree):
//!            graph/tree/ is THE MOUNT MODEL, one walk over the steps with a model of the mount
//!            table and of the files made (place.rs: which mount a path is on, for the lowering)
//! lowering   THE LOWERING: model steps -> the exact system calls, computed once into the Dag
//!            (lowering/lower.rs the lowering, fsconfig.rs the one encoding of filesystem options,
//!            display.rs how a call reads in the dry run); render and exec only read them
//! render     &Dag -> text | json | markdown | mermaid | dot      (pure, byte-stable)
//! diff       two Dags -> a semantic diff
//! diag       THE RENDERER OF EVERY DIAGNOSTIC: `Diag` (code, span, help), rendered through
//!            miette (`render_human`) or as JSON, for every stage and for apply's failure
//! quote      the one quoting of strings (C literal, `<root>` paths, plan TOML, shell words)
//! exec       &Dag + Config -> Applied                            (namespaces, steps, journal,
//!            rollback): parent.rs and child.rs the two processes, run.rs the steps,
//!            journal/format.rs THE JOURNAL FORMAT, journals.rs the journal directory,
//!            recover.rs the undoing of a journal, verify.rs the final tree against the
//!            kernel's, report.rs the outcome; no system call of its own (sys/linux/pause.rs
//!            holds the test pauses, debug builds: MOUNTPLAN_TEST_PAUSE_AT_CALL / _AT_UNDO)
//! sys        THE KERNEL BOUNDARY: narrow traits, `Sys` (the steps' calls), `Procs` (sys/procs.rs,
//!            the processes' calls), `JournalStore` (the journal's file); sys/linux the only code
//!            that calls the kernel (below.rs, newmount.rs, mounting.rs the mounts, classic.rs
//!            those of `api = "classic"`, pivot.rs the pivot's, mount_facts.rs what a mount is,
//!            resolve.rs and files.rs paths and files, state/ the state directory, command/ the
//!            command's process, procs.rs, probe.rs and snapshot.rs for doctor and capture,
//!            pause.rs the test pauses); sys/fake the recording fakes
//! ```
//!
//! Beside the pipeline: `import` (another tool's configuration -> a plan: oci/, bwrap/,
//! nspawn.rs, writer.rs the TOML writer) and `export` (a plan -> bwrap's arguments); `capture`
//! (a live mount namespace -> a plan that rebuilds it) and `doctor` (what this kernel and host
//! offer, and which steps of a plan will certainly fail here); `reference` (docs/plan-format.md
//! from the schema), `timing` (`MOUNTPLAN_TIMING=1`), `pipeline` (source to Dag in one call),
//! `test_plans` (unit-test plans written as plan text). The binary: main.rs, cli/ (clap
//! definitions, the `--help` text), cmd/ (one module per subcommand).
//!
//! "Node" names, one per thing: `model::NodeType` and `model::NodeSpec` are a mknod step's
//! node (the plan's `node = "char"`, and its numbers or the host node copied);
//! `graph::TreeNode` (with `graph::NodeKind`) is a file of the predicted final tree;
//! `sys::Node` is what a created inode is, as an undo record keeps it; the walk's own record of
//! a file is `WalkNode` (graph/tree), and render/json.rs's `JNode` is the JSON shape of a
//! `TreeNode`.
//!
//! Only `main` prints (and [`timing`], on stderr, when `MOUNTPLAN_TIMING=1`); only `main` and
//! `load` (through the reader it is given) read files; only `exec`, through [`sys::Sys`] and
//! [`sys::Procs`], touches the kernel for an apply (`capture` and `doctor` read it through
//! sys/linux/snapshot.rs and probe.rs).

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
pub mod lowering;
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
pub use pipeline::{Checked, check, check_api, check_with};

#[cfg(target_env = "musl")]
mod musl_alloc;

/// The heap of a musl build (see `musl_alloc`); glibc builds keep glibc's malloc.
#[cfg(target_env = "musl")]
#[global_allocator]
static HEAP: musl_alloc::Heap = musl_alloc::Heap::new();
