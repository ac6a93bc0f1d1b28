//! Every plan in plans/, every fragment (`mountplan:NAME`) and every valid fixture, in every format, against the snapshots in
//! tests/snapshots/ and plans/NAME.plan.txt, through `mountplan plan --check` (refresh with
//! `MOUNTPLAN_BLESS=1 cargo test --test render`), plus checks
//! that do not depend on the snapshots: the JSON parses, Mermaid and dot are well formed (dot
//! is run through Graphviz where installed), the text lists exactly the planned calls, and the
//! `plan` and `diff` commands exit as documented.

use std::path::{Path, PathBuf};
use std::process::Command;

use mountplan::render::{self, TextOptions};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The plans to render: plans/*.toml and tests/fixtures/valid/*.toml, as paths relative to the
/// crate (so the file names in the output do not depend on where the crate is checked out).
fn plans() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["plans", "tests/fixtures/valid"] {
        let Ok(rd) = std::fs::read_dir(Path::new(ROOT).join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml") {
                if let Some(name) = p.file_name() {
                    out.push(Path::new(dir).join(name));
                }
            }
        }
    }
    out.sort();
    // The fragments shipped inside mountplan, by their names (never read from a file).
    out.extend(
        mountplan::fragments::ALL
            .iter()
            .map(|f| PathBuf::from(f.full_name())),
    );
    out
}

fn check(rel: &Path) -> mountplan::Checked {
    mountplan::check(rel, &[], &mut |p| {
        std::fs::read_to_string(Path::new(ROOT).join(p))
    })
}

/// Where a plan's snapshot of one format lives. The text dry run of a plan in plans/ is
/// checked in beside it, as plans/NAME.plan.txt, so a plan change and its dry run are
/// reviewed together; the other formats live under tests/snapshots/.
fn snapshot_path(rel: &Path, ext: &str) -> PathBuf {
    if let Some(name) = rel
        .to_str()
        .and_then(|n| n.strip_prefix(mountplan::fragments::PREFIX))
    {
        return Path::new(ROOT)
            .join("tests/snapshots/fragments")
            .join(format!("{name}.{ext}"));
    }
    let group = if rel.starts_with("plans") {
        "plans"
    } else {
        "fixtures"
    };
    let stem = rel.file_stem().and_then(|s| s.to_str()).unwrap_or("plan");
    if group == "plans" && ext == "txt" {
        return Path::new(ROOT)
            .join("plans")
            .join(format!("{stem}.plan.txt"));
    }
    Path::new(ROOT)
        .join("tests/snapshots")
        .join(group)
        .join(format!("{stem}.{ext}"))
}

/// Every format of one plan: (extension, output).
fn formats(rel: &Path) -> Vec<(&'static str, String)> {
    let c = check(rel);
    let errors: Vec<String> = c
        .diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    assert!(
        errors.is_empty(),
        "{} is not valid: {errors:#?}",
        rel.display()
    );
    let dag = c.dag.as_ref().expect("a valid plan has a DAG");
    vec![
        (
            "txt",
            render::text(&c.sources, dag, &c.diags, &TextOptions { color: false }),
        ),
        ("json", render::json(&c.sources, dag, &c.diags)),
        ("md", render::markdown(&c.sources, dag, &c.diags)),
        ("mmd", render::mermaid(dag)),
        ("dot", render::dot(dag)),
    ]
}

/// `--format` of each snapshot extension.
const FORMATS: [(&str, &str); 5] = [
    ("txt", "text"),
    ("json", "json"),
    ("md", "markdown"),
    ("mmd", "mermaid"),
    ("dot", "dot"),
];

/// Every snapshot is current, as `mountplan plan --check SNAPSHOT --format F PLAN` sees it (the
/// check a repository's CI or pre-commit hook runs; its unified diff is in the failure
/// message), and is what the library renders.
#[test]
fn every_plan_renders_as_its_snapshot() {
    let plans = plans();
    assert!(
        plans.iter().any(|p| p.starts_with("plans")),
        "no plans found in plans/"
    );
    let bless = std::env::var_os("MOUNTPLAN_BLESS").is_some();
    let mut stale = Vec::new();
    for rel in &plans {
        for (ext, out) in formats(rel) {
            let path = snapshot_path(rel, ext);
            if bless {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).expect("create the snapshot directory");
                }
                std::fs::write(&path, &out).expect("write a snapshot");
                continue;
            }
            let format = FORMATS
                .iter()
                .find(|(e, _)| *e == ext)
                .map(|(_, f)| *f)
                .expect("a format");
            let o = bin()
                .args(["plan", "--format", format, "--check"])
                .arg(&path)
                .arg(rel)
                .output()
                .expect("run mountplan");
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            if o.status.code() != Some(0) || have != out {
                stale.push(format!(
                    "{} (plan --check exit {:?}; the library's rendering {}):\n{}",
                    path.strip_prefix(ROOT).unwrap_or(&path).display(),
                    o.status.code(),
                    if have == out { "matches" } else { "differs" },
                    String::from_utf8_lossy(&o.stdout)
                ));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale or missing snapshots (review the difference, then refresh them with \
         `MOUNTPLAN_BLESS=1 cargo test --test render` and commit them):\n  {}",
        stale.join("\n  ")
    );
}

/// The diff of two plans that differ by one step, in every diff format, against
/// tests/snapshots/diff/.
#[test]
fn a_diff_renders_as_its_snapshot() {
    let (a, b) = (
        Path::new("plans/libcontainer-rootfs.toml"),
        Path::new("plans/libcontainer-rootfs-ro.toml"),
    );
    let (ca, cb) = (check(a), check(b));
    let (Some(da), Some(db)) = (ca.dag.as_ref(), cb.dag.as_ref()) else {
        panic!("both plans are valid");
    };
    let d = mountplan::diff::diff(da, db).with_warnings(&ca.diags, &cb.diags, &cb.sources);
    assert!(!d.is_same());
    let (fa, fb) = (a.display().to_string(), b.display().to_string());
    let bless = std::env::var_os("MOUNTPLAN_BLESS").is_some();
    for (ext, out) in [
        ("txt", mountplan::diff::text(&d, &fa, &fb, false)),
        ("json", mountplan::diff::json(&d, &fa, &fb)),
        ("md", mountplan::diff::markdown(&d, &fa, &fb)),
    ] {
        let path = Path::new(ROOT)
            .join("tests/snapshots/diff")
            .join(format!("libcontainer-rootfs-ro.{ext}"));
        if bless {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("create the snapshot directory");
            }
            std::fs::write(&path, &out).expect("write a snapshot");
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == out,
            "{} is stale or missing: review, then `MOUNTPLAN_BLESS=1 cargo test --test render`",
            path.display()
        );
    }
}

#[test]
fn json_parses_with_one_entry_per_step() {
    for rel in plans() {
        let c = check(&rel);
        let dag = c.dag.as_ref().expect("valid");
        let v: serde_json::Value = serde_json::from_str(&render::json(&c.sources, dag, &c.diags))
            .unwrap_or_else(|e| panic!("{}: the JSON does not parse: {e}", rel.display()));
        assert_eq!(v["format_version"], 1);
        let steps = v["steps"].as_array().expect("steps is an array");
        assert_eq!(steps.len(), dag.plan.steps.len(), "{}", rel.display());
        for (i, s) in steps.iter().enumerate() {
            assert_eq!(s["index"], i);
            assert!(s["calls"].is_array() && s["undo"].is_array());
        }
        // The DAG's tree, and the console's bind when the plan has one.
        let console = usize::from(dag.plan.process.console.is_some());
        assert_eq!(
            v["final"]["mounts"].as_array().map(Vec::len),
            Some(dag.tree.mounts.len() + console)
        );
    }
}

/// A Mermaid flowchart as this crate writes it: a header, node lines with a quoted label
/// that holds no bare `"`, and edges between declared nodes.
fn check_mermaid(name: &str, m: &str) {
    let mut lines = m.lines();
    assert_eq!(lines.next(), Some("flowchart TD"), "{name}");
    let mut nodes = std::collections::BTreeSet::new();
    for l in lines {
        let l = l
            .strip_prefix("  ")
            .unwrap_or_else(|| panic!("{name}: `{l}`"));
        if let Some((id, rest)) = l.split_once("[\"") {
            let label = rest
                .strip_suffix("\"]")
                .unwrap_or_else(|| panic!("{name}: unterminated label `{l}`"));
            assert!(!label.contains('"'), "{name}: bare quote in `{l}`");
            assert!(
                id.starts_with('s') && id[1..].parse::<usize>().is_ok(),
                "{name}: `{l}`"
            );
            nodes.insert(id.to_string());
            continue;
        }
        let parts: Vec<&str> = l.split(' ').collect();
        let (a, b) = match parts.as_slice() {
            [a, "-->", b] => (a, b),
            [a, "-.", kind, ".->", b] => {
                assert!(
                    ["mount", "parent", "made", "changes", "pivot"].contains(kind),
                    "{name}: `{l}`"
                );
                (a, b)
            }
            _ => panic!("{name}: not a node or an edge: `{l}`"),
        };
        assert!(nodes.contains(*a) && nodes.contains(*b), "{name}: `{l}`");
    }
}

#[test]
fn mermaid_and_dot_are_well_formed() {
    let have_dot = Command::new("dot").arg("-V").output().is_ok();
    if !have_dot {
        assert!(
            std::env::var("CI").ok().as_deref() != Some("true"),
            "graphviz `dot` is not installed; .ci/run installs it"
        );
        eprintln!("graphviz `dot` is not installed: checking dot output by structure only");
    }
    for rel in plans() {
        let c = check(&rel);
        let dag = c.dag.as_ref().expect("valid");
        let name = rel.display().to_string();
        check_mermaid(&name, &render::mermaid(dag));
        let d = render::dot(dag);
        assert!(d.starts_with("digraph \"") && d.ends_with("}\n"), "{name}");
        if have_dot {
            let mut child = Command::new("dot")
                .arg("-Tsvg")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("run dot");
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(d.as_bytes())
                .expect("write to dot");
            assert!(
                child.wait().expect("dot runs").success(),
                "{name}: dot rejected it"
            );
        }
    }
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mountplan"));
    c.current_dir(ROOT).env_remove("NO_COLOR");
    c
}

#[test]
fn plan_prints_the_dry_run_and_exits_0() {
    let rel = plans()
        .into_iter()
        .find(|p| p.starts_with("plans"))
        .expect("a plan");
    for (ext, fmt) in FORMATS {
        let out = bin()
            .args(["plan", "--format", fmt, "--color", "never"])
            .arg(&rel)
            .output()
            .expect("run mountplan");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{fmt}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = formats(&rel)
            .into_iter()
            .find(|(e, _)| *e == ext)
            .map(|(_, s)| s)
            .unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{fmt}");
    }
    // Piped, `auto` means no colour; `always` forces it.
    let auto = bin().arg("plan").arg(&rel).output().expect("run");
    assert!(!auto.stdout.contains(&0x1b));
    let always = bin()
        .args(["plan", "--color", "always"])
        .arg(&rel)
        .output()
        .expect("run");
    assert!(always.stdout.contains(&0x1b));
}

#[test]
fn plan_of_a_missing_file_fails_with_a_message() {
    let out = bin()
        .args(["plan", "does/not/exist.toml"])
        .output()
        .expect("run mountplan");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(!out.stderr.is_empty());
}

#[test]
fn diff_exits_like_diff() {
    let plans: Vec<PathBuf> = plans()
        .into_iter()
        .filter(|p| p.starts_with("plans"))
        .collect();
    let (a, b) = (&plans[0], &plans[1]);
    let same = bin().arg("diff").arg(a).arg(a).output().expect("run");
    assert_eq!(same.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&same.stdout).contains("no differences"));
    let differ = bin().arg("diff").arg(a).arg(b).output().expect("run");
    assert_eq!(differ.status.code(), Some(1));
    let json = bin()
        .args(["diff", "--format", "json"])
        .arg(a)
        .arg(b)
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("diff JSON parses");
    assert_eq!(v["same"], false);
    let md = bin()
        .args(["diff", "--format", "markdown"])
        .arg(a)
        .arg(b)
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&md.stdout).starts_with("## Plan diff: "));
    let missing = bin()
        .arg("diff")
        .arg(a)
        .arg("does/not/exist.toml")
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
    assert!(!missing.stderr.is_empty());
}

/// A step from an included file says where it is written (the file and the line of its
/// `kind`) in every format; the plan's own steps say nothing of the kind, so editing a plan
/// does not renumber its dry run.
#[test]
fn included_file_steps_show_their_origin() {
    let rel = Path::new("plans/libcontainer-rootfs.toml");
    let c = check(rel);
    let dag = c.dag.as_ref().expect("valid");
    let base = std::fs::read_to_string(Path::new(ROOT).join("plans/base/libcontainer-mounts.toml"))
        .expect("the included file");
    // The line of `kind` of the step `sys`: the line above its `id` (numbered from 1).
    let id_line = base
        .lines()
        .position(|l| l == "id = \"sys\"")
        .expect("sys in the included file");
    assert_eq!(base.lines().nth(id_line - 1), Some("kind = \"mount\""));
    let want = format!("from: plans/base/libcontainer-mounts.toml, line {id_line}");
    let text = render::text(&c.sources, dag, &c.diags, &TextOptions { color: false });
    let block = |id: &str| {
        text.split("\n\n")
            .find(|b| b.starts_with("step ") && b.contains(&format!(": {id} (")))
            .unwrap_or_else(|| panic!("no step {id}"))
            .to_string()
    };
    assert!(block("sys").contains(&want), "{}", block("sys"));
    assert!(!block("enter").contains("from:"), "{}", block("enter"));
    let v: serde_json::Value =
        serde_json::from_str(&render::json(&c.sources, dag, &c.diags)).expect("JSON");
    let steps = v["steps"].as_array().expect("steps");
    let sys = steps.iter().find(|s| s["id"] == "sys").expect("sys");
    assert_eq!(sys["from"]["file"], "plans/base/libcontainer-mounts.toml");
    assert_eq!(sys["from"]["line"], id_line);
    let enter = steps.iter().find(|s| s["id"] == "enter").expect("enter");
    assert!(enter["from"].is_null());
    let md = render::markdown(&c.sources, dag, &c.diags);
    assert!(
        md.contains(&format!(
            "(from `plans/base/libcontainer-mounts.toml`, line {id_line})"
        )),
        "{md}"
    );
}

/// A step from a fragment says where it is written (the fragment's name and the line of its
/// `kind`) in every format; the plan's own steps say nothing of the kind.
#[test]
fn included_steps_show_their_origin() {
    let rel = Path::new("plans/host-sandbox.toml");
    let c = check(rel);
    let dag = c.dag.as_ref().expect("valid");
    let dev = mountplan::fragments::get("mountplan:dev").expect("the dev fragment");
    // The line of `kind` of the step whose id is `dev-null`: the line above its `id`.
    let id_line = dev
        .text
        .lines()
        .position(|l| l == "id = \"dev-null\"")
        .expect("dev-null in the fragment");
    assert_eq!(dev.text.lines().nth(id_line - 1), Some("kind = \"mount\""));
    let want = format!("from: mountplan:dev, line {id_line}");
    let text = render::text(&c.sources, dag, &c.diags, &TextOptions { color: false });
    let block = text
        .split("\n\n")
        .find(|b| b.starts_with("step ") && b.contains(": dev-null (mount)"))
        .expect("the dev-null step");
    assert!(block.contains(&want), "{block}");
    let own = text
        .split("\n\n")
        .find(|b| b.contains(": etc (mount)"))
        .expect("the plan's own etc step");
    assert!(!own.contains("from:"), "{own}");
    let v: serde_json::Value =
        serde_json::from_str(&render::json(&c.sources, dag, &c.diags)).expect("JSON");
    let steps = v["steps"].as_array().expect("steps");
    let null = steps
        .iter()
        .find(|s| s["id"] == "dev-null")
        .expect("dev-null");
    assert_eq!(null["from"]["file"], "mountplan:dev");
    assert_eq!(null["from"]["line"], id_line);
    let etc = steps.iter().find(|s| s["id"] == "etc").expect("etc");
    assert!(etc["from"].is_null());
    let md = render::markdown(&c.sources, dag, &c.diags);
    assert!(
        md.contains(&format!("(from `mountplan:dev`, line {id_line})")),
        "{md}"
    );
}
