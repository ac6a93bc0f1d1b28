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

use std::io;
use std::path::{Path, PathBuf};

use crate::diag::Diag;
use crate::fragments;
use crate::raw;
use crate::source::{Loc, SourceId, Sources};

/// How deep includes may nest.
const MAX_DEPTH: usize = 16;
/// The largest plan file read, in bytes (2 MiB: parsing takes up to ~240 times that in
/// memory). A reader should stop reading past it; a longer text is refused here too.
pub const MAX_FILE_BYTES: usize = 2 << 20;
/// The most bytes one plan may read, all its includes together (16 MiB): includes may
/// repeat a file, so without it a few small files could include each other into billions.
pub const MAX_TOTAL_BYTES: usize = 16 << 20;
/// The most files one plan may read (or try to), the plan itself and every include counted.
pub const MAX_FILES: usize = 256;
/// The most value marks a plan may have, its includes counted: the bytes `=`, `.`, `,`, `[`
/// and `{`, counted before parsing, a bound on the keys, tables and values the TOML parser
/// would build (each costs it up to ~900 bytes: 2 MiB of dotted keys took 920 MB). A plan of
/// 10 000 steps has about 60 000.
pub const MAX_VALUE_MARKS: usize = 300_000;
/// The most steps a plan may have, its includes' steps counted. Real plans have tens; past
/// this the dry run and the final mount tree stop being reviewable.
pub const MAX_STEPS: usize = 10_000;

/// The limits one plan is loaded under. [`Limits::default`] holds the constants above: what
/// the command line applies to every plan, since a plan may come from anyone. A caller that
/// trusts its input (a benchmark of 100 000 steps) may lift them with [`Limits::none`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file, in bytes ([`MAX_FILE_BYTES`]).
    pub file_bytes: usize,
    /// All files together, in bytes ([`MAX_TOTAL_BYTES`]).
    pub total_bytes: usize,
    /// Files read or tried ([`MAX_FILES`]).
    pub files: usize,
    /// Steps, includes counted ([`MAX_STEPS`]).
    pub steps: usize,
    /// Value marks, includes counted ([`MAX_VALUE_MARKS`]).
    pub value_marks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            file_bytes: MAX_FILE_BYTES,
            total_bytes: MAX_TOTAL_BYTES,
            files: MAX_FILES,
            steps: MAX_STEPS,
            value_marks: MAX_VALUE_MARKS,
        }
    }
}

impl Limits {
    /// No limit but memory: for trusted, generated input only.
    pub fn none() -> Self {
        Limits {
            file_bytes: usize::MAX,
            total_bytes: usize::MAX,
            files: usize::MAX,
            steps: usize::MAX,
            value_marks: usize::MAX,
        }
    }
}

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

/// A text longer than `max` bytes as an error, for readers that do not stop there.
fn within_limit(text: String, max: usize) -> io::Result<String> {
    if text.len() > max {
        return Err(too_big());
    }
    Ok(text)
}

/// The error of a file over [`MAX_FILE_BYTES`], as readers should report it.
pub fn too_big() -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "larger than the limit of {} MiB for a plan file",
            MAX_FILE_BYTES >> 20
        ),
    )
}

/// What one plan has used of the limits so far.
struct Budget {
    bytes: usize,
    /// Files read or tried.
    files: usize,
    steps: usize,
    /// The limit on steps was reported (once for the whole plan).
    steps_reported: bool,
    /// A limit on files or bytes was reported: no more includes are read (each would be read
    /// in full only to be refused: a file can list hundreds of thousands of includes).
    spent: bool,
    /// Value marks seen (see [`MAX_VALUE_MARKS`]).
    marks: usize,
    limits: Limits,
}

