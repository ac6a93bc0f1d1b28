//! `plan --check` against the checked-in dry runs: every one passes from any directory and in
//! every format, a stale one exits 1 with a unified diff, and outside a repository names are
//! relative to the plans directory.

use super::*;

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
