//! Fuzzing the front end (parse -> validate -> graph -> render, and diff) with proptest.
//!
//! Inputs come from two generators: mutations of a corpus (the plans in `plans/`, the
//! fixtures in `tests/fixtures/` and the seeds and past crashes in `tests/fuzz-corpus/`) by
//! byte flips, token inserts (once, or repeated up to 150 000 bytes), range deletes, line
//! deletes, duplicates and swaps, splices of lines from another corpus file, and
//! `key = value` lines put into steps from a grammar of the known keys, kinds and values; and
//! random structured plans from the same grammar.
//!
//! The properties, for every input: nothing panics; every diagnostic's spans (primary and
//! secondary) lie inside their source, on character boundaries; the diagnostics render
//! (human and JSON); and a valid plan renders in every format (text, coloured text, JSON,
//! Markdown, Mermaid, DOT) and diffs (against itself: the same; against its seed: text, JSON,
//! Markdown) byte-for-byte the same when checked and rendered a second time.
//!
//! Cases per property: `PROPTEST_CASES` (default 2000). A long run:
//! `PROPTEST_CASES=100000 cargo test --release --test fuzz`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mountplan::render::{self, TextOptions};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, FileFailurePersistence};

/// Every corpus file, by its path relative to the crate (as includes resolve them).
fn corpus() -> &'static BTreeMap<PathBuf, String> {
    static C: OnceLock<BTreeMap<PathBuf, String>> = OnceLock::new();
    C.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut m = BTreeMap::new();
        let mut dirs = vec![
            PathBuf::from("plans"),
            PathBuf::from("tests/fixtures"),
            PathBuf::from("tests/fuzz-corpus"),
        ];
        while let Some(d) = dirs.pop() {
            let Ok(rd) = std::fs::read_dir(root.join(&d)) else {
                continue;
            };
            for e in rd.flatten() {
                let rel = d.join(e.file_name());
                if e.path().is_dir() {
                    dirs.push(rel);
                } else if rel.extension().is_some_and(|x| x == "toml") {
                    let text = std::fs::read_to_string(e.path()).expect("corpus file");
                    m.insert(rel, text);
                }
            }
        }
        assert!(m.len() >= 30, "corpus: {} files", m.len());
        m
    })
}

fn corpus_names() -> &'static [PathBuf] {
    static N: OnceLock<Vec<PathBuf>> = OnceLock::new();
    N.get_or_init(|| corpus().keys().cloned().collect())
}

/// Checks `text` as if it were the file `at`; its includes are read from the corpus.
fn check(at: &Path, text: &str) -> mountplan::Checked {
    let vars = [("FUZZ".to_string(), "/fuzz".to_string())];
    mountplan::check(at, &vars, &mut |p: &Path| {
        if p == at {
            return Ok(text.to_string());
        }
        corpus()
            .get(&mountplan::load::normal(p))
            .cloned()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    })
}

/// Everything the front end produces for `text` at `at`, as bytes: the diagnostics (human
/// and JSON) and, for a valid plan, every format and the diffs.
fn everything(at: &Path, text: &str, seed: Option<&mountplan::Checked>) -> Vec<String> {
    let c = check(at, text);
    spans_inside(&c);
    let mut out = vec![
        mountplan::diag::render_human(&c.sources, &c.diags, 80, false),
        mountplan::diag::json(&c.sources, &c.diags).to_string(),
    ];
    if let (Some(dag), false) = (&c.dag, c.has_errors()) {
        let (s, d) = (&c.sources, &c.diags);
        out.push(render::text(s, dag, d, &TextOptions { color: false }));
        out.push(render::text(s, dag, d, &TextOptions { color: true }));
        out.push(render::json(s, dag, d));
        out.push(render::markdown(s, dag, d));
        out.push(render::mermaid(dag));
        out.push(render::dot(dag));
        let same = mountplan::diff::diff(dag, dag);
        assert!(same.is_same(), "a plan differs from itself:\n{text}");
        out.push(mountplan::diff::text(&same, "a", "a", false));
        if let Some(old) = seed.and_then(|s| s.dag.as_ref()) {
            let d = mountplan::diff::diff(old, dag);
            out.push(mountplan::diff::text(&d, "old", "new", false));
            out.push(mountplan::diff::text(&d, "old", "new", true));
            out.push(mountplan::diff::json(&d, "old", "new"));
            out.push(mountplan::diff::markdown(&d, "old", "new"));
        }
    }
    out
}

