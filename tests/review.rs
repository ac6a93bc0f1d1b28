//! The review workflow as a user meets it: `plan --check` against checked-in dry runs (from
//! any directory, in every format), `check -` and `plan -` on standard input (its limits
//! included), `diff` with the warnings a change introduces and `(hidden by ...)`, `diff --rev`
//! against a scratch git repository, the man pages, the pre-commit hooks of
//! .pre-commit-hooks.yaml and the review-comment script of docs/ci-recipes.md, each run as
//! pre-commit or the workflow would run it. Runs the built binary; needs no privileges (git is
//! needed for `--rev`: under CI=true its absence is a failure).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_mountplan");

fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir).args(args).env("NO_COLOR", "1");
    c
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    cmd(dir, args).output().expect("run mountplan")
}

fn run(args: &[&str]) -> Output {
    run_in(Path::new(ROOT), args)
}

/// Runs mountplan with `input` on its standard input (written from another thread, so a
/// mountplan that stops reading early does not hang the test).
fn run_stdin(dir: &Path, args: &[&str], input: Vec<u8>) -> Output {
    let mut child = cmd(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mountplan");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        // EPIPE when mountplan stops reading at its limit: expected.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for mountplan");
    writer.join().expect("the writer thread");
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `s` with every run of blanks one space (diagnostics wrap at 80 columns).
fn flat(s: &str) -> String {
    s.split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A directory of its own under the system's temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p =
            std::env::temp_dir().join(format!("mountplan-review-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create the scratch directory");
        Scratch(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The plans of plans/, as `plans/NAME` without the extension.
fn plan_stems() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("plans"))
        .expect("plans/")
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".toml").map(|s| format!("plans/{s}"))
        })
        .collect();
    v.sort();
    assert!(v.len() >= 5, "{v:?}");
    v
}

// ---------------------------------------------------------------------------------------------
// plan --check

/// Every checked-in dry run is current, whichever way the plan's path is typed and from
/// whichever directory: quiet, exit 0. The other formats' snapshots too.
#[test]
fn plan_check_accepts_every_checked_in_dry_run_from_any_directory() {
    let root = Path::new(ROOT);
    let abs = std::fs::canonicalize(root).unwrap();
    for stem in plan_stems() {
        let name = stem.trim_start_matches("plans/");
        let (txt, plan) = (format!("{stem}.plan.txt"), format!("{stem}.toml"));
        let tests_dir = root.join("tests");
        let ways: Vec<(PathBuf, String, String)> = vec![
            (root.to_path_buf(), txt.clone(), plan.clone()),
            (root.to_path_buf(), format!("./{txt}"), format!("./{plan}")),
            (tests_dir.clone(), format!("../{txt}"), format!("../{plan}")),
            (
                PathBuf::from("/"),
                abs.join(&txt).display().to_string(),
                abs.join(&plan).display().to_string(),
            ),
            (
                root.join("plans"),
                format!("{name}.plan.txt"),
                format!("../src/../plans/{name}.toml"),
            ),
        ];
        for (dir, txt, plan) in &ways {
            let o = run_in(dir, &["plan", "--check", txt, plan]);
            assert_eq!(
                o.status.code(),
                Some(0),
                "from {}: plan --check {txt} {plan}:\n{}{}",
                dir.display(),
                stdout(&o),
                stderr(&o)
            );
            assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", stderr(&o));
        }
        for (format, ext) in [
            ("json", "json"),
            ("markdown", "md"),
            ("mermaid", "mmd"),
            ("dot", "dot"),
        ] {
            let snap = format!("tests/snapshots/plans/{name}.{ext}");
            let o = run_in(
                &tests_dir,
                &[
                    "plan",
                    "--format",
                    format,
                    "--check",
                    &format!("../{snap}"),
                    &format!("../{plan}"),
                ],
            );
            assert_eq!(
                o.status.code(),
                Some(0),
                "{snap}:\n{}{}",
                stdout(&o),
                stderr(&o)
            );
        }
    }
}

