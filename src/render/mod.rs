//! Rendering: a [`Dag`] (with its sources and diagnostics) -> text, JSON, Markdown, Mermaid or
//! DOT. Pure functions, byte-stable: the same plan and variables give the same bytes on any
//! machine (no timestamps, no host data beyond what the plan names, no hash-map order).
//!
//! Every format is drawn from one review (`Review`): the header, the implicit setup, and per step its
//! summary, where an included step comes from (the fragment or file, and its line), dependencies, the exact calls from [`crate::lowering`] (never re-derived here), the
//! fallback, what rollback does, and the warnings that point into it. The final tree is the
//! [`crate::graph::FinalTree`] the graph predicted.
//!
//! ```text
//! summary   a step -> one line of plain words
//! undo      a step's calls -> what rollback does
//! attach    a diagnostic -> the step it points into
//! findmnt   the final tree -> a findmnt-like table, and the table of files left behind
//! process   what the command runs with (capabilities, ids, cwd, environment...), in words
//! text      for people (optionally coloured)
//! json      for scripts (docs/json.md)
//! markdown  for a pull-request comment
//! mermaid   the DAG as a Mermaid flowchart
//! dot       the DAG in Graphviz dot
//! ```

pub(crate) mod attach;
mod dot;
pub(crate) mod findmnt;
pub(crate) mod json;
pub(crate) mod markdown;
mod mermaid;
pub(crate) mod process;
pub(crate) mod summary;
mod text;
mod undo;

#[cfg(test)]
mod tests;

pub use dot::dot;
pub use json::json;
pub use markdown::markdown;
pub use mermaid::mermaid;
pub use text::text;

/// The plan's mount API as the dry run states it: which calls it shows, and for `auto` the
/// rule apply follows (the other list is `mountplan plan --api classic`).
pub fn api_rule(api: crate::model::Api) -> String {
    use crate::model::Api;
    match api {
        Api::Auto => "auto: the new API's calls below; on a kernel without fsopen/open_tree, \
                      the classic calls (mountplan plan --api classic)"
            .into(),
        Api::New => "new: fsopen, open_tree, move_mount, mount_setattr".into(),
        Api::Classic => "classic: mount(2) and umount2(2) on descriptors (self/fd/N)".into(),
    }
}

/// How the command of `plan` runs, as `(field, value)` lines in words (user, capabilities,
/// no_new_privs, cwd, environment, hostname, umask): what `check` prints for a valid plan and
/// the dry run's `command` block.
pub fn command(plan: &crate::model::Plan) -> Vec<(&'static str, String)> {
    process::lines(&plan.process, &plan.namespaces)
}

/// The final mount tree every dry-run format shows: the DAG's, with the console bound onto
/// its target when the plan has one (made after the steps and after verification, so not in
/// [`Dag::tree`], which verify compares).
pub fn shown_tree(dag: &Dag) -> std::borrow::Cow<'_, crate::graph::FinalTree> {
    process::with_console(&dag.tree, &dag.plan.process)
}

use crate::diag::Diag;
use crate::graph::{Dag, EdgeKind};
use crate::lowering::StepCalls;
use crate::model::{Action, Root, Step, UserNs};
use crate::source::Sources;

/// The line that marks step `i` as making a conditional mount (a mask or readonly step whose
/// path may be missing at apply time: then it mounts nothing), for the drawings.
pub(crate) fn conditional_note(dag: &Dag, i: usize) -> Option<String> {
    let m = dag
        .tree
        .mounts
        .iter()
        .find(|m| m.step == Some(i) && m.conditional)?;
    Some(format!(
        "conditional: mounts only if {} exists",
        m.mountpoint
    ))
}

/// What a step has when the lowering has nothing for it (never for a DAG that was built).
static NO_CALLS: StepCalls = StepCalls {
    step: None,
    calls: Vec::new(),
    fallback: None,
};

/// Options of the text format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// ANSI colour (only ever in the text format).
    pub color: bool,
}

/// One step as every format shows it.
pub(crate) struct StepView<'a> {
    /// Index in `plan.steps` (the dry run numbers from 1).
    pub index: usize,
    /// The step.
    pub step: &'a Step,
    /// One line of plain words.
    pub summary: String,
    /// The steps it depends on, in plan order, each with every reason.
    pub deps: Vec<(usize, Vec<EdgeKind>)>,
    /// Its calls (and fallback), as lowered once in the DAG.
    pub calls: &'a StepCalls,
    /// What rollback does.
    pub undo: Vec<String>,
    /// Diagnostics pointing into it.
    pub diags: Vec<&'a Diag>,
    /// Where it is written when it comes from an include (a fragment such as `mountplan:dev`,
    /// or an included file): the file's name and the line of its `kind`. `None` for the plan's
    /// own steps, so that editing the plan does not renumber its dry run.
    pub origin: Option<(&'a str, usize)>,
}

/// Everything a format shows, computed once.
pub(crate) struct Review<'a> {
    /// The DAG.
    pub dag: &'a Dag,
    /// The plan's file name, as given.
    pub file: String,
    /// The implicit setup's calls.
    pub setup: &'a [crate::lowering::Call],
    /// What rollback does for the setup.
    pub setup_undo: Vec<String>,
    /// Every step, in order.
    pub steps: Vec<StepView<'a>>,
    /// Diagnostics about the plan as a whole (no step).
    pub general: Vec<&'a Diag>,
    /// The sources, for diagnostic positions.
    pub sources: &'a Sources,
}

