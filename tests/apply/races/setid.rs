//! A chmod or chown with set-id bits raced by swaps of its path: the bits never land on another
//! directory, once or under stress.

use super::*;

/// `mkdir` with set-id bits makes the directory, then opens it again to set them (mkdir ignores
/// them): both inside one call of the executor. The tracer stops the apply right after each
/// system call from the `mkdirat` of `sg` to the `fchmodat` that sets the bits, and there `sg`
/// is exchanged with another directory of the root (one `renameat2`): the bits must never land
/// on the other directory.
const SETID_PLAN: &str = r#"
version = 1
name = "race-setid"

[root]
path = "${ROOTFS}"

[namespaces]
user = false

[[step]]
kind = "mkdir"
id = "setgid"
path = "/race/sg"
mode = "2750"
"#;

#[test]
fn races_set_id_bits_never_land_on_another_directory() {
    use std::os::unix::fs::MetadataExt;
    let test = "races_set_id_bits_never_land_on_another_directory";
    let Some(_serial) = privileged(test) else {
        return;
    };
    let Some(tracer) = crate::stops::tracer() else {
        return;
    };
    let window = Stop::after(libc::SYS_mkdirat, 1, "sg", libc::SYS_fchmodat);
    let mut t = Swept::default();
    // The system calls after which the swap was refused.
    let mut refused_after = Vec::new();
    let mut calls = Vec::new();
    // Where the set-id bits landed on the other directory.
    let mut landed = Vec::new();
    for k in 0.. {
        let s = Scratch::new(&format!("race-setid-{k}"));
        let root = s.path("root");
        let (sg, other) = (root.join("race/sg"), root.join("race/other"));
        std::fs::create_dir_all(&other).unwrap();
        // Not empty, so removing the new directory by name can never remove this one.
        std::fs::write(other.join("keep"), "keep\n").unwrap();
        let other_ino = std::fs::metadata(&other).unwrap().ino();
        let plan = s.write("race-setid.toml", SETID_PLAN);
        let host = host_mounts();
        let resume = Resume::new(&s.dir, "resume");
        let apply = Run::apply(&plan, &s.state()).set("ROOTFS", &root).command();
        let cmd = stopped_at(&tracer, &apply, &window.skip(k), &resume);
        let (o, paused) = run_paused(cmd, &resume, || exchange_once(&sg, &other));
        let what = format!("swap after system call {k} from mkdirat(sg)");
        calls.push((crate::stops::stopped_after(&o.stderr), o.status));
        match o.status {
            0 => t.ok += 1,
            125 => {
                t.refused += 1;
                refused_after.push(crate::stops::stopped_after(&o.stderr));
                assert!(
                    o.stderr.contains("race-setid.toml:"),
                    "{what}: {}",
                    o.stderr
                );
            }
            st => panic!("{what}: status {st}: {}", o.stderr),
        }
        // The directory that was there before must not have got the bits, whichever name it
        // has now.
        for p in [&sg, &other] {
            let m = std::fs::metadata(p).unwrap();
            if m.ino() == other_ino && m.mode() & 0o7777 != 0o755 {
                landed.push(format!("{what}: {:o}", m.mode() & 0o7777));
            }
        }
        if !journals(&s.state()).is_empty() {
            t.kept += 1;
            if std::fs::metadata(&sg).unwrap().ino() == other_ino {
                exchange_once(&sg, &other);
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
            assert_eq!(r.status, 0, "{what}: recover: {}", r.stderr);
            assert!(journals(&s.state()).is_empty(), "{what}: {}", r.stderr);
        }
        assert_eq!(host, host_mounts(), "{what}");
        if !paused {
            // Past the fchmodat: this run was not raced, and it must have succeeded.
            assert_eq!(o.status, 0, "{what}: the plain apply failed: {}", o.stderr);
            t.ok -= 1;
            break;
        }
        t.points += 1;
    }
    eprintln!("races set-id sweep: {t:?}; (system call, status) at each point: {calls:?}");
    assert!(
        landed.is_empty(),
        "the set-id bits landed on the other directory: {landed:#?}"
    );
    // The first stop is right after mkdirat: the name is another directory's when the new one
    // is looked at, so that apply must be refused (it is never by chance).
    assert!(t.points >= 2, "the window has no system call: {t:?}");
    assert_eq!(
        refused_after.first().copied().flatten(),
        Some(libc::SYS_mkdirat),
        "the swap right after mkdirat was not refused: {t:?}"
    );
}

/// [`SETID_PLAN`] applied again and again while a thread exchanges `sg` and another directory
/// whenever both exist, for a stress run (`cargo test -- --ignored races_stress`).
#[test]
#[ignore = "stress: the swaps land where the scheduling puts them"]
fn races_stress_set_id_bits_never_land_on_another_directory() {
    use std::os::unix::fs::MetadataExt;
    let Some(_serial) = privileged("races_stress_set_id_bits_never_land_on_another_directory")
    else {
        return;
    };
    let s = Scratch::new("race-setid");
    let root = s.path("root");
    let other = root.join("race/other");
    std::fs::create_dir_all(&other).unwrap();
    // Not empty, so removing the new directory by name can never remove this one.
    std::fs::write(other.join("keep"), "keep\n").unwrap();
    let other_ino = std::fs::metadata(&other).unwrap().ino();
    let plan = s.write("race-setid.toml", SETID_PLAN);
    let host = host_mounts();
    // Exchanges sg and other whenever both exist.
    let (a, b) = (c_path(&root.join("race/sg")), c_path(&other));
    let stop = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicU64::new(0));
    let (st, h) = (stop.clone(), hits.clone());
    /// Stops the racer however the test ends (before the scratch directory is removed).
    struct Stop(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
            if let Some(h) = self.1.take() {
                let _ = h.join();
            }
        }
    }
    let racer = std::thread::spawn(move || {
        while !st.load(Ordering::Relaxed) {
            let r = unsafe { exchange(&a, &b) };
            if r == 0 {
                h.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let racer = Stop(stop, Some(racer));
    let (mut runs, mut ok, mut refused) = (0, 0, 0);
    let start = Instant::now();
    while runs < 300 && start.elapsed() < Duration::from_millis(1500) {
        runs += 1;
        let o = Run::apply(&plan, &s.state()).set("ROOTFS", &root).run();
        match o.status {
            0 => ok += 1,
            125 => {
                refused += 1;
                assert!(o.stderr.contains("race-setid.toml:"), "{}", o.stderr);
            }
            st => panic!("status {st}: {}", o.stderr),
        }
        // The directory that was there before must not have got the bits.
        for name in ["race/sg", "race/other"] {
            if let Ok(m) = std::fs::metadata(root.join(name)) {
                if m.ino() == other_ino {
                    assert_eq!(
                        m.mode() & 0o7777,
                        0o755,
                        "run {runs}: the set-id bits landed on the other directory"
                    );
                }
            }
        }
        // Remove the new directory (whichever name it has now) for the next run.
        for name in ["race/sg", "race/other"] {
            let _ = std::fs::remove_dir(root.join(name));
        }
        assert!(journals(&s.state()).is_empty());
    }
    drop(racer);
    let hits = hits.load(Ordering::Relaxed);
    eprintln!("races set-id stress: {runs} runs, {ok} ok, {refused} refused, {hits} exchanges");
    assert_eq!(host, host_mounts());
}
