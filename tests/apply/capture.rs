//! `mountplan capture --pid PID` of a namespace a plan built, applied again, gives the same
//! tree; `mountplan doctor PLAN` says before anything is changed which step will fail.
//!
//! The first apply's command prints its mount table and waits on its standard input (a pipe
//! the test holds), so the namespace is alive, complete and unchanging while it is captured;
//! no sleep, no timing. The captured plan is applied with a command that prints its mount
//! table, and the two tables are compared mount by mount: mountpoint, the mountpoint of its
//! parent, fstype, per-mount options, filesystem options and propagation type (ids, device
//! numbers and peer group numbers are the kernel's own and differ by construction).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;

use crate::support::*;

/// One mount of a table, without the kernel's numbers: (mountpoint, parent's mountpoint,
/// fstype, per-mount options, filesystem options, propagation).
type Shape = (String, String, String, String, String, String);

/// The mounts of a `/proc/self/mountinfo`, sorted.
fn shapes(mountinfo: &str) -> Vec<Shape> {
    let rows: Vec<Vec<&str>> = mountinfo
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(' ').collect())
        .collect();
    let at = |id: &str| {
        rows.iter()
            .find(|r| r[0] == id)
            .map(|r| r[4].to_string())
            .unwrap_or_else(|| "(outside)".into())
    };
    let mut out: Vec<Shape> = rows
        .iter()
        .map(|r| {
            let dash = r.iter().position(|f| *f == "-").expect("a mountinfo line");
            let mut prop: Vec<&str> = r[6..dash]
                .iter()
                .map(|f| f.split(':').next().unwrap_or(f))
                .collect();
            prop.sort();
            let prop = if prop.is_empty() {
                "private".to_string()
            } else {
                prop.join(",")
            };
            (
                r[4].to_string(),
                at(r[2]),
                r[dash + 1].to_string(),
                r[5].to_string(),
                r[dash + 3].to_string(),
                prop,
            )
        })
        .collect();
    out.sort();
    out
}

/// The host pid of the descendant of `ancestor` whose command line holds `marker`.
fn descendant_with(ancestor: u32, marker: &str) -> Option<u32> {
    let parent = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after = &stat[stat.rfind(')')? + 2..];
        after.split(' ').nth(1)?.parse().ok()
    };
    for e in std::fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains(marker) {
            continue;
        }
        let mut p = pid;
        while let Some(pp) = parent(p) {
            if pp == ancestor {
                return Some(pid);
            }
            if pp <= 1 {
                break;
            }
            p = pp;
        }
    }
    None
}

/// Applies `plan` (with `sets`), captures the namespace of its command, applies the capture;
/// returns the two mount tables and the captured plan.
fn capture_round_trip(
    s: &Scratch,
    plan: &Path,
    sets: &[(&str, &Path)],
) -> (String, String, String) {
    const MARKER: &str = "==captured-here";
    let mut run = Run::apply(plan, &s.path("state-a"));
    for (k, v) in sets {
        run = run.set(k, v);
    }
    let script = format!("cat /proc/self/mountinfo; echo {MARKER}; read x");
    let mut cmd = run.cmd(&["/bin/sh", "-c", &script]).command();
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            let o = finish(child, std::time::Duration::from_secs(60));
            panic!(
                "the first apply ended before its command waited: {}",
                o.stderr
            );
        }
        if line.trim_end() == MARKER {
            break;
        }
        first.push_str(&line);
    }
    let pid = descendant_with(child.id(), MARKER).expect("the command's host pid");
    let captured = std::process::Command::new(BIN)
        .args(["capture", "--pid", &pid.to_string()])
        .output()
        .unwrap();
    writeln!(stdin, "go").unwrap();
    drop(stdin);
    let a = child.wait().unwrap();
    assert!(a.success(), "the first apply failed");
    let text = String::from_utf8(captured.stdout).unwrap();
    assert_eq!(
        captured.status.code(),
        Some(0),
        "capture: {}\n{text}",
        String::from_utf8_lossy(&captured.stderr)
    );
    let again = s.write("captured.toml", &text);
    let b = Run::apply(&again, &s.path("state-b"))
        .cmd(&["/bin/cat", "/proc/self/mountinfo"])
        .run();
    assert_eq!(
        b.status, 0,
        "the captured plan failed: {}\n{text}",
        b.stderr
    );
    (first, b.stdout, text)
}

