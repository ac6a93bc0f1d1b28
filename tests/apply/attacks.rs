//! Attacks on the executor from the root's content and its owner (issue 13): a symlink that
//! steers steps into a bind of a host directory, renames of a mountpoint during the apply,
//! swaps of a directory while rollback and recovery run, set-id bits and a chown in one step,
//! and a plan made large to make each step slow. Each test fails against the executor before
//! the fix (see docs/RELIABILITY.md for the figures).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::races::Swapper;
use crate::support::*;

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

/// The plan mounts a tmpfs on `/dev` and makes nodes there; the root's owner renames `/dev`
/// and `/devx` into each other as fast as it can.
const DEV: &str = r#"
version = 1
name = "dev-race"

[root]
path = "${ROOTFS}"

[namespaces]
user = false

[[step]]
kind = "mount"
type = "tmpfs"
target = "/dev"

[[step]]
kind = "mknod"
path = "/dev/sda"
node = "block"
major = 8
minor = 0
mode = "0666"

[[step]]
kind = "mknod"
path = "/dev/null"
node = "char"
major = 1
minor = 3
mode = "0666"

[[step]]
kind = "mkdir"
path = "/dev/shm"
mode = "1777"
"#;

#[test]
fn attacks_renaming_a_mountpoint_in_a_loop_never_puts_the_plan_s_nodes_on_the_disk() {
    let Some(_serial) = privileged(
        "attacks_renaming_a_mountpoint_in_a_loop_never_puts_the_plan_s_nodes_on_the_disk",
    ) else {
        return;
    };
    let s = Scratch::new("dev-race");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir(root.join("devx")).unwrap();
    let plan = s.write("dev.toml", DEV);
    let dev_ino = std::fs::metadata(root.join("dev")).unwrap().ino();
    let before = manifest(&[&root]);
    let mounts = host_mounts();
    let (mut runs, mut ok, mut refused, mut escapes, mut swaps) = (0, 0, 0, 0, 0u64);
    let start = Instant::now();
    while runs < 300 && start.elapsed() < Duration::from_millis(1500) {
        runs += 1;
        let sw = Swapper::start(&root.join("dev"), &root.join("devx"));
        let o = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .arg("--no-verify")
            .run();
        swaps += sw.stop();
        match o.status {
            0 => ok += 1,
            125 => refused += 1,
            st => panic!("run {runs}: status {st}: {}", o.stderr),
        }
        // The disk below the tmpfs holds nothing of the plan's, whichever name it has now.
        for d in ["dev", "devx"] {
            let left: Vec<String> = std::fs::read_dir(root.join(d))
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            if !left.is_empty() {
                escapes += 1;
                eprintln!("run {runs}: on the disk in {d}: {left:?}");
                for n in left {
                    let p = root.join(d).join(n);
                    let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir(&p));
                }
            }
        }
        assert!(journals(&s.state()).is_empty(), "run {runs}");
    }
    eprintln!(
        "attacks dev rename race: {runs} runs, {ok} ok, {refused} refused, {escapes} with nodes \
         on the disk, {swaps} exchanges"
    );
    assert!(swaps > 0, "the directories were never exchanged");
    assert_eq!(escapes, 0, "the plan's nodes landed on the disk");
    // The racer's own renames aside (an odd number leaves the names exchanged), the root is as
    // it was.
    if std::fs::metadata(root.join("dev")).unwrap().ino() != dev_ino {
        crate::races::exchange_once(&root.join("dev"), &root.join("devx"));
    }
    assert_same("the dev race", &before, &manifest(&[&root]));
    assert_eq!(mounts, host_mounts());
}

/// Makes things inside `/race/dir` of a root directory; the injected failure at the last call
/// rolls them back, or a kill leaves them to `recover`.
const UNDO: &str = r#"
version = 1
name = "undo-race"

[root]
path = "${ROOTFS}"

[namespaces]
user = false

[[step]]
kind = "mkdir"
path = "/race/dir/made/deeper"
parents = true

[[step]]
kind = "mknod"
path = "/race/dir/fifo"
node = "fifo"

[[step]]
kind = "symlink"
path = "/race/dir/link"
to = "made"

[[step]]
kind = "chmod"
path = "/race/dir/kept"
mode = "0700"

[[step]]
kind = "mkdir"
path = "/race/last"
"#;

