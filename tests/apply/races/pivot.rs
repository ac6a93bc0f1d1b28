//! The put-old pivot raced by swaps: the host root is never left visible, once or under stress.

use super::*;

/// The `put-old` pivot makes its put_old directory under a fresh random name
/// (`/.pivot_rootXXXXXX`) and hands it to `pivot_root` by descriptor. The root's owner finds the
/// name by listing the root and exchanges the directory with a symlink to another directory of
/// the root, at one point of the apply. Whatever happens, a command that runs must not see the
/// old root (the host's) mounted anywhere: its mount table is the new root and its proc,
/// nothing else.
const PIVOT_PLAN: &str = r#"
version = 1
name = "race-pivot"

[root]
path = "${ROOTFS}"

[namespaces]
user = false
pid = true

[[step]]
kind = "mount"
id = "proc"
type = "proc"
target = "/proc"

[[step]]
kind = "pivot"
id = "pivot"
strategy = "put-old"
put_old = "/.pivot_root"
"#;

/// The entries of `root` whose name starts with `.pivot_root`.
fn put_olds(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".pivot_root"))
        .map(|e| e.path())
        .collect()
}

/// One apply of [`PIVOT_PLAN`] on a fresh root; at the point where `cmd` makes it stop, the
/// put_old directory (when there is one) is exchanged with the link. Checks it, counts it in
/// `t` (`swapped`: the stops where there was a directory to exchange) and returns whether it
/// stopped.
fn pivot_once(
    name: &str,
    t: &mut Swept,
    swapped: &mut u32,
    cmd: impl FnOnce(Run<'_>, &Resume) -> std::process::Command,
) -> bool {
    let s = Scratch::new(name);
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir(root.join("elsewhere")).unwrap();
    let link = root.join("pr-link");
    std::os::unix::fs::symlink("/elsewhere", &link).unwrap();
    let plan = s.write("race-pivot.toml", PIVOT_PLAN);
    let host = host_mounts();
    let resume = Resume::new(&s.dir, "resume");
    let run = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .cmd(&["/bin/cat", "/proc/self/mountinfo"]);
    let (o, paused) = run_paused(cmd(run, &resume), &resume, || {
        if let Some(p) = put_olds(&root).first() {
            exchange_once(p, &link);
            *swapped += 1;
        }
    });
    match o.status {
        0 => {
            t.ok += 1;
            let mounts = parse_mountinfo(&o.stdout);
            let points: Vec<&str> = mounts.iter().map(|(mp, _, _)| mp.as_str()).collect();
            assert_eq!(
                points,
                ["/", "/proc"],
                "{name}: more than the new root is mounted:\n{}",
                o.stdout
            );
        }
        125 => {
            t.refused += 1;
            assert!(
                o.stderr.contains("race-pivot.toml:") || o.stderr.contains("differs"),
                "{name}: {}",
                o.stderr
            );
        }
        st => panic!("{name}: status {st}: {}", o.stderr),
    }
    if !journals(&s.state()).is_empty() {
        // The rollback met the swapped names (a symlink where it made a directory: left
        // alone), so it kept the journal. With the directory put back under its name,
        // `recover` must finish it.
        t.kept += 1;
        if std::fs::symlink_metadata(&link).is_ok_and(|m| m.is_dir()) {
            let named = put_olds(&root);
            let p = named
                .iter()
                .find(|p| p.is_symlink())
                .expect("the put_old name");
            exchange_once(p, &link);
        }
        let r = recover_in(&s.state());
        assert_eq!(r.status, 0, "{name}: recover: {}", r.stderr);
        assert!(journals(&s.state()).is_empty(), "{name}: {}", r.stderr);
    }
    assert_eq!(host, host_mounts(), "{name}");
    if paused {
        t.points += 1;
    } else {
        assert_eq!(o.status, 0, "{name}: the plain apply failed: {}", o.stderr);
        t.ok -= 1;
    }
    paused
}

#[test]
fn races_the_put_old_pivot_never_leaves_the_host_root_visible() {
    let test = "races_the_put_old_pivot_never_leaves_the_host_root_visible";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !debug_hooks(test) {
        return;
    }
    let Some(tracer) = crate::stops::tracer() else {
        return;
    };
    // Before each call of the apply.
    let (mut calls, mut swapped_calls) = (Swept::default(), 0);
    for n in 0.. {
        let raced = pivot_once(
            &format!("race-pivot-call-{n}"),
            &mut calls,
            &mut swapped_calls,
            |run, resume| {
                run.env("MOUNTPLAN_TEST_PAUSE_AT_CALL", n)
                    .env("MOUNTPLAN_TEST_RESUME", resume.0.display())
                    .command()
            },
        );
        if !raced {
            break;
        }
    }
    // Inside the call that makes the directory: after each system call from its mkdirat to
    // the pivot_root.
    let window = Stop::after(libc::SYS_mkdirat, 1, ".pivot_root*", libc::SYS_pivot_root);
    let (mut inside, mut swapped_inside) = (Swept::default(), 0);
    for k in 0.. {
        let raced = pivot_once(
            &format!("race-pivot-syscall-{k}"),
            &mut inside,
            &mut swapped_inside,
            |run, resume| stopped_at(&tracer, &run.command(), &window.skip(k), resume),
        );
        if !raced {
            break;
        }
    }
    eprintln!(
        "races put-old pivot: before each call {calls:?} ({swapped_calls} with the directory \
         exchanged); inside the pivot {inside:?} ({swapped_inside} exchanged)"
    );
    // The directory exists before each call of the pivot after the first, and at every stop
    // inside: every one of those swaps happened (by construction, not by chance).
    assert!(swapped_calls > 0, "{calls:?}");
    assert_eq!(swapped_inside, inside.points, "{inside:?}");
    assert!(
        inside.refused > 0,
        "no swap inside the pivot was refused: {inside:?}"
    );
}

/// [`PIVOT_PLAN`] applied again and again while a thread lists the root and exchanges the
/// put_old directory with a symlink as soon as it appears, for a stress run
/// (`cargo test -- --ignored races_stress`).
#[test]
#[ignore = "stress: the swaps land where the scheduling puts them"]
fn races_stress_the_put_old_pivot_never_leaves_the_host_root_visible() {
    let Some(_serial) =
        privileged("races_stress_the_put_old_pivot_never_leaves_the_host_root_visible")
    else {
        return;
    };
    let s = Scratch::new("race-pivot");
    let root = s.path("root");
    busybox_root(&root);
    std::fs::create_dir(root.join("elsewhere")).unwrap();
    let link = root.join("pr-link");
    let plan = s.write("race-pivot.toml", PIVOT_PLAN);
    let host = host_mounts();
    let (mut runs, mut ok, mut refused, mut kept, mut swapped) = (0, 0, 0, 0, 0u64);
    let start = Instant::now();
    while runs < 200 && start.elapsed() < Duration::from_millis(1500) {
        runs += 1;
        // Reset: the link in place, no put_old directory; then race this one apply. The put_old
        // directory gets a fresh random name: the racer finds it by listing the root, as its
        // owner would, and exchanges it with the link.
        for e in std::fs::read_dir(&root).unwrap().filter_map(|e| e.ok()) {
            if e.file_name().to_string_lossy().starts_with(".pivot_root") {
                let _ = std::fs::remove_file(e.path());
                let _ = std::fs::remove_dir(e.path());
            }
        }
        let _ = std::fs::remove_file(&link);
        let _ = std::fs::remove_dir(&link);
        std::os::unix::fs::symlink("/elsewhere", &link).unwrap();
        let sw = Swapper::start_matching(&root, ".pivot_root", &link);
        let o = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .cmd(&["/bin/cat", "/proc/self/mountinfo"])
            .run();
        swapped += sw.stop();
        match o.status {
            0 => {
                ok += 1;
                let mounts = parse_mountinfo(&o.stdout);
                let points: Vec<&str> = mounts.iter().map(|(mp, _, _)| mp.as_str()).collect();
                assert_eq!(
                    points,
                    ["/", "/proc"],
                    "run {runs}: more than the new root is mounted:\n{}",
                    o.stdout
                );
            }
            125 => {
                refused += 1;
                assert!(
                    o.stderr.contains("race-pivot.toml:") || o.stderr.contains("differs"),
                    "run {runs}: {}",
                    o.stderr
                );
            }
            st => panic!("run {runs}: status {st}: {}", o.stderr),
        }
        if !journals(&s.state()).is_empty() {
            // The rollback met the swapped names (a symlink where it made a directory: left
            // alone; or a directory that became a symlink between its check and rmdir), so it
            // kept the journal. With the racer stopped and the directory put back under its
            // name, `recover` must finish it.
            kept += 1;
            if std::fs::symlink_metadata(&link).is_ok_and(|m| m.is_dir()) {
                for e in std::fs::read_dir(&root).unwrap().filter_map(|e| e.ok()) {
                    let named = e.file_name().to_string_lossy().starts_with(".pivot_root");
                    if named && e.file_type().is_ok_and(|t| t.is_symlink()) {
                        exchange_once(&e.path(), &link);
                        break;
                    }
                }
            }
            let r = Run {
                args: vec![
                    "recover".into(),
                    "--state-dir".into(),
                    s.state().display().to_string(),
                ],
                ..Run::default()
            }
            .run();
            assert_eq!(r.status, 0, "run {runs}: recover: {}", r.stderr);
            assert!(journals(&s.state()).is_empty(), "run {runs}: {}", r.stderr);
        }
    }
    eprintln!(
        "races put-old pivot stress: {runs} runs, {ok} ok, {refused} refused ({kept} kept their \
         journal for recover), {swapped} exchanges"
    );
    assert_eq!(host, host_mounts());
}
