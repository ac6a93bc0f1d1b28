//! `apply --persist FILE` and `release FILE` against what a neighbour can plant at FILE: a
//! symlink to a host file before the apply, a swap for one between mountplan's open and its
//! mount, a FILE that already pins a namespace, a plain file given to `release`; and the
//! pid namespace whose proc would die with the apply.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

/// A tmpfs root, no pid namespace, no proc: a namespace that can be pinned.
const PLAN: &str = r#"
version = 1
name = "pin"

[root]
tmpfs = { mode = "0755" }

[namespaces]
user = false
pid = false

[[step]]
kind = "mkdir"
id = "pinned-here"
path = "/pinned-here"
mode = "0755"
"#;

/// nsfs's f_type.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// A scratch directory with `pins/`, a private mount (a namespace cannot be pinned where it
/// would propagate into itself), unmounted however the test ends.
struct Pins {
    s: Scratch,
    dir: PathBuf,
    plan: PathBuf,
}

impl Pins {
    fn new(name: &str) -> Pins {
        let s = Scratch::new(name);
        let dir = s.path("pins");
        std::fs::create_dir(&dir).unwrap();
        let d = dir.display().to_string();
        let ok = std::process::Command::new("sh")
            .args([
                "-c",
                &format!("mount --bind {d} {d} && mount --make-private {d}"),
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let plan = s.write("pin.toml", PLAN);
        Pins { s, dir, plan }
    }
    fn apply(&self, file: &Path) -> Run<'static> {
        Run::apply(&self.plan, &self.s.state())
            .arg("--persist")
            .arg(&file.display().to_string())
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        // Pins a failed assertion left, then the private mount.
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.filter_map(|e| e.ok()) {
                let _ = std::process::Command::new("umount")
                    .arg("-l")
                    .arg(e.path())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

fn is_nsfs(p: &Path) -> bool {
    nix::sys::statfs::statfs(p).is_ok_and(|f| f.filesystem_type().0 as i64 == NSFS_MAGIC)
}

/// Not following a final symlink (`statfs` follows it).
fn lstat_nsfs(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| !m.file_type().is_symlink()) && is_nsfs(p)
}

fn release(file: &Path) -> Out {
    Run {
        args: vec!["release".into(), file.display().to_string()],
        ..Run::default()
    }
    .run()
}

/// A root-only host file, and its manifest line.
fn host_file(s: &Scratch) -> PathBuf {
    let p = s.write("host/secret", "root only\n");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    p
}

/// Issue 13, hole 6. FILE is a symlink (a neighbour planted it) to a host file: refused
/// before anything starts, saying so; the host file is untouched and nothing is mounted on
/// the host. Before the fix the namespace was bound onto the symlink's target, and `release`
/// could not undo it.
#[test]
fn persist_onto_a_planted_symlink_is_refused_and_the_target_is_untouched() {
    let Some(_serial) =
        privileged("persist_onto_a_planted_symlink_is_refused_and_the_target_is_untouched")
    else {
        return;
    };
    let p = Pins::new("persist-symlink");
    let target = host_file(&p.s);
    let file = p.dir.join("ns");
    std::os::unix::fs::symlink(&target, &file).unwrap();
    let before = manifest(&[&target, &p.dir]);
    let host = host_mounts();
    let o = p.apply(&file).run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(says(&o.stderr, "is a symlink"), "{}", o.stderr);
    assert!(says(&o.stderr, "nothing was applied"), "{}", o.stderr);
    assert!(
        !is_nsfs(&target),
        "the namespace was pinned on the host file"
    );
    assert_same(
        "persist onto a symlink",
        &before,
        &manifest(&[&target, &p.dir]),
    );
    assert_eq!(host, host_mounts());
}

/// The state of process `pid` (`T` when stopped).
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Issue 13, hole 6, the race: FILE is made by mountplan, then, while the apply waits at the
/// last instant before its mount (a debug-build hook stops it there), renamed away and
/// replaced by a symlink to a host file. The bind lands on the file mountplan opened (now at
/// the new name), never on the symlink's target; `release` of the symlink says it is not a
/// pinned namespace; `release` of the file mountplan made undoes the pin. Before the fix the
/// mount went by path and followed the symlink onto the host file.
#[test]
fn persist_binds_onto_the_file_it_opened_when_file_is_swapped_for_a_symlink() {
    let test = "persist_binds_onto_the_file_it_opened_when_file_is_swapped_for_a_symlink";
    let Some(_serial) = privileged(test) else {
        return;
    };
    if !cfg!(debug_assertions) {
        eprintln!("NOT RUN {test}: the test hook needs a debug build");
        return;
    }
    let p = Pins::new("persist-swap");
    let target = host_file(&p.s);
    let file = p.dir.join("ns");
    let moved = p.dir.join("moved");
    let before = manifest(&[&target]);
    let host = host_mounts();
    let mut w = Watched::spawn(
        p.apply(&file)
            .env("MOUNTPLAN_TEST_PAUSE_BEFORE_PERSIST", 1)
            .command(),
    );
    let pid = w.child.id();
    assert!(
        w.wait_for("pausing before persist", Duration::from_secs(30)),
        "{}",
        w.stderr()
    );
    let t = Instant::now();
    while state_of(pid) != Some('T') {
        assert!(t.elapsed() < Duration::from_secs(30), "it did not stop");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(file.is_file(), "mountplan made FILE before the steps");
    std::fs::rename(&file, &moved).unwrap();
    std::os::unix::fs::symlink(&target, &file).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = w.child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(60) {
            w.kill();
            panic!("mountplan hung: {}", w.stderr());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(status.success(), "{}", w.stderr());
    assert!(
        !is_nsfs(&target),
        "the namespace was pinned on the host file"
    );
    assert!(
        !host_mounts().contains(&format!(" {} ", target.display())),
        "something is mounted on the host file"
    );
    assert!(
        lstat_nsfs(&moved),
        "the pin is not on the file mountplan made"
    );
    // The pinned namespace is the apply's: its tmpfs root with the step's directory.
    let inside = std::process::Command::new("nsenter")
        .arg(format!("--mount={}", moved.display()))
        .args(["cat", "/proc/self/mountinfo"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inside.stdout);
    assert!(text.contains("/tmproot"), "{text}");
    // release of the symlink: not a pinned namespace, no errno, exit 1, nothing changed.
    let o = release(&file);
    assert_eq!(o.status, 1, "{}", o.stderr);
    assert!(says(&o.stderr, "is not a pinned namespace"), "{}", o.stderr);
    assert!(says(&o.stderr, "symlink"), "{}", o.stderr);
    assert!(
        !o.stderr.contains("=>"),
        "an errno for a refusal: {}",
        o.stderr
    );
    assert!(lstat_nsfs(&moved));
    let o = release(&moved);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(!moved.exists(), "release removes the file it unpinned");
    assert_same("host file", &before, &manifest(&[&target]));
    std::fs::remove_file(&file).unwrap();
    assert_eq!(host, host_mounts());
}

/// Issue 15: persisting onto a FILE that already pins a namespace is refused ("release it
/// first"); an existing empty file of root's is accepted, a non-empty one or one another user
/// owns is not; `release` of a plain file says it is not a pinned namespace, without an
/// errno, and exits 1.
#[test]
fn persist_refuses_a_pinned_or_foreign_file_and_release_refuses_a_plain_one() {
    let Some(_serial) =
        privileged("persist_refuses_a_pinned_or_foreign_file_and_release_refuses_a_plain_one")
    else {
        return;
    };
    let p = Pins::new("persist-files");
    let host = host_mounts();
    // An empty file root made beforehand: accepted, pinned.
    let file = p.dir.join("ns");
    std::fs::write(&file, "").unwrap();
    let o = p.apply(&file).run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(lstat_nsfs(&file));
    // Twice: refused, the first pin untouched.
    let o = p.apply(&file).run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    assert!(says(&o.stderr, "already pins a namespace"), "{}", o.stderr);
    assert!(says(&o.stderr, "release it first"), "{}", o.stderr);
    assert!(lstat_nsfs(&file));
    let o = release(&file);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(!file.exists());
    // Not empty, or another user's: refused, left as it was.
    let full = p.s.write("pins/full", "data\n");
    let theirs = p.dir.join("theirs");
    std::fs::write(&theirs, "").unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    for f in [&full, &theirs] {
        let before = manifest(&[f]);
        let o = p.apply(f).run();
        assert_eq!(o.status, 125, "{}: {}", f.display(), o.stderr);
        assert!(
            says(&o.stderr, "not an empty file of yours"),
            "{}",
            o.stderr
        );
        assert_same("refused FILE", &before, &manifest(&[f]));
    }
    // release of a plain file.
    let o = release(&full);
    assert_eq!(o.status, 1, "{}", o.stderr);
    assert!(says(&o.stderr, "is not a pinned namespace"), "{}", o.stderr);
    assert!(
        !o.stderr.contains("EINVAL") && !o.stderr.contains("=>"),
        "{}",
        o.stderr
    );
    assert!(full.exists());
    assert_eq!(host, host_mounts());
}

/// Issue 15: `--persist` of a plan with a pid namespace and its proc would leave a namespace
/// whose /proc is dead (`nsenter` cannot read /proc/self/mountinfo): refused before anything
/// starts (FILE is not even made), pointing at the proc mount, with the fix.
#[test]
fn persist_with_a_pid_namespace_and_its_proc_is_refused_with_the_fix() {
    let Some(_serial) =
        privileged("persist_with_a_pid_namespace_and_its_proc_is_refused_with_the_fix")
    else {
        return;
    };
    let p = Pins::new("persist-pid");
    let plan = p.s.write(
        "pid.toml",
        &format!(
            "{}\n[[step]]\nkind = \"mount\"\nid = \"proc\"\ntype = \"proc\"\ntarget = \"/proc\"\n\
             create = \"dir\"\n",
            PLAN.replace("pid = false", "pid = true")
        ),
    );
    let file = p.dir.join("ns");
    let host = host_mounts();
    let o = Run::apply(&plan, &p.s.state())
        .arg("--persist")
        .arg(&file.display().to_string())
        .run();
    assert_eq!(o.status, 125, "{}", o.stderr);
    for w in [
        "mountplan::apply::persist-pid-proc",
        "step `proc` mounts the proc of the plan's pid namespace",
        "pid.toml:",
        "`pid = false`",
        "drop the proc mount",
        "nothing was applied",
    ] {
        assert!(says(&o.stderr, w), "no {w:?} in:\n{}", o.stderr);
    }
    assert!(!file.exists(), "FILE was made for a refused apply");
    assert!(
        !p.s.state().exists(),
        "the state directory was made for a refused apply"
    );
    // The same plan without --persist applies.
    let o = Run::apply(&plan, &p.s.state()).run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(host, host_mounts());
}