/// Every span of every diagnostic lies inside its source, on character boundaries.
fn spans_inside(c: &mountplan::Checked) {
    for d in &c.diags {
        let locs = d.loc.iter().chain(d.secondary.iter().map(|(l, _)| l));
        for l in locs {
            assert!(
                (l.src.0 as usize) < c.sources.len(),
                "{}: source {} of {}",
                d.code,
                l.src.0,
                c.sources.len()
            );
            let t = &c.sources.get(l.src).text;
            assert!(
                l.span.start <= l.span.end && l.span.end <= t.len(),
                "{} `{}`: span {:?} outside a {}-byte source",
                d.code,
                d.message,
                l.span,
                t.len()
            );
            assert!(
                t.is_char_boundary(l.span.start) && t.is_char_boundary(l.span.end),
                "{} `{}`: span {:?} splits a character",
                d.code,
                d.message,
                l.span
            );
        }
    }
}

/// The properties, for one input: no panic (the caller catches it), spans inside, and the
/// same bytes when checked and rendered twice.
fn holds(at: &Path, text: &str, seed: Option<&mountplan::Checked>) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    if n % 10_000 == 0 {
        // Seen with --nocapture: how many inputs a long run checked.
        println!("fuzz: {n} inputs checked");
    }
    let first = everything(at, text, seed);
    let again = everything(at, text, seed);
    assert!(first == again, "not deterministic:\n{text}");
}

// ---- the grammar -----------------------------------------------------------------------

const KINDS: &[&str] = &[
    "mount",
    "remount",
    "propagation",
    "umount",
    "mkdir",
    "mknod",
    "symlink",
    "chmod",
    "mask",
    "readonly",
    "pivot",
];

use mountplan::raw::STEP_KEYS;

/// Words the values are made of: every enumerated value of a step, and near misses.
const WORDS: &[&str] = &[
    "bind",
    "rbind",
    "tmpfs",
    "proc",
    "sysfs",
    "devpts",
    "mqueue",
    "overlay",
    "cgroup2",
    "ext4",
    "ro",
    "rw",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "relatime",
    "noatime",
    "strictatime",
    "rec",
    "sync",
    "private",
    "slave",
    "shared",
    "unbindable",
    "dir",
    "file",
    "char",
    "block",
    "fifo",
    "pivot-root",
    "put-old",
    "move",
    "chroot",
    "auto",
    "0755",
    "1777",
    "0666",
    "16M",
    "64k",
    "1g",
    "50%",
    "size=1M",
    "mode=0700",
    "",
    " ",
    "a,b",
    "x=y",
];

const PATHS: &[&str] = &[
    "/",
    "/a",
    "/a/b",
    "/a/b/c",
    "/dev",
    "/dev/null",
    "/dev/pts",
    "/dev/shm",
    "/proc",
    "/proc/sys",
    "/sys",
    "/tmp",
    "/usr",
    "/etc",
    "/oldroot",
    "/t",
    "/a/../b",
    "/a/./b",
    "//a",
    "/a/",
    "a",
    "",
    "/${FUZZ}",
    "${FUZZ}/x",
    "/$${x}",
    "/${NOPE}",
    "/${",
    "/é/😀",
    "/a\u{0}b",
    "/a\nb",
];

/// A TOML value, as text, that a step key might hold.
fn value() -> BoxedStrategy<String> {
    let word = prop::sample::select(WORDS).prop_map(|w| format!("{w:?}"));
    let path = prop::sample::select(PATHS).prop_map(|p| format!("{p:?}"));
    let kind = prop::sample::select(KINDS).prop_map(|k| format!("{k:?}"));
    let int = prop_oneof![
        Just(0i64),
        Just(-1),
        Just(1),
        Just(4095),
        Just(4096),
        Just(1 << 20),
        Just(i64::MAX),
        Just(i64::MIN),
        any::<i64>(),
        0i64..70000,
    ]
    .prop_map(|n| n.to_string());
    let scalar = prop_oneof![
        3 => word,
        3 => path,
        1 => kind,
        2 => int,
        1 => any::<bool>().prop_map(|b| b.to_string()),
        1 => prop::sample::select(&["1.5", "inf", "nan", "1979-05-27", "\"\"\"\na\"\"\"", "'lit'"][..])
            .prop_map(str::to_string),
        1 => "[a-z/${}$.]{0,12}".prop_map(|s| format!("{s:?}")),
    ];
    scalar
        .prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec(
                    (
                        prop::sample::select(&["size", "mode", "path", "tmpfs", "x"][..]),
                        inner
                    ),
                    0..3
                )
                .prop_map(|v| format!(
                    "{{ {} }}",
                    v.into_iter()
                        .map(|(k, v)| format!("{k} = {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ]
        })
        .boxed()
}

/// A `key = value` line for a step.
fn field() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            9 => prop::sample::select(STEP_KEYS).prop_map(str::to_string),
            1 => "[a-z_]{1,8}",
        ],
        value(),
    )
        .prop_map(|(k, v)| format!("{k} = {v}\n"))
}

