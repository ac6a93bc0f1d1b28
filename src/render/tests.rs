//! Unit tests of the renderer on plans written as plan text ([`crate::test_plans`]); the TOML
//! plans in plans/ and tests/fixtures/ are snapshot-tested in tests/render.rs.

use super::*;
use crate::source::Loc;
use crate::test_plans::*;

fn sample_text() -> String {
    on_dir(&[
        tmpfs("dev", "/dev"),
        mknod("null", "/dev/null"),
        bind("usr", "/usr", "/usr", true),
        with_after(mkdir("etc", "/etc"), &["usr"]),
        chmod("etc-mode", "/etc", "0700"),
        remount("ro", "/", &["ro"]),
        mask("kcore", "/proc/kcore"),
        pivot_root("pivot"),
    ])
}

/// The sample plan's sources and DAG.
fn sample() -> (Sources, Dag) {
    let c = check(&sample_text());
    (c.sources, c.dag.expect("the sample plan is valid"))
}

/// The lines of each `calls:` block of the text dry run, setup first.
fn call_blocks(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<String>> = None;
    for l in text.lines() {
        if l == "  calls:" {
            cur = Some(Vec::new());
        } else if let Some(c) = cur.as_mut() {
            match l.strip_prefix("    ") {
                Some(call) => c.push(call.to_string()),
                None => out.extend(cur.take()),
            }
        }
    }
    out.extend(cur);
    out
}

/// Every call of the setup and of each step, in order, as written out here (not through the
/// calls' own `Display`, which the renderer uses).
#[test]
fn the_text_lists_exactly_the_planned_calls_in_order() {
    let (s, d) = sample();
    let t = text(&s, &d, &[], &TextOptions::default());
    let want: Vec<Vec<&str>> = vec![
        vec![
            "mount(NULL, \"/\", NULL, MS_REC|MS_SLAVE, NULL)",
            "open_tree(\"/srv/root\", OPEN_TREE_CLONE|AT_RECURSIVE) = M0",
            "move_mount(M0, \"/srv/root\")",
        ],
        vec![
            "mkdir(\"<root>/dev\", 0755) unless it is a directory",
            "fsopen(\"tmpfs\") + fsconfig(source=\"tmpfs\") + fsmount(0) = M1",
            "move_mount(M1, \"<root>/dev\")",
        ],
        vec![
            "mknod(\"<root>/dev/null\", S_IFCHR|0666, makedev(0x1, 0x3)) unless that node is there",
        ],
        vec![
            "mkdir(\"<root>/usr\", 0755) unless it is a directory",
            "open_tree(\"/usr\", OPEN_TREE_CLONE|AT_RECURSIVE) = M2",
            "mount_setattr(M2, AT_RECURSIVE, {attr_set=MOUNT_ATTR_RDONLY})",
            "move_mount(M2, \"<root>/usr\")",
        ],
        vec!["mkdir(\"<root>/etc\", 0755) unless it is a directory"],
        vec![
            "lchown(\"<root>/etc\", 0, -1) unless it has that owner",
            "chmod(\"<root>/etc\", 0700) unless it has that mode",
        ],
        vec![
            "mount_setattr(\"<root>\", 0, {attr_set=MOUNT_ATTR_RDONLY, \
             attr_clr=MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV|MOUNT_ATTR_NOEXEC})",
        ],
        vec![
            "mask \"<root>/proc/kcore\" when it exists: a directory gets fsopen(\"tmpfs\") + \
             fsconfig(source=\"tmpfs\", ro) + fsmount(MOUNT_ATTR_RDONLY) = M3, anything else \
             open_tree(\"/dev/null\", OPEN_TREE_CLONE) = M3; move_mount(M3, \
             \"<root>/proc/kcore\")",
        ],
        vec![
            "chdir(\"<root>\")",
            "pivot_root(\".\", \".\")",
            "umount2(\".\", MNT_DETACH)",
            "chdir(\"/\")",
        ],
    ];
    assert_eq!(call_blocks(&t), want, "{t}");
}

