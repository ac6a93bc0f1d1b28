//! `import oci|bwrap|nspawn`: reads the input, runs the importer, checks the plan it built
//! with the same pipeline as `check`, then prints the plan on stdout and each note on stderr.

use std::path::{Path, PathBuf};

use mountplan::diag::Diag;
use mountplan::import::{ImportError, Imported, RealHost};

use super::check::print_diags;
use super::input::read_plan;
use crate::cli::{Color, ImportCommand};

/// The name the imported plan is checked under (it exists only in memory).
const CHECKED_AS: &str = "<imported plan>";

/// Runs `import`: 0 a plan was printed, 1 the input cannot be imported (or the plan does not
/// pass check), 2 the input cannot be read.
pub fn run(c: ImportCommand) -> u8 {
    let (what, result) = match c {
        ImportCommand::Oci(a) => {
            let text = match read(&a.config) {
                Ok(t) => t,
                Err(s) => return s,
            };
            let bundle = bundle_dir(&a.config);
            let r = mountplan::import::oci::import(&text, &bundle, &a.common.schema, &RealHost);
            ("oci", r)
        }
        ImportCommand::Bwrap(a) => (
            "bwrap",
            mountplan::import::bwrap::import(&a.args, &a.common.schema, &RealHost),
        ),
        ImportCommand::Nspawn(a) => {
            let text = match read(&a.file) {
                Ok(t) => t,
                Err(s) => return s,
            };
            let name = a.file.display().to_string();
            (
                "nspawn",
                mountplan::import::nspawn::import(&text, &name, &a.common.schema, &RealHost),
            )
        }
    };
    match result {
        Ok(imported) => finish(what, imported),
        Err(ImportError { message, help }) => {
            let d = Diag::error_nowhere("mountplan::import", message).help(help);
            print_diags(&mountplan::source::Sources::new(), &[d], Color::Auto);
            1
        }
    }
}

/// The input's text, or the exit status after saying why it cannot be read.
fn read(p: &Path) -> Result<String, u8> {
    read_plan(p).map_err(|e| {
        let d = Diag::error_nowhere(
            "mountplan::import::read",
            format!("cannot read `{}`: {e}", p.display()),
        )
        .help("give the path of a readable file");
        print_diags(&mountplan::source::Sources::new(), &[d], Color::Auto);
        2
    })
}

/// The directory of the config file, made absolute (its relative paths are relative to it).
fn bundle_dir(config: &Path) -> PathBuf {
    let dir = config
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::canonicalize(dir).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|c| c.join(dir))
            .unwrap_or_else(|_| dir.to_path_buf())
    })
}

/// Checks the plan, then prints it and the notes.
fn finish(what: &str, imported: Imported) -> u8 {
    let text = imported.text;
    let checked = mountplan::check(Path::new(CHECKED_AS), &[], &mut |p: &Path| {
        if p == Path::new(CHECKED_AS) {
            Ok(text.clone())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "an imported plan includes nothing",
            ))
        }
    });
    for n in &imported.notes {
        eprintln!("mountplan import {what}: {n}");
    }
    if checked.has_errors() {
        print_diags(&checked.sources, &checked.diags, Color::Auto);
        eprintln!(
            "mountplan import {what}: the plan built from this input does not pass `check` \
             (above): mountplan cannot do what it asks"
        );
        return 1;
    }
    print!("{text}");
    0
}