#[test]
fn capture_a_namespace_a_plan_built_applied_again_gives_the_same_tree() {
    let Some(_serial) =
        privileged("capture_a_namespace_a_plan_built_applied_again_gives_the_same_tree")
    else {
        return;
    };
    let s = Scratch::new("capture");
    let root = s.path("root");
    busybox_root(&root);
    // A host directory bound read-only with a submount of its own, recursively.
    let host = s.path("host");
    std::fs::create_dir_all(host.join("sub")).unwrap();
    let h = host.display().to_string();
    let ok = std::process::Command::new("sh")
        .args([
            "-c",
            &format!("mount -t tmpfs -o size=1m,mode=0750 capsub {h}/sub"),
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .args(["-l", &self.0])
                .status();
        }
    }
    let _u = Unmount(format!("{h}/sub"));
    std::fs::create_dir_all(root.join("srv")).unwrap();
    // The reference sandbox with two more mounts before its pivot.
    let reference = std::fs::read_to_string(plans_dir().join("reference-sandbox.toml")).unwrap();
    let more = format!(
        r#"[[step]]
kind = "mount"
id = "srv"
type = "rbind"
source = "{h}"
target = "/srv"
options = ["ro", "rec", "nodev"]

[[step]]
kind = "mount"
id = "run"
type = "tmpfs"
target = "/run"
size = "2m"
mode = "0700"
options = ["nosuid", "noexec"]

[[step]]
kind = "pivot""#
    );
    let pivot = "[[step]]\nkind = \"pivot\"";
    assert!(reference.contains(pivot));
    let extra = s.write("extra.toml", &reference.replace(pivot, &more));
    let c = mountplan::check(
        &extra,
        &[("ROOTFS".into(), root.display().to_string())],
        &mut |p: &Path| std::fs::read_to_string(p),
    );
    if c.has_errors() {
        // The plan's shape is the test's business: say what is wrong with it.
        panic!(
            "{:#?}",
            c.diags.iter().map(|d| d.to_string()).collect::<Vec<_>>()
        );
    }
    let mut trees: Vec<Vec<Shape>> = Vec::new();
    for plan in [plans_dir().join("reference-sandbox.toml"), extra] {
        let (first, again, text) = capture_round_trip(&s, &plan, &[("ROOTFS", &root)]);
        let (a, b) = (shapes(&first), shapes(&again));
        assert!(a.len() >= 5, "{first}");
        assert_eq!(
            a,
            b,
            "{}: the captured plan builds another tree\n{text}",
            plan.display()
        );
        eprintln!(
            "{}: {} mounts, the same after capture",
            plan.display(),
            a.len()
        );
        trees.push(a);
    }
    // The comparison tells trees apart: the two plans' trees differ (the read-only rbind with
    // its submount, the 2 MiB tmpfs), and the rbind's copy of the submount is read-only too.
    assert_ne!(trees[0], trees[1]);
    let srv: Vec<&Shape> = trees[1]
        .iter()
        .filter(|m| m.0.starts_with("/srv"))
        .collect();
    assert_eq!(srv.len(), 2, "{:?}", trees[1]);
    assert!(srv.iter().all(|m| m.3.starts_with("ro,")), "{srv:?}");
}

#[test]
fn doctor_names_the_step_that_will_fail_and_changes_nothing() {
    let Some(_serial) = privileged("doctor_names_the_step_that_will_fail_and_changes_nothing")
    else {
        return;
    };
    let s = Scratch::new("doctor");
    let good = s.write(
        "good.toml",
        "version = 1\nname = \"good\"\n\n[root]\ntmpfs = {}\n\n[namespaces]\nuser = false\n\n\
         [[step]]\nkind = \"mount\"\nid = \"data\"\ntype = \"bind\"\nsource = \"/tmp\"\n\
         target = \"/data\"\ncreate = \"dir\"\n",
    );
    let missing = s.path("no-such-dir").display().to_string();
    let bad = s.write(
        "bad.toml",
        &std::fs::read_to_string(&good)
            .unwrap()
            .replace("source = \"/tmp\"", &format!("source = \"{missing}\"")),
    );
    let mounts = host_mounts();
    let before = manifest(&[&s.dir]);
    let run = |plan: &Path| {
        let o = std::process::Command::new(BIN)
            .args(["doctor", "--color", "never"])
            .arg(plan)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.code(), text)
    };
    let (code, text) = run(&good);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(&bad);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        says(
            &text,
            &format!("step `data`: the bind source `{missing}` does not exist")
        ),
        "{text}"
    );
    assert!(text.contains("will fail here"), "{text}");
    assert_same("host mounts", &[mounts], &[host_mounts()]);
    assert_same("the scratch directory", &before, &manifest(&[&s.dir]));
}