#[test]
fn the_text_has_the_header_steps_tree_and_files() {
    let (s, d) = sample();
    let t = text(&s, &d, &[], &TextOptions::default());
    assert!(t.starts_with("plan: t\nfile: plans/t.toml\n"), "{t}");
    assert!(t.contains("\nroot: /srv/root (the host directory, bound onto itself)\n"));
    assert!(t.contains("\nstep 2: null (mknod)\n  create character device /dev/null (1:3), mode 0666\n  depends on: dev (mount)\n"));
    assert!(t.contains("\nstep 5: etc-mode (chmod)\n"));
    assert!(t.contains("  depends on: etc (made)\n"));
    assert!(t.contains(
        "    lchown(\"<root>/etc\") back to the owner it had before (and the set-id bits the \
         chown cleared), if it is still the same inode (on the host: /srv/root/etc)\n"
    ));
    assert!(t.contains("\n  TARGET                        SOURCE              FSTYPE  PROPAGATION       OPTIONS\n  /                             /srv/root           bind    private or slave  ro\n  ├─/dev                        tmpfs               tmpfs   private           rw,relatime\n"), "{t}");
    // A mask of a path the plan does not know exists is marked, and the mark explained.
    assert!(
        t.contains(
            "\n  └─/proc/kcore (if it exists)  tmpfs or /dev/null  mask    private or slave  -\n"
        ),
        "{t}"
    );
    assert!(
        t.contains("\n  note: (if it exists): made only when the path exists at apply time"),
        "{t}"
    );
    assert!(
        t.contains("  /etc       dir       0700  0:-    etc-mode\n"),
        "{t}"
    );
    assert!(!t.contains('\x1b'));
}

#[test]
fn colour_only_when_asked() {
    let (s, d) = sample();
    assert!(text(&s, &d, &[], &TextOptions { color: true }).contains("\x1b[1m"));
    for out in [
        text(&s, &d, &[], &TextOptions { color: false }),
        json(&s, &d, &[]),
        markdown(&s, &d, &[]),
        mermaid(&d),
        dot(&d),
    ] {
        assert!(!out.contains('\x1b'));
    }
}

#[test]
fn warnings_appear_at_the_step_they_point_into() {
    let plan = on_dir(&[
        mknod("null", "/dev/null"),
        tmpfs("dev", "/dev"),
        mkdir("etc", "/etc"),
    ]);
    let c = check(&plan);
    let d = c.dag.expect("valid");
    let mut diags = d.warnings.clone();
    assert_eq!(diags.len(), 1);
    // A diagnostic at the plan's `name`, outside every step.
    let name = plan.find("name").unwrap();
    diags.push(
        crate::diag::Diag::warning(
            "mountplan::test::general",
            "about the root",
            Loc::new(crate::source::SourceId(0), name..name + 4),
        )
        .help("a help line"),
    );
    let t = text(&c.sources, &d, &diags, &TextOptions::default());
    let at_dev = t.find("step 2: dev").unwrap();
    let at_etc = t.find("step 3: etc").unwrap();
    let w = t
        .find("warning[mountplan::graph::hides]: the mount on `/dev` hides `/dev/null`")
        .unwrap();
    assert!(at_dev < w && w < at_etc, "{t}");
    assert!(
        t.contains("    at plans/t.toml:19:10: `/dev` is mounted here"),
        "{t}"
    );
    assert!(t.contains("    and plans/t.toml:10:8: `/dev/null` is made here, then hidden"));
    // Outside every step: in the header.
    let g = t.find("warning[mountplan::test::general]").unwrap();
    assert!(g < t.find("setup (implicit").unwrap());
    let j: serde_json::Value = serde_json::from_str(&json(&c.sources, &d, &diags)).unwrap();
    assert_eq!(
        j["steps"][1]["warnings"][0]["code"],
        "mountplan::graph::hides"
    );
    assert_eq!(j["steps"][1]["warnings"][0]["line"], 19);
    assert_eq!(j["warnings"][0]["help"], "a help line");
}

#[test]
fn json_is_one_document_with_the_documented_fields() {
    let (s, d) = sample();
    let v: serde_json::Value = serde_json::from_str(&json(&s, &d, &[])).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["plan"]["root"]["kind"], "path");
    assert_eq!(v["plan"]["namespaces"]["user"], "auto");
    assert_eq!(v["steps"].as_array().unwrap().len(), 8);
    assert_eq!(v["steps"][1]["depends_on"][0]["step"], "dev");
    assert_eq!(v["steps"][1]["depends_on"][0]["kind"], "mount");
    assert_eq!(
        v["steps"][0]["calls"][1],
        "fsopen(\"tmpfs\") + fsconfig(source=\"tmpfs\") + fsmount(0) = M1"
    );
    assert_eq!(v["steps"][0]["calls"][2], "move_mount(M1, \"<root>/dev\")");
    assert_eq!(v["edges"][0]["from"], "dev");
    assert_eq!(v["final"]["mounts"][0]["mountpoint"], "/");
    assert_eq!(v["final"]["mounts"][1]["parent"], 0);
    assert_eq!(v["final"]["nodes"][1]["kind"], "char");
    assert_eq!(v["final"]["nodes"][1]["major"], 1);
}

