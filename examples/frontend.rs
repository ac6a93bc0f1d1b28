//! The front half of mountplan on a trusted, generated plan, without the command line's input
//! limits (which refuse more than 10 000 steps): `frontend check FILE` reads, parses,
//! validates and builds the graph; `frontend plan FILE` also expands every step into its calls
//! and renders the text dry run (to stdout). bench/frontend.sh times it at 1k, 10k and 100k
//! steps. Exits 1 when the plan has errors.

use std::io::Write;
use std::path::Path;

use mountplan::load::Limits;
use mountplan::render::{self, TextOptions};

fn main() {
    // `MOUNTPLAN_TIMING=1` prints the phases (toml, loaded, validated, graph) as `mountplan` does.
    mountplan::timing::start();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [what, file] = args.as_slice() else {
        eprintln!("usage: frontend check|plan FILE");
        std::process::exit(2);
    };
    let c = mountplan::check_with(
        Path::new(file),
        &[],
        &mut |p| std::fs::read_to_string(p),
        &Limits::none(),
    );
    let Some(dag) = c.dag.as_ref().filter(|_| !c.has_errors()) else {
        for d in c.diags.iter().filter(|d| d.is_error()).take(5) {
            eprintln!("{}: {}", d.code, d.message);
        }
        std::process::exit(1);
    };
    if what == "plan" {
        let out = render::text(&c.sources, dag, &c.diags, &TextOptions { color: false });
        let _ = std::io::stdout().lock().write_all(out.as_bytes());
    }
}
