//! Loading: a plan file and its includes -> parsed raw plans.
//!
//! Takes the entry path and a reader (only `main` touches the filesystem); returns every
//! source read, the raw plans with includes first (depth-first, in `include` order) and the
//! entry last, and the diagnostics: unreadable files, syntax errors, include cycles, unknown
//! fragments.
//!
//! A name that starts with `mountplan:` (in `include`, or as the entry) is a fragment shipped
//! inside mountplan ([`crate::fragments`]): its text is embedded, never read through the
//! reader, and it counts against the limits like a file. A fragment includes only fragments.
//!
//! This file walks the includes ([`load_with`]); `limits.rs` holds what one plan may read
//! ([`Limits`], the constants, and the budget counted as the files are read).

mod limits;

use std::io;
use std::path::{Path, PathBuf};

use self::limits::{Budget, MAX_DEPTH, value_marks, within_limit};
use crate::diag::Diag;
use crate::fragments;
use crate::raw;
use crate::source::{Loc, SourceId, Sources};

pub use self::limits::{
    Limits, MAX_FILE_BYTES, MAX_FILES, MAX_STEPS, MAX_TOTAL_BYTES, MAX_VALUE_MARKS, too_big,
};

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

/// Reads `entry` and everything it includes, under the default [`Limits`].
pub fn load(entry: &Path, read: &mut dyn FnMut(&Path) -> io::Result<String>) -> Loaded {
    load_with(entry, read, &Limits::default())
}

/// Reads `entry` and everything it includes, under `limits`.
pub fn load_with(
    entry: &Path,
    read: &mut dyn FnMut(&Path) -> io::Result<String>,
    limits: &Limits,
) -> Loaded {
    let mut l = Loaded::default();
    let within_limit = |t: String| within_limit(t, limits.file_bytes);
    let text = match entry.to_str().filter(|n| fragments::is_fragment_name(n)) {
        Some(name) => match fragments::get(name) {
            Some(f) => Ok(f.text.to_string()),
            None => {
                l.diags.push(unknown_fragment(name, None));
                return l;
            }
        },
        None => read(entry).and_then(within_limit),
    };
    match text {
        Ok(text) => {
            let id = l.sources.add(entry.display().to_string(), text);
            let mut stack = vec![(entry.to_path_buf(), None)];
            let mut budget = Budget {
                bytes: l.sources.get(id).text.len(),
                files: 1,
                steps: 0,
                steps_reported: false,
                spent: false,
                marks: 0,
                limits: *limits,
            };
            visit(&mut l, entry, id, &mut stack, &mut budget, read);
        }
        Err(e) => l.diags.push(
            Diag::error_nowhere(
                "mountplan::io",
                format!("cannot read `{}`: {e}", entry.display()),
            )
            .help(read_help(&e)),
        ),
    }
    l
}

/// The error of an include (at `loc`) or an entry (`None`) naming no fragment.
fn unknown_fragment(name: &str, loc: Option<Loc>) -> Diag {
    let message = format!("mountplan has no fragment `{name}`");
    let names = fragments::names();
    let short = name.strip_prefix(fragments::PREFIX).unwrap_or(name);
    let like = crate::parse::did_you_mean(short, fragments::ALL.iter().map(|f| f.name));
    let list = names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let help = match like {
        Some(n) => format!(
            "did you mean `{}{n}`? The fragments are {list}",
            fragments::PREFIX
        ),
        None => format!(
            "the fragments are {list} (`mountplan plan mountplan:NAME` shows what one makes); a \
             file whose name starts with `mountplan:` is included as `./mountplan:...`"
        ),
    };
    match loc {
        Some(loc) => {
            Diag::error("mountplan::include::fragment", message, loc).label("no such fragment")
        }
        None => Diag::error_nowhere("mountplan::include::fragment", message),
    }
    .help(help)
}

/// What to do about a file that cannot be read.
fn read_help(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::FileTooLarge => format!(
            "a plan file is at most {} MiB; split it with `include`",
            MAX_FILE_BYTES >> 20
        ),
        io::ErrorKind::InvalidData => "save the plan as UTF-8 text".into(),
        io::ErrorKind::InvalidInput => "give the path of a plan file".into(),
        io::ErrorKind::UnexpectedEof => {
            "give a plan: pipe one into standard input, or give the path of a plan file".into()
        }
        _ => "check the path and its permissions".into(),
    }
}