/// Fields that make a step of `kind` likely valid, so structured plans get past validation.
fn typical(kind: &'static str) -> BoxedStrategy<Vec<String>> {
    let p = || prop::sample::select(&PATHS[1..16]).prop_map(|p| p.to_string());
    match kind {
        "mount" => (
            prop::sample::select(
                &[
                    "bind", "rbind", "tmpfs", "proc", "devpts", "mqueue", "sysfs",
                ][..],
            ),
            p(),
            p(),
            prop::collection::vec(prop::sample::select(&WORDS[10..22]), 0..3),
        )
            .prop_map(|(t, s, d, o)| {
                let mut v = vec![format!("type = {t:?}\n"), format!("target = {d:?}\n")];
                if t.ends_with("bind") {
                    v.push(format!("source = {s:?}\n"));
                }
                v.push(format!("options = {o:?}\n"));
                v
            })
            .boxed(),
        "umount" => p().prop_map(|d| vec![format!("target = {d:?}\n")]).boxed(),
        "remount" => (p(), prop::sample::select(&WORDS[10..16]))
            .prop_map(|(d, o)| vec![format!("target = {d:?}\n"), format!("options = [{o:?}]\n")])
            .boxed(),
        "propagation" => (p(), prop::sample::select(&WORDS[23..27]))
            .prop_map(|(d, w)| {
                vec![
                    format!("target = {d:?}\n"),
                    format!("propagation = {w:?}\n"),
                ]
            })
            .boxed(),
        "mkdir" | "mask" | "readonly" => (p(), any::<bool>())
            .prop_map(move |(d, b)| {
                let mut v = vec![format!("path = {d:?}\n")];
                if b && kind == "mkdir" {
                    v.push("parents = true\n".into());
                }
                v
            })
            .boxed(),
        "mknod" => (p(), 0i64..300, 0i64..300)
            .prop_map(|(d, a, b)| {
                vec![
                    format!("path = {d:?}\n"),
                    "node = \"char\"\n".into(),
                    format!("major = {a}\nminor = {b}\n"),
                ]
            })
            .boxed(),
        "symlink" => (p(), p())
            .prop_map(|(d, t)| vec![format!("path = {d:?}\n"), format!("to = {t:?}\n")])
            .boxed(),
        "chmod" => (p(), prop::sample::select(&WORDS[37..40]))
            .prop_map(|(d, m)| vec![format!("path = {d:?}\n"), format!("mode = {m:?}\n")])
            .boxed(),
        _ => prop::sample::select(&WORDS[32..36])
            .prop_map(|s| vec![format!("strategy = {s:?}\n")])
            .boxed(),
    }
}

