//! `diff` of two plans (the warnings a change introduces and `(hidden by ...)`) and
//! `diff --rev` against a scratch git repository, including what cannot be read at a revision.

use super::*;

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
