//! Attacks on the executor from the root's content and its owner (issue 13): a symlink that
//! steers steps into a bind of a host directory, a rename of a mountpoint before each call of
//! the apply, a swap of a directory before each undo of a rollback and of a recovery (the test
//! pauses: one exchange at one exact point per run, every point swept), set-id bits and a chown
//! in one step, and a plan made large to make each step slow. Each test fails against the
//! executor before the fix (see docs/RELIABILITY.md for the figures); the threads that race as
//! fast as they can are the ignored stress runs (`-- --ignored attacks_stress`).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::races::{Swapper, exchange_once};
use crate::support::*;

#[path = "attacks/rename.rs"]
mod rename;
#[path = "attacks/undo.rs"]
mod undo;

/// A root whose `/app` is a symlink to `/workspace`, where the plan binds a host directory:
/// every step under `/app` would land in that host directory.
const STEER: &str = r#"
version = 1
name = "steer"

[root]
path = "${ROOTFS}"

[namespaces]
user = false

[[step]]
kind = "mount"
type = "bind"
source = "${HOSTDIR}"
target = "/workspace"

[[step]]
kind = "mknod"
path = "/app/sda"
node = "block"
major = 8
minor = 0
mode = "0666"

[[step]]
kind = "mkdir"
path = "/app/open"
mode = "0777"

[[step]]
kind = "chmod"
path = "/app/owned"
mode = "0644"
uid = 65534
"#;

fn recover(state: &Path) -> Out {
    Run {
        args: vec![
            "recover".into(),
            "--state-dir".into(),
            state.display().to_string(),
        ],
        ..Run::default()
    }
    .run()
}

#[test]
fn attacks_a_symlink_in_the_root_cannot_steer_steps_into_a_bind_of_a_host_directory() {
    let test = "attacks_a_symlink_in_the_root_cannot_steer_steps_into_a_bind_of_a_host_directory";
    let Some(_serial) = privileged(test) else {
        return;
    };
    let s = Scratch::new("steer");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir(root.join("workspace")).unwrap();
    std::os::unix::fs::symlink("/workspace", root.join("app")).unwrap();
    let host = s.path("host-workspace");
    std::fs::create_dir(&host).unwrap();
    let owned = s.write("host-workspace/owned", "root's\n");
    std::fs::set_permissions(&owned, std::fs::Permissions::from_mode(0o600)).unwrap();
    let plan = s.write("steer.toml", STEER);
    let before = manifest(&[&root, &host]);
    let mounts = host_mounts();
    let run = || {
        Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .set("HOSTDIR", &host)
    };
    let o = run().run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains("EXDEV") && o.stderr.contains("symlink `/app`"),
        "the refusal names the symlink: {}",
        o.stderr
    );
    assert_same("the steered apply", &before, &manifest(&[&root, &host]));
    assert!(journals(&s.state()).is_empty());
    assert_eq!(mounts, host_mounts());
    // Killed at each point of the journal protocol instead: nothing of the plan's is on the
    // host directory afterwards, once the parent (or `recover`) has undone the journal.
    if !debug_hooks(test) {
        return;
    }
    for k in 0..8 {
        let o = run().env("MOUNTPLAN_TEST_KILL_AT", k).run();
        assert_ne!(o.status, 0, "kill at {k}: {}", o.stderr);
        let r = recover(&s.state());
        assert_eq!(r.status, 0, "kill at {k}: {}", r.stderr);
        assert_same(
            &format!("killed at point {k}"),
            &before,
            &manifest(&[&root, &host]),
        );
    }
    assert_eq!(mounts, host_mounts());
}

