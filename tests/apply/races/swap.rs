//! Swapping a directory of the root with a symlink to the host while apply runs: the steps never
//! land outside the root (also rootless, and under stress), and the negative control shows that
//! path-based mounts would escape.

use super::*;

/// Every step works under `/race/dir`, which the swapper exchanges with `/race/link`, an
/// absolute symlink to the canary. No pivot: the command (the host's `cat`) prints the mount
/// table of the new namespace, where a mount on the canary would show.
const RACE_PLAN: &str = r#"
version = 1
name = "race"

[root]
path = "${ROOTFS}"

[namespaces]
user = false

[[step]]
kind = "mount"
id = "tmpfs-m"
type = "tmpfs"
target = "/race/dir/m"

[[step]]
kind = "mount"
id = "bind-b"
type = "bind"
source = "${SRC}"
target = "/race/dir/b"

[[step]]
kind = "mkdir"
id = "deep"
path = "/race/dir/p/q/r"
parents = true

[[step]]
kind = "mknod"
id = "fifo"
path = "/race/dir/fifo"
node = "fifo"

[[step]]
kind = "chmod"
id = "mode"
path = "/race/dir/file"
mode = "0600"

[[step]]
kind = "mask"
id = "mask"
path = "/race/dir/secret"
"#;

/// The same files in the root's directory, the canary and (when `mirror`) the place the
/// symlink names inside the root, so a step through any of them could succeed.
fn populate(d: &Path) {
    for sub in ["m", "b"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("file"), "file\n").unwrap();
    std::fs::write(d.join("secret"), "secret\n").unwrap();
}

struct Race {
    /// Applies run as uid 65534 in a user namespace of their own.
    rootless: bool,
    s: Scratch,
    root: PathBuf,
    canary: PathBuf,
    src: PathBuf,
    plan: PathBuf,
}

