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

#[path = "review/ci_recipe.rs"]
mod ci_recipe;
#[path = "review/diff.rs"]
mod diff;
#[path = "review/hooks.rs"]
mod hooks;
#[path = "review/man.rs"]
mod man;
#[path = "review/plan_check.rs"]
mod plan_check;
#[path = "review/stdin.rs"]
mod stdin;

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
