//! A [`Diff`] as text (for people, optionally coloured), JSON (for scripts) or Markdown (for a
//! pull-request comment). Only what differs is listed, then the warnings the new plan
//! introduces; pure and byte-stable.

use std::fmt::Write as _;

use serde::Serialize;

use super::{
    ChangeKind, Diff, FieldChange, MountChange, NodeChange, StepChange, TreeChange, step_id,
};
use crate::diag::Diag;
use crate::graph::Dag;
use crate::render::attach::Regions;
use crate::render::json::{JDiag, diag_json};
use crate::render::markdown::{cell, code, esc};
use crate::render::summary::summary;
use crate::render::{diag_head, findmnt, place};

/// One changed step, as every format shows it.
struct Row<'a> {
    /// `added`, `removed`, `changed`, `moved` or `changed, moved`.
    change: &'static str,
    /// The dag the step is shown from (the new one, unless removed).
    dag: &'a Dag,
    index: usize,
    old_index: Option<usize>,
    new_index: Option<usize>,
    fields: &'a [FieldChange],
}

fn rows<'a>(d: &'a Diff) -> Vec<Row<'a>> {
    d.steps
        .iter()
        .filter(|s| s.is_change())
        .map(|s| match s {
            StepChange::Added { new } => Row {
                change: "added",
                dag: d.new,
                index: *new,
                old_index: None,
                new_index: Some(*new),
                fields: &[],
            },
            StepChange::Removed { old } => Row {
                change: "removed",
                dag: d.old,
                index: *old,
                old_index: Some(*old),
                new_index: None,
                fields: &[],
            },
            StepChange::Matched {
                old,
                new,
                moved,
                fields,
            } => Row {
                change: match (fields.is_empty(), moved) {
                    (false, true) => "changed, moved",
                    (false, false) => "changed",
                    _ => "moved",
                },
                dag: d.new,
                index: *new,
                old_index: Some(*old),
                new_index: Some(*new),
                fields,
            },
        })
        .collect()
}

impl Row<'_> {
    fn step(&self) -> &crate::model::Step {
        &self.dag.plan.steps[self.index]
    }
    /// `step 3 shm (mount)`, with where it was when that differs.
    fn title(&self) -> String {
        let s = self.step();
        let mut t = format!("step {} {} ({})", self.index + 1, s.id, s.kind().as_str());
        match (self.old_index, self.new_index) {
            (Some(o), None) => t = format!("old step {} {} ({})", o + 1, s.id, s.kind().as_str()),
            (Some(o), Some(n)) if o != n => t.push_str(&format!(", was step {}", o + 1)),
            _ => {}
        }
        t
    }
}

fn mount_line(m: &crate::graph::TreeMount) -> String {
    format!(
        "{}  {}  {}  {}",
        m.mountpoint,
        m.source,
        m.fstype,
        findmnt::options(m)
    )
}

/// A file left behind, as `path  type  mode  step`, the step cell as the dry run's table
/// writes it (with `(hidden by ID)`); step ids are `dag`'s.
fn node_line(dag: &Dag, n: &crate::graph::TreeNode) -> String {
    format!(
        "{}  {}  {}  {}",
        n.path,
        findmnt::node_kind(&n.kind),
        n.mode.map_or("-".into(), |m| m.to_string()),
        findmnt::node_step(n, &|i| step_id(dag, i))
    )
}

/// A warning the new plan introduces: the step it points into (in the new plan) and where.
struct Introduced<'a> {
    diag: &'a Diag,
    step: Option<usize>,
    place: Option<String>,
}

fn introduced<'a>(d: &Diff<'a>) -> Vec<Introduced<'a>> {
    let Some(sources) = d.new_sources else {
        return Vec::new();
    };
    let regions = Regions::new(sources, &d.new.plan);
    d.warnings
        .iter()
        .map(|w| Introduced {
            diag: w,
            step: regions.step_of(w),
            place: w.loc.and_then(|l| place(sources, l)),
        })
        .collect()
}

impl Introduced<'_> {
    /// `step 3 shm: ` when it points into a step.
    fn at(&self, dag: &Dag) -> String {
        self.step
            .map(|i| format!("step {} {}: ", i + 1, step_id(dag, i)))
            .unwrap_or_default()
    }
}

