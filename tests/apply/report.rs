//! What `apply` itself prints: nothing when it succeeds (the command's own output only), the
//! step table with `-v` or when it fails, and with `--report-fd N` the JSON document on the
//! caller's descriptor N, never on stderr and never reachable by the command.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use crate::support::*;

/// A bound busybox root with its own proc, then pivot_root; `PID` is the pid namespace.
const PLAN: &str = r#"
version = 1
[root]
path = "${ROOTFS}"
[namespaces]
user = false
pid = PID
[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"
[[step]]
kind = "pivot"
strategy = "pivot-root"
"#;

struct Sandbox {
    s: Scratch,
    plan: PathBuf,
    root: PathBuf,
}

fn sandbox(pid: bool) -> Sandbox {
    let s = Scratch::new("report");
    let root = s.path("root");
    busybox_root(&root);
    let plan = s.write("p.toml", &PLAN.replace("PID", &pid.to_string()));
    Sandbox { s, plan, root }
}

impl Sandbox {
    fn apply(&self) -> Run<'static> {
        Run::apply(&self.plan, &self.s.state()).set("ROOTFS", &self.root)
    }
}

/// Runs `r` with `file` open for writing as descriptor `n` (and nothing else above 2).
fn with_fd(r: &Run<'_>, n: i32, file: &std::fs::File) -> Out {
    let mut c = r.command();
    let fd = file.as_raw_fd();
    // SAFETY: dup2 and fcntl are async-signal-safe; `fd` stays open until spawn returns.
    unsafe {
        c.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it then.
            let r = if fd == n {
                libc::fcntl(n, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, n)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    finish(c.spawn().unwrap(), std::time::Duration::from_secs(60))
}

/// The command writes to both streams: what the caller sees is that and nothing else.
const TALK: &[&str] = &["/bin/sh", "-c", "echo out; echo err >&2"];

#[test]
fn a_successful_apply_prints_nothing_of_its_own() {
    let Some(_serial) = privileged("a_successful_apply_prints_nothing_of_its_own") else {
        return;
    };
    for pid in [false, true] {
        let sb = sandbox(pid);
        let o = sb.apply().cmd(TALK).run();
        assert_eq!(o.status, 0, "pid={pid}: {}", o.stderr);
        assert_eq!(
            (o.stdout.as_str(), o.stderr.as_str()),
            ("out\n", "err\n"),
            "pid={pid}"
        );
        let o = sb.apply().run();
        assert_eq!(
            (o.status, o.stderr.as_str()),
            (0, ""),
            "pid={pid}, no command"
        );
        // -v: the plan's warnings (without a pid namespace, that the command sees the host's
        // processes), then the table (setup, each step, the verification) before the command's
        // output.
        let o = sb.apply().arg("-v").cmd(TALK).run();
        assert_eq!(o.status, 0, "pid={pid}: {}", o.stderr);
        let (warnings, table) = o.stderr.split_at(o.stderr.find("  setup ").unwrap_or(0));
        assert_eq!(
            warnings.contains("mountplan::process::host-pids"),
            !pid,
            "pid={pid}: {}",
            o.stderr
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 6, "pid={pid}: {}", o.stderr);
        assert!(lines[0].starts_with("  setup "), "{}", o.stderr);
        assert!(lines[1].starts_with("  [  1]  proc ") && lines[1].contains(" ok "));
        assert!(lines[2].starts_with("  [  2]  pivot") && lines[2].contains(" ok "));
        // Which mount API ran, and why (`auto` on this kernel: the new one).
        assert!(lines[3].starts_with("  api: new (auto: "), "{}", o.stderr);
        assert_eq!(
            lines[4],
            "  verify: 2 predicted mounts match /proc/self/mountinfo"
        );
        assert_eq!(lines[5], "err");
    }
}

#[test]
fn a_failed_apply_prints_the_table_and_the_failure() {
    let test = "a_failed_apply_prints_the_table_and_the_failure";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !cfg!(debug_assertions) {
        eprintln!("NOT RUN {test}: the test hook needs a debug build");
        assert!(!ci(), "{test} must run under CI=true");
        return;
    }
    let sb = sandbox(false);
    // Call 4 (from 0): the proc mount, after the setup's three calls and its mkdir.
    let o = sb
        .apply()
        .env("MOUNTPLAN_TEST_FAIL_AT_CALL", 4)
        .cmd(TALK)
        .run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(o.stdout.is_empty(), "the command ran: {}", o.stdout);
    for w in [
        "  setup ",
        "  [  1]  proc ",
        "failed",
        "mountplan::apply::step",
        "× step 1 `proc` (mount) failed",
        "this step failed",
        "p.toml:",
    ] {
        assert!(o.stderr.contains(w), "no {w:?} in:\n{}", o.stderr);
    }
}

#[test]
fn the_json_report_goes_to_the_callers_descriptor_only() {
    let Some(_serial) = privileged("the_json_report_goes_to_the_callers_descriptor_only") else {
        return;
    };
    for pid in [false, true] {
        let sb = sandbox(pid);
        let path = sb.s.path("report.json");
        let file = std::fs::File::create(&path).unwrap();
        // The command lists its own descriptors: the report's file is not among them.
        let r = sb.apply().arg("--report-fd").arg("3").cmd(&[
            "/bin/sh",
            "-c",
            "ls -l /proc/$$/fd; echo err >&2",
        ]);
        let o = with_fd(&r, 3, &file);
        assert_eq!(o.status, 0, "pid={pid}: {}", o.stderr);
        assert_eq!(
            o.stderr, "err\n",
            "pid={pid}: stderr has only the command's own"
        );
        assert!(
            !o.stdout.contains("report.json") && !o.stdout.contains(" 3 -> "),
            "pid={pid}: the command got the report's descriptor:\n{}",
            o.stdout
        );
        assert!(o.stdout.contains(" 2 -> "), "pid={pid}: {}", o.stdout);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "pid={pid}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("the report parses");
        assert_eq!(v["format_version"], 1);
        assert_eq!(v["exit_status"], 0);
        assert_eq!(v["steps"].as_array().map(Vec::len), Some(2), "{v}");
        assert_eq!(v["verify"]["ok"], true, "{v}");
        // The command's status is in the report too.
        let file = std::fs::File::create(&path).unwrap();
        let r = sb
            .apply()
            .arg("--report-fd=5")
            .cmd(&["/bin/sh", "-c", "exit 3"]);
        let o = with_fd(&r, 5, &file);
        assert_eq!((o.status, o.stderr.as_str()), (3, ""), "pid={pid}");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("parses");
        assert_eq!(v["exit_status"], 3);
    }
}

#[test]
fn a_report_descriptor_that_cannot_be_written_is_refused_first() {
    let Some(_serial) = privileged("a_report_descriptor_that_cannot_be_written_is_refused_first")
    else {
        return;
    };
    let sb = sandbox(false);
    let marker = "/tmp/ran";
    let cmd = ["/bin/sh", "-c", "echo > /tmp/ran"];
    let host = host_mounts();
    let o = sb.apply().arg("--report-fd").arg("9").cmd(&cmd).run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains(
            "mountplan: --report-fd 9: descriptor 9 is not open (open it for the report, as in \
             `3>report.json`): nothing was applied"
        ),
        "{}",
        o.stderr
    );
    let read_only = std::fs::File::open(&sb.plan).unwrap();
    let o = with_fd(
        &sb.apply().arg("--report-fd").arg("4").cmd(&cmd),
        4,
        &read_only,
    );
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("--report-fd 4: descriptor 4 is open for reading only"),
        "{}",
        o.stderr
    );
    assert!(!sb.root.join(marker.trim_start_matches('/')).exists());
    assert!(journals(&sb.s.state()).is_empty());
    assert_eq!(host, host_mounts());
}
