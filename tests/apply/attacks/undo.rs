//! Swapping a directory while rollback or recover undoes an apply: nothing that was made is lost,
//! once at each call or under stress.

use super::*;

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
