//! `check`, `schema`, `completions`, `man`: validation on the command line, and the generated
//! reference material.

use std::io::IsTerminal;

use clap::CommandFactory;

use super::input::{Input, Naming};
use crate::cli::{CheckArgs, CheckFormat, Color, CompletionsArgs, ManArgs, SchemaArgs};

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
    if a.plans.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        let d = mountplan::diag::Diag::error_nowhere(
            "mountplan::input",
            "`-` is given more than once: standard input holds one plan",
        )
        .help("give `-` once, and the other plans as files");
        print_diags(&mountplan::source::Sources::new(), &[d], a.color);
        return 2;
    }
    let mut status = 0;
    let mut all = Vec::new();
    for plan in &a.plans {
        let input = Input::new(plan, Naming::AsTyped);
        let (c, unreadable) = input.check_api(&a.vars.set, a.vars.api.map(crate::cli::ApiArg::api));
        let plan = &input.name;
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

/// `mountplan man [COMMAND]`, `mountplan man --dir DIR`: mountplan(1), a subcommand's page
/// (mountplan-COMMAND(1)), or every page written into DIR. 0, or 2 for an unknown COMMAND or a
/// page that cannot be written.
pub fn man(a: ManArgs) -> u8 {
    use std::io::Write;
    let top = crate::cli::Cli::command();
    // Built, the subcommands have their page names (`mountplan-apply`) and full usage lines.
    let mut built = top.clone();
    built.build();
    let subs: Vec<clap::Command> = built
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .cloned()
        .collect();
    if let Some(dir) = &a.dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("mountplan: cannot create `{}`: {e}", dir.display());
            return 2;
        }
        for page in std::iter::once(top).chain(subs) {
            match page_of(page).generate_to(dir) {
                Ok(p) => println!("{}", p.display()),
                Err(e) => {
                    eprintln!(
                        "mountplan: cannot write a man page into `{}`: {e}",
                        dir.display()
                    );
                    return 2;
                }
            }
        }
        return 0;
    }
    let page = match &a.command {
        None => top,
        Some(name) => match subs.iter().find(|c| c.get_name() == name) {
            Some(c) => c.clone(),
            None => {
                let names: Vec<&str> = subs.iter().map(|c| c.get_name()).collect();
                let d = mountplan::diag::Diag::error_nowhere(
                    "mountplan::man",
                    format!("`{name}` is not a subcommand of mountplan"),
                )
                .help(format!("give one of: {}", names.join(", ")));
                print_diags(&mountplan::source::Sources::new(), &[d], Color::Auto);
                return 2;
            }
        },
    };
    let mut out = Vec::new();
    if page_of(page).render(&mut out).is_err() {
        return 2;
    }
    let _ = std::io::stdout().write_all(&out);
    0
}

/// A command's man page, every page from the same source (`mountplan VERSION`, not the
/// subcommand's name).
fn page_of(c: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(c).source(format!("mountplan {}", env!("CARGO_PKG_VERSION")))
}
