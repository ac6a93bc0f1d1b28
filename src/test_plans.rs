//! Plans for unit tests, written as plan text and checked as `mountplan check` checks a file.
//!
//! Takes steps as the keys of their `[[step]]` tables (the helpers below write the usual
//! ones); returns the plan text and what checking it gives: the DAG, or every diagnostic, each
//! with the real span of the key it points at ([`spot`] says which step, key and text that is).

use crate::diag::Diag;
use crate::graph::Dag;
use crate::source::Loc;

fn plan(root: &str, steps: &[String]) -> String {
    let mut t = format!("version = 1\nname = \"t\"\n\n[root]\n{root}\n");
    for s in steps {
        t.push_str("\n[[step]]\n");
        t.push_str(s);
    }
    t
}

/// A plan on an empty tmpfs root.
pub(crate) fn on_tmpfs(steps: &[String]) -> String {
    plan("tmpfs = {}", steps)
}

/// A plan on the host directory `/srv/root`.
pub(crate) fn on_dir(steps: &[String]) -> String {
    plan("path = \"/srv/root\"", steps)
}

/// The plan checked: every source, the DAG when valid, every diagnostic.
pub(crate) fn check(text: &str) -> crate::Checked {
    crate::check_with(
        std::path::Path::new("plans/t.toml"),
        &[],
        &mut |_| Ok(text.to_string()),
        &crate::load::Limits::default(),
    )
}

/// The DAG, or every diagnostic when the plan has errors.
pub(crate) fn try_dag(text: &str) -> Result<Dag, Vec<Diag>> {
    let c = check(text);
    c.dag.ok_or(c.diags)
}

/// The DAG of a valid plan.
pub(crate) fn dag(text: &str) -> Dag {
    match try_dag(text) {
        Ok(d) => d,
        Err(e) => panic!(
            "expected a DAG, got {:#?}\n{text}",
            e.iter().map(|d| d.to_string()).collect::<Vec<_>>()
        ),
    }
}

/// Where a place is in a plan text: the step (0 for the first `[[step]]`), the key whose
/// value it is in, and the text it covers.
pub(crate) type Spot<'t> = (usize, &'t str, &'t str);

/// Where `loc` points in `text`.
pub(crate) fn spot(text: &str, loc: Loc) -> Spot<'_> {
    let (start, end) = (loc.span.start, loc.span.end);
    let steps = text[..start].matches("[[step]]").count();
    assert!(steps > 0, "{start}..{end} is before every step in\n{text}");
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let key = text[line_start..].split_once(" = ").map_or("", |(k, _)| k);
    (steps - 1, key, &text[start..end])
}

/// [`spot`] of an optional place.
pub(crate) fn spot_of(text: &str, loc: Option<Loc>) -> Option<Spot<'_>> {
    loc.map(|l| spot(text, l))
}

/// A `[[step]]` table's keys: `kind`, `id`, then `keys`, one a line.
pub(crate) fn step(kind: &str, id: &str, keys: &[String]) -> String {
    let mut s = format!("kind = \"{kind}\"\nid = \"{id}\"\n");
    for k in keys {
        s.push_str(k);
        s.push('\n');
    }
    s
}

/// `s` with `after = [...]`.
pub(crate) fn with_after(s: String, ids: &[&str]) -> String {
    format!("{s}after = {}\n", list(ids))
}

/// `["a", "b"]`.
pub(crate) fn list(words: &[&str]) -> String {
    let w: Vec<String> = words.iter().map(|o| format!("\"{o}\"")).collect();
    format!("[{}]", w.join(", "))
}

/// `key = "value"`.
pub(crate) fn kv(key: &str, value: &str) -> String {
    format!("{key} = \"{value}\"")
}

/// An empty tmpfs on `target`.
pub(crate) fn tmpfs(id: &str, target: &str) -> String {
    step("mount", id, &[kv("type", "tmpfs"), kv("target", target)])
}

/// A mount of `ty` on `target` with `options`.
pub(crate) fn mount(id: &str, ty: &str, target: &str, options: &[&str]) -> String {
    step(
        "mount",
        id,
        &[
            kv("type", ty),
            kv("target", target),
            format!("options = {}", list(options)),
        ],
    )
}

/// A read-only bind of the host's `source` (`rbind` when `recursive`).
pub(crate) fn bind(id: &str, source: &str, target: &str, recursive: bool) -> String {
    let ty = if recursive { "rbind" } else { "bind" };
    step(
        "mount",
        id,
        &[
            kv("type", ty),
            kv("source", source),
            kv("target", target),
            "options = [\"ro\"]".into(),
        ],
    )
}

/// A directory, mode 0755.
pub(crate) fn mkdir(id: &str, path: &str) -> String {
    step("mkdir", id, &[kv("path", path)])
}

/// `/dev/null`'s character device 1:3, mode 0666.
pub(crate) fn mknod(id: &str, path: &str) -> String {
    step(
        "mknod",
        id,
        &[
            kv("path", path),
            kv("node", "char"),
            "major = 1".into(),
            "minor = 3".into(),
        ],
    )
}

/// A mode, owner uid 0.
pub(crate) fn chmod(id: &str, path: &str, mode: &str) -> String {
    step(
        "chmod",
        id,
        &[kv("path", path), kv("mode", mode), "uid = 0".into()],
    )
}

/// A remount of `target` with `options`.
pub(crate) fn remount(id: &str, target: &str, options: &[&str]) -> String {
    step(
        "remount",
        id,
        &[kv("target", target), format!("options = {}", list(options))],
    )
}

/// A detach of the mount on `target`.
pub(crate) fn umount(id: &str, target: &str) -> String {
    step("umount", id, &[kv("target", target)])
}

/// The mount on `target` made private.
pub(crate) fn propagation(id: &str, target: &str) -> String {
    step(
        "propagation",
        id,
        &[kv("target", target), kv("propagation", "private")],
    )
}

/// A mask of `path`.
pub(crate) fn mask(id: &str, path: &str) -> String {
    step("mask", id, &[kv("path", path)])
}

/// `path` made read-only.
pub(crate) fn readonly(id: &str, path: &str) -> String {
    step("readonly", id, &[kv("path", path)])
}

/// A `pivot-root` pivot.
pub(crate) fn pivot_root(id: &str) -> String {
    step("pivot", id, &[kv("strategy", "pivot-root")])
}
