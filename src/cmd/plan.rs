//! `mountplan plan PLAN`: check the plan, then print its dry run in the chosen format.
//!
//! Takes the parsed arguments; prints the dry run on stdout, or the diagnostics on stderr;
//! returns 0, 1 when the plan has errors, 2 when a file cannot be read (clap also exits 2 on
//! usage errors).

use std::io::{IsTerminal, Write};

use mountplan::render::{self, TextOptions};

use crate::cli::{Color, PlanArgs, PlanFormat};

/// Colour for stdout: `always`, `never`, or on a terminal with `NO_COLOR` unset.
pub(crate) fn use_color(c: Color) -> bool {
    super::color_on(c, std::io::stdout().is_terminal())
}

/// Prints every diagnostic of a checked plan on stderr, as `check` does.
pub(crate) fn print_diags(checked: &mountplan::Checked, color: Color) {
    super::check::print_diags(&checked.sources, &checked.diags, color);
}

/// Runs `mountplan plan`.
pub fn run(a: PlanArgs) -> u8 {
    let (checked, unreadable) = super::check_plan(&a.plan, &a.vars.set);
    let dag = match (&checked.dag, checked.has_errors()) {
        (Some(dag), false) => dag,
        _ => {
            print_diags(&checked, a.color);
            return if unreadable { 2 } else { 1 };
        }
    };
    let (s, d) = (&checked.sources, &checked.diags);
    let out = match a.format {
        PlanFormat::Text => render::text(
            s,
            dag,
            d,
            &TextOptions {
                color: use_color(a.color),
            },
        ),
        PlanFormat::Json => render::json(s, dag, d),
        PlanFormat::Markdown => render::markdown(s, dag, d),
        PlanFormat::Mermaid => render::mermaid(dag),
        PlanFormat::Dot => render::dot(dag),
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    0
}
