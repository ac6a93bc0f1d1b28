//! A `readonly` step raced by swaps of its path: its bind is never left writable, once or under
//! stress.

use super::*;

/// `readonly` copies the mount tree at its path, makes the copy read-only and attaches it on
/// the path. Two directories of the root are exchanged at one point of the apply; the other
/// one holds a tmpfs mount of the plan. Wherever the swap is, a successful apply must leave the
/// bind read-only (never make the tmpfs read-only in its place and leave the bind writable).
/// `--no-verify`, so the check after the last step cannot hide a wrong result by failing the
/// apply.
const RO_PLAN: &str = r#"
version = 1
name = "race-ro"

[root]
path = "${ROOTFS}"

[namespaces]
user = false

[[step]]
kind = "mount"
id = "tmpfs-b"
type = "tmpfs"
target = "/race/b/ro"

[[step]]
kind = "readonly"
id = "ro-a"
path = "/race/a/ro"
"#;

/// One apply of [`RO_PLAN`] on a fresh root, `race/a` and `race/b` exchanged at the point
/// where `cmd` (given the apply and the FIFO) makes it stop; checks it and counts it in `t`,
/// a writable bind in `writable`. Returns whether it stopped (and so was raced).
fn readonly_once(
    name: &str,
    t: &mut Swept,
    writable: &mut Vec<String>,
    cmd: impl FnOnce(Run<'_>, &Resume) -> std::process::Command,
) -> bool {
    let s = Scratch::new(name);
    let root = s.path("root");
    for d in ["race/a/ro", "race/b/ro"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let plan = s.write("race-ro.toml", RO_PLAN);
    let host = host_mounts();
    let inside = root.join("race").display().to_string();
    let resume = Resume::new(&s.dir, "resume");
    let run = Run::apply(&plan, &s.state())
        .set("ROOTFS", &root)
        .arg("--no-verify")
        .cmd(&["cat", "/proc/self/mountinfo"]);
    let (a, b) = (root.join("race/a"), root.join("race/b"));
    let (o, paused) = run_paused(cmd(run, &resume), &resume, || exchange_once(&a, &b));
    match o.status {
        0 => {
            t.ok += 1;
            for (mp, fstype, opts) in parse_mountinfo(&o.stdout) {
                if mp.starts_with(&inside)
                    && fstype != "tmpfs"
                    && !opts.split(',').any(|o| o == "ro")
                {
                    writable.push(format!(
                        "{name}: the readonly bind {mp} is writable ({opts})"
                    ));
                }
            }
        }
        125 => {
            t.refused += 1;
            assert!(o.stderr.contains("race-ro.toml:"), "{name}: {}", o.stderr);
        }
        st => panic!("{name}: status {st}: {}", o.stderr),
    }
    if !journals(&s.state()).is_empty() {
        t.kept += 1;
        let r = recover_in(&s.state());
        assert_eq!(r.status, 0, "{name}: recover: {}", r.stderr);
        assert!(journals(&s.state()).is_empty(), "{name}: {}", r.stderr);
    }
    assert_eq!(host, host_mounts(), "{name}");
    if paused {
        t.points += 1;
    } else {
        // Past the last point: this run was not raced, and it must have succeeded.
        assert_eq!(o.status, 0, "{name}: the plain apply failed: {}", o.stderr);
        t.ok -= 1;
    }
    paused
}

#[test]
fn races_readonly_never_leaves_its_bind_writable() {
    let test = "races_readonly_never_leaves_its_bind_writable";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !debug_hooks(test) {
        return;
    }
    let Some(tracer) = crate::stops::tracer() else {
        return;
    };
    let mut writable = Vec::new();
    // Before each call of the apply.
    let mut calls = Swept::default();
    for n in 0.. {
        let raced = readonly_once(
            &format!("race-ro-call-{n}"),
            &mut calls,
            &mut writable,
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
    // Inside the readonly call: after each system call from the resolution of its path
    // (openat2) to the move_mount that attaches the read-only copy.
    let window = Stop::after(libc::SYS_openat2, 1, "race/a/ro", libc::SYS_move_mount);
    let mut inside = Swept::default();
    for k in 0.. {
        let raced = readonly_once(
            &format!("race-ro-syscall-{k}"),
            &mut inside,
            &mut writable,
            |run, resume| stopped_at(&tracer, &run.command(), &window.skip(k), resume),
        );
        if !raced {
            break;
        }
    }
    eprintln!("races readonly: before each call {calls:?}; inside the readonly call {inside:?}");
    assert!(writable.is_empty(), "{writable:#?}");
    // The swap before the readonly call puts the tmpfs on its path: that must be refused
    // (never by chance: the point is there on every run).
    assert!(calls.refused > 0, "no swap was refused: {calls:?}");
    assert!(
        inside.points >= 2,
        "the readonly call has no window: {inside:?}"
    );
}

/// [`RO_PLAN`] applied again and again while a thread exchanges `race/a` and `race/b` as fast
/// as it can, for a stress run (`cargo test -- --ignored races_stress`): where the swaps land
/// depends on the scheduling; the sweep above is the test.
#[test]
#[ignore = "stress: the swaps land where the scheduling puts them"]
fn races_stress_readonly_never_leaves_its_bind_writable() {
    let Some(_serial) = privileged("races_stress_readonly_never_leaves_its_bind_writable") else {
        return;
    };
    let s = Scratch::new("race-ro");
    let root = s.path("root");
    for d in ["race/a/ro", "race/b/ro"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let plan = s.write("race-ro.toml", RO_PLAN);
    let host = host_mounts();
    let inside = root.join("race").display().to_string();
    let sw = Swapper::start(&root.join("race/a"), &root.join("race/b"));
    let (mut runs, mut ok, mut refused) = (0, 0, 0);
    let start = Instant::now();
    while runs < 300 && start.elapsed() < Duration::from_millis(1500) {
        runs += 1;
        let o = Run::apply(&plan, &s.state())
            .set("ROOTFS", &root)
            .arg("--no-verify")
            .cmd(&["cat", "/proc/self/mountinfo"])
            .run();
        if o.status == 125 {
            refused += 1;
            assert!(o.stderr.contains("race-ro.toml:"), "{}", o.stderr);
            continue;
        }
        assert_eq!(o.status, 0, "{}", o.stderr);
        ok += 1;
        for (mp, fstype, opts) in parse_mountinfo(&o.stdout) {
            if mp.starts_with(&inside) && fstype != "tmpfs" {
                assert!(
                    opts.split(',').any(|o| o == "ro"),
                    "run {runs}: the readonly bind {mp} is writable:\n{}",
                    o.stdout
                );
            }
        }
    }
    let swaps = sw.stop();
    eprintln!("races readonly stress: {runs} runs, {ok} ok, {refused} refused, {swaps} swaps");
    assert_eq!(host, host_mounts());
    assert!(journals(&s.state()).is_empty());
}