#[test]
fn attacks_set_id_bits_and_an_owner_in_one_chmod_give_what_the_dry_run_says_every_time() {
    let test =
        "attacks_set_id_bits_and_an_owner_in_one_chmod_give_what_the_dry_run_says_every_time";
    let Some(_serial) = privileged(test) else {
        return;
    };
    let s = Scratch::new("setid");
    let root = s.path("root");
    busybox_root(&root);
    let tool = s.write("root/usr/tool", "#!/bin/sh\n");
    let plan = s.write(
        "setid.toml",
        "version = 1\nname = \"setid\"\n[root]\npath = \"${ROOTFS}\"\n[namespaces]\nuser = false\n\
         [[step]]\nkind = \"chmod\"\npath = \"/usr/tool\"\nmode = \"4755\"\nuid = 0\ngid = 0\n\
         [[step]]\nkind = \"mkdir\"\npath = \"/zz\"\n",
    );
    let dry = Run {
        args: vec!["plan".into(), plan.display().to_string()],
        ..Run::default()
    }
    .set("ROOTFS", &root)
    .run();
    let chown = dry.stdout.find("lchown(\"<root>/usr/tool\", 0, 0)");
    let chmod = dry.stdout.find("chmod(\"<root>/usr/tool\", 04755)");
    assert!(
        chown.is_some() && chown < chmod,
        "the dry run makes the owner, then the mode:\n{}",
        dry.stdout
    );
    for (round, start_mode) in [(1, 0o755), (2, 0o4755)] {
        std::os::unix::fs::lchown(&tool, Some(1000), Some(1000)).unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(start_mode)).unwrap();
        for apply in 1..=2 {
            let o = Run::apply(&plan, &s.state()).set("ROOTFS", &root).run();
            assert_eq!(o.status, 0, "{}", o.stderr);
            let m = std::fs::metadata(&tool).unwrap();
            assert_eq!(
                (m.mode() & 0o7777, m.uid(), m.gid()),
                (0o4755, 0, 0),
                "round {round}, apply {apply}"
            );
        }
    }
    // A failed apply (the mkdir, call 5, fails) puts back exactly what was there, set-id bits
    // included: the owner's undo restores the bits the chown cleared.
    if !debug_hooks(test) {
        return;
    }
    std::os::unix::fs::lchown(&tool, Some(1000), Some(1000)).unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o6750)).unwrap();
    let before = manifest(&[&root]);
    let o = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .env("MOUNTPLAN_TEST_FAIL_AT_CALL", 5)
        .run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert_same("rolled back", &before, &manifest(&[&root]));
}

/// A plan of `n` read-only paths.
fn readonly_plan(n: usize) -> String {
    let mut t = String::from(
        "version = 1\nname = \"ro\"\n[root]\ntmpfs = {}\n[namespaces]\nuser = false\n",
    );
    for i in 0..n {
        t.push_str(&format!(
            "[[step]]\nkind = \"mkdir\"\npath = \"/r{i}\"\n[[step]]\nkind = \"readonly\"\npath = \"/r{i}\"\n"
        ));
    }
    t
}

#[test]
fn attacks_each_readonly_step_costs_the_same_whatever_the_plan_s_size() {
    let test = "attacks_each_readonly_step_costs_the_same_whatever_the_plan_s_size";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("\n!!!! {test}: NOT RUN: no strace\n");
        assert!(!ci(), "strace is needed under CI=true");
        return;
    }
    let s = Scratch::new("readonly-cost");
    // The mount table read per apply must not grow with the number of steps: each step's work
    // is its own (a step that read the whole table made 5 000 steps take 36 s).
    let mut reads = Vec::new();
    for n in [10, 80] {
        let plan = s.write(&format!("ro{n}.toml"), &readonly_plan(n));
        let trace = s.path(&format!("trace{n}"));
        let mut c = Run::apply(&plan, &s.state()).traced(&trace, &["-e", "trace=openat"]);
        let o = finish(c.spawn().unwrap(), Duration::from_secs(60));
        assert_eq!(o.status, 0, "{}", o.stderr);
        let text = std::fs::read_to_string(&trace).unwrap();
        reads.push(text.lines().filter(|l| l.contains("mountinfo")).count());
    }
    eprintln!("attacks readonly: mountinfo read {reads:?} times for 10 and 80 steps");
    assert_eq!(
        reads[0], reads[1],
        "the mount table is read once per step ({reads:?} for 10 and 80 steps)"
    );
}