impl<'a> Review<'a> {
    /// Builds the review of `dag`; `diags` are shown where they point (warnings; pass
    /// [`crate::Checked::diags`], which holds the DAG's own warnings too).
    pub(crate) fn new(sources: &'a Sources, dag: &'a Dag, diags: &'a [Diag]) -> Review<'a> {
        let plan = &dag.plan;
        let file = sources
            .iter()
            .next()
            .map(|(_, s)| s.name.clone())
            .unwrap_or_else(|| "<plan>".into());
        let regions = attach::Regions::new(sources, plan);
        let mut per_step: Vec<Vec<&Diag>> = vec![Vec::new(); plan.steps.len()];
        let mut general = Vec::new();
        for d in diags {
            match regions.step_of(d).and_then(|i| per_step.get_mut(i)) {
                Some(v) => v.push(d),
                None => general.push(d),
            }
        }
        let mut deps: Vec<Vec<(usize, Vec<EdgeKind>)>> = vec![Vec::new(); plan.steps.len()];
        for e in &dag.edges {
            let Some(v) = deps.get_mut(e.to) else {
                continue;
            };
            // Edges are sorted by (to, from, kind): one step's reasons are adjacent.
            match v.last_mut() {
                Some((f, kinds)) if *f == e.from => kinds.push(e.kind),
                _ => v.push((e.from, vec![e.kind])),
            }
        }
        let setup = dag.calls.setup.as_slice();
        let setup_undo = undo::undo(setup, false);
        let mut lowered = dag.calls.steps.iter();
        let steps = plan
            .steps
            .iter()
            .enumerate()
            .zip(deps.into_iter().zip(per_step))
            .map(|((index, step), (deps, diags))| {
                let calls = lowered.next().unwrap_or(&NO_CALLS);
                let undo = undo::undo(&calls.calls, matches!(step.action, Action::Pivot(_)));
                StepView {
                    index,
                    step,
                    summary: summary::summary(step),
                    deps,
                    calls,
                    undo,
                    diags,
                    origin: origin(sources, step),
                }
            })
            .collect();
        Review {
            dag,
            file,
            setup,
            setup_undo,
            steps,
            general,
            sources,
        }
    }

    /// The root, in words.
    pub(crate) fn root(&self) -> String {
        match &self.dag.plan.root {
            Root::Path(p) => format!("{p} (the host directory, bound onto itself)"),
            root @ Root::Tmpfs(_) => match crate::lowering::fsconfig::data(&root.fs()) {
                Some(d) => format!("an empty tmpfs ({d})"),
                None => "an empty tmpfs".to_string(),
            },
        }
    }

    /// The namespaces created, in words, and a line about the user namespace.
    pub(crate) fn namespaces(&self) -> (Vec<&'static str>, Option<String>) {
        let n = &self.dag.plan.namespaces;
        let mut v = vec!["mount"];
        v.extend(n.others());
        let mapping = "uid 0 and gid 0 inside are the caller's uid and gid outside (one id \
                       each; setgroups denied)";
        let devices = self.dag.plan.steps.iter().any(|s| {
            matches!(&s.action, Action::Mknod(m)
                if !matches!(m.spec, crate::model::NodeSpec::Given { node: crate::model::NodeType::Fifo, .. }))
        });
        let caveat = if devices {
            "; in a user namespace the kernel refuses mknod of devices, so the mknod steps fail"
        } else {
            ""
        };
        let user = match n.user {
            UserNs::Off => None,
            UserNs::On => {
                v.push("user");
                Some(format!("user: always; {mapping}{caveat}"))
            }
            UserNs::Auto => Some(format!(
                "user: only when not run as root (\"auto\"): then {mapping}{caveat}; as root, none"
            )),
        };
        (v, user)
    }

    /// What the command runs with, as `(field, value)` lines.
    pub(crate) fn command(&self) -> Vec<(&'static str, String)> {
        let plan = &self.dag.plan;
        process::lines(&plan.process, &plan.namespaces)
    }

    /// `file:line:col` of a location, when its file is known.
    pub(crate) fn place(&self, loc: crate::source::Loc) -> Option<String> {
        place(self.sources, loc)
    }

    /// A step's id.
    pub(crate) fn id(&self, i: usize) -> &str {
        self.dag
            .plan
            .steps
            .get(i)
            .map(|s| s.id.as_str())
            .unwrap_or("?")
    }
}

/// Where an included step is written: its file's name and the line of its `kind`. `None` for
/// the entry file's own steps (the entry is the first source).
fn origin<'a>(sources: &'a Sources, step: &Step) -> Option<(&'a str, usize)> {
    let src = step.loc.src;
    if src.0 == 0 || src.0 as usize >= sources.len() {
        return None;
    }
    let (line, _) = sources.line_col(src, step.loc.span.start);
    Some((sources.get(src).name.as_str(), line))
}

/// `file:line:col` of a location in `sources`, when its file is known.
pub(crate) fn place(sources: &Sources, loc: crate::source::Loc) -> Option<String> {
    if loc.src.0 as usize >= sources.len() {
        return None;
    }
    let (l, c) = sources.line_col(loc.src, loc.span.start);
    Some(format!("{}:{l}:{c}", sources.get(loc.src).name))
}

/// `severity[code]: message`.
pub(crate) fn diag_head(d: &Diag) -> String {
    let sev = if d.is_error() { "error" } else { "warning" };
    format!("{sev}[{}]: {}", d.code, d.message)
}