/// Issue 14, item 4: a conditional mount (the sample's mask of /proc/kcore, a path the plan
/// does not know exists) is marked in every format, and only it; the json predicts each
/// mount's propagation (item 7).
#[test]
fn a_conditional_mount_is_marked_in_every_format() {
    let (s, d) = sample();
    let v: serde_json::Value = serde_json::from_str(&json(&s, &d, &[])).unwrap();
    let mounts = v["final"]["mounts"].as_array().unwrap();
    let marked: Vec<&str> = mounts
        .iter()
        .filter(|m| m["conditional"] == true)
        .map(|m| m["mountpoint"].as_str().unwrap())
        .collect();
    assert_eq!(marked, ["/proc/kcore"]);
    assert!(mounts.iter().all(|m| m["conditional"].is_boolean()));
    assert_eq!(
        mounts[0]["propagation"],
        serde_json::json!(["private", "slave"])
    );
    assert_eq!(mounts[1]["propagation"], serde_json::json!(["private"]));
    let note = "conditional: mounts only if /proc/kcore exists";
    let m = mermaid(&d);
    let marked: Vec<&str> = m.lines().filter(|l| l.contains("conditional")).collect();
    assert_eq!(marked.len(), 1, "{m}");
    assert!(
        marked[0].starts_with("  s7[") && marked[0].contains(note),
        "{m}"
    );
    let g = dot(&d);
    let marked: Vec<&str> = g.lines().filter(|l| l.contains("conditional")).collect();
    assert_eq!(marked.len(), 1, "{g}");
    assert!(
        marked[0].starts_with("  s7 [") && marked[0].ends_with(", style=dashed];"),
        "{g}"
    );
    let md = markdown(&s, &d, &[]);
    assert!(md.contains("└─/proc/kcore (if it exists)"), "{md}");
    assert!(md.contains(note), "{md}");
    let t = text(&s, &d, &[], &TextOptions::default());
    assert_eq!(t.matches("(if it exists)").count(), 2, "{t}");
}