#[test]
fn plan_check_of_a_stale_dry_run_exits_1_with_a_unified_diff() {
    let s = Scratch::new("stale");
    let have = read("plans/host-sandbox.plan.txt");
    let lines: Vec<&str> = have.lines().collect();
    assert_eq!(lines[0], "plan: host-sandbox");
    assert_eq!(lines[1], "file: plans/host-sandbox.toml");
    let stale = s.write(
        "stale.plan.txt",
        &have.replacen("plan: host-sandbox\n", "plan: old-name\n", 1),
    );
    let f = stale.display().to_string();
    let o = run(&["plan", "--check", &f, "plans/host-sandbox.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let want = format!(
        "--- {f} (checked in)\n+++ {f} (the dry run of plans/host-sandbox.toml now)\n\
         @@ -1,4 +1,4 @@\n-plan: old-name\n+plan: host-sandbox\n {}\n {}\n {}\n",
        lines[1], lines[2], lines[3]
    );
    assert_eq!(stdout(&o), want);
    let e = stderr(&o);
    assert!(e.contains(&format!("`{f}` is stale")), "{e}");
    // The command it suggests refreshes the file.
    let fix = format!("`mountplan plan plans/host-sandbox.toml > {f}`");
    assert!(e.contains(&fix), "{e}");
    let fresh = run(&["plan", "plans/host-sandbox.toml"]);
    std::fs::write(&stale, &fresh.stdout).unwrap();
    let o = run(&["plan", "--check", &f, "plans/host-sandbox.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    // Missing: every line is added.
    let missing = s.path().join("missing.plan.txt").display().to_string();
    let o = run(&["plan", "--check", &missing, "plans/host-sandbox.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let head = format!(
        "--- {missing} (checked in)\n+++ {missing} (the dry run of plans/host-sandbox.toml now)\n\
         @@ -0,0 +1,{} @@\n+plan: host-sandbox\n+file: plans/host-sandbox.toml\n",
        lines.len()
    );
    assert!(stdout(&o).starts_with(&head), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!("`{missing}` is missing")),
        "{}",
        stderr(&o)
    );

    // Another format: the fix names it.
    let json = read("tests/snapshots/plans/host-sandbox.json");
    let jstale = s.write(
        "stale.json",
        &json.replacen("\"format_version\": 1", "\"format_version\": 0", 1),
    );
    let jf = jstale.display().to_string();
    let o = run(&[
        "plan",
        "--format",
        "json",
        "--check",
        &jf,
        "plans/host-sandbox.toml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("\n-  \"format_version\": 0,\n+  \"format_version\": 1,\n"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains(&format!(
            "`mountplan plan --format json plans/host-sandbox.toml > {jf}`"
        )),
        "{}",
        stderr(&o)
    );

    // A FILE that cannot be read (a directory) is exit 2; an invalid plan is 1 with its errors.
    let o = run(&[
        "plan",
        "--check",
        &s.path().display().to_string(),
        "plans/host-sandbox.toml",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot read the checked-in dry run"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "plan",
        "--check",
        &f,
        "tests/fixtures/invalid/after-later.toml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stdout.is_empty() && stderr(&o).contains("declared later"),
        "{}",
        stderr(&o)
    );
}

/// Outside a git work tree the names are relative to the plan's own directory.
#[test]
fn outside_a_repository_names_are_relative_to_the_plans_directory() {
    let s = Scratch::new("norepo");
    let text = "version = 1\nname = \"p\"\ninclude = [\"base/b.toml\"]\n[root]\ntmpfs = {}\n";
    s.write("deploy/p.toml", text);
    s.write("deploy/base/b.toml", "version = 1\n");
    let a = run_in(s.path(), &["plan", "deploy/p.toml"]);
    let b = run_in(&s.path().join("deploy"), &["plan", "p.toml"]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
    assert!(stdout(&a).contains("\nfile: p.toml\n"), "{}", stdout(&a));
    assert!(
        stdout(&a).contains("\nincludes: base/b.toml\n"),
        "{}",
        stdout(&a)
    );
    // `check` names files as typed, so a diagnostic points at a path the caller can open.
    s.write(
        "deploy/bad.toml",
        "version = 1\n[root]\npath = \"relative\"\n",
    );
    let o = run_in(s.path(), &["check", "deploy/bad.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("deploy/bad.toml:3:"), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// standard input

#[test]
fn check_and_plan_read_a_plan_on_standard_input() {
    let root = Path::new(ROOT);
    let text = read("plans/host-sandbox.toml");
    let o = run_stdin(root, &["check", "-"], text.clone().into_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Its own steps and its fragments', as the checked-in dry run numbers them; then how the
    // command will run.
    let steps = read("plans/host-sandbox.plan.txt")
        .lines()
        .filter(|l| l.starts_with("step "))
        .count();
    let first = stderr(&o).lines().next().unwrap_or("").to_string();
    assert_eq!(first, format!("<stdin>: ok ({steps} steps)"));
    // The dry run is the checked-in one but for the file's name.
    let o = run_stdin(root, &["plan", "-"], text.into_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let want = read("plans/host-sandbox.plan.txt").replacen(
        "\nfile: plans/host-sandbox.toml\n",
        "\nfile: <stdin>\n",
        1,
    );
    assert_eq!(stdout(&o), want);

    // Includes are relative to the current directory.
    let lib = read("plans/libcontainer-rootfs.toml").into_bytes();
    let o = run_stdin(&root.join("plans"), &["plan", "-"], lib.clone());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("\nincludes: base/libcontainer-mounts.toml\n"),
        "{}",
        stdout(&o)
    );
    let o = run_stdin(root, &["check", "-"], lib);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read included file `base/libcontainer-mounts.toml`"),
        "{}",
        stderr(&o)
    );
    assert!(
        flat(&stderr(&o)).contains("current directory for a plan read from standard input"),
        "{}",
        stderr(&o)
    );

    // diff takes one side on standard input.
    let o = run_stdin(
        root,
        &["diff", "-", "plans/host-sandbox.toml"],
        read("plans/host-sandbox.toml").into_bytes(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("--- old: <stdin> (plan host-sandbox)\n+++ new: plans/host-sandbox.toml (plan host-sandbox)\n"), "{}", stdout(&o));
    let o = run_stdin(root, &["diff", "-", "-"], b"version = 1\n".to_vec());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("OLD and NEW cannot both be `-`"),
        "{}",
        stderr(&o)
    );
    // Given twice, refused.
    let o = run_stdin(root, &["check", "-", "-"], b"version = 1\n".to_vec());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`-` is given more than once"),
        "{}",
        stderr(&o)
    );
    // --help says so.
    for sub in ["check", "plan"] {
        let h = stdout(&run(&[sub, "--help"]));
        let flat = h.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("`-` reads"), "{sub}: {h}");
        assert!(
            flat.contains("its includes are relative to the current directory"),
            "{sub}: {h}"
        );
    }
}

/// Standard input is held to the limits of a plan file: 2 MiB (exactly 2 MiB is read), UTF-8,
/// not a device, not empty.
#[test]
fn standard_input_has_the_limits_of_a_plan_file() {
    let root = Path::new(ROOT);
    let max = 2 << 20;
    // `version = 1`, then a comment up to the size; no [root], so the plan itself has errors.
    let sized = |n: usize| {
        let mut t = b"version = 1\n#".to_vec();
        t.resize(n - 1, b'x');
        t.push(b'\n');
        assert_eq!(t.len(), n);
        t
    };
    let o = run_stdin(root, &["check", "-"], sized(max));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("mountplan::root::missing"),
        "{}",
        stderr(&o)
    );
    let o = run_stdin(root, &["check", "-"], sized(max + 1));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("larger than the limit of 2 MiB"),
        "{}",
        stderr(&o)
    );
    // Far past it: mountplan stops reading, it does not take it all in.
    let o = run_stdin(root, &["plan", "-"], vec![b'#'; 64 << 20]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("larger than the limit"),
        "{}",
        stderr(&o)
    );

    let o = run_stdin(root, &["check", "-"], b"version = 1\n# \xff\n".to_vec());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not UTF-8 text (bad byte at offset 14)"),
        "{}",
        stderr(&o)
    );
    let o = run_stdin(root, &["check", "-"], Vec::new());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("standard input is empty"),
        "{}",
        stderr(&o)
    );
    let o = cmd(root, &["check", "-"])
        .stdin(std::fs::File::open("/dev/null").unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a regular file (a device)"),
        "{}",
        stderr(&o)
    );
    // A redirected regular file is read like a pipe.
    let o = cmd(root, &["check", "-"])
        .stdin(std::fs::File::open(root.join("plans/host-sandbox.toml")).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// diff

/// new.toml adds a tmpfs on /dev over the /dev/null old.toml makes: the diff shows the
/// hidden file as the dry run does and the warning the change introduces (written out).
#[test]
fn diff_shows_the_warnings_a_change_introduces_and_what_it_hides() {
    let (old, new) = (
        "tests/fixtures/review/old.toml",
        "tests/fixtures/review/new.toml",
    );
    let o = run(&["diff", old, new]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let want = "\
--- old: tests/fixtures/review/old.toml (plan review)
+++ new: tests/fixtures/review/new.toml (plan review)
steps: 1 added, 0 removed, 0 changed, 0 moved; final tree: 1 mount(s) and 2 file(s) differ

steps
  + step 2 dev (mount): mount tmpfs on /dev

final mount tree
  + /dev  tmpfs  tmpfs  rw,relatime

files left behind
  + /dev  dir  0755  dev (if missing)
  ~ /dev/null
      hidden: no -> hidden by dev

warnings introduced
  ! step 2 dev: warning[mountplan::graph::hides]: the mount on `/dev` hides `/dev/null`, made earlier by step `null`
      at tests/fixtures/review/new.toml:22:10: `/dev` is mounted here, over what is already there
      and tests/fixtures/review/new.toml:12:8: `/dev/null` is made here, then hidden
      help: a mount covers everything below its target: move step `dev` above the steps that make what it hides, or mount it on another path
";
    assert_eq!(stdout(&o), want);
    // The dry run of new.toml annotates the same file the same way.
    let plan = stdout(&run(&["plan", new]));
    assert!(
        plan.contains("  /dev/null  char 1:3  0666  -      null (hidden by dev)\n"),
        "{plan}"
    );

    let j: serde_json::Value =
        serde_json::from_slice(&run(&["diff", "--format", "json", old, new]).stdout).unwrap();
    let w = j["warnings"].as_array().expect("warnings");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0]["code"], "mountplan::graph::hides");
    assert_eq!(w[0]["step"], "dev");
    assert_eq!(w[0]["index"], 1);
    assert_eq!(w[0]["file"], new);
    assert_eq!(
        (w[0]["line"].as_u64(), w[0]["column"].as_u64()),
        (Some(22), Some(10))
    );
    assert_eq!(
        j["nodes"][1]["new"],
        "/dev/null  char 1:3  0666  null (hidden by dev)"
    );
    assert_eq!(j["nodes"][1]["old"], "/dev/null  char 1:3  0666  null");
    assert_eq!(j["nodes"][1]["fields"][0]["new"], "hidden by dev");

    let md = stdout(&run(&["diff", "--format", "markdown", old, new]));
    assert!(
        md.contains(
            "\n### Warnings introduced\n\n- step 2 `dev`: warning\\[mountplan::graph::hides\\]"
        ),
        "{md}"
    );
    assert!(
        md.contains("(`tests/fixtures/review/new.toml:22:10`)"),
        "{md}"
    );
    assert!(
        md.contains("| changed | `/dev/null` |  | hidden: `no` → `hidden by dev` |"),
        "{md}"
    );

    // The other way round nothing is introduced (the warning goes away), and a plan compared
    // with itself introduces none of its own warnings.
    for (a, b, status) in [(new, old, 1), (new, new, 0)] {
        let o = run(&["diff", a, b]);
        assert_eq!(o.status.code(), Some(status));
        assert!(
            !stdout(&o).contains("warnings introduced"),
            "{}",
            stdout(&o)
        );
        let j: serde_json::Value =
            serde_json::from_slice(&run(&["diff", "--format", "json", a, b]).stdout).unwrap();
        assert_eq!(j["warnings"], serde_json::json!([]));
    }
}

fn have_git() -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "git is not installed: NOT RUN"
        );
        eprintln!("git is not installed: NOT RUN");
    }
    ok
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

const X_TOML: &str = "version = 1\nname = \"x\"\ninclude = [\"base/tmp.toml\"]\n\n[root]\ntmpfs = {}\n\n[[step]]\nkind = \"mkdir\"\nid = \"etc\"\npath = \"/etc\"\n";

fn tmp_toml(size: &str) -> String {
    format!(
        "version = 1\n\n[root]\ntmpfs = {{}}\n\n[[step]]\nkind = \"mount\"\nid = \"tmp\"\ntype = \"tmpfs\"\ntarget = \"/tmp\"\nsize = \"{size}\"\n"
    )
}

/// `diff --rev REV PLAN` reads the plan and its includes at the revision: a change made only
/// in an include shows.
#[test]
fn diff_rev_compares_with_the_plan_and_its_includes_at_a_revision() {
    if !have_git() {
        return;
    }
    let s = Scratch::new("rev");
    let repo = s.path();
    git(repo, &["init", "-q"]);
    s.write("plans/x.toml", X_TOML);
    s.write("plans/base/tmp.toml", &tmp_toml("1M"));
    let o = run_in(repo, &["check", "plans/x.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    git(repo, &["add", "."]);
    git(repo, &["commit", "-qm", "one"]);
    let same = run_in(repo, &["diff", "--rev", "HEAD", "plans/x.toml"]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}{}",
        stdout(&same),
        stderr(&same)
    );
    assert_eq!(
        stdout(&same),
        "--- old: HEAD:plans/x.toml (plan x)\n+++ new: plans/x.toml (plan x)\n\nno differences: the plans do the same thing\n"
    );
    // Only the include changes, in the work tree.
    s.write("plans/base/tmp.toml", &tmp_toml("2M"));
    let want = "\
--- old: HEAD:plans/x.toml (plan x)
+++ new: plans/x.toml (plan x)
steps: 0 added, 0 removed, 1 changed, 0 moved; final tree: 1 mount(s) and 0 file(s) differ

steps
  ~ step 1 tmp (mount): changed
      data: size=1048576 -> size=2097152

final mount tree
  ~ /tmp
      options: rw,relatime,size=1048576 -> rw,relatime,size=2097152
";
    let o = run_in(repo, &["diff", "--rev", "HEAD", "plans/x.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), want);
    // The same from another directory, the path typed otherwise.
    let o = run_in(
        &repo.join("plans/base"),
        &["diff", "--rev", "HEAD", "../x.toml"],
    );
    assert_eq!(stdout(&o), want, "{}", stderr(&o));
    git(repo, &["commit", "-qam", "two"]);
    let o = run_in(repo, &["diff", "--rev", "HEAD~1", "plans/x.toml"]);
    assert_eq!(stdout(&o).replace("HEAD~1:", "HEAD:"), want);
    let o = run_in(repo, &["diff", "--rev", "HEAD", "plans/x.toml"]);
    assert_eq!(o.status.code(), Some(0));
    // OLD at the revision, NEW another file.
    s.write(
        "plans/y.toml",
        &X_TOML.replace("name = \"x\"", "name = \"y\""),
    );
    let o = run_in(
        repo,
        &[
            "diff",
            "--rev",
            "HEAD",
            "plans/x.toml",
            "plans/y.toml",
            "--format",
            "json",
        ],
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (j["old"]["file"].as_str(), j["new"]["file"].as_str()),
        (Some("HEAD:plans/x.toml"), Some("plans/y.toml"))
    );
    assert_eq!(j["plan"][0]["field"], "name");
}

#[test]
fn diff_rev_says_what_cannot_be_read_at_a_revision() {
    if !have_git() {
        return;
    }
    let s = Scratch::new("rev-errors");
    let repo = s.path();
    git(repo, &["init", "-q"]);
    s.write("plans/x.toml", X_TOML);
    s.write("plans/base/tmp.toml", &tmp_toml("1M"));
    std::os::unix::fs::symlink("x.toml", repo.join("plans/link.toml")).unwrap();
    s.write(
        "plans/inc-link.toml",
        &X_TOML.replace("base/tmp.toml", "link.toml"),
    );
    git(repo, &["add", "."]);
    git(repo, &["commit", "-qm", "one"]);
    s.write("plans/new.toml", X_TOML);
    let cases: &[(&[&str], &str)] = &[
        (
            &["diff", "--rev", "HEAD", "plans/new.toml"],
            "cannot read `plans/new.toml`: `plans/new.toml` does not exist at `HEAD`",
        ),
        (
            &["diff", "--rev", "no-such-rev", "plans/x.toml"],
            "`no-such-rev` is not a revision of the repository at",
        ),
        (
            &["diff", "--rev=--output=/tmp/x", "plans/x.toml"],
            "`--output=/tmp/x` is not a revision",
        ),
        (
            &["diff", "--rev", "HEAD", "plans/link.toml"],
            "`plans/link.toml` is a symbolic link at `HEAD`, not a plan file",
        ),
        (
            &["diff", "--rev", "HEAD", "plans/inc-link.toml"],
            "cannot read included file `plans/link.toml`: `plans/link.toml` is a symbolic link at `HEAD`",
        ),
        (
            &["diff", "--rev", "HEAD", "plans/base"],
            "`plans/base` is a directory at `HEAD`",
        ),
        (
            &["diff", "--rev", "HEAD", "nowhere/x.toml"],
            "cannot find the directory of `nowhere/x.toml`",
        ),
    ];
    for (args, msg) in cases {
        let o = run_in(repo, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let flat = flat(&stderr(&o));
        assert!(flat.contains(msg), "{args:?}: {}", stderr(&o));
        assert!(!flat.contains("panicked"), "{flat}");
    }
    // An include outside the work tree has no version at a revision.
    s.write(
        "plans/out.toml",
        &X_TOML.replace("base/tmp.toml", "../../outside.toml"),
    );
    git(repo, &["add", "."]);
    git(repo, &["commit", "-qm", "two"]);
    let o = run_in(repo, &["diff", "--rev", "HEAD", "plans/out.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is outside the work tree"),
        "{}",
        stderr(&o)
    );
    // Outside a repository, and without git.
    let t = Scratch::new("rev-norepo");
    t.write("p.toml", X_TOML);
    let o = run_in(t.path(), &["diff", "--rev", "HEAD", "p.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read `p.toml` at `HEAD`"),
        "{}",
        stderr(&o)
    );
    let o = cmd(repo, &["diff", "--rev", "HEAD", "plans/x.toml"])
        .env("PATH", t.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let flat = flat(&stderr(&o));
    assert!(
        flat.contains("`git` is not installed (or not on PATH)"),
        "{flat}"
    );
}

// ---------------------------------------------------------------------------------------------
// man pages

const PAGES: [&str; 14] = [
    "mountplan.1",
    "mountplan-check.1",
    "mountplan-plan.1",
    "mountplan-diff.1",
    "mountplan-apply.1",
    "mountplan-recover.1",
    "mountplan-release.1",
    "mountplan-capture.1",
    "mountplan-doctor.1",
    "mountplan-schema.1",
    "mountplan-completions.1",
    "mountplan-man.1",
    "mountplan-import.1",
    "mountplan-export.1",
];

#[test]
fn man_prints_a_page_per_subcommand_and_writes_them_all() {
    let top = run(&["man"]);
    assert_eq!(top.status.code(), Some(0));
    assert!(
        stdout(&top).contains("\n.TH mountplan 1 "),
        "{}",
        stdout(&top)
    );
    let apply = run(&["man", "apply"]);
    assert_eq!(apply.status.code(), Some(0));
    let a = stdout(&apply);
    assert!(
        a.contains("\n.TH mountplan-apply 1  \"mountplan 0.1.0\""),
        "{a}"
    );
    assert!(a.contains("\\fBmountplan apply\\fR"), "{a}");
    assert!(a.contains("\\fB\\-\\-persist\\fR"), "{a}");
    assert!(a.contains("\\fB\\-\\-state\\-dir\\fR"), "{a}");
    let o = run(&["man", "no-such"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`no-such` is not a subcommand of mountplan"),
        "{}",
        stderr(&o)
    );

    let s = Scratch::new("man");
    let dir = s.path().join("man1");
    let o = run(&["man", "--dir", &dir.display().to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let listed: Vec<String> = stdout(&o).lines().map(String::from).collect();
    let want: Vec<String> = PAGES
        .iter()
        .map(|p| dir.join(p).display().to_string())
        .collect();
    assert_eq!(listed, want);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut pages: Vec<String> = PAGES.iter().map(|p| p.to_string()).collect();
    pages.sort();
    assert_eq!(files, pages);
    // Each file is the page `man COMMAND` prints.
    assert_eq!(std::fs::read(dir.join("mountplan.1")).unwrap(), top.stdout);
    for p in &PAGES[1..] {
        let sub = p.trim_start_matches("mountplan-").trim_end_matches(".1");
        assert_eq!(
            std::fs::read(dir.join(p)).unwrap(),
            run(&["man", sub]).stdout,
            "{p}"
        );
    }
    // man(1) reads them, when it is installed.
    if let Ok(o) = Command::new("man")
        .arg("-l")
        .arg(dir.join("mountplan-diff.1"))
        .env("MANWIDTH", "100")
        .output()
    {
        if o.status.success() {
            let t = String::from_utf8_lossy(&o.stdout);
            assert!(t.contains("--rev <REV>"), "{t}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// .pre-commit-hooks.yaml

/// One hook of .pre-commit-hooks.yaml: the keys pre-commit reads to run it.
#[derive(Debug, Default)]
struct Hook {
    id: String,
    entry: String,
    language: String,
    files: String,
    args: Vec<String>,
    pass_filenames: bool,
}

/// Reads .pre-commit-hooks.yaml as written (a list of flat maps of plain scalars, `args` as a
/// flow list): anything else fails the test, so the file stays this simple.
fn hooks() -> Vec<Hook> {
    let mut out: Vec<Hook> = Vec::new();
    for line in read(".pre-commit-hooks.yaml").lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (item, kv) = match line.strip_prefix("- ") {
            Some(kv) => (true, kv),
            None => (
                false,
                line.strip_prefix("  ")
                    .unwrap_or_else(|| panic!("`{line}`")),
            ),
        };
        if item {
            out.push(Hook {
                pass_filenames: true,
                ..Hook::default()
            });
        }
        let h = out.last_mut().expect("a hook");
        let (k, v) = kv.split_once(": ").unwrap_or_else(|| panic!("`{line}`"));
        assert!(
            !v.starts_with('"') && !v.starts_with('\'') && !v.contains(" #"),
            "`{line}`"
        );
        match k {
            "id" => h.id = v.into(),
            "entry" => h.entry = v.into(),
            "language" => h.language = v.into(),
            "files" => h.files = v.into(),
            "pass_filenames" => h.pass_filenames = v == "true",
            "args" => {
                let list = v
                    .strip_prefix('[')
                    .and_then(|v| v.strip_suffix(']'))
                    .expect("a flow list");
                h.args = list.split(", ").map(String::from).collect();
            }
            "name" | "description" => {}
            _ => panic!("a key this test does not know: `{line}`"),
        }
    }
    out
}

/// The words of a command line as POSIX shlex splits it (pre-commit's `shlex.split`): blanks
/// separate, single quotes keep everything, double quotes keep all but `\"`.
fn shlex(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            ' ' | '\t' => out.extend(cur.take()),
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                for c in it.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                while let Some(c) = it.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(it.next()),
                        c => w.push(c),
                    }
                }
            }
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(cur);
    out
}

/// Runs a hook in `repo` as pre-commit does: the entry's words, then `args`, then the files
/// (when it takes them), with mountplan first on PATH (as pre-commit's rust environment has it).
fn run_hook(h: &Hook, repo: &Path, files: &[&str]) -> Output {
    let words = shlex(&h.entry);
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new(&words[0]);
    c.args(&words[1..])
        .args(&h.args)
        .current_dir(repo)
        .env("PATH", path)
        .env("NO_COLOR", "1");
    if h.pass_filenames {
        c.args(files);
    }
    c.output().expect("run the hook")
}

/// A copy of plans/ in a scratch git work tree.
fn scratch_repo(name: &str) -> Scratch {
    let s = Scratch::new(name);
    std::fs::create_dir_all(s.path().join(".git")).unwrap();
    for rel in ["plans", "plans/base"] {
        for e in std::fs::read_dir(Path::new(ROOT).join(rel))
            .unwrap()
            .flatten()
        {
            if e.file_type().unwrap().is_file() {
                let to = format!("{rel}/{}", e.file_name().to_string_lossy());
                s.write(&to, &std::fs::read_to_string(e.path()).unwrap());
            }
        }
    }
    s
}

#[test]
fn the_pre_commit_hooks_check_plans_and_fail_stale_dry_runs() {
    let hs = hooks();
    let ids: Vec<&str> = hs.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["mountplan-check", "mountplan-dry-runs"]);
    for h in &hs {
        assert_eq!(h.language, "rust", "{h:?}");
    }
    let (check, fresh) = (&hs[0], &hs[1]);
    // The files pre-commit would pass: what `files` matches (checked here as written).
    assert_eq!(check.files, "(^|/)plans/[^/]+\\.toml$");
    assert!(!fresh.pass_filenames && fresh.files == "(^|/)plans/" && fresh.args == ["plans"]);
    let s = scratch_repo("hooks");
    let repo = s.path();
    let plans: Vec<String> = plan_stems().iter().map(|p| format!("{p}.toml")).collect();
    let files: Vec<&str> = plans.iter().map(String::as_str).collect();

    let o = run_hook(check, repo, &files);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run_hook(fresh, repo, &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(o.stdout.is_empty(), "{}", stdout(&o));

    // A plan changed without its dry run; an include changed (its includers are stale); a
    // dry run removed.
    let hs_plan = repo.join("plans/host-sandbox.toml");
    let t = std::fs::read_to_string(&hs_plan).unwrap();
    std::fs::write(
        &hs_plan,
        t.replacen("description = \"", "description = \"Changed. ", 1),
    )
    .unwrap();
    let base = repo.join("plans/base/libcontainer-mounts.toml");
    let t = std::fs::read_to_string(&base).unwrap();
    assert!(t.contains("\"nosuid\", \"nodev\", \"noexec\""));
    std::fs::write(
        &base,
        t.replacen(
            "\"nosuid\", \"nodev\", \"noexec\"",
            "\"nosuid\", \"noexec\"",
            1,
        ),
    )
    .unwrap();
    std::fs::remove_file(repo.join("plans/oci-default.plan.txt")).unwrap();
    let o = run_hook(fresh, repo, &[]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let err = stderr(&o);
    assert!(out.contains("+description: Changed. "), "{out}");
    for stale in [
        "host-sandbox",
        "libcontainer-rootfs",
        "libcontainer-rootfs-ro",
    ] {
        assert!(
            err.contains(&format!("`plans/{stale}.plan.txt` is stale")),
            "{err}"
        );
    }
    assert!(
        err.contains("`plans/oci-default.plan.txt` is missing"),
        "{err}"
    );
    assert_eq!(
        err.matches(" is stale").count() + err.matches(" is missing").count(),
        4,
        "{err}"
    );

    // An invalid plan fails the check hook, with its place.
    s.write(
        "plans/bad.toml",
        "version = 1\n[root]\npath = \"relative\"\n",
    );
    let o = run_hook(check, repo, &["plans/host-sandbox.toml", "plans/bad.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("plans/bad.toml:3:"), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// docs/ci-recipes.md

/// The review-comment script of the GitHub Actions recipe, run in a scratch repository with
/// two commits: it lists the plans whose behaviour changed (an include's change counts), the
/// new and the removed ones, each with its dry run, and not the unchanged one.
#[test]
fn the_ci_recipe_writes_the_review_comment() {
    if !have_git() {
        return;
    }
    let doc = read("docs/ci-recipes.md");
    let begin = doc
        .find("# BEGIN review-comment")
        .expect("the BEGIN marker");
    let end = doc.find("# END review-comment").expect("the END marker");
    let script: String = doc[begin..end]
        .lines()
        .map(|l| l.strip_prefix("          ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let s = Scratch::new("recipe");
    let repo = s.path();
    git(repo, &["init", "-q"]);
    s.write("plans/x.toml", X_TOML);
    s.write("plans/base/tmp.toml", &tmp_toml("1M"));
    s.write(
        "plans/same.toml",
        &X_TOML
            .replace("base/tmp.toml\"]", "base/other.toml\"]")
            .replace("name = \"x\"", "name = \"same\""),
    );
    s.write("plans/base/other.toml", &tmp_toml("1M"));
    s.write(
        "plans/gone.toml",
        &X_TOML.replace("name = \"x\"", "name = \"gone\""),
    );
    git(repo, &["add", "."]);
    git(repo, &["commit", "-qm", "base"]);
    let base = Command::new("git")
        .current_dir(repo)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let base = String::from_utf8_lossy(&base.stdout).trim().to_string();
    s.write("plans/base/tmp.toml", &tmp_toml("2M"));
    s.write(
        "plans/new.toml",
        &X_TOML.replace("name = \"x\"", "name = \"new\""),
    );
    git(repo, &["rm", "-q", "plans/gone.toml"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "-qm", "change"]);

    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("bash")
        .args(["-e", "-c", &script])
        .current_dir(repo)
        .env("PATH", path)
        .env("BASE", &base)
        .output()
        .expect("run the script");
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(repo.join("review.md")).expect("review.md");
    assert!(
        md.starts_with("# What this pull request changes in plans/\n"),
        "{md}"
    );
    let x_diff = md.find("## Plan diff: `x` → `x`").expect("the diff of x");
    assert!(
        md.contains(&format!(
            "- old: `{base}:plans/x.toml`\n- new: `plans/x.toml`\n"
        )),
        "{md}"
    );
    assert!(
        md[x_diff..].contains("data: `size=1048576` → `size=2097152`"),
        "{md}"
    );
    assert!(md.contains("<details><summary>The dry run of <code>plans/x.toml</code></summary>\n\n## Dry run of `x`\n"), "{md}");
    assert!(md.contains("## New plan `plans/new.toml`\n\n<details><summary>The dry run of <code>plans/new.toml</code></summary>\n\n## Dry run of `new`\n"), "{md}");
    assert!(md.contains("## Removed plan `plans/gone.toml`"), "{md}");
    assert!(
        !md.contains("plans/same.toml"),
        "an unchanged plan is listed: {md}"
    );
    assert!(!repo.join("diff.md").exists());
}
