//! The dry run for a pull-request comment: a [`Review`] -> Markdown.
//!
//! A header list, a summary table of the steps, the warnings, the Mermaid graph in a
//! ```` ```mermaid ```` block, the final mount tree and the files left behind in code blocks,
//! and every system call and undo in a collapsible `<details>` block. Text from the plan is
//! escaped for table cells; code blocks use a fence longer than any backtick run inside.

use std::fmt::Write as _;

use super::{Review, diag_head, findmnt, mermaid};
use crate::diag::Diag;
use crate::graph::Dag;
use crate::source::Sources;

/// Escapes text for Markdown inline content (table cells included).
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// An inline code span that holds `s` whatever backticks it contains.
pub(crate) fn code(s: &str) -> String {
    let longest = longest_run(s, '`');
    let ticks = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

/// [`code`] for a table cell: `|` ends a cell even inside a code span, so it is escaped.
pub(crate) fn cell(s: &str) -> String {
    code(s).replace('|', "\\|")
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in s.chars() {
        if c == ch {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// A fenced block with `info` that `body` cannot close.
fn fenced(o: &mut String, info: &str, body: &str) {
    let fence = "`".repeat(longest_run(body, '`').max(2) + 1);
    let _ = writeln!(o, "{fence}{info}");
    o.push_str(body);
    if !body.ends_with('\n') {
        o.push('\n');
    }
    let _ = writeln!(o, "{fence}");
}

/// The Markdown dry run of `dag`, for a pull-request comment.
pub fn markdown(sources: &Sources, dag: &Dag, diags: &[Diag]) -> String {
    let r = Review::new(sources, dag, diags);
    let plan = &dag.plan;
    let mut o = String::new();
    let _ = writeln!(o, "## Dry run of {}\n", code(&plan.name));
    if let Some(d) = &plan.description {
        let _ = writeln!(o, "{}\n", esc(d));
    }
    let _ = writeln!(o, "- file: {}", code(&r.file));
    let _ = writeln!(o, "- root: {}", esc(&r.root()));
    let (ns, user) = r.namespaces();
    let _ = writeln!(o, "- namespaces: {}", ns.join(", "));
    if let Some(u) = user {
        let _ = writeln!(o, "  - {}", esc(&u));
    }
    if plan.vars.is_empty() {
        let _ = writeln!(o, "- variables: none");
    } else {
        let _ = writeln!(o, "- variables:");
        for (k, v) in &plan.vars {
            let _ = writeln!(o, "  - {} = {}", code(k), code(v));
        }
    }
    if plan.includes.is_empty() {
        let _ = writeln!(o, "- includes: none");
    } else {
        let inc: Vec<String> = plan.includes.iter().map(|i| code(i)).collect();
        let _ = writeln!(o, "- includes: {}", inc.join(", "));
    }
    let _ = writeln!(o, "- command (how it runs, after the steps):");
    for (k, v) in r.command() {
        let _ = writeln!(o, "  - {}: {}", esc(k), esc(&v));
    }

    let _ = writeln!(o, "\n### Steps\n");
    let _ = writeln!(o, "| # | id | kind | what it does | depends on |");
    let _ = writeln!(o, "| ---: | --- | --- | --- | --- |");
    for s in &r.steps {
        let deps: Vec<String> = s
            .deps
            .iter()
            .map(|(f, kinds)| {
                let k: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                format!("{} ({})", cell(r.id(*f)), k.join(", "))
            })
            .collect();
        let mut what = esc(&s.summary);
        if let Some((file, line)) = s.origin {
            what.push_str(&format!(" (from {}, line {line})", code(file)));
        }
        if !s.diags.is_empty() {
            what.push_str(&format!(" **⚠ {}**", s.diags.len()));
        }
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            s.index + 1,
            cell(s.step.id.as_str()),
            s.step.kind().as_str(),
            what,
            if deps.is_empty() {
                "—".to_string()
            } else {
                deps.join(", ")
            }
        );
    }

    let warned: Vec<(Option<usize>, &Diag)> = r
        .general
        .iter()
        .map(|d| (None, *d))
        .chain(
            r.steps
                .iter()
                .flat_map(|s| s.diags.iter().map(move |d| (Some(s.index), *d))),
        )
        .collect();
    if !warned.is_empty() {
        let _ = writeln!(o, "\n### Warnings\n");
        for (i, d) in warned {
            let at = match i {
                Some(i) => format!("step {} {}: ", i + 1, code(r.id(i))),
                None => String::new(),
            };
            let place = d
                .loc
                .and_then(|l| r.place(l))
                .map(|p| format!(" ({})", code(&p)))
                .unwrap_or_default();
            let _ = writeln!(o, "- {at}{}{place}", esc(&diag_head(d)));
            if let Some(h) = &d.help {
                let _ = writeln!(o, "  - help: {}", esc(h));
            }
        }
    }

    let _ = writeln!(o, "\n### Dependency graph\n");
    fenced(&mut o, "mermaid", &mermaid(dag));

    let _ = writeln!(o, "\n### Final mount tree\n");
    let shown = crate::render::process::with_console(&dag.tree, &dag.plan.process);
    let mut tree = findmnt::mount_table(&shown).join("\n");
    tree.push('\n');
    fenced(&mut o, "", &tree);
    for n in findmnt::mount_notes(&dag.tree) {
        let _ = writeln!(o, "\n> {}", esc(n));
    }

    let _ = writeln!(o, "\n### Files left behind\n");
    if dag.tree.nodes.is_empty() {
        let _ = writeln!(o, "None.");
    } else {
        let mut t = findmnt::node_table(&dag.tree, &|i| r.id(i).to_string()).join("\n");
        t.push('\n');
        fenced(&mut o, "", &t);
    }

    let total: usize = r.setup.len() + r.steps.iter().map(|s| s.calls.calls.len()).sum::<usize>();
    let _ = writeln!(
        o,
        "\n<details>\n<summary>System calls, in order ({total}), and what rollback does</summary>\n"
    );
    let mut body = String::from("setup (implicit: always done first)\n");
    for c in r.setup {
        let _ = writeln!(body, "  {c}");
    }
    for l in &r.setup_undo {
        let _ = writeln!(body, "  undo: {l}");
    }
    for s in &r.steps {
        let _ = writeln!(
            body,
            "\nstep {}: {} ({})",
            s.index + 1,
            s.step.id,
            s.step.kind().as_str()
        );
        for c in &s.calls.calls {
            let _ = writeln!(body, "  {c}");
        }
        if let Some(f) = &s.calls.fallback {
            let rule = match &s.step.action {
                crate::model::Action::Pivot(p) => p.fallback_rule(),
                _ => "fallback",
            };
            let _ = writeln!(body, "  {rule}:");
            for c in f {
                let _ = writeln!(body, "    {c}");
            }
        }
        for l in &s.undo {
            let _ = writeln!(body, "  undo: {l}");
        }
    }
    fenced(&mut o, "", &body);
    let _ = writeln!(o, "\n</details>");
    o
}