/// The bytes that open a key, a table or a value in TOML (`=`, `.`, `,`, `[`, `{`): an upper
/// bound, strings and comments included, of what parsing `text` builds.
fn value_marks(text: &str) -> usize {
    // Counted in byte-sized counters over runs of at most 255 bytes, which the compiler turns
    // into vector compares: ~30 times faster than a filter and count (145 -> 5 us for 92 kB).
    text.as_bytes()
        .chunks(255)
        .map(|run| {
            run.iter()
                .map(|&b| u8::from(matches!(b, b'=' | b'.' | b',' | b'[' | b'{')))
                .sum::<u8>()
        })
        .map(usize::from)
        .sum()
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
    fn a_fragment_is_included_by_name_without_the_reader() {
        let t = "version = 1\ninclude = [\"mountplan:proc\", \"b.toml\"]\n";
        let mut reads = Vec::new();
        let mut inner = fs(&[("p/a.toml", t), ("p/b.toml", "version = 1\n")]);
        let mut r = |p: &Path| {
            reads.push(p.to_path_buf());
            inner(p)
        };
        let l = load(Path::new("p/a.toml"), &mut r);
        assert!(l.diags.is_empty(), "{:?}", l.diags);
        assert_eq!(
            reads,
            [PathBuf::from("p/a.toml"), PathBuf::from("p/b.toml")]
        );
        let names: Vec<_> = l
            .plans
            .iter()
            .map(|(i, _)| l.sources.get(*i).name.clone())
            .collect();
        assert_eq!(names, ["mountplan:proc", "p/b.toml", "p/a.toml"]);
        let (id, _) = &l.plans[0];
        assert!(l.sources.get(*id).text.contains("type = \"proc\""));
    }

    #[test]
    fn a_fragment_is_an_entry_too() {
        let mut never = |_: &Path| -> io::Result<String> { panic!("read called") };
        let l = load(Path::new("mountplan:dev"), &mut never);
        assert!(l.diags.is_empty(), "{:?}", l.diags);
        assert_eq!(l.plans.len(), 1);
        let l = load(Path::new("mountplan:deev"), &mut never);
        assert_eq!(codes(&l), ["mountplan::include::fragment"]);
        assert!(l.diags[0].loc.is_none());
    }

    #[test]
    fn an_unknown_fragment_points_at_its_name_with_did_you_mean() {
        let t = "version = 1\ninclude = [\"mountplan:dve\", \"mountplan:qqqqqqq\"]\n";
        let mut r = fs(&[("a.toml", t)]);
        let l = load(Path::new("a.toml"), &mut r);
        assert_eq!(
            codes(&l),
            [
                "mountplan::include::fragment",
                "mountplan::include::fragment"
            ]
        );
        let loc = l.diags[0].loc.unwrap();
        assert_eq!(&t[loc.span.start..loc.span.end], "\"mountplan:dve\"");
        assert_eq!(
            l.diags[0].message,
            "mountplan has no fragment `mountplan:dve`"
        );
        let help = l.diags[0].help.as_deref().unwrap();
        assert!(help.starts_with("did you mean `mountplan:dev`?"), "{help}");
        let help = l.diags[1].help.as_deref().unwrap();
        assert!(help.contains("`mountplan:usr`, `mountplan:proc`"), "{help}");
        // Only the entry was read: the plan's own file.
        assert_eq!(l.sources.len(), 1);
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

    #[test]
    fn value_marks_count_every_mark() {
        // Runs longer than the 255-byte counters, all marks, and marks only.
        let t = format!(
            "{}é{}x = [1, {{a.b = 2}}]\n",
            ".".repeat(600),
            "=,[{".repeat(300)
        );
        let naive = t
            .bytes()
            .filter(|b| matches!(b, b'=' | b'.' | b',' | b'[' | b'{'))
            .count();
        assert_eq!(value_marks(&t), naive);
        assert_eq!(value_marks(""), 0);
    }

    fn codes(l: &Loaded) -> Vec<&'static str> {
        l.diags.iter().map(|d| d.code).collect()
    }

    #[test]
    fn a_text_over_the_file_limit_is_unreadable() {
        let big = "#".repeat(MAX_FILE_BYTES + 1);
        let mut r = fs(&[("a.toml", big.as_str())]);
        let l = load(Path::new("a.toml"), &mut r);
        assert_eq!(codes(&l), ["mountplan::io"]);
        assert!(l.sources.is_empty());
    }

    #[test]
    fn steps_past_the_limit_across_includes_are_an_error() {
        let half = "[[step]]\nkind = \"pivot\"\n".repeat(MAX_STEPS / 2 + 1);
        let b = format!("version = 1\n{half}");
        let a = format!("version = 1\ninclude = [\"b.toml\"]\n{half}");
        let mut r = fs(&[("a.toml", a.as_str()), ("b.toml", b.as_str())]);
        let l = load(Path::new("a.toml"), &mut r);
        assert_eq!(codes(&l), ["mountplan::limit::steps"]);
        let n: usize = l.plans.iter().map(|(_, p)| p.step.len()).sum();
        assert_eq!(n, MAX_STEPS);
    }

    /// An entry file past the limit by itself, with includes after it: one error, at the
    /// entry's first step past the limit (there was one more for every include with steps).
    #[test]
    fn steps_past_the_limit_are_reported_once() {
        let many = "[[step]]\nkind = \"pivot\"\n".repeat(MAX_STEPS + 3);
        let one = "version = 1\n[[step]]\nkind = \"pivot\"\n";
        let a = format!("version = 1\ninclude = [\"b.toml\", \"c.toml\"]\n{many}");
        let mut r = fs(&[("a.toml", a.as_str()), ("b.toml", one), ("c.toml", one)]);
        let l = load(Path::new("a.toml"), &mut r);
        assert_eq!(codes(&l), ["mountplan::limit::steps"]);
        assert_eq!(
            l.diags[0].message,
            format!("the plan has more than {MAX_STEPS} steps")
        );
        let n: usize = l.plans.iter().map(|(_, p)| p.step.len()).sum();
        assert_eq!(n, MAX_STEPS);
    }

    #[test]
    fn an_include_bomb_stops_at_the_limits() {
        // Each file includes the next one eight times: 8^15 reads without the limits.
        let mut files = Vec::new();
        for i in 0..16 {
            let inc = format!("\"f{}.toml\", ", i + 1).repeat(8);
            let pad = "#".repeat(200_000);
            files.push((
                format!("f{i}.toml"),
                format!("version = 1\ninclude = [{inc}]\n{pad}\n"),
            ));
        }
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let mut reads = 0;
        let mut inner = fs(&refs);
        let mut r = |p: &Path| {
            reads += 1;
            inner(p)
        };
        let l = load(Path::new("f0.toml"), &mut r);
        assert!(
            codes(&l).contains(&"mountplan::limit::bytes"),
            "{:?}",
            codes(&l)
        );
        assert!(reads < 2 * MAX_FILES, "{reads} reads");
        let total: usize = l.sources.iter().map(|(_, f)| f.text.len()).sum();
        assert!(total <= MAX_TOTAL_BYTES);
    }

    #[test]
    fn many_small_includes_stop_at_the_file_limit() {
        let a = format!(
            "version = 1\ninclude = [{}]\n",
            "\"b.toml\", ".repeat(MAX_FILES + 5)
        );
        let mut r = fs(&[("a.toml", a.as_str()), ("b.toml", "version = 1\n")]);
        let l = load(Path::new("a.toml"), &mut r);
        assert_eq!(l.sources.len(), MAX_FILES);
        assert_eq!(codes(&l), ["mountplan::limit::files"]);
    }

    #[test]
    fn includes_past_a_limit_are_not_read() {
        // 100 000 includes of a 200 kB file: 20 GB read (to be refused) without the stop.
        let a = format!(
            "version = 1\ninclude = [{}]\n",
            "\"b.toml\", ".repeat(100_000)
        );
        let b = format!("version = 1\n#{}\n", "x".repeat(200_000));
        let mut reads = 0;
        let mut inner = fs(&[("a.toml", a.as_str()), ("b.toml", b.as_str())]);
        let mut r = |p: &Path| {
            reads += 1;
            inner(p)
        };
        let l = load(Path::new("a.toml"), &mut r);
        assert_eq!(codes(&l), ["mountplan::limit::bytes"]);
        assert!(reads <= MAX_TOTAL_BYTES / 200_000 + 2, "{reads} reads");
    }
}
