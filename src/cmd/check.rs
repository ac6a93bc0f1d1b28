//! `check`, `schema`, `completions`, `man`: validation on the command line, and the generated
//! reference material.

use std::io::IsTerminal;

use clap::CommandFactory;

use crate::cli::{CheckArgs, CheckFormat, Color, CompletionsArgs, SchemaArgs};

/// Whether to colour output written to stderr.
pub fn stderr_color(c: Color) -> bool {
    super::color_on(c, std::io::stderr().is_terminal())
}

/// Prints diagnostics to stderr.
pub fn print_diags(
    sources: &mountplan::source::Sources,
    diags: &[mountplan::diag::Diag],
    color: Color,
) {
    if diags.is_empty() {
        // Nothing to print: no line index of every file for nothing.
        return;
    }
    let width = if std::io::stderr().is_terminal() {
        100
    } else {
        80
    };
    eprint!(
        "{}",
        mountplan::diag::render_human(sources, diags, width, stderr_color(color))
    );
}

/// `mountplan check`: 0 all valid, 1 errors (or warnings with --deny-warnings), 2 unreadable.
pub fn run(a: CheckArgs) -> u8 {
    let mut status = 0;
    let mut all = Vec::new();
    for plan in &a.plans {
        let (c, unreadable) = super::check_plan(plan, &a.vars.set);
        let bad = c.has_errors() || (a.deny_warnings && !c.diags.is_empty());
        match a.format {
            CheckFormat::Human => {
                print_diags(&c.sources, &c.diags, a.color);
                if !bad {
                    let n = c.dag.as_ref().map(|d| d.plan.steps.len()).unwrap_or(0);
                    eprintln!("{}: ok ({n} steps)", plan.display());
                    if let Some(d) = &c.dag {
                        eprintln!("  the command runs with:");
                        for (k, v) in mountplan::render::command(&d.plan) {
                            eprintln!("    {k}: {v}");
                        }
                    }
                }
            }
            CheckFormat::Json => all.push(mountplan::diag::json(&c.sources, &c.diags)),
        }
        status = status.max(if unreadable {
            2
        } else if bad {
            1
        } else {
            0
        });
    }
    if a.format == CheckFormat::Json {
        let diags: Vec<serde_json::Value> = all
            .into_iter()
            .flat_map(|v| v["diagnostics"].as_array().cloned().unwrap_or_default())
            .collect();
        let doc = serde_json::json!({"format_version": 1, "diagnostics": diags});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    status
}

/// `mountplan schema`.
pub fn schema(a: SchemaArgs) -> u8 {
    if a.markdown {
        print!("{}", mountplan::reference::markdown());
    } else {
        print!("{}", mountplan::raw::schema_json());
    }
    0
}

/// `mountplan completions SHELL`.
pub fn completions(a: CompletionsArgs) -> u8 {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "mountplan", &mut std::io::stdout());
    0
}

/// `mountplan man`.
pub fn man() -> u8 {
    let man = clap_mangen::Man::new(crate::cli::Cli::command());
    let mut out = Vec::new();
    if man.render(&mut out).is_err() {
        return 2;
    }
    use std::io::Write;
    let _ = std::io::stdout().write_all(&out);
    0
}
