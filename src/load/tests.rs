//! Unit tests of loading: includes, cycles, fragments, the limits.

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
