//! The command line as a user meets it: exit statuses, help, the generated reference material
//! (`schema`, `schema --markdown`, `completions`, `man`) against the checked-in files, and
//! `check --format json`. Runs the built binary; needs no privileges.

use std::path::Path;
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mountplan"))
        .current_dir(ROOT)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mountplan")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn no_panic(o: &Output) {
    assert!(
        !stderr(o).contains("panicked"),
        "mountplan panicked:\n{}",
        stderr(o)
    );
}

#[test]
fn schema_prints_the_checked_in_schema_and_reference() {
    let o = run(&["schema"]);
    assert_eq!(o.status.code(), Some(0));
    let want = std::fs::read_to_string(Path::new(ROOT).join("schema/plan.schema.json")).unwrap();
    assert_eq!(stdout(&o), want);
    let o = run(&["schema", "--markdown"]);
    assert_eq!(o.status.code(), Some(0));
    let want = std::fs::read_to_string(Path::new(ROOT).join("docs/plan-format.md")).unwrap();
    assert_eq!(stdout(&o), want);
}

#[test]
fn check_exits_0_1_2() {
    let plans: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("plans"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(!plans.is_empty());
    let args: Vec<&str> = std::iter::once("check")
        .chain(plans.iter().map(String::as_str))
        .collect();
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let o = run(&["check", "tests/fixtures/invalid/after-later.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("after-later.toml:10:10"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("help:"), "{}", stderr(&o));
    no_panic(&o);

    let o = run(&["check", "no/such/plan.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/plan.toml"), "{}", stderr(&o));
    no_panic(&o);

    // apply keeps 2 for the command's own status: an unreadable plan is its 125.
    let o = run(&["apply", "no/such/plan.toml", "--", "/bin/true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("no/such/plan.toml or a file it includes could not be read"),
        "{}",
        stderr(&o)
    );
    no_panic(&o);

    let o = run(&["check", "--no-such-flag", "plans/host-sandbox.toml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn check_json_has_the_place_of_every_diagnostic() {
    let o = run(&[
        "check",
        "--format",
        "json",
        "tests/fixtures/invalid/after-later.toml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("the JSON parses");
    let diags = v["diagnostics"]
        .as_array()
        .expect("diagnostics is an array");
    assert!(!diags.is_empty());
    for d in diags {
        assert!(
            d["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("mountplan::"))
        );
        assert_eq!(d["file"], "tests/fixtures/invalid/after-later.toml");
        assert!(d["line"].as_u64().is_some_and(|l| l > 0), "{d}");
        let (start, end) = (d["span"]["start"].as_u64(), d["span"]["end"].as_u64());
        assert!(start.is_some() && end.is_some() && start <= end, "{d}");
    }
}

#[test]
fn an_invalid_plan_is_not_applied() {
    // Validation comes before anything else, so this needs no privileges and changes nothing.
    let o = run(&[
        "apply",
        "tests/fixtures/invalid/after-later.toml",
        "--",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("after-later.toml is not valid: nothing was applied"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("declared later"), "{}", stderr(&o));
    no_panic(&o);
}

#[test]
fn help_names_every_command_and_step_kind() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let h = stdout(&o);
    for c in [
        "check",
        "plan",
        "diff",
        "apply",
        "recover",
        "release",
        "schema",
        "completions",
        "man",
    ] {
        assert!(h.contains(&format!("\n  {c} ")), "--help lacks `{c}`");
    }
    // The kinds, as the help lists them: "... a root filesystem (mount, remount, ...)".
    let flat = h.split_whitespace().collect::<Vec<_>>().join(" ");
    let kinds: Vec<&str> = flat
        .split_once("root filesystem (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(list, _)| list.split(", ").collect())
        .unwrap_or_default();
    for k in [
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
    ] {
        assert!(
            kinds.contains(&k),
            "--help lacks the step kind `{k}`: {kinds:?}"
        );
    }
    let o = run(&["no-such-command"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn completions_and_man_page_are_generated() {
    let o = run(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("mountplan"));
    let o = run(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with(".ie") || stdout(&o).contains(".TH"));
}

/// A plan whose include cannot be read is an unreadable file for every command that checks it:
/// exit 2 (not 1, which says the plan has errors), with the include named.
#[test]
fn an_unreadable_include_exits_2_for_check_plan_and_diff() {
    let dir = std::env::temp_dir().join(format!("mountplan-cli-include-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan = dir.join("p.toml");
    std::fs::write(
        &plan,
        "version = 1\nname = \"p\"\ninclude = [\"missing.toml\"]\n[root]\ntmpfs = {}\n",
    )
    .unwrap();
    let p = plan.display().to_string();
    for args in [
        vec!["check", p.as_str()],
        vec!["plan", p.as_str()],
        vec!["diff", p.as_str(), p.as_str()],
    ] {
        let o = run(&args);
        no_panic(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("missing.toml"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_says_how_the_command_runs() {
    let o = run(&["check", "tests/fixtures/valid/process.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    for w in [
        "process.toml: ok (3 steps)\n  the command runs with:\n",
        "    user: uid 1000, gid 1000, groups 27, 100\n",
        "    capabilities: CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE\n",
        "    no_new_privs: yes\n",
        "    cwd: /work\n",
        "    hostname: builder.local (set in its UTS namespace before the steps)\n",
        "    umask: 0027\n",
        // The pivot's chroot fallback is a warning, not an error.
        "mountplan::process::plain-chroot",
    ] {
        assert!(e.contains(w), "no {w:?} in:\n{e}");
    }
    no_panic(&o);
}

/// The README's example plan is plans/host-sandbox.toml, byte for byte: the plan the apply
/// tests run (`host_sandbox_runs_the_hosts_dynamically_linked_programs`), so the example
/// works as shown.
#[test]
fn the_readme_example_is_the_host_sandbox_plan() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let plan = std::fs::read_to_string(format!("{root}/plans/host-sandbox.toml")).expect("plan");
    let start = readme
        .find("```toml\n")
        .expect("a TOML block in the README")
        + 8;
    let len = readme[start..].find("```\n").expect("its end");
    assert_eq!(&readme[start..start + len], plan);
}