fn counts(d: &Diff) -> String {
    let mut added = 0;
    let mut removed = 0;
    let mut changed = 0;
    let mut moved = 0;
    for s in &d.steps {
        match s {
            StepChange::Added { .. } => added += 1,
            StepChange::Removed { .. } => removed += 1,
            StepChange::Matched {
                moved: m, fields, ..
            } => {
                changed += usize::from(!fields.is_empty());
                moved += usize::from(*m);
            }
        }
    }
    format!(
        "steps: {added} added, {removed} removed, {changed} changed, {moved} moved; \
         final tree: {} mount(s) and {} file(s) differ",
        d.mounts.len(),
        d.nodes.len()
    )
}

fn mark(k: ChangeKind) -> char {
    match k {
        ChangeKind::Added => '+',
        ChangeKind::Removed => '-',
        ChangeKind::Changed => '~',
    }
}

/// The diff for people. `old_file` and `new_file` name the plans; colour only when asked.
pub fn text(d: &Diff, old_file: &str, new_file: &str, color: bool) -> String {
    let paint = |code: &str, s: String| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s
        }
    };
    let by_mark = |m: char, s: String| match m {
        '+' => paint("32", s),
        '-' => paint("31", s),
        _ => paint("33", s),
    };
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}",
        paint(
            "1",
            format!("--- old: {old_file} (plan {})", d.old.plan.name)
        )
    );
    let _ = writeln!(
        o,
        "{}",
        paint(
            "1",
            format!("+++ new: {new_file} (plan {})", d.new.plan.name)
        )
    );
    let warned = introduced(d);
    let warnings = |o: &mut String| {
        if warned.is_empty() {
            return;
        }
        let _ = writeln!(o, "\n{}", paint("1", "warnings introduced".into()));
        for w in &warned {
            let head = format!("  ! {}{}", w.at(d.new), diag_head(w.diag));
            let _ = writeln!(o, "{}", paint("1;33", head));
            if let Some(p) = &w.place {
                let label = if w.diag.label.is_empty() {
                    String::new()
                } else {
                    format!(": {}", w.diag.label)
                };
                let _ = writeln!(o, "      at {p}{label}");
            }
            for (loc, label) in &w.diag.secondary {
                if let Some(p) = d.new_sources.and_then(|s| place(s, *loc)) {
                    let _ = writeln!(o, "      and {p}: {label}");
                }
            }
            if let Some(h) = &w.diag.help {
                let _ = writeln!(o, "      help: {h}");
            }
        }
    };
    if d.is_same() {
        o.push_str("\nno differences: the plans do the same thing\n");
        warnings(&mut o);
        return o;
    }
    let _ = writeln!(o, "{}", counts(d));
    if !d.plan.is_empty() {
        let _ = writeln!(o, "\n{}", paint("1", "plan".into()));
        for f in &d.plan {
            let _ = writeln!(
                o,
                "{}",
                by_mark('~', format!("  ~ {}: {} -> {}", f.field, f.old, f.new))
            );
        }
    }
    let rows = rows(d);
    if !rows.is_empty() {
        let _ = writeln!(o, "\n{}", paint("1", "steps".into()));
        for r in &rows {
            let m = match r.change {
                "added" => '+',
                "removed" => '-',
                _ => '~',
            };
            let what = if r.change == "moved" || r.change.starts_with("changed") {
                format!("  {m} {}: {}", r.title(), r.change)
            } else {
                format!("  {m} {}: {}", r.title(), summary(r.step()))
            };
            let _ = writeln!(o, "{}", by_mark(m, what));
            for f in r.fields {
                let _ = writeln!(o, "      {}: {} -> {}", f.field, f.old, f.new);
            }
        }
    }
    if !d.mounts.is_empty() {
        let _ = writeln!(o, "\n{}", paint("1", "final mount tree".into()));
        for m in &d.mounts {
            let _ = writeln!(o, "{}", by_mark(mark(m.kind), mount_change_line(m)));
            for f in &m.fields {
                let _ = writeln!(o, "      {}: {} -> {}", f.field, f.old, f.new);
            }
        }
    }
    if !d.nodes.is_empty() {
        let _ = writeln!(o, "\n{}", paint("1", "files left behind".into()));
        for n in &d.nodes {
            let _ = writeln!(o, "{}", by_mark(mark(n.kind), node_change_line(d, n)));
            for f in &n.fields {
                let _ = writeln!(o, "      {}: {} -> {}", f.field, f.old, f.new);
            }
        }
    }
    warnings(&mut o);
    o
}

