//! Loading: a plan file and its includes -> parsed raw plans.
//!
//! Takes the entry path and a reader (only `main` touches the filesystem); returns every
//! source read, the raw plans with includes first (depth-first, in `include` order) and the
//! entry last, and the diagnostics: unreadable files, syntax errors, include cycles.

use std::io;
use std::path::{Path, PathBuf};

use crate::diag::Diag;
use crate::raw;
use crate::source::{Loc, SourceId, Sources};

/// How deep includes may nest.
const MAX_DEPTH: usize = 16;

/// Every file read, and its raw plan.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The texts.
    pub sources: Sources,
    /// Raw plans, includes first (depth-first, in `include` order), the entry file last.
    pub plans: Vec<(SourceId, raw::Plan)>,
    /// Syntax errors, unreadable files, include cycles.
    pub diags: Vec<Diag>,
}

/// Reads `entry` and everything it includes.
pub fn load(entry: &Path, read: &mut dyn FnMut(&Path) -> io::Result<String>) -> Loaded {
    let mut l = Loaded::default();
    match read(entry) {
        Ok(text) => {
            let id = l.sources.add(entry.display().to_string(), text);
            let mut stack = vec![(entry.to_path_buf(), None)];
            visit(&mut l, entry, id, &mut stack, read);
        }
        Err(e) => l.diags.push(
            Diag::error_nowhere(
                "mountplan::io",
                format!("cannot read `{}`: {e}", entry.display()),
            )
            .help("check the path and its permissions"),
        ),
    }
    l
}

fn visit(
    l: &mut Loaded,
    path: &Path,
    id: SourceId,
    stack: &mut Vec<(PathBuf, Option<Loc>)>,
    read: &mut dyn FnMut(&Path) -> io::Result<String>,
) {
    let (plan, diags) = crate::parse::parse(&l.sources, id);
    l.diags.extend(diags);
    let dir = path.parent().unwrap_or(Path::new("."));
    for inc in plan.include.iter().flatten() {
        let loc = Loc::new(id, inc.span.clone());
        let child = dir.join(&inc.value);
        let key = normal(&child);
        if let Some(i) = stack.iter().position(|(p, _)| normal(p) == key) {
            let mut d = Diag::error(
                "mountplan::include::cycle",
                format!("include cycle: `{}` includes itself", inc.value),
                loc,
            )
            .label("this include closes the cycle")
            .help("remove one of the includes in the cycle");
            for (p, at) in &stack[i + 1..] {
                if let Some(at) = at {
                    d = d.also(*at, format!("includes `{}`", p.display()));
                }
            }
            l.diags.push(d);
            continue;
        }
        if stack.len() >= MAX_DEPTH {
            l.diags.push(Diag::error(
                "mountplan::include::depth",
                format!("includes nest deeper than {MAX_DEPTH} files"),
                loc,
            ));
            continue;
        }
        match read(&child) {
            Ok(text) => {
                let cid = l.sources.add(child.display().to_string(), text);
                stack.push((child.clone(), Some(loc)));
                visit(l, &child, cid, stack, read);
                stack.pop();
            }
            Err(e) => l.diags.push(
                Diag::error(
                    "mountplan::include::unreadable",
                    format!("cannot read included file `{}`: {e}", child.display()),
                    loc,
                )
                .label("included here")
                .help("include paths are relative to the including file"),
            ),
        }
    }
    l.plans.push((id, plan));
}

/// A path with `.` and `..` folded lexically, to compare includes.
fn normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn fs(files: &[(&str, &str)]) -> impl FnMut(&Path) -> io::Result<String> + use<> {
        let m: BTreeMap<PathBuf, String> = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        move |p| {
            m.get(&normal(p))
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
    }

    #[test]
    fn includes_come_first_and_relative_to_the_includer() {
        let mut r = fs(&[
            ("p/a.toml", "version = 1\ninclude = [\"b/base.toml\"]\n"),
            ("p/b/base.toml", "version = 1\n"),
        ]);
        let l = load(Path::new("p/a.toml"), &mut r);
        assert!(l.diags.is_empty(), "{:?}", l.diags);
        let names: Vec<_> = l
            .plans
            .iter()
            .map(|(i, _)| l.sources.get(*i).name.clone())
            .collect();
        assert_eq!(names, ["p/b/base.toml", "p/a.toml"]);
    }

    #[test]
    fn include_cycle_is_reported_with_the_chain() {
        let mut r = fs(&[
            ("a.toml", "version = 1\ninclude = [\"b.toml\"]\n"),
            ("b.toml", "version = 1\ninclude = [\"a.toml\"]\n"),
        ]);
        let l = load(Path::new("a.toml"), &mut r);
        assert_eq!(l.diags.len(), 1);
        assert_eq!(l.diags[0].code, "mountplan::include::cycle");
        assert_eq!(l.diags[0].secondary.len(), 1);
    }

    #[test]
    fn unreadable_include_points_at_its_string() {
        let t = "version = 1\ninclude = [\"nope.toml\"]\n";
        let mut r = fs(&[("a.toml", t)]);
        let l = load(Path::new("a.toml"), &mut r);
        let loc = l.diags[0].loc.unwrap();
        assert_eq!(&t[loc.span.start..loc.span.end], "\"nope.toml\"");
    }
}
