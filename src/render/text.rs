//! The text dry run, for people: a [`Review`] -> lines, coloured only when asked.
//!
//! Header (plan, file, root, namespaces, variables, includes, how the command runs), the
//! implicit setup, every step (number, id, kind, summary, where an included step comes from,
//! dependencies, calls, fallback, undo, its warnings), then the predicted mount tree and the
//! files left behind.

use std::fmt::Write as _;

use super::findmnt;
use super::{Review, TextOptions, diag_head};
use crate::diag::{Diag, Severity};
use crate::graph::Dag;
use crate::source::Sources;

/// ANSI styling, or none.
struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn kind(&self, s: &str) -> String {
        self.wrap("36", s)
    }
    fn severity(&self, d: &Diag, s: &str) -> String {
        match d.severity {
            Severity::Error => self.wrap("1;31", s),
            Severity::Warning => self.wrap("1;33", s),
        }
    }
}

/// The text dry run of `dag`. `diags` are shown at the step they point into (pass
/// [`crate::Checked::diags`]); `sources` gives the file names.
pub fn text(sources: &Sources, dag: &Dag, diags: &[Diag], opts: &TextOptions) -> String {
    let r = Review::new(sources, dag, diags);
    let p = Paint(opts.color);
    let plan = &dag.plan;
    let mut o = String::new();
    let kv = |o: &mut String, k: &str, v: &str| {
        let _ = writeln!(o, "{} {v}", p.bold(&format!("{k}:")));
    };
    kv(&mut o, "plan", &plan.name);
    kv(&mut o, "file", &r.file);
    if let Some(d) = &plan.description {
        kv(&mut o, "description", d);
    }
    kv(&mut o, "root", &r.root());
    kv(&mut o, "api", &crate::render::api_rule(plan.api));
    let (ns, user) = r.namespaces();
    kv(&mut o, "namespaces", &ns.join(", "));
    if let Some(u) = user {
        let _ = writeln!(o, "  {u}");
    }
    if plan.vars.is_empty() {
        kv(&mut o, "variables", "(none)");
    } else {
        let _ = writeln!(o, "{}", p.bold("variables:"));
        for (k, v) in &plan.vars {
            let _ = writeln!(o, "  {k} = {v}");
        }
    }
    if plan.includes.is_empty() {
        kv(&mut o, "includes", "(none)");
    } else {
        kv(&mut o, "includes", &plan.includes.join(", "));
    }
    let _ = writeln!(o, "{}", p.bold("command (how it runs, after the steps):"));
    for (k, v) in r.command() {
        let _ = writeln!(o, "  {k}: {v}");
    }
    for d in &r.general {
        o.push('\n');
        diag(&mut o, &r, &p, d, "");
    }

    o.push('\n');
    let _ = writeln!(o, "{}", p.bold("setup (implicit: always done first)"));
    calls_block(&mut o, "calls", r.setup);
    lines_block(&mut o, &p, "undo", &r.setup_undo);

    for s in &r.steps {
        o.push('\n');
        let _ = writeln!(
            o,
            "{} {}",
            p.bold(&format!("step {}: {}", s.index + 1, s.step.id)),
            p.kind(&format!("({})", s.step.kind().as_str()))
        );
        let _ = writeln!(o, "  {}", s.summary);
        if let Some((file, line)) = s.origin {
            let _ = writeln!(o, "  from: {file}, line {line}");
        }
        if let Some(n) = &s.step.note {
            let _ = writeln!(o, "  note: {n}");
        }
        if s.deps.is_empty() {
            let _ = writeln!(o, "  depends on: nothing");
        } else {
            let d: Vec<String> = s
                .deps
                .iter()
                .map(|(f, kinds)| {
                    let k: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                    format!("{} ({})", r.id(*f), k.join(", "))
                })
                .collect();
            let _ = writeln!(o, "  depends on: {}", d.join(", "));
        }
        calls_block(&mut o, "calls", &s.calls.calls);
        if let Some(f) = &s.calls.fallback {
            let rule = match &s.step.action {
                crate::model::Action::Pivot(p) => p.fallback_rule(),
                _ => "fallback",
            };
            calls_block(&mut o, rule, f);
        }
        lines_block(&mut o, &p, "undo", &s.undo);
        for d in &s.diags {
            diag(&mut o, &r, &p, d, "  ");
        }
    }

    if let Some(c) = &plan.process.console {
        o.push('\n');
        let _ = writeln!(
            o,
            "{}",
            p.bold("console (after the steps, in the new root, before the command)")
        );
        let _ = writeln!(o, "  calls:");
        for l in crate::render::process::console_calls(c) {
            let _ = writeln!(o, "    {l}");
        }
        let _ = writeln!(
            o,
            "  undo:\n    none: the console is in the new mount namespace, which ends with the \
             command"
        );
    }

    o.push('\n');
    let _ = writeln!(
        o,
        "{}",
        p.bold("final mount tree (as seen from the new root)")
    );
    let tree = crate::render::process::with_console(&dag.tree, &plan.process);
    for l in findmnt::mount_table(&tree) {
        let _ = writeln!(o, "  {l}");
    }
    for n in findmnt::mount_notes(&dag.tree) {
        let _ = writeln!(o, "  {}", p.dim(&format!("note: {n}")));
    }
    o.push('\n');
    let _ = writeln!(o, "{}", p.bold("files left behind"));
    if dag.tree.nodes.is_empty() {
        let _ = writeln!(o, "  (none)");
    } else {
        for l in findmnt::node_table(&dag.tree, &|i| r.id(i).to_string()) {
            let _ = writeln!(o, "  {l}");
        }
    }
    o
}

fn calls_block(o: &mut String, title: &str, calls: &[crate::lowering::Call]) {
    let _ = writeln!(o, "  {title}:");
    if calls.is_empty() {
        let _ = writeln!(o, "    (none)");
    }
    for c in calls {
        let _ = writeln!(o, "    {c}");
    }
}

fn lines_block(o: &mut String, p: &Paint, title: &str, lines: &[String]) {
    let _ = writeln!(o, "  {title}:");
    for l in lines {
        let _ = writeln!(o, "    {}", p.dim(l));
    }
}

fn diag(o: &mut String, r: &Review, p: &Paint, d: &Diag, indent: &str) {
    let _ = writeln!(o, "{indent}{}", p.severity(d, &diag_head(d)));
    if let Some(at) = d.loc.and_then(|l| r.place(l)) {
        let label = if d.label.is_empty() {
            String::new()
        } else {
            format!(": {}", d.label)
        };
        let _ = writeln!(o, "{indent}  at {at}{label}");
    }
    for (loc, label) in &d.secondary {
        if let Some(at) = r.place(*loc) {
            let _ = writeln!(o, "{indent}  and {at}: {label}");
        }
    }
    if let Some(h) = &d.help {
        let _ = writeln!(o, "{indent}  help: {h}");
    }
}