/// What the plan made that is still in the directory (under whichever of its two names is a
/// directory now).
fn made_left(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["race/dir", "race/swap"] {
        let p = root.join(name);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            for m in ["made", "fifo", "link"] {
                if std::fs::symlink_metadata(p.join(m)).is_ok() {
                    out.push(format!("{name}/{m}"));
                }
            }
            if std::fs::metadata(p.join("kept")).is_ok_and(|m| m.mode() & 0o7777 != 0o644) {
                out.push(format!("{name}/kept (mode changed)"));
            }
        }
    }
    out
}

/// Puts `race/dir` back as the directory and `race/swap` as the symlink.
fn straighten(root: &Path) {
    let (a, b) = (root.join("race/dir"), root.join("race/swap"));
    if std::fs::symlink_metadata(&a).is_ok_and(|m| m.file_type().is_symlink()) {
        crate::races::exchange_once(&a, &b);
    }
}

#[test]
fn attacks_swapping_a_directory_during_rollback_or_recover_never_loses_what_was_made() {
    let test = "attacks_swapping_a_directory_during_rollback_or_recover_never_loses_what_was_made";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !debug_hooks(test) {
        return;
    }
    let s = Scratch::new("undo-race");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir_all(root.join("race/dir")).unwrap();
    let kept = root.join("race/dir/kept");
    std::fs::write(&kept, "x").unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o644)).unwrap();
    let canary = s.path("canary");
    std::fs::create_dir(&canary).unwrap();
    std::fs::write(canary.join("host-file"), "host\n").unwrap();
    std::os::unix::fs::symlink(&canary, root.join("race/swap")).unwrap();
    let plan = s.write("undo.toml", UNDO);
    let host_before = manifest(&[&canary]);
    let mounts = host_mounts();
    // The calls, from 0: setup 0-2; mkdir race, race/dir, made, deeper 3-6; mknod 7; symlink
    // 8; chmod 9; mkdir /race/last 10, which fails.
    let last_call = 10;
    let (mut runs, mut rolled, mut kept_journal, mut lost, mut swaps) = (0, 0, 0, 0, 0u64);
    let start = Instant::now();
    while runs < 400 && start.elapsed() < Duration::from_millis(2500) {
        runs += 1;
        // Odd runs: a failure injected at the last call, so the rollback runs under the swap.
        // Even runs: a kill at a journal point, then `recover` under the swap.
        let kill = runs % 2 == 0;
        let sw = Swapper::start(&root.join("race/dir"), &root.join("race/swap"));
        let r = Run::apply(&plan, &s.state()).set("ROOTFS", &root);
        let o = if kill {
            r.env("MOUNTPLAN_TEST_KILL_AT", (runs / 2) % 12).run()
        } else {
            r.env("MOUNTPLAN_TEST_FAIL_AT_CALL", last_call).run()
        };
        assert_ne!(o.status, 0, "run {runs}: the apply must fail: {}", o.stderr);
        if kill && !journals(&s.state()).is_empty() {
            let r = recover(&s.state());
            assert!(r.status == 0 || r.status == 1, "run {runs}: {}", r.stderr);
        }
        swaps += sw.stop();
        assert_same(
            &format!("run {runs}: the host"),
            &host_before,
            &manifest(&[&canary]),
        );
        let left = made_left(&root);
        if journals(&s.state()).is_empty() {
            if left.is_empty() {
                rolled += 1;
            } else {
                // Said "rolled back" (or recovered) and dropped the journal, but left these.
                lost += 1;
                eprintln!("run {runs}: no journal, but left {left:?}: {}", o.stderr);
            }
        } else {
            // Kept: with the racer stopped and the layout as it was, recover finishes it.
            kept_journal += 1;
            straighten(&root);
            let r = recover(&s.state());
            assert_eq!(
                r.status, 0,
                "run {runs}: recover after the race: {}",
                r.stderr
            );
            assert!(journals(&s.state()).is_empty(), "run {runs}: {}", r.stderr);
            let left = made_left(&root);
            assert!(left.is_empty(), "run {runs}: recover left {left:?}");
        }
        // Clean up for the next run whatever a lost record left.
        straighten(&root);
        for m in ["made/deeper", "made"] {
            let _ = std::fs::remove_dir(root.join("race/dir").join(m));
        }
        for m in ["fifo", "link"] {
            let _ = std::fs::remove_file(root.join("race/dir").join(m));
        }
        let _ = std::fs::remove_dir(root.join("race/last"));
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    eprintln!(
        "attacks undo race: {runs} runs, {rolled} undone while swapped, {kept_journal} kept \
         their journal (finished by recover afterwards), {lost} lost, {swaps} exchanges"
    );
    assert!(swaps > 0, "the directory was never exchanged");
    assert_eq!(
        lost, 0,
        "records were dropped with the plan's files still in the root"
    );
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