fn race_setup(name: &str, mirror: bool) -> Race {
    let s = Scratch::new(name);
    let root = s.path("root");
    std::fs::create_dir_all(root.join("race/dir")).unwrap();
    populate(&root.join("race/dir"));
    let canary = s.path("canary");
    populate(&canary);
    std::os::unix::fs::symlink(&canary, root.join("race/link")).unwrap();
    if mirror {
        // Inside the root, the link names <root>/<canary path>: make it exist too.
        populate(&root.join(canary.strip_prefix("/").unwrap()));
    }
    let src = s.path("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("from-src"), "src\n").unwrap();
    let plan = s.write("race.toml", RACE_PLAN);
    Race {
        rootless: false,
        s,
        root,
        canary,
        src,
        plan,
    }
}

/// What a run of racing applies saw.
#[derive(Debug, Default)]
struct Tally {
    runs: u32,
    ok: u32,
    refused: u32,
    /// Failed verification: a mount landed inside the root but not where planned (the
    /// directory was moved after the mount, or it went through the link to the mirror),
    /// and the executor caught it.
    misplaced: u32,
    /// Rolled back, but kept the journal for records it could not prove (recovered after).
    kept: u32,
    swaps: u64,
}

/// The apply command for `r` with `how` resolving.
fn race_command(r: &Race, how: Resolver, env: &[(&'static str, String)]) -> std::process::Command {
    let mut run = Run::apply(&r.plan, &r.s.state())
        .set("ROOTFS", &r.root)
        .set("SRC", &r.src)
        .cmd(&["cat", "/proc/self/mountinfo"]);
    if how == Resolver::Hook {
        run = run.env("MOUNTPLAN_TEST_NO_OPENAT2", 1);
    }
    for (k, v) in env {
        run = run.env(k, v);
    }
    run.nobody = r.rootless;
    let mut cmd = run.command();
    if how == Resolver::Seccomp {
        deny_openat2(&mut cmd);
    }
    cmd
}

/// Checks one apply of `r`'s plan made while the directory was (or was being) swapped, and
/// counts it: it succeeded with every mount inside the root and none on the canary, or it was
/// refused with a message naming the step and its place in the plan.
fn judge(r: &Race, what: &str, o: &Out, t: &mut Tally) {
    let canary = r.canary.display().to_string();
    t.runs += 1;
    match o.status {
        0 => {
            t.ok += 1;
            for (mp, fstype, _) in parse_mountinfo(&o.stdout) {
                assert!(
                    !mp.starts_with(&canary),
                    "{what}: a {fstype} mount landed on the canary {mp}:\n{}",
                    o.stdout
                );
            }
            // The root's bind, the tmpfs and the bind are in the root (under the name the
            // directory has when `cat` runs). The mask may be missing: a path that does not
            // exist when the mask resolves it (the link was there) is left alone, as runc's
            // maskedPaths.
            let inside = parse_mountinfo(&o.stdout)
                .iter()
                .filter(|(mp, _, _)| mp.starts_with(&r.root.display().to_string()))
                .count();
            assert!(inside >= 3, "{what}: mounts missing:\n{}", o.stdout);
        }
        125 => {
            t.refused += 1;
            if o.stderr.contains("differs from the plan's prediction") {
                // The directory moved between a mount and the check: the mount is in the
                // root, at the path the directory has now. Rolled back.
                t.misplaced += 1;
            } else {
                assert!(
                    o.stderr.contains("race.toml:") && o.stderr.contains("failed"),
                    "{what}: the message must name the step and its place:\n{}",
                    o.stderr
                );
            }
        }
        s => panic!("{what}: status {s}:\n{}", o.stderr),
    }
}

/// When the rollback met the swapped names and could not prove it acted on what it made, it
/// kept those records: with the directory back in place, `recover` must finish them.
fn recover_kept(r: &Race, what: &str, t: &mut Tally) {
    if journals(&r.s.state()).is_empty() {
        return;
    }
    t.kept += 1;
    let (dir, link) = (r.root.join("race/dir"), r.root.join("race/link"));
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
        exchange_once(&dir, &link);
    }
    let mut rec = Run {
        args: vec![
            "recover".into(),
            "--state-dir".into(),
            r.s.state().display().to_string(),
        ],
        ..Run::default()
    };
    rec.nobody = r.rootless;
    let o = rec.run();
    assert_eq!(o.status, 0, "{what}: recover after the race: {}", o.stderr);
    assert!(journals(&r.s.state()).is_empty(), "{what}: {}", o.stderr);
}

/// The checks every race ends with: the canary and the bind source are as they were, the host
/// mount table too, and no process is left.
fn race_end(r: &Race, outside: &[String], host: &str) {
    assert_same(
        "the canary and the bind source",
        outside,
        &manifest(&[&r.canary, &r.src]),
    );
    assert_eq!(host, host_mounts(), "the host mount table changed");
    let left = wait_no_processes(&r.s.dir.display().to_string());
    assert!(left.is_empty(), "processes left: {left:?}");
}

/// Applies the plan once per call: paused right before call `n`, the directory is exchanged
/// with the link (one `renameat2`), then the apply goes on. Every point between two calls is
/// hit exactly once, on a fresh root, whatever the scheduling. Returns the tally.
fn race_sweep(name: &str, mirror: bool, rootless: bool, how: Resolver) -> Tally {
    let mut t = Tally::default();
    for n in 0.. {
        let r = race_setup(&format!("{name}-{n}"), mirror);
        let r = if rootless { make_rootless(r) } else { r };
        let host = host_mounts();
        let outside = manifest(&[&r.canary, &r.src]);
        let resume = Resume::new(&r.s.dir, "resume");
        let cmd = race_command(
            &r,
            how,
            &[
                ("MOUNTPLAN_TEST_PAUSE_AT_CALL", n.to_string()),
                ("MOUNTPLAN_TEST_RESUME", resume.0.display().to_string()),
            ],
        );
        let (dir, link) = (r.root.join("race/dir"), r.root.join("race/link"));
        let (o, paused) = run_paused(cmd, &resume, || {
            exchange_once(&dir, &link);
            t.swaps += 1;
        });
        let what = format!("swap before call {n} ({how:?}, mirror={mirror})");
        judge(&r, &what, &o, &mut t);
        recover_kept(&r, &what, &mut t);
        race_end(&r, &outside, &host);
        if !paused {
            // Past the last call: this run was not raced, and it must have succeeded.
            assert_eq!(o.status, 0, "{what}: the plain apply failed: {}", o.stderr);
            t.runs -= 1;
            t.ok -= 1;
            break;
        }
    }
    t
}

/// Applies `r`'s plan again and again for about `budget` (at most `max` runs) while a thread
/// swaps the directory as fast as it can; checks every run; returns the tally. Where the swaps
/// land depends on the scheduling: this is a stress run (`--ignored`), the sweep is the test.
fn race_applies(r: &Race, how: Resolver, budget: Duration, max: u32) -> Tally {
    let host = host_mounts();
    let outside = manifest(&[&r.canary, &r.src]);
    let (dir, link) = (r.root.join("race/dir"), r.root.join("race/link"));
    let mut sw = Swapper::start(&dir, &link);
    let mut t = Tally::default();
    let start = Instant::now();
    while t.runs < max && start.elapsed() < budget {
        let o = finish(
            race_command(r, how, &[]).spawn().unwrap(),
            Duration::from_secs(60),
        );
        let what = format!("run {} ({how:?})", t.runs);
        judge(r, &what, &o, &mut t);
        if !journals(&r.s.state()).is_empty() {
            t.swaps += sw.stop();
            recover_kept(r, &what, &mut t);
            sw = Swapper::start(&dir, &link);
        }
    }
    t.swaps += sw.stop();
    race_end(r, &outside, &host);
    t
}

/// Makes `r`'s applies run as uid 65534 with a user namespace of their own; the root, the
/// canary, the bind source and the state directory belong to 65534, so a step that escaped
/// could write the canary.
fn make_rootless(mut r: Race) -> Race {
    r.rootless = true;
    let text = std::fs::read_to_string(&r.plan).unwrap();
    std::fs::write(&r.plan, text.replace("user = false", "user = true")).unwrap();
    for d in [&r.root, &r.canary, &r.src, &r.s.state()] {
        std::fs::create_dir_all(d).unwrap();
        chown_tree(d);
    }
    r
}

fn resolvers() -> &'static [Resolver] {
    if cfg!(debug_assertions) {
        &[Resolver::Openat2, Resolver::Hook, Resolver::Seccomp]
    } else {
        &[Resolver::Openat2, Resolver::Seccomp]
    }
}

#[test]
fn races_swapping_a_directory_with_a_symlink_outside_never_escape() {
    let test = "races_swapping_a_directory_with_a_symlink_outside_never_escape";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !debug_hooks(test) {
        return;
    }
    for &how in resolvers() {
        for mirror in [false, true] {
            let t = race_sweep("race", mirror, false, how);
            eprintln!("races sweep ({how:?}, mirror={mirror}): {t:?}");
            // Each call had its own swap; a swap before the first step under the directory
            // leaves every step to go through the link, which must be refused.
            assert_eq!(t.swaps, u64::from(t.runs), "{t:?}");
            assert!(t.refused > 0, "no swap was refused: {t:?}");
        }
    }
}

/// The same race by a thread swapping as fast as it can, for a stress run: where its swaps
/// land depends on the scheduling, so it proves nothing the sweep does not and is not part of
/// the test run (`cargo test -- --ignored races_stress`).
#[test]
#[ignore = "stress: the swaps land where the scheduling puts them"]
fn races_stress_swapping_a_directory_with_a_symlink_outside() {
    let Some(_serial) = privileged("races_stress_swapping_a_directory_with_a_symlink_outside")
    else {
        return;
    };
    for &how in resolvers() {
        for mirror in [false, true] {
            let r = race_setup("race", mirror);
            let t = race_applies(&r, how, Duration::from_millis(1200), 300);
            eprintln!("races stress ({how:?}, mirror={mirror}): {t:?}");
        }
    }
}

/// The negative control: the same swap against path-based `mount --bind` and `mkdir` in a
/// private mount namespace (`unshare -m`, so nothing reaches the host's table). The directory
/// is exchanged with the link first (one `renameat2`), then both run through its name: each
/// must land on the canary, every time. This is what the executor's descriptor-based
/// resolution prevents, and what the sweep above would see if it did not.
#[test]
fn races_negative_control_path_based_mounts_do_escape() {
    let Some(_serial) = privileged("races_negative_control_path_based_mounts_do_escape") else {
        return;
    };
    let r = race_setup("race-control", false);
    let host = host_mounts();
    let canary = r.canary.display().to_string();
    let target = r.root.join("race/dir/m").display().to_string();
    let mk = r.root.join("race/dir/made").display().to_string();
    exchange_once(&r.root.join("race/dir"), &r.root.join("race/link"));
    // Bind through the path and say whether it landed on the canary; mkdir through the path.
    let script = format!(
        "mount --bind {src} {target} || exit 3; \
         if grep -q ' {canary}/m ' /proc/self/mountinfo; then echo bind=canary; \
         else echo bind=elsewhere; fi; \
         mkdir {mk} || exit 4",
        src = r.src.display(),
    );
    let o = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mkdir_escaped = r.canary.join("made").is_dir();
    eprintln!(
        "negative control: {} mkdir escaped: {mkdir_escaped}",
        out.trim()
    );
    assert_eq!(
        kv(&out).get("bind").map(String::as_str),
        Some("canary"),
        "the path-based bind did not land on the canary: the race test could not see one"
    );
    assert!(
        mkdir_escaped,
        "the path-based mkdir did not land in the canary"
    );
    assert_eq!(
        host,
        host_mounts(),
        "the control reached the host mount table"
    );
}

/// The same sweep, rootless: the apply runs as uid 65534 (setpriv) and makes a user namespace;
/// the root, the canary and the bind source belong to 65534, so a step that escaped could
/// write the canary.
#[test]
fn races_rootless_never_escape_either() {
    let test = "races_rootless_never_escape_either";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !rootless_possible(test) || !debug_hooks(test) {
        return;
    }
    for mirror in [false, true] {
        let t = race_sweep("race-rootless", mirror, true, Resolver::Openat2);
        eprintln!("races rootless sweep (mirror={mirror}): {t:?}");
        assert_eq!(t.swaps, u64::from(t.runs), "{t:?}");
        assert!(t.refused > 0, "no swap was refused: {t:?}");
    }
}

/// `chown -R 65534:65534` without following symlinks.
fn chown_tree(p: &Path) {
    std::os::unix::fs::lchown(p, Some(65534), Some(65534)).unwrap();
    if std::fs::symlink_metadata(p).unwrap().is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path());
        }
    }
}
