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

/// The plan mounts a tmpfs on `/dev` and makes nodes there; the root's owner exchanges `/dev`
/// and `/devx` (one `renameat2`) at one point of the apply. The command (the host's `sh`, no
/// pivot) lists where the nodes are in the new namespace.
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

/// What the dev sweep saw.
#[derive(Debug, Default)]
struct DevTally {
    /// Points swept (a swap before each call).
    points: u32,
    ok: u32,
    refused: u32,
    kept: u32,
    /// Successful applies whose tmpfs had moved to `/devx` with the swap and still got every
    /// node (the swap landed between the mount and the nodes).
    moved: u32,
    /// Applies that left something of the plan's on the disk below the tmpfs.
    escapes: u32,
}

/// The names of what is in `dir` on the disk.
fn listed(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn attacks_renaming_a_mountpoint_at_each_call_never_puts_the_plan_s_nodes_on_the_disk() {
    let test = "attacks_renaming_a_mountpoint_at_each_call_never_puts_the_plan_s_nodes_on_the_disk";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !debug_hooks(test) {
        return;
    }
    let mut t = DevTally::default();
    let mut escaped = Vec::new();
    for n in 0.. {
        let s = Scratch::new(&format!("dev-race-{n}"));
        let root = s.path("root");
        busybox_root(&root);
        std::fs::create_dir(root.join("devx")).unwrap();
        let (dev, devx) = (root.join("dev"), root.join("devx"));
        let plan = s.write("dev.toml", DEV);
        let dev_ino = std::fs::metadata(&dev).unwrap().ino();
        let before = manifest(&[&root]);
        let mounts = host_mounts();
        let resume = Resume::new(&s.dir, "resume");
        let r = root.display().to_string();
        let list = format!(
            "cat /proc/self/mountinfo; for d in dev devx; do for f in sda null shm; do \
             [ -e {r}/$d/$f ] && echo has=$d/$f; done; done; true"
        );
        let cmd = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .arg("--no-verify")
            .env("MOUNTPLAN_TEST_PAUSE_AT_CALL", n)
            .env("MOUNTPLAN_TEST_RESUME", resume.0.display())
            .cmd(&["sh", "-c", &list])
            .command();
        let (o, paused) = run_paused(cmd, &resume, || exchange_once(&dev, &devx));
        let what = format!("swap before call {n}");
        match o.status {
            0 => {
                t.ok += 1;
                // The tmpfs is on one of the two names, and every node is in it.
                let on: Vec<String> = parse_mountinfo(&o.stdout)
                    .into_iter()
                    .filter(|(mp, fstype, _)| fstype == "tmpfs" && mp.starts_with(&r))
                    .map(|(mp, _, _)| mp[r.len()..].to_string())
                    .collect();
                assert!(
                    on == ["/dev"] || on == ["/devx"],
                    "{what}: {on:?}\n{}",
                    o.stdout
                );
                let has: Vec<&str> = o
                    .stdout
                    .lines()
                    .filter_map(|l| l.strip_prefix("has="))
                    .collect();
                let d = &on[0][1..];
                let want: Vec<String> = ["sda", "null", "shm"]
                    .iter()
                    .map(|f| format!("{d}/{f}"))
                    .collect();
                if has != want {
                    escaped.push(format!("{what}: on the tmpfs (at /{d}): {has:?}"));
                } else if d == "devx" {
                    t.moved += 1;
                }
            }
            125 => {
                t.refused += 1;
                assert!(o.stderr.contains("dev.toml:"), "{what}: {}", o.stderr);
            }
            st => panic!("{what}: status {st}: {}", o.stderr),
        }
        // The disk below the tmpfs holds nothing of the plan's, whichever name it has now.
        for d in [&dev, &devx] {
            let left = listed(d);
            if !left.is_empty() {
                t.escapes += 1;
                escaped.push(format!("{what}: on the disk in {}: {left:?}", d.display()));
            }
        }
        if !journals(&s.state()).is_empty() {
            t.kept += 1;
            if std::fs::metadata(&dev).unwrap().ino() != dev_ino {
                exchange_once(&dev, &devx);
            }
            let r = recover(&s.state());
            assert_eq!(r.status, 0, "{what}: recover: {}", r.stderr);
            assert!(journals(&s.state()).is_empty(), "{what}: {}", r.stderr);
        }
        // The swap aside, the root is as it was.
        if escaped.is_empty() {
            if std::fs::metadata(&dev).unwrap().ino() != dev_ino {
                exchange_once(&dev, &devx);
            }
            assert_same(&what, &before, &manifest(&[&root]));
        }
        assert_eq!(mounts, host_mounts(), "{what}");
        if !paused {
            assert_eq!(o.status, 0, "{what}: the plain apply failed: {}", o.stderr);
            t.ok -= 1;
            break;
        }
        t.points += 1;
    }
    eprintln!("attacks dev rename sweep: {t:?}");
    assert!(
        escaped.is_empty(),
        "the plan's nodes landed on the disk: {escaped:#?}"
    );
    // A swap between the tmpfs's attach and its first node is a point of the sweep: there the
    // nodes must still be made on the tmpfs, under its new name (by construction, not chance).
    assert!(
        t.moved > 0,
        "no swap landed between the mount and its nodes: {t:?}"
    );
}

/// The same attack by a thread exchanging the names as fast as it can, for a stress run:
/// where its swaps land depends on the scheduling (`cargo test -- --ignored attacks_stress`).
#[test]
#[ignore = "stress: the swaps land where the scheduling puts them"]
fn attacks_stress_renaming_a_mountpoint_in_a_loop() {
    let Some(_serial) = privileged("attacks_stress_renaming_a_mountpoint_in_a_loop") else {
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
        for d in ["dev", "devx"] {
            let left = listed(&root.join(d));
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
        "attacks dev rename stress: {runs} runs, {ok} ok, {refused} refused, {escapes} with \
         nodes on the disk, {swaps} exchanges"
    );
    assert_eq!(escapes, 0, "the plan's nodes landed on the disk");
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

/// The last call of [`UNDO`] (from 0, setup included): the failure injected there makes the
/// rollback run.
const UNDO_LAST_CALL: usize = 10;

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

/// A root for the undo race: `race/dir` with `kept` (mode 0644), `race/swap` a symlink to a
/// canary directory outside the root.
struct UndoRoot {
    s: Scratch,
    root: PathBuf,
    canary: PathBuf,
    plan: PathBuf,
}

fn undo_root(name: &str) -> UndoRoot {
    let s = Scratch::new(name);
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
    UndoRoot {
        s,
        root,
        canary,
        plan,
    }
}

/// What the undo sweeps saw.
#[derive(Debug, Default)]
struct UndoTally {
    /// Points swept (a swap before each undo).
    points: u32,
    /// Undone completely although the directory was swapped, journal removed.
    undone: u32,
    /// Kept their journal (records that could not be proved), finished by `recover` after.
    kept: u32,
    /// Dropped the journal with the plan's files still in the root.
    lost: u32,
}

/// After a rollback or a recovery made while `race/dir` was swapped: the canary is as it was;
/// with no journal left nothing of the plan's is in the root (else it is `lost`); a kept
/// journal is finished by `recover` once the directory is back.
fn judge_undo(
    u: &UndoRoot,
    what: &str,
    canary: &[String],
    t: &mut UndoTally,
    lost: &mut Vec<String>,
) {
    assert_same(
        &format!("{what}: the host"),
        canary,
        &manifest(&[&u.canary]),
    );
    let left = made_left(&u.root);
    if journals(&u.s.state()).is_empty() {
        if left.is_empty() {
            t.undone += 1;
        } else {
            t.lost += 1;
            lost.push(format!("{what}: no journal, but left {left:?}"));
        }
    } else {
        t.kept += 1;
        straighten(&u.root);
        let r = recover(&u.s.state());
        assert_eq!(r.status, 0, "{what}: recover after the swap: {}", r.stderr);
        assert!(journals(&u.s.state()).is_empty(), "{what}: {}", r.stderr);
        let left = made_left(&u.root);
        assert!(left.is_empty(), "{what}: recover left {left:?}");
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
    let mounts = host_mounts();
    // The calls, from 0: setup 0-2; mkdir made, deeper 3-4 (race and race/dir exist); mknod;
    // symlink; chmod; mkdir /race/last, the last, which fails.
    let last_call = UNDO_LAST_CALL;
    let mut lost = Vec::new();
    // The rollback: the failure injected at the last call, `race/dir` exchanged with the
    // symlink right before undo n.
    let mut rollback = UndoTally::default();
    for n in 0.. {
        let u = undo_root(&format!("undo-rollback-{n}"));
        let canary = manifest(&[&u.canary]);
        let resume = Resume::new(&u.s.dir, "resume");
        let cmd = Run::apply(&u.plan, &u.s.state())
            .set("ROOTFS", &u.root)
            .env("MOUNTPLAN_TEST_FAIL_AT_CALL", last_call)
            .env("MOUNTPLAN_TEST_PAUSE_AT_UNDO", n)
            .env("MOUNTPLAN_TEST_RESUME", resume.0.display())
            .command();
        let (dir, swap) = (u.root.join("race/dir"), u.root.join("race/swap"));
        let (o, paused) = run_paused(cmd, &resume, || exchange_once(&dir, &swap));
        let what = format!("rollback, swap before undo {n}");
        assert_eq!(o.status, 125, "{what}: the apply must fail: {}", o.stderr);
        assert!(
            o.stderr
                .contains(&format!("failure injected at call {last_call}")),
            "{what}: {}",
            o.stderr
        );
        judge_undo(&u, &what, &canary, &mut rollback, &mut lost);
        if !paused {
            // Past the last undo: not raced, and rolled back completely.
            assert!(journals(&u.s.state()).is_empty() && made_left(&u.root).is_empty());
            rollback.undone -= 1;
            break;
        }
        rollback.points += 1;
    }
    // Recovery, after the apply was killed at journal point k: by the parent (the child
    // killed) and by `recover` (the parent killed too), `race/dir` exchanged right before
    // undo n of that recovery.
    let mut by_parent = UndoTally::default();
    let mut by_recover = UndoTally::default();
    for k in [4, 7, 10] {
        for n in 0.. {
            let u = undo_root(&format!("undo-kill-{k}-{n}"));
            let canary = manifest(&[&u.canary]);
            let resume = Resume::new(&u.s.dir, "resume");
            let cmd = Run::apply(&u.plan, &u.s.state())
                .set("ROOTFS", &u.root)
                .env("MOUNTPLAN_TEST_KILL_AT", k)
                .env("MOUNTPLAN_TEST_PAUSE_AT_UNDO", n)
                .env("MOUNTPLAN_TEST_RESUME", resume.0.display())
                .command();
            let (dir, swap) = (u.root.join("race/dir"), u.root.join("race/swap"));
            let (o, paused) = run_paused(cmd, &resume, || exchange_once(&dir, &swap));
            let what = format!("killed at point {k}, the parent's recovery, swap before undo {n}");
            assert_eq!(o.status, 125, "{what}: {}", o.stderr);
            judge_undo(&u, &what, &canary, &mut by_parent, &mut lost);
            if !paused {
                assert!(journals(&u.s.state()).is_empty() && made_left(&u.root).is_empty());
                by_parent.undone -= 1;
                break;
            }
            by_parent.points += 1;
        }
        for n in 0.. {
            let u = undo_root(&format!("undo-recover-{k}-{n}"));
            let canary = manifest(&[&u.canary]);
            kill_parent_while_hanging(&u, k);
            assert_eq!(journals(&u.s.state()).len(), 1, "point {k}: no journal");
            let resume = Resume::new(&u.s.dir, "resume");
            let cmd = Run {
                args: vec![
                    "recover".into(),
                    "--state-dir".into(),
                    u.s.state().display().to_string(),
                ],
                ..Run::default()
            }
            .env("MOUNTPLAN_TEST_PAUSE_AT_UNDO", n)
            .env("MOUNTPLAN_TEST_RESUME", resume.0.display())
            .command();
            let (dir, swap) = (u.root.join("race/dir"), u.root.join("race/swap"));
            let (o, paused) = run_paused(cmd, &resume, || exchange_once(&dir, &swap));
            let what = format!("killed at point {k}, `recover`, swap before undo {n}");
            assert!(o.status == 0 || o.status == 1, "{what}: {}", o.stderr);
            judge_undo(&u, &what, &canary, &mut by_recover, &mut lost);
            if !paused {
                assert!(journals(&u.s.state()).is_empty() && made_left(&u.root).is_empty());
                by_recover.undone -= 1;
                break;
            }
            by_recover.points += 1;
        }
    }
    eprintln!(
        "attacks undo sweep: rollback {rollback:?}; the parent's recovery {by_parent:?}; \
         `recover` {by_recover:?}"
    );
    assert!(
        lost.is_empty(),
        "records were dropped with the plan's files still in the root: {lost:#?}"
    );
    // Each undo had its swap (by construction): at least one per record made. As root each
    // record's directory is opened by its file handle wherever the swap put it, so every one
    // is undone there, none needs `recover` afterwards.
    for t in [&rollback, &by_parent, &by_recover] {
        assert!(t.points >= 3, "{t:?}");
        assert_eq!((t.undone, t.kept), (t.points, 0), "{t:?}");
    }
    assert_eq!(mounts, host_mounts());
}

/// The apply of [`UNDO`] killed (the parent too) while it hangs at journal point `k`.
fn kill_parent_while_hanging(u: &UndoRoot, k: u32) {
    let mut w = Watched::spawn(
        Run::apply(&u.plan, &u.s.state())
            .set("ROOTFS", &u.root)
            .env("MOUNTPLAN_TEST_HANG_AT", k)
            .command(),
    );
    assert!(
        w.wait_for("hanging at journal point", Duration::from_secs(60)),
        "it did not hang at point {k}: {}",
        w.stderr()
    );
    w.kill();
    let left = wait_no_processes(&u.s.dir.display().to_string());
    assert!(left.is_empty(), "processes outlived the parent: {left:?}");
}

/// The same attack by a thread exchanging the directory as fast as it can, during rollbacks
/// and recoveries, for a stress run: where its swaps land depends on the scheduling
/// (`cargo test -- --ignored attacks_stress`).
#[test]
#[ignore = "stress: the swaps land where the scheduling puts them"]
fn attacks_stress_swapping_a_directory_during_rollback_or_recover() {
    let test = "attacks_stress_swapping_a_directory_during_rollback_or_recover";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !debug_hooks(test) {
        return;
    }
    let u = undo_root("undo-race");
    let root = &u.root;
    let kept = root.join("race/dir/kept");
    let host_before = manifest(&[&u.canary]);
    let mounts = host_mounts();
    let (mut runs, mut rolled, mut kept_journal, mut lost, mut swaps) = (0, 0, 0, 0, 0u64);
    let start = Instant::now();
    while runs < 400 && start.elapsed() < Duration::from_millis(2500) {
        runs += 1;
        // Odd runs: a failure injected at the last call, so the rollback runs under the swap.
        // Even runs: a kill at a journal point, then `recover` under the swap.
        let kill = runs % 2 == 0;
        let sw = Swapper::start(&root.join("race/dir"), &root.join("race/swap"));
        let r = Run::apply(&u.plan, &u.s.state()).set("ROOTFS", root);
        let o = if kill {
            r.env("MOUNTPLAN_TEST_KILL_AT", (runs / 2) % 12).run()
        } else {
            r.env("MOUNTPLAN_TEST_FAIL_AT_CALL", UNDO_LAST_CALL).run()
        };
        assert_ne!(o.status, 0, "run {runs}: the apply must fail: {}", o.stderr);
        if kill && !journals(&u.s.state()).is_empty() {
            let r = recover(&u.s.state());
            assert!(r.status == 0 || r.status == 1, "run {runs}: {}", r.stderr);
        }
        swaps += sw.stop();
        assert_same(
            &format!("run {runs}: the host"),
            &host_before,
            &manifest(&[&u.canary]),
        );
        let left = made_left(root);
        if journals(&u.s.state()).is_empty() {
            if left.is_empty() {
                rolled += 1;
            } else {
                lost += 1;
                eprintln!("run {runs}: no journal, but left {left:?}: {}", o.stderr);
            }
        } else {
            kept_journal += 1;
            straighten(root);
            let r = recover(&u.s.state());
            assert_eq!(
                r.status, 0,
                "run {runs}: recover after the race: {}",
                r.stderr
            );
            assert!(
                journals(&u.s.state()).is_empty(),
                "run {runs}: {}",
                r.stderr
            );
            let left = made_left(root);
            assert!(left.is_empty(), "run {runs}: recover left {left:?}");
        }
        // Clean up for the next run whatever a lost record left.
        straighten(root);
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
        "attacks undo stress: {runs} runs, {rolled} undone while swapped, {kept_journal} kept \
         their journal (finished by recover afterwards), {lost} lost, {swaps} exchanges"
    );
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