fn mount_change_line(m: &MountChange) -> String {
    match (m.kind, &m.old, &m.new) {
        (ChangeKind::Changed, _, Some(n)) => format!("  ~ {}", n.mountpoint),
        (_, _, Some(n)) => format!("  + {}", mount_line(n)),
        (_, Some(o), None) => format!("  - {}", mount_line(o)),
        _ => String::new(),
    }
}

fn node_change_line(d: &Diff, n: &NodeChange) -> String {
    match (n.kind, &n.old, &n.new) {
        (ChangeKind::Changed, _, Some(x)) => format!("  ~ {}", x.path),
        (_, _, Some(x)) => format!("  + {}", node_line(d.new, x)),
        (_, Some(x), None) => format!("  - {}", node_line(d.old, x)),
        _ => String::new(),
    }
}

#[derive(Serialize)]
struct JDoc<'a> {
    format_version: u32,
    old: JPlan<'a>,
    new: JPlan<'a>,
    same: bool,
    plan: Vec<JField<'a>>,
    steps: Vec<JStep<'a>>,
    mounts: Vec<JItem<'a>>,
    nodes: Vec<JItem<'a>>,
    warnings: Vec<JWarning>,
}

#[derive(Serialize)]
struct JWarning {
    step: Option<String>,
    index: Option<usize>,
    #[serde(flatten)]
    diag: JDiag,
}

#[derive(Serialize)]
struct JPlan<'a> {
    file: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct JField<'a> {
    field: &'a str,
    old: &'a str,
    new: &'a str,
}

#[derive(Serialize)]
struct JStep<'a> {
    change: &'static str,
    id: &'a str,
    kind: &'static str,
    old_index: Option<usize>,
    new_index: Option<usize>,
    summary: String,
    fields: Vec<JField<'a>>,
}

#[derive(Serialize)]
struct JItem<'a> {
    change: &'static str,
    path: String,
    old: Option<String>,
    new: Option<String>,
    fields: Vec<JField<'a>>,
}

fn jfields(v: &[FieldChange]) -> Vec<JField<'_>> {
    v.iter()
        .map(|f| JField {
            field: f.field,
            old: &f.old,
            new: &f.new,
        })
        .collect()
}

fn kind_str(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Changed => "changed",
    }
}

