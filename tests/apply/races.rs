//! Races of the CVE-2021-30465 class: a directory of the root is exchanged with a symlink to a
//! canary directory outside it (`renameat2(RENAME_EXCHANGE)`), once per apply, at one exact
//! point: right before call n (the binary's test pauses), or right after one system call
//! inside a call (the tracer of `stops.rs`), swept over every point on a fresh root. Every step
//! under that directory (a tmpfs mount, a bind, `mkdir` with parents, a FIFO, a mode change, a
//! mask, a readonly, set-id bits, the put_old of a pivot) must land inside the root or fail:
//! the canary never changes and no mount ever lands on it. A negative control makes the same
//! exchange before plain path-based `mount` and `mkdir` in a shell, which must land on the
//! canary, so the test can see an escape. The threads that race as fast as they can are the
//! ignored stress runs (`cargo test --test apply -- --ignored races_stress`).

use std::os::unix::ffi::OsStrExt;

/// `renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)` by its system call (musl has no
/// wrapper), returning -1 with errno set on failure.
unsafe fn exchange(a: &std::ffi::CStr, b: &std::ffi::CStr) -> libc::c_long {
    // SAFETY: two NUL-terminated paths; the kernel reads nothing else.
    unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    }
}
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::hostile::Resolver;
use crate::stops::{Stop, stopped_at};
use crate::support::*;

/// A thread exchanging two paths as fast as it can until dropped.
pub struct Swapper {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

fn c_path(p: &Path) -> std::ffi::CString {
    std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap()
}

impl Swapper {
    /// Starts exchanging `a` and `b` (both must exist).
    pub fn start(a: &Path, b: &Path) -> Swapper {
        let (a, b) = (c_path(a), c_path(b));
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), count.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let r = unsafe { exchange(&a, &b) };
                if r == 0 {
                    n.fetch_add(1, Ordering::Relaxed);
                } else {
                    panic!("renameat2: {}", std::io::Error::last_os_error());
                }
            }
        });
        Swapper {
            stop,
            count,
            handle: Some(handle),
        }
    }
    /// Starts exchanging every entry of `dir` whose name starts with `prefix` (as the owner
    /// of a root finds a name mountplan makes there, by listing it) with `b`.
    pub fn start_matching(dir: &Path, prefix: &str, b: &Path) -> Swapper {
        let (dir, prefix, b) = (dir.to_path_buf(), prefix.to_string(), c_path(b));
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), count.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in rd.filter_map(|e| e.ok()) {
                    if e.file_name().to_string_lossy().starts_with(&prefix) {
                        let a = c_path(&e.path());
                        if unsafe { exchange(&a, &b) } == 0 {
                            n.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Swapper {
            stop,
            count,
            handle: Some(handle),
        }
    }
    /// Stops; returns how many exchanges were made.
    pub fn stop(mut self) -> u64 {
        self.halt();
        self.count.load(Ordering::Relaxed)
    }
    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.halt();
    }
}

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

/// What a sweep of stops saw.
#[derive(Debug, Default)]
struct Swept {
    /// Points swept (a swap at each).
    points: u32,
    /// Applies that succeeded.
    ok: u32,
    /// Applies refused with the step named.
    refused: u32,
    /// Rollbacks that kept their journal (finished by `recover` after).
    kept: u32,
}

/// `recover` in `state` (as root).
fn recover_in(state: &Path) -> Out {
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

/// One `renameat2(RENAME_EXCHANGE)` of `a` and `b`.
pub fn exchange_once(a: &Path, b: &Path) {
    let (a, b) = (c_path(a), c_path(b));
    let r = unsafe { exchange(&a, &b) };
    assert_eq!(r, 0, "renameat2: {}", std::io::Error::last_os_error());
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
