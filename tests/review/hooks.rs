//! The pre-commit hooks of .pre-commit-hooks.yaml, run as pre-commit would run them: they
//! check plans and fail stale dry runs.

use super::*;

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