/// The diff for scripts: one JSON document, `"format_version": 1` (see docs/json.md).
pub fn json(d: &Diff, old_file: &str, new_file: &str) -> String {
    let rows = rows(d);
    let doc = JDoc {
        format_version: 1,
        old: JPlan {
            file: old_file,
            name: &d.old.plan.name,
        },
        new: JPlan {
            file: new_file,
            name: &d.new.plan.name,
        },
        same: d.is_same(),
        plan: jfields(&d.plan),
        steps: rows
            .iter()
            .map(|r| JStep {
                change: r.change,
                id: r.step().id.as_str(),
                kind: r.step().kind().as_str(),
                old_index: r.old_index,
                new_index: r.new_index,
                summary: summary(r.step()),
                fields: jfields(r.fields),
            })
            .collect(),
        mounts: d
            .mounts
            .iter()
            .map(|m| JItem {
                change: kind_str(m.kind),
                path: m
                    .new
                    .as_ref()
                    .or(m.old.as_ref())
                    .map(|x| x.mountpoint.to_string())
                    .unwrap_or_default(),
                old: m.old.as_ref().map(mount_line),
                new: m.new.as_ref().map(mount_line),
                fields: jfields(&m.fields),
            })
            .collect(),
        nodes: d
            .nodes
            .iter()
            .map(|n| JItem {
                change: kind_str(n.kind),
                path: n
                    .new
                    .as_ref()
                    .or(n.old.as_ref())
                    .map(|x| x.path.to_string())
                    .unwrap_or_default(),
                old: n.old.as_ref().map(|x| node_line(d.old, x)),
                new: n.new.as_ref().map(|x| node_line(d.new, x)),
                fields: jfields(&n.fields),
            })
            .collect(),
        warnings: introduced(d)
            .iter()
            .map(|w| JWarning {
                step: w.step.map(|i| step_id(d.new, i)),
                index: w.step,
                diag: diag_json(d.new_sources.unwrap_or(&Default::default()), w.diag),
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_else(|e| {
        serde_json::json!({ "format_version": 1, "error": e.to_string() }).to_string()
    });
    s.push('\n');
    s
}

fn field_cell(v: &[FieldChange]) -> String {
    v.iter()
        .map(|f| format!("{}: {} → {}", esc(f.field), cell(&f.old), cell(&f.new)))
        .collect::<Vec<_>>()
        .join("<br>")
}

/// The diff for a pull-request comment.
pub fn markdown(d: &Diff, old_file: &str, new_file: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "## Plan diff: {} → {}\n",
        code(&d.old.plan.name),
        code(&d.new.plan.name)
    );
    let _ = writeln!(o, "- old: {}\n- new: {}", code(old_file), code(new_file));
    let warned = introduced(d);
    let warnings = |o: &mut String| {
        if warned.is_empty() {
            return;
        }
        let _ = writeln!(o, "\n### Warnings introduced\n");
        for w in &warned {
            let at = w
                .step
                .map(|i| format!("step {} {}: ", i + 1, code(&step_id(d.new, i))))
                .unwrap_or_default();
            let place = w
                .place
                .as_ref()
                .map(|p| format!(" ({})", code(p)))
                .unwrap_or_default();
            let _ = writeln!(o, "- {at}{}{place}", esc(&diag_head(w.diag)));
            if let Some(h) = &w.diag.help {
                let _ = writeln!(o, "  - help: {}", esc(h));
            }
        }
    };
    if d.is_same() {
        o.push_str("\nNo differences: the plans do the same thing.\n");
        warnings(&mut o);
        return o;
    }
    let _ = writeln!(o, "- {}", esc(&counts(d)));
    if !d.plan.is_empty() {
        o.push_str("\n### Plan\n\n| field | old | new |\n| --- | --- | --- |\n");
        for f in &d.plan {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                esc(f.field),
                cell(&f.old),
                cell(&f.new)
            );
        }
    }
    let rows = rows(d);
    if !rows.is_empty() {
        o.push_str(
            "\n### Steps\n\n| change | step | what it does | fields |\n| --- | --- | --- | --- |\n",
        );
        for r in &rows {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                r.change,
                esc(&r.title()),
                esc(&summary(r.step())),
                field_cell(r.fields)
            );
        }
    }
    items(
        &mut o,
        "Final mount tree",
        &d.mounts,
        |m| m.mountpoint.to_string(),
        mount_line,
        mount_line,
    );
    items(
        &mut o,
        "Files left behind",
        &d.nodes,
        |n| n.path.to_string(),
        |n| node_line(d.old, n),
        |n| node_line(d.new, n),
    );
    warnings(&mut o);
    o
}

fn items<T>(
    o: &mut String,
    title: &str,
    v: &[TreeChange<T>],
    path: impl Fn(&T) -> String,
    old_line: impl Fn(&T) -> String,
    new_line: impl Fn(&T) -> String,
) {
    if v.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "\n### {title}\n\n| change | path | old | new |\n| --- | --- | --- | --- |\n"
    );
    for c in v {
        let p = c
            .new
            .as_ref()
            .or(c.old.as_ref())
            .map(&path)
            .unwrap_or_default();
        let (old, new) = if c.kind == ChangeKind::Changed {
            (String::new(), field_cell(&c.fields))
        } else {
            (
                c.old
                    .as_ref()
                    .map(|x| cell(&old_line(x)))
                    .unwrap_or_default(),
                c.new
                    .as_ref()
                    .map(|x| cell(&new_line(x)))
                    .unwrap_or_default(),
            )
        };
        let _ = writeln!(o, "| {} | {} | {old} | {new} |", kind_str(c.kind), cell(&p));
    }
}