/// A random plan from the grammar: a head, then steps with typical fields, some random
/// fields, ids and `after` references.
fn structured() -> impl Strategy<Value = String> {
    let extra = prop_oneof![
        6 => Just(Vec::new()),
        1 => prop::collection::vec(field(), 1..3),
    ];
    let kind = prop_oneof![
        12 => prop::sample::select(&KINDS[..10]),
        1 => Just("pivot"),
    ];
    let step = (kind, 0u8..4, extra, 0usize..12)
        .prop_flat_map(|(kind, id, extra, after)| (typical(kind), Just((kind, id, extra, after))))
        .prop_map(|(mut fields, (kind, id, extra, after))| {
            fields.extend(extra);
            (kind, id, fields, after)
        });
    (
        prop::sample::select(
            &[
                "[root]\ntmpfs = {}\n",
                "[root]\ntmpfs = { size = \"16M\", mode = \"0755\" }\n",
                "[root]\npath = \"/srv/root\"\n",
                "[root]\npath = \"${FUZZ}\"\n",
            ][..],
        ),
        prop::sample::select(
            &[
                "",
                "[namespaces]\npid = true\n",
                "[namespaces]\nuser = \"auto\"\nipc = true\n",
                "[vars]\nA = \"/a\"\n",
            ][..],
        ),
        prop::collection::vec(step, 0..14),
    )
        .prop_map(|(root, ns, steps)| {
            // Ids are unique; `after` mostly names an earlier step.
            let mut text = String::new();
            for (i, (kind, id, fields, after)) in steps.into_iter().enumerate() {
                text.push_str(&format!("[[step]]\nkind = {kind:?}\n"));
                if id > 0 {
                    text.push_str(&format!("id = \"s{i}\"\n"));
                }
                if id == 3 && i > 0 {
                    // Mostly an earlier step; sometimes a later one or an unknown one.
                    text.push_str(&format!("after = [\"s{}\"]\n", after % (i + 2)));
                }
                text.extend(fields);
            }
            let steps = text;
            format!("version = 1\n{root}{ns}{steps}")
        })
}

/// One mutation of a text.
#[derive(Debug, Clone)]
enum Op {
    /// XOR the byte at (a fraction of) the length with a value.
    Flip(f64, u8),
    /// Insert a token.
    Insert(f64, String),
    /// Delete a byte range.
    Delete(f64, usize),
    /// Delete a line.
    DeleteLine(f64),
    /// Duplicate a line.
    DuplicateLine(f64),
    /// Swap two lines.
    SwapLines(f64, f64),
    /// Insert lines `from..from+n` of another corpus file.
    Splice(f64, usize, f64, usize),
    /// Insert a `key = value` line after a `[[step]]` header (or anywhere).
    Field(f64, String),
    /// Insert a token repeated many times (long lines, long strings, deep nesting).
    Repeat(f64, String, usize),
}

const TOKENS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "=",
    "\"",
    "'",
    "\"\"\"",
    "'''",
    "\n",
    "\r",
    "\t",
    ",",
    ".",
    "#",
    "${",
    "$$",
    "\\",
    "\\u",
    "\0",
    "é",
    "😀",
    "[[step]]\n",
    "[root]\n",
    "[vars]\n",
    "[namespaces]\n",
    "include = [\"base/libcontainer-mounts.toml\"]\n",
    "include = [\"x.toml\"]\n",
    "kind = ",
    "id = \"a\"\n",
    "after = [\"a\"]\n",
    "version = 1\n",
    "version = 2\n",
    "\n[[step]]\nkind = \"pivot\"\n",
];

fn op() -> impl Strategy<Value = Op> {
    let at = 0.0..1.0f64;
    prop_oneof![
        3 => (at.clone(), any::<u8>()).prop_map(|(a, b)| Op::Flip(a, b)),
        3 => (at.clone(), prop::sample::select(TOKENS)).prop_map(|(a, t)| Op::Insert(a, t.to_string())),
        2 => (at.clone(), 1usize..40).prop_map(|(a, n)| Op::Delete(a, n)),
        2 => at.clone().prop_map(Op::DeleteLine),
        2 => at.clone().prop_map(Op::DuplicateLine),
        1 => (at.clone(), at.clone()).prop_map(|(a, b)| Op::SwapLines(a, b)),
        2 => (at.clone(), 0usize..1000, at.clone(), 1usize..12).prop_map(|(a, f, b, n)| Op::Splice(a, f, b, n)),
        4 => (at.clone(), field()).prop_map(|(a, f)| Op::Field(a, f)),
        1 => (at, prop::sample::select(TOKENS), 1usize..100_000)
            .prop_map(|(a, t, n)| Op::Repeat(a, t.to_string(), n)),
    ]
}

/// A byte index at fraction `f` of `len`.
fn pos(f: f64, len: usize) -> usize {
    ((f * len as f64) as usize).min(len)
}

