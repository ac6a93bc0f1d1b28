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

#[path = "fuzz/grammar.rs"]
mod grammar;
use grammar::*;
#[path = "fuzz/mutate.rs"]
mod mutate;
use mutate::*;

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

use mountplan::raw::STEP_KEYS;

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