fn visit(
    l: &mut Loaded,
    path: &Path,
    id: SourceId,
    stack: &mut Vec<(PathBuf, Option<Loc>)>,
    budget: &mut Budget,
    read: &mut dyn FnMut(&Path) -> io::Result<String>,
) {
    budget.marks = budget
        .marks
        .saturating_add(value_marks(&l.sources.get(id).text));
    if budget.marks > budget.limits.value_marks {
        // Not parsed at all: the parser's memory is what this limit bounds.
        budget.spent = true;
        l.diags.push(
            Diag::error(
                "mountplan::limit::values",
                format!(
                    "the plan has more than {} keys, tables and values (counted as the bytes \
                     `=`, `.`, `,`, `[` and `{{`), its includes counted",
                    budget.limits.value_marks
                ),
                Loc::new(id, 0..0),
            )
            .label("this file is past the limit, and was not read further")
            .help("split the plan, or write it with fewer, simpler keys; a plan this large cannot be reviewed"),
        );
        return;
    }
    let max_steps = budget.limits.steps;
    // Each file may add what is left of the plan's step budget: the first file past it is
    // blamed, once; steps past it are dropped (the errors stop the plan anyway).
    let counted = budget.steps;
    let parsed = crate::parse::parse(&l.sources, id, max_steps.saturating_sub(counted));
    l.diags.extend(parsed.diags);
    let plan = parsed.plan;
    budget.steps = budget.steps.saturating_add(plan.step.len());
    if let Some(at) = parsed.over {
        if !budget.steps_reported {
            budget.steps_reported = true;
            let counted = if counted > 0 {
                ", its includes counted"
            } else {
                ""
            };
            l.diags.push(
                Diag::error(
                    "mountplan::limit::steps",
                    format!("the plan has more than {max_steps} steps{counted}"),
                    Loc::new(id, at),
                )
                .label("this step is past the limit")
                .help("split the plan; a plan this long cannot be reviewed"),
            );
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let in_fragment = path.to_str().is_some_and(fragments::is_fragment_name);
    for inc in plan.include.iter().flatten() {
        let loc = Loc::new(id, inc.span.clone());
        let fragment = fragments::is_fragment_name(&inc.value);
        if in_fragment && !fragment {
            l.diags.push(
                Diag::error(
                    "mountplan::include::fragment",
                    format!("a fragment includes a file (`{}`)", inc.value),
                    loc,
                )
                .label("a fragment includes only fragments")
                .help("include fragments only (`mountplan:NAME`)"),
            );
            continue;
        }
        let child = if fragment {
            PathBuf::from(&inc.value)
        } else {
            dir.join(&inc.value)
        };
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
        if budget.spent {
            continue;
        }
        if budget.files >= budget.limits.files {
            budget.spent = true;
            l.diags.push(
                Diag::error(
                    "mountplan::limit::files",
                    format!(
                        "the plan reads more than {} files, includes counted",
                        budget.limits.files
                    ),
                    loc,
                )
                .label("one include too many")
                .help("include each file once"),
            );
            continue;
        }
        let text = if fragment {
            match fragments::get(&inc.value) {
                Some(f) => Ok(f.text.to_string()),
                None => {
                    l.diags.push(unknown_fragment(&inc.value, Some(loc)));
                    continue;
                }
            }
        } else {
            read(&child).and_then(|t| within_limit(t, budget.limits.file_bytes))
        };
        budget.files += 1;
        match text {
            Ok(text) if budget.bytes.saturating_add(text.len()) > budget.limits.total_bytes => {
                budget.spent = true;
                l.diags.push(
                    Diag::error(
                        "mountplan::limit::bytes",
                        format!(
                            "the plan and its includes are larger than {} MiB together",
                            budget.limits.total_bytes >> 20
                        ),
                        loc,
                    )
                    .label("this include is past the limit")
                    .help("include each file once"),
                );
            }
            Ok(text) => {
                budget.bytes += text.len();
                let cid = l.sources.add(child.display().to_string(), text);
                stack.push((child.clone(), Some(loc)));
                visit(l, &child, cid, stack, budget, read);
                stack.pop();
            }
            Err(e) => l.diags.push(
                Diag::error(
                    "mountplan::include::unreadable",
                    format!("cannot read included file `{}`: {e}", child.display()),
                    loc,
                )
                .label("included here")
                .help(
                    "include paths are relative to the including file (to the current \
                     directory for a plan read from standard input)",
                ),
            ),
        }
    }
    l.plans.push((id, plan));
}

/// A path with `.` and `..` folded lexically, to compare includes.
pub fn normal(p: &Path) -> PathBuf {
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
mod tests;