/// A plan whose id-free strings carry every character the graph formats must escape.
fn nasty() -> Dag {
    let plan = on_tmpfs(&[
        mkdir("a.b-c_d", "/x"),
        with_after(
            step(
                "symlink",
                "link",
                &[kv("path", "/y"), r#"to = "a\"b\\c<d>#e&f`g|h\n}{;""#.into()],
            ),
            &["a.b-c_d"],
        ),
    ])
    .replace("name = \"t\"", r#"name = "we\"ird {name}""#);
    dag(&plan)
}

#[test]
fn mermaid_escapes_labels() {
    let m = mermaid(&nasty());
    assert!(m.starts_with("flowchart TD\n"));
    let line = m.lines().find(|l| l.starts_with("  s2[")).unwrap();
    assert_eq!(
        line,
        "  s2[\"2. link (symlink)<br/>create symlink /y -#gt; a#quot;b\\c#lt;d#gt;#35;e#amp;f#96;g|h }{;\"]"
    );
    assert!(m.contains("  s1 --> s2\n"));
}

#[test]
fn dot_is_well_formed_and_escaped() {
    let out = dot(&nasty());
    assert!(out.starts_with("digraph \"we\\\"ird {name}\" {\n"));
    assert!(out.contains(
        "label=\"2. link (symlink)\\ncreate symlink /y -> a\\\"b\\\\c<d>#e&f`g|h\\n}{;\"]"
    ));
    let (_, dag) = sample();
    let sample_dot = dot(&dag);
    assert!(sample_dot.contains("  s1 -> s2 [style=dashed, label=\"mount\"];\n"));
    assert!(sample_dot.contains("  s3 -> s4;\n"));
    // Graphviz itself, where installed (CI installs it, and there it must run).
    for src in [out, sample_dot] {
        match run_dot(&src) {
            Some(ok) => assert!(ok, "dot rejected:\n{src}"),
            None => {
                eprintln!("graphviz `dot` is not installed: dot output checked by structure only");
                assert!(
                    std::env::var("CI").ok().as_deref() != Some("true"),
                    "graphviz `dot` must be installed under CI=true (.ci/run installs it)"
                );
            }
        }
    }
}

/// Runs `dot -Tsvg`; `None` when graphviz is not installed.
fn run_dot(src: &str) -> Option<bool> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(src.as_bytes()).ok()?;
    Some(child.wait().ok()?.success())
}

#[test]
fn markdown_has_the_table_graph_tree_and_calls() {
    let (s, d) = sample();
    let m = markdown(&s, &d, &d.warnings);
    assert!(m.starts_with("## Dry run of `t`\n"));
    assert!(m.contains("| 2 | `null` | mknod | create character device /dev/null (1:3), mode 0666 | `dev` (mount) |\n"));
    assert!(m.contains("```mermaid\nflowchart TD\n"));
    assert!(m.contains(
        "<details>\n<summary>System calls, in order (20), and what rollback does</summary>"
    ));
    assert!(m.contains("  pivot_root(\".\", \".\")\n"));
    assert!(m.trim_end().ends_with("</details>"));
    let n = nasty();
    let m = markdown(&Sources::new(), &n, &[]);
    assert!(
        m.contains("create symlink /y -\\> a\"b\\\\c\\<d\\>\\#e&f\\`g\\|h }{;"),
        "{m}"
    );
}

/// A stack of mounts deeper than the drawn depth keeps its lines bounded: each level past it
/// shows its depth instead of more indentation, and a cell too wide to align to widens no
/// other row.
#[test]
fn a_deep_mount_stack_draws_lines_of_bounded_width() {
    let steps: Vec<String> = (0..1000).map(|i| tmpfs(&format!("t{i}"), "/t")).collect();
    let d = dag(&on_tmpfs(&steps));
    let tree = &d.tree;
    assert_eq!(tree.mounts.len(), 1001);
    let lines = findmnt::mount_table(tree);
    assert_eq!(lines.len(), 1002);
    let widest = lines.iter().map(|l| l.chars().count()).max().unwrap();
    assert!(widest < 120, "{widest}: {}", lines[1001]);
    assert!(lines[1001].contains("[depth 1000]└─/t"), "{}", lines[1001]);
    // Line 25 is depth 24, the deepest drawn as findmnt does.
    assert!(
        lines[25].starts_with(&format!("{}└─/t ", "  ".repeat(23))) && !lines[25].contains('['),
        "{}",
        lines[25]
    );
    assert!(lines[26].contains("[depth 25]└─/t"), "{}", lines[26]);
    // A 300-character mountpoint sticks out of its column; the others stay aligned.
    let long = format!("/{}", "x".repeat(299));
    let rows = vec![
        vec!["A".to_string(), "b".to_string()],
        vec![long.clone(), "b".to_string()],
        vec!["CC".to_string(), "b".to_string()],
    ];
    assert_eq!(
        findmnt::columns(&rows),
        [
            "A   b".to_string(),
            format!("{long}  b"),
            "CC  b".to_string()
        ]
    );
}

/// Steps written as inline tables, one a line (`step = [{ kind = ... }, ...]`), have no
/// `[[step]]` header: a warning still appears at the step it points into (it used to land at
/// the last step, whose region was the whole file).
#[test]
fn warnings_appear_at_their_step_when_steps_are_inline_tables() {
    let plan = "version = 1\nname = \"t\"\nroot = { path = \"/srv/root\" }\nstep = [\n  \
                { kind = \"mknod\", id = \"null\", path = \"/dev/null\", node = \"char\", major = 1, minor = 3 },\n  \
                { kind = \"mount\", id = \"dev\", type = \"tmpfs\", target = \"/dev\" }, \
                { kind = \"mkdir\", id = \"two\", path = \"/two\" },\n  \
                { kind = \"mkdir\", id = \"etc\", path = \"/etc\" },\n]\n";
    let c = check(plan);
    let d = c.dag.expect("valid");
    assert_eq!(d.warnings.len(), 1);
    let t = text(&c.sources, &d, &d.warnings, &TextOptions::default());
    let w = t
        .find("warning[mountplan::graph::hides]")
        .expect("the warning is shown");
    let (dev, two) = (
        t.find("step 2: dev").unwrap(),
        t.find("step 3: two").unwrap(),
    );
    assert!(dev < w && w < two, "{t}");
    assert!(
        t.contains("    at plans/t.toml:6:58: `/dev` is mounted here"),
        "{t}"
    );
}