fn apply(text: &str, op: &Op) -> String {
    let mut b = text.as_bytes().to_vec();
    let lines = |t: &[u8]| -> Vec<Vec<u8>> {
        t.split_inclusive(|&c| c == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    };
    match op {
        Op::Flip(f, x) => {
            if !b.is_empty() {
                let i = pos(*f, b.len() - 1);
                b[i] ^= x;
            }
        }
        Op::Insert(f, t) => {
            let i = pos(*f, b.len());
            b.splice(i..i, t.bytes());
        }
        Op::Repeat(f, t, n) => {
            let i = pos(*f, b.len());
            // At most 150 000 bytes: past column 65535, yet cheap enough for CI.
            let n = (*n).min(150_000 / t.len().max(1));
            b.splice(i..i, t.repeat(n).into_bytes());
        }
        Op::Delete(f, n) => {
            let i = pos(*f, b.len());
            b.drain(i..(i + n).min(b.len()));
        }
        Op::DeleteLine(f) | Op::DuplicateLine(f) => {
            let mut l = lines(&b);
            if !l.is_empty() {
                let i = pos(*f, l.len() - 1);
                if matches!(op, Op::DeleteLine(_)) {
                    l.remove(i);
                } else {
                    let x = l[i].clone();
                    l.insert(i, x);
                }
            }
            b = l.concat();
        }
        Op::SwapLines(f, g) => {
            let mut l = lines(&b);
            if !l.is_empty() {
                let (i, j) = (pos(*f, l.len() - 1), pos(*g, l.len() - 1));
                l.swap(i, j);
            }
            b = l.concat();
        }
        Op::Splice(f, from, g, n) => {
            let names = corpus_names();
            let other = &corpus()[&names[from % names.len()]];
            let ol = lines(other.as_bytes());
            let s = pos(*g, ol.len());
            let piece: Vec<u8> = ol[s..(s + n).min(ol.len())].concat();
            let mut l = lines(&b);
            let i = pos(*f, l.len());
            l.insert(i, piece);
            b = l.concat();
        }
        Op::Field(f, line) => {
            let mut l = lines(&b);
            let heads: Vec<usize> = l
                .iter()
                .enumerate()
                .filter(|(_, x)| x.starts_with(b"[[step]]"))
                .map(|(i, _)| i + 1)
                .collect();
            let i = if heads.is_empty() {
                pos(*f, l.len())
            } else {
                heads[pos(*f, heads.len() - 1)]
            };
            l.insert(i, line.clone().into_bytes());
            b = l.concat();
        }
    }
    // The reader refuses invalid UTF-8 before the pipeline; keep fuzzing the pipeline.
    String::from_utf8_lossy(&b).into_owned()
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    Config {
        cases,
        // Failures found are kept as files in tests/fuzz-corpus/, not as proptest seeds.
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Mutated corpus files hold the properties.
    #[test]
    fn mutated_corpus(seed in 0usize..10_000, ops in prop::collection::vec(op(), 1..8)) {
        let names = corpus_names();
        let at = &names[seed % names.len()];
        let original = &corpus()[at];
        let text = ops.iter().fold(original.clone(), |t, o| apply(&t, o));
        let base = check(at, original);
        holds(at, &text, Some(&base));
    }

    /// Random structured plans hold the properties (and many of them are valid, so the
    /// graph, render and diff stages see real work).
    #[test]
    fn structured_plans(text in structured(), ops in prop::collection::vec(op(), 0..3)) {
        let at = Path::new("plans/fuzz.toml");
        let base = check(at, &text);
        let mutated = ops.iter().fold(text.clone(), |t, o| apply(&t, o));
        holds(at, &mutated, Some(&base));
    }
}

/// Every corpus file itself (the seeds and every past crash) holds the properties.
#[test]
fn corpus_files_hold() {
    for (at, text) in corpus() {
        holds(at, text, None);
    }
}

/// Enough structured plans are valid (a fifth; a third when written) for the back half of
/// the pipeline to be fuzzed.
#[test]
fn structured_plans_are_often_valid() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let s = structured();
    let (mut valid, n) = (0, 300);
    for _ in 0..n {
        let text = s.new_tree(&mut runner).expect("plan").current();
        let c = check(Path::new("plans/fuzz.toml"), &text);
        valid += usize::from(c.dag.is_some() && !c.has_errors());
    }
    println!("{valid} of {n} structured plans are valid");
    assert!(
        valid * 5 >= n,
        "only {valid} of {n} structured plans are valid"
    );
}
